"""Leaderboards from the tidy results table: means over seeds, baseline-normalised
scores and paired significance tests (definitions in ``docs/bench.md``).

A leaderboard cannot be won by coverage: a method that ran on only some (dataset, split)
groups of a task is compared with the others on exactly those groups.

* **group**: one (dataset, split) of the task; a method *covers* a group when it has a
  value of the metric there (any seed). ``coverage`` = groups covered / groups of the task
  (groups where any method has the primary metric); *partial* when not all.
* **group mean**: the mean over seeds of the metric on one group (Demšar 2006: seeds of
  one dataset are not independent replicates).
* **mean ± sd**: ``mean`` is the average of the method's group means over the groups it
  covers; ``sd`` is the sample standard deviation over seeds of the per-seed averages over
  those groups (blank with one seed).
* **reference baseline of a method**: among the baselines that cover *every* group the
  method covers, the one with the best average group mean over those groups (ties: by
  name). A baseline with partial coverage is never a reference for groups it lacks.
  The task's reference is the reference of a method that covers every group (the best
  baseline with full coverage); ``None`` when no baseline covers every group.
* **normalised score** (``norm``) of a method on a metric, from its ``mean`` ``v`` and its
  reference's average group mean ``b`` over the *same* groups (``ref_mean``):
  higher-is-better and bounded by ``B``: ``(v - b) / (B - b)`` (share of the headroom
  above the reference gained; 0 = the reference, 1 = perfect, < 0 worse);
  higher-is-better, unbounded: ``v / b - 1`` (relative gain);
  lower-is-better: ``1 - v / b`` (relative error reduction, cell-eval's rule).
  Each formula is increasing in ``v`` and 0 at ``b``, so ``norm`` > 0 exactly when the
  method's mean beats its reference's mean on the same groups: the two columns agree.
* **rank**: methods that cover every group of the task are ranked by their mean of the
  primary metric (equivalently by ``norm``: they share the task's reference); a method
  with partial coverage gets no overall rank but ``rank_in_groups``: its place among all
  methods that cover its groups, by the mean over those groups.
* **paired test**: each method against its reference baseline on the primary metric, one
  pair per group it covers (the group means); two-sided Wilcoxon signed-rank test (zero
  differences dropped; exact, by enumerating every sign flip, up to 16 non-zero pairs,
  normal approximation above), Holm-adjusted over the methods of the task. ``▲`` / ``▼``:
  adjusted p < 0.05 and the method better / worse.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._task import Metric, Task

__all__ = [
    "breakdown",
    "leaderboard",
    "min_wilcoxon_p",
    "norm_rule",
    "normalised",
    "paired_test",
    "reference_for",
]

ALPHA = 0.05


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    return table[(table["status"] == "ok") & table["value"].notna()]


def normalised(value: float, base: float, metric: Metric) -> float:
    """Baseline-normalised score of ``value`` against ``base`` (see the module docstring).

    Parameters
    ----------
    value
        The method's mean of ``metric``.
    base
        The reference baseline's mean of ``metric`` over the same groups.
    metric
        The metric's spec: its direction (``higher_is_better``) and ``bound`` choose the
        formula.

    Returns
    -------
    float
        0 at the reference, > 0 when ``value`` beats it; NaN when either value is not
        finite or the formula is undefined (a zero or non-positive reference, no headroom
        above it).
    """
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


Group = tuple[str, str]


def _group_means(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Group means of ``metric``: index (dataset, split), one column per method (NaN where
    the method has no value)."""
    sub = ok[ok["metric"] == metric]
    if sub.empty:
        return pd.DataFrame()
    return sub.pivot_table(
        index=["dataset", "split"], columns="method", values="value", aggfunc="mean"
    ).sort_index()


def _best(scores: dict[str, float], metric: Metric) -> str | None:
    """The best of ``scores`` (ties: by name); ``None`` when every score is NaN."""
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not finite:
        return None
    sign = -1.0 if metric.higher_is_better else 1.0
    return min(finite, key=lambda k: (sign * finite[k], k))


def reference_for(
    wide: pd.DataFrame, groups: pd.Index | list[Group], *, baselines: list[str], metric: Metric
) -> str | None:
    """The reference baseline for ``groups``: among ``baselines`` that have a group mean on
    every one of ``groups`` (in ``wide``, see :func:`_group_means`), the best average over
    them; ``None`` when no baseline covers them all.

    Parameters
    ----------
    wide
        Group means of one metric: index (dataset, split), one column per method, NaN
        where a method has no value.
    groups
        The (dataset, split) groups to compare on (index labels of ``wide``).
    baselines
        Names of the task's baseline methods (columns of ``wide``; absent ones are
        skipped).
    metric
        The metric's spec; its direction decides which average is best (ties: by name).

    Returns
    -------
    str or None
        The name of the reference baseline.
    """
    if wide.empty or len(groups) == 0:
        return None
    rows = wide.loc[list(groups)]
    scores = {
        b: float(rows[b].mean()) for b in baselines if b in rows and bool(rows[b].notna().all())
    }
    return _best(scores, metric)


