"""Leaderboards from the tidy results table: means over seeds, baseline-normalised
scores and paired significance tests (definitions in ``docs/bench.md``).

* **mean ± sd over seeds**: for each seed, the metric is averaged over the task's
  (dataset, split) cells; the leaderboard shows the mean and the sample standard
  deviation of those per-seed averages (sd is blank with one seed).
* **reference baseline**: the baseline with the best mean primary metric in the task.
* **normalised score** of a method on a metric, per (dataset, split), from the seed means
  ``v`` (method) and ``b`` (the best baseline *of that metric* on that dataset and
  split), then averaged over (dataset, split):
  higher-is-better and bounded by ``B``: ``(v - b) / (B - b)`` (share of the headroom
  above the baseline gained; 0 = the baseline, 1 = perfect, < 0 worse);
  higher-is-better, unbounded: ``v / b - 1`` (relative gain);
  lower-is-better: ``1 - v / b`` (relative error reduction, cell-eval's rule).
* **paired test**: each method against the reference baseline on the primary metric,
  one pair per (dataset, split) group both have, each the mean over seeds (Demšar 2006:
  seeds of one dataset are not independent replicates); two-sided Wilcoxon signed-rank test
  (zero differences dropped; exact, by enumerating every sign flip, up to 16 non-zero
  pairs, normal approximation above), Holm-adjusted over the methods of the task. ``▲`` / ``▼``: adjusted p < 0.05 and the method better / worse.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._task import Metric, Task

__all__ = ["breakdown", "leaderboard", "min_wilcoxon_p", "normalised", "paired_test"]

ALPHA = 0.05


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    return table[(table["status"] == "ok") & table["value"].notna()]


def normalised(value: float, base: float, metric: Metric) -> float:
    """Baseline-normalised score of ``value`` against ``base`` (see the module docstring)."""
    if not (np.isfinite(value) and np.isfinite(base)):
        return math.nan
    if not metric.higher_is_better:
        return 1.0 - value / base if base != 0 else math.nan
    if metric.bound is not None:
        head = metric.bound - base
        return (value - base) / head if head > 0 else math.nan
    return value / base - 1.0 if base > 0 else math.nan


def min_wilcoxon_p(n: int) -> float:
    """Smallest two-sided p-value an exact Wilcoxon signed-rank test can give with ``n``
    non-zero pairs (``2 / 2**n``)."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


def paired_test(diff: np.ndarray) -> tuple[float, int]:
    """Two-sided Wilcoxon signed-rank p-value of paired differences and the number of
    non-zero pairs (``p = 1`` with fewer than two non-zero differences)."""
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    nz = int((d != 0).sum())
    if nz < 2:  # one sign flip of one pair: p = 1 exactly
        return 1.0, nz
    from scipy.stats import PermutationMethod, wilcoxon

    d = d[d != 0]
    # exact: every sign flip of the signed ranks enumerated (ties handled) up to 16 pairs
    method: Any = PermutationMethod(n_resamples=np.inf) if nz <= 16 else "approx"
    res = wilcoxon(d, alternative="two-sided", method=method)
    return float(res.pvalue), nz


def _holm(p: dict[str, float]) -> dict[str, float]:
    names = sorted(p, key=lambda k: p[k])
    m = len(names)
    out: dict[str, float] = {}
    running = 0.0
    for i, name in enumerate(names):
        running = max(running, min(1.0, (m - i) * p[name]))
        out[name] = running
    return out