def _covered(wide: pd.DataFrame, method: str) -> list[Group]:
    if method not in wide:
        return []
    return [tuple(g) for g in wide.index[wide[method].notna()]]  # type: ignore[misc]


def _label(groups: list[Group]) -> str:
    return ", ".join(f"{d}/{s}" for d, s in groups)


def leaderboard(table: pd.DataFrame, task: Task) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per method of ``task`` (definitions in the module docstring).

    Columns: per metric ``<m>_mean``, ``<m>_sd``, ``<m>_norm``, ``<m>_ref`` (the reference
    baseline of that metric on the method's groups) and ``<m>_ref_mean`` (its mean over
    those groups); ``baseline``/``peer``/``reference`` flags; ``n_cells``; ``coverage``
    (``"covered/all"``), ``partial``, ``groups`` (the groups it covers, ``dataset/split``
    joined by ``", "``); ``rank`` (methods with full coverage only), ``rank_in_groups`` and
    ``n_in_groups`` (its place among the methods covering its groups); the paired test
    against its reference (``p``, ``p_holm``, ``pairs``, ``nonzero_pairs``, ``mark``); mean
    ``runtime_s`` and ``peak_mb``. Sorted: methods with full coverage by rank, then the
    others by coverage (most groups first), group set and rank within it.

    Returns the table and facts: ``reference`` (the task's reference baseline: the best
    with full coverage), ``test``, ``groups`` (every group of the task), ``comparisons``
    (one entry per distinct group set: ``groups``, ``methods`` compared there — every
    method covering those groups — the ``ranked`` methods whose own groups they are, and
    the ``reference``), ``norm`` (how ``norm`` is computed for the primary metric).

    Parameters
    ----------
    table
        The tidy results table of a run (``vc.bench.read_results``, ``BenchResult.table``);
        only rows of ``task`` with ``status == "ok"`` and a value are read.
    task
        The task whose methods are ranked; its first metric is the primary one.

    Returns
    -------
    tuple[pd.DataFrame, dict[str, Any]]
        The leaderboard (empty when the task has no finished value) and the facts above.
    """
    ok = _ok(table[table["task"] == task.name])
    info: dict[str, Any] = {
        "reference": None,
        "test": "Wilcoxon signed-rank, Holm-adjusted",
        "groups": [],
        "comparisons": [],
        "norm": norm_rule(task.primary),
    }
    if ok.empty:
        return pd.DataFrame(), info
    primary = task.primary
    flags = ok.groupby("method")[["baseline", "peer"]].first()
    baselines = [m for m in flags.index if bool(flags.loc[m, "baseline"])]
    rows: dict[str, dict[str, Any]] = {m: {"method": m} for m in flags.index}
    for metric in task.specs:
        wide = _group_means(ok, metric.name)
        if wide.empty:
            continue
        sub = ok[ok["metric"] == metric.name]
        for m in rows:
            groups = _covered(wide, m)
            if not groups:
                continue
            msub = sub[sub["method"] == m]
            per_seed = msub.groupby("seed")["value"].mean()
            v = float(wide.loc[groups, m].mean())
            ref = reference_for(wide, groups, baselines=baselines, metric=metric)
            b = float(wide.loc[groups, ref].mean()) if ref is not None else math.nan
            rows[m].update(
                {
                    f"{metric.name}_mean": v,
                    f"{metric.name}_sd": float(per_seed.std()) if len(per_seed) > 1 else math.nan,
                    f"{metric.name}_norm": normalised(v, b, metric),
                    f"{metric.name}_ref": ref,
                    f"{metric.name}_ref_mean": b,
                }
            )
    # coverage, ranks and the paired tests on the primary metric
    wide = _group_means(ok, primary.name)
    all_groups: list[Group] = [tuple(g) for g in wide.index] if not wide.empty else []  # type: ignore[misc]
    info["groups"] = [f"{d}/{s}" for d, s in all_groups]
    info["reference"] = reference_for(wide, all_groups, baselines=baselines, metric=primary)
    sign = 1.0 if primary.higher_is_better else -1.0
    covered = {m: _covered(wide, m) if not wide.empty else [] for m in rows}
    pvals: dict[str, float] = {}
    for m, row in rows.items():
        groups = covered[m]
        row["coverage"] = f"{len(groups)}/{len(all_groups)}"
        row["partial"] = len(groups) < len(all_groups)
        row["groups"] = _label(groups)
        row["rank"] = math.nan
        row["rank_in_groups"] = math.nan
        row["n_in_groups"] = 0
        if not groups:
            continue
        # every method with a value on each of these groups, by its mean over them
        here = wide.loc[groups]
        peers = [c for c in here.columns if bool(here[c].notna().all())]
        score = here[peers].mean() * sign
        row["rank_in_groups"] = int((score > score[m]).sum()) + 1
        row["n_in_groups"] = len(peers)
        ref = row.get(f"{primary.name}_ref")
        if ref is None or ref == m:
            continue
        diff = (here[m] - here[ref]).to_numpy() * sign
        p, nz = paired_test(diff)
        row.update({"pairs": len(diff), "nonzero_pairs": nz, "p": p})
        row["_median_diff"] = float(np.median(diff))
        pvals[m] = p
    for m, padj in _holm(pvals).items():
        rows[m]["p_holm"] = padj
        better = rows[m]["_median_diff"] > 0
        rows[m]["mark"] = ("▲" if better else "▼") if padj < ALPHA else ""
    full = [m for m in rows if covered[m] and not rows[m]["partial"]]
    if full:
        score = pd.Series({m: rows[m][f"{primary.name}_mean"] for m in full}) * sign
        for m in full:
            rows[m]["rank"] = int((score > score[m]).sum()) + 1
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
    board = pd.DataFrame(list(rows.values()))
    order = sorted(
        rows,
        key=lambda m: (
            0 if m in full else 1,
            -len(covered[m]),
            [all_groups.index(g) for g in covered[m]],
            rows[m]["rank"] if m in full else rows[m]["rank_in_groups"],
            -sign * rows[m].get(f"{primary.name}_mean", math.nan)
            if np.isfinite(rows[m].get(f"{primary.name}_mean", math.nan))
            else math.inf,
            m,
        ),
    )
    board = board.set_index("method").loc[order].reset_index()
    info["comparisons"] = _comparisons(board, covered, wide, primary, baselines)
    return board, info


def _comparisons(
    board: pd.DataFrame,
    covered: dict[str, list[Group]],
    wide: pd.DataFrame,
    primary: Metric,
    baselines: list[str],
) -> list[dict[str, Any]]:
    """One entry per distinct set of covered groups, full coverage first."""
    out: list[dict[str, Any]] = []
    seen: dict[tuple[Group, ...], dict[str, Any]] = {}
    for m in board["method"]:
        key = tuple(covered[m])
        if not key:
            continue
        if key not in seen:
            here = wide.loc[list(key)]
            compared = [c for c in board["method"] if c in here and bool(here[c].notna().all())]
            seen[key] = {
                "groups": [f"{d}/{s}" for d, s in key],
                "ranked": [],
                "methods": compared,
                "reference": reference_for(wide, list(key), baselines=baselines, metric=primary),
            }
            out.append(seen[key])
        seen[key]["ranked"].append(m)
    return out


def norm_rule(metric: Metric) -> str:
    """How ``norm`` is computed for ``metric``, in one sentence for the report."""
    where = "the mean of its reference baseline over the same dataset x split groups"
    if not metric.higher_is_better:
        return f"norm = 1 - mean / ref, ref = {where} (relative error reduction)"
    if metric.bound is not None:
        return (
            f"norm = (mean - ref) / ({metric.bound:g} - ref), ref = {where} (share of the "
            "headroom above the reference gained)"
        )
    return f"norm = mean / ref - 1, ref = {where} (relative gain)"


def breakdown(
    table: pd.DataFrame, task: Task, *, by: tuple[str, ...] = ("dataset", "split")
) -> pd.DataFrame:
    """Primary metric per ``by`` group and method: ``mean`` and ``sd`` over seeds (each
    seed's value averaged over the other groups first), and ``n`` seeds.

    Parameters
    ----------
    table
        The tidy results table of a run; only rows of ``task``'s primary metric with
        ``status == "ok"`` and a value are read.
    task
        The task to break down.
    by
        Result columns to group by (default: per dataset and split).

    Returns
    -------
    pd.DataFrame
        Columns ``*by``, ``method``, ``mean``, ``sd`` (NaN with one seed), ``n`` and
        ``baseline``; empty when the task has no finished value.
    """
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