def _cell_means(ok: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (method, dataset, split, metric)."""
    return ok.groupby(["method", "dataset", "split", "metric"], as_index=False)["value"].mean()


def _best_baseline(means: pd.DataFrame, baselines: list[str], metric: Metric) -> pd.DataFrame:
    """Per (dataset, split): the best baseline's mean of ``metric``."""
    sub = means[(means["metric"] == metric.name) & means["method"].isin(baselines)]
    if sub.empty:
        return sub
    pick = sub.groupby(["dataset", "split"])["value"]
    best = pick.max() if metric.higher_is_better else pick.min()
    return best.rename("base").reset_index()


def leaderboard(table: pd.DataFrame, task: Task) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per method of ``task``: per metric ``<m>_mean``, ``<m>_sd``,
    ``<m>_norm``; ``baseline``/``peer`` flags, ``n_cells``, ``coverage`` (dataset x split
    groups the method has results on / all groups; ``partial`` when not all), the paired
    test against the reference baseline (``p``, ``p_holm``, ``pairs``, ``mark``), mean
    ``runtime_s`` and ``peak_mb``. Sorted by the normalised primary metric (best first),
    then by its mean.

    Returns the table and facts: ``reference`` (the reference baseline), ``test``."""
    ok = _ok(table[table["task"] == task.name])
    info: dict[str, Any] = {"reference": None, "test": "Wilcoxon signed-rank, Holm-adjusted"}
    if ok.empty:
        return pd.DataFrame(), info
    primary = task.primary
    flags = ok.groupby("method")[["baseline", "peer"]].first()
    baselines = [m for m in flags.index if bool(flags.loc[m, "baseline"])]
    means = _cell_means(ok)
    rows: dict[str, dict[str, Any]] = {m: {"method": m} for m in flags.index}
    for metric in task.metrics:
        sub = ok[ok["metric"] == metric.name]
        if sub.empty:
            continue
        per_seed = sub.groupby(["method", "seed"])["value"].mean()
        agg = per_seed.groupby("method").agg(["mean", "std", "count"])
        base = _best_baseline(means, baselines, metric)
        cm = means[means["metric"] == metric.name]
        if not base.empty:
            cm = cm.merge(base, on=["dataset", "split"], how="left")
            cm["norm"] = [
                normalised(v, b, metric) for v, b in zip(cm["value"], cm["base"], strict=True)
            ]
            norm = cm.groupby("method")["norm"].mean()
        else:
            norm = pd.Series(dtype=float)
        for m in agg.index:
            rows[m][f"{metric.name}_mean"] = float(agg.loc[m, "mean"])
            sd = agg.loc[m, "std"]
            rows[m][f"{metric.name}_sd"] = float(sd) if agg.loc[m, "count"] > 1 else math.nan
            rows[m][f"{metric.name}_norm"] = float(norm.get(m, math.nan))
    # the reference baseline and the paired tests on the primary metric
    prim = ok[ok["metric"] == primary.name]
    if baselines and not prim.empty:
        overall = prim[prim["method"].isin(baselines)].groupby("method")["value"].mean()
        ref = overall.idxmax() if primary.higher_is_better else overall.idxmin()
        info["reference"] = ref
        # one pair per (dataset, split): the mean over seeds (Demsar 2006; seeds of one
        # dataset are not independent replicates, and deterministic methods repeat)
        wide = prim.pivot_table(
            index=["dataset", "split"], columns="method", values="value", aggfunc="mean"
        )
        pvals: dict[str, float] = {}
        for m in rows:
            if m == ref or m not in wide or ref not in wide:
                continue
            pair = wide[[m, ref]].dropna()
            diff = pair[m].to_numpy() - pair[ref].to_numpy()
            if not primary.higher_is_better:
                diff = -diff
            p, nz = paired_test(diff)
            rows[m].update({"pairs": len(pair), "nonzero_pairs": nz, "p": p})
            rows[m]["_median_diff"] = float(np.median(diff)) if len(diff) else 0.0
            pvals[m] = p
        for m, padj in _holm(pvals).items():
            rows[m]["p_holm"] = padj
            better = rows[m]["_median_diff"] > 0
            rows[m]["mark"] = ("▲" if better else "▼") if padj < ALPHA else ""
    for m, row in rows.items():
        row.pop("_median_diff", None)
        row["baseline"] = bool(flags.loc[m, "baseline"])
        row["peer"] = bool(flags.loc[m, "peer"])
        row["reference"] = m == info["reference"]
        msub = ok[ok["method"] == m]
        row["n_cells"] = int(msub.groupby(["dataset", "split", "seed"]).ngroups)
        per_cell = msub.groupby(["dataset", "split", "seed"])[["runtime_s", "peak_mb"]].first()
        row["runtime_s"] = float(per_cell["runtime_s"].mean())
        row["peak_mb"] = float(per_cell["peak_mb"].mean())
    n_groups = ok.groupby(["dataset", "split"]).ngroups
    for m, row in rows.items():
        covered = ok[ok["method"] == m].groupby(["dataset", "split"]).ngroups
        row["coverage"] = f"{covered}/{n_groups}"
        row["partial"] = covered < n_groups
    board = pd.DataFrame(list(rows.values()))
    # normalised scores compare methods on the cells each ran on (a method that cannot
    # run everywhere is not ranked by a mean over easier cells)
    keys = [k for k in (f"{primary.name}_norm", f"{primary.name}_mean") if k in board]
    if keys:
        asc = [False, not primary.higher_is_better][: len(keys)]
        board = board.sort_values(keys, ascending=asc, na_position="last")
    return board.reset_index(drop=True), info


def breakdown(
    table: pd.DataFrame, task: Task, *, by: tuple[str, ...] = ("dataset", "split")
) -> pd.DataFrame:
    """Primary metric per ``by`` group and method: ``mean`` and ``sd`` over seeds (each
    seed's value averaged over the other groups first), and ``n`` seeds."""
    ok = _ok(table[(table["task"] == task.name) & (table["metric"] == task.primary.name)])
    if ok.empty:
        return pd.DataFrame()
    per_seed = ok.groupby([*by, "method", "seed"])["value"].mean()
    out = per_seed.groupby([*by, "method"]).agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"std": "sd", "count": "n"})
    out.loc[out["n"] < 2, "sd"] = math.nan
    flags = ok.groupby("method")["baseline"].first()
    out["baseline"] = out["method"].map(flags).astype(bool)
    return out
