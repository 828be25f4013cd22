"""Figures of benchmark results (``vc.bench``): leaderboard bars, a methods x datasets
heatmap and runtime against score. Each takes the tidy results table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._base import figure_params, finish, new_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["bench_figures", "bench_heatmap", "bench_leaderboard", "bench_runtime"]

_COLOURS = {
    "reference": "#4d4d4d",
    "baseline": "#a3a9b3",
    "peer": "#e08a2c",
    "virtualcell": "#2f6db3",
}


def _rows(table: pd.DataFrame, task: str, metric: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame) or not {"task", "metric", "value"} <= set(table):
        raise ValidationError("expected the benchmark's tidy results table (vc.bench.read_results)")
    sub = table[(table["task"] == task) & (table["metric"] == metric) & (table["status"] == "ok")]
    if sub.empty:
        raise ValidationError(f"no '{metric}' results for task {task!r} in the table")
    return sub


def _kind(flags: pd.DataFrame, method: str, reference: str | None) -> str:
    if method == reference:
        return "reference"
    if bool(flags.loc[method, "baseline"]):
        return "baseline"
    return "peer" if bool(flags.loc[method, "peer"]) else "virtualcell"


@figure_params
def bench_leaderboard(
    table: pd.DataFrame,
    *,
    task: str,
    metric: str,
    higher_is_better: bool = True,
    bound: float | None = None,
    reference: str | None = None,
    scale: Literal["normalised", "raw"] = "normalised",
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Figure:
    """Horizontal bars of ``metric`` per method, best on top, error bar = sd over seeds;
    baselines grey (``reference`` dark), peers orange, virtualcell methods blue.

    ``scale="normalised"`` (the report's): the leaderboard's ``norm`` — the method's mean
    over the (dataset, split) groups it covers against its reference baseline's mean over
    the same groups (the best baseline covering all of them; definition in
    ``docs/bench.md``; ``bound`` = the metric's best value, ``None`` if unbounded); the
    error bar is the sd over seeds of the same score per seed. Methods with partial
    coverage are drawn below the others, marked ``†`` with their coverage.
    ``"raw"``: the metric averaged over datasets and splits per seed.

    Parameters
    ----------
    table
        The benchmark's tidy results table (:func:`vc.bench.read_results`: columns
        ``task, method, dataset, split, seed, metric, value, status, baseline, peer``);
        only rows with ``status == "ok"`` are drawn.
    task
        Task whose results are drawn.
    metric
        Metric drawn (a ``metric`` value of the table).
    higher_is_better
        Direction of ``metric`` (:func:`vc.metrics.higher_is_better`); orders the bars and
        the normalisation.
    bound
        Best attainable value of ``metric`` (1.0 for correlations, 0.0 for errors;
        ``None`` when unbounded), used by the normalised scale.
    reference
        Method drawn as the reference baseline (dark grey); ``None``: none marked.
    scale
        ``"normalised"`` (against the reference baseline, in %) or ``"raw"`` values.
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    from ..bench import normalised, reference_for
    from ..metrics import MetricSpec

    sub = _rows(table, task, metric)
    flags = sub.groupby("method")[["baseline", "peer"]].first()
    if scale == "normalised":
        spec = MetricSpec(metric, higher_is_better, bound)
        wide = sub.pivot_table(
            index=["dataset", "split"], columns="method", values="value", aggfunc="mean"
        )
        baselines = [m for m in flags.index if bool(flags.loc[m, "baseline"])]
        if not baselines:
            raise ValidationError(f"no baseline results for task {task!r} to normalise against")
        seeds = sub.pivot_table(
            index=["dataset", "split", "seed"], columns="method", values="value", aggfunc="mean"
        )
        rows = []
        for m in wide.columns:
            groups = list(wide.index[wide[m].notna()])
            ref = reference_for(wide, groups, baselines=baselines, metric=spec)
            if ref is None:
                continue
            norm = normalised(float(wide.loc[groups, m].mean()),
                              float(wide.loc[groups, ref].mean()), spec)  # fmt: skip
            cols = list(dict.fromkeys([m, ref]))
            per = seeds[seeds.index.droplevel("seed").isin(groups)][cols].dropna()
            per = per.groupby(level="seed").mean()
            vals = [normalised(v, b, spec) for v, b in zip(per[m], per[ref], strict=True)]
            label = m if len(groups) == len(wide) else f"{m} † ({len(groups)}/{len(wide)})"
            rows.append({"method": m, "label": label, "mean": norm,
                         "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                         "full": len(groups) == len(wide)})  # fmt: skip
        if not rows:
            raise ValidationError(f"no baseline of task {task!r} covers any method's groups")
        agg = pd.DataFrame(rows).set_index("method")
        # best on top: partial coverage below every full-coverage method
        agg = agg.sort_values(["full", "mean"], ascending=[False, False]).iloc[::-1]
        labels = list(agg["label"])
    else:
        per_seed = sub.groupby(["method", "seed"])["value"].mean()
        agg = per_seed.groupby("method").agg(["mean", "std"]).fillna({"std": 0.0})
        agg = agg.sort_values("mean", ascending=higher_is_better)
        labels = [str(m) for m in agg.index]
    fig, ax = new_axes(ax, figsize=(7.0, 0.35 * len(agg) + 1.4))
    colours = [_COLOURS[_kind(flags, m, reference)] for m in agg.index]
    y = np.arange(len(agg))
    factor = 100.0 if scale == "normalised" else 1.0
    ax.barh(y, factor * agg["mean"], xerr=factor * agg["std"], color=colours, capsize=2,
            height=0.7)  # fmt: skip
    ax.set_yticks(y, labels, fontsize=8)
    if scale == "normalised":
        ax.axvline(0, color="black", lw=0.8)
        how = (
            "relative error reduction" if not higher_is_better
            else "share of the headroom gained" if bound is not None else "relative gain"
        )  # fmt: skip
        ax.set_xlabel(f"{metric} vs the reference baseline on the same groups (%, {how})")
        ax.set_title(f"{task}: {metric}, normalised to the reference baseline (sd over seeds)",
                     fontsize=9)  # fmt: skip
    else:
        ax.set_xlabel(f"{metric} ({'higher' if higher_is_better else 'lower'} is better)")
        ax.set_title(f"{task}: {metric}, mean ± sd over seeds", fontsize=9)
    from matplotlib.patches import Patch

    used = dict.fromkeys(_kind(flags, m, reference) for m in agg.index)
    ax.legend(handles=[Patch(color=_COLOURS[k], label=k) for k in used], fontsize=7,
              loc="best")  # fmt: skip
    return finish(fig, path, overwrite=overwrite)


@figure_params
def bench_heatmap(
    table: pd.DataFrame,
    *,
    task: str,
    metric: str,
    higher_is_better: bool = True,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Figure:
    """Methods x (dataset / split) heatmap of ``metric`` (mean over seeds, annotated);
    colours scaled per column so that each column's best method is the brightest.

    Parameters
    ----------
    table
        The benchmark's tidy results table (:func:`vc.bench.read_results`); only rows with
        ``status == "ok"`` are drawn.
    task
        Task whose results are drawn.
    metric
        Metric drawn (a ``metric`` value of the table).
    higher_is_better
        Direction of ``metric``: which end of each column is bright, and the row order
        (best mean on top).
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    sub = _rows(table, task, metric)
    sub = sub.assign(col=sub["dataset"].astype(str) + " / " + sub["split"].astype(str))
    wide = sub.pivot_table(index="method", columns="col", values="value", aggfunc="mean")
    wide = wide.loc[wide.mean(axis=1).sort_values(ascending=not higher_is_better).index]
    vals = wide.to_numpy(dtype=float)
    lo, hi = np.nanmin(vals, axis=0), np.nanmax(vals, axis=0)
    scaled = (vals - lo) / np.where(hi > lo, hi - lo, 1.0)
    if not higher_is_better:
        scaled = 1 - scaled
    fig, ax = new_axes(ax, figsize=(1.1 * wide.shape[1] + 3.0, 0.32 * wide.shape[0] + 1.6))
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#e6e8ec")  # no result: grey
    ax.imshow(np.ma.masked_invalid(scaled), aspect="auto", cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(wide.shape[1]), list(wide.columns), rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(wide.shape[0]), list(wide.index), fontsize=7)
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            if np.isfinite(vals[i, j]):
                colour = "black" if scaled[i, j] > 0.6 else "white"
                ax.text(
                    j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=6, color=colour
                )
    ax.set_title(f"{task}: {metric} per dataset / split\n(colour scaled per column)", fontsize=9)
    return finish(fig, path, overwrite=overwrite)


@figure_params
def bench_runtime(
    table: pd.DataFrame,
    *,
    task: str,
    metric: str,
    reference: str | None = None,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Figure:
    """Mean wall time per cell (log scale) against the mean of ``metric``, one point per
    method, coloured as in :func:`bench_leaderboard`.

    Parameters
    ----------
    table
        The benchmark's tidy results table (:func:`vc.bench.read_results`, with a
        ``runtime_s`` column); only rows with ``status == "ok"`` are drawn.
    task
        Task whose results are drawn.
    metric
        Metric on the y axis (a ``metric`` value of the table).
    reference
        Method coloured as the reference baseline; ``None``: none marked.
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    sub = _rows(table, task, metric)
    per = sub.groupby("method").agg(value=("value", "mean"), runtime=("runtime_s", "mean"))
    flags = sub.groupby("method")[["baseline", "peer"]].first()
    fig, ax = new_axes(ax, figsize=(6.0, 4.0))
    for m, row in per.iterrows():
        ax.scatter(
            max(row["runtime"], 1e-3),
            row["value"],
            color=_COLOURS[_kind(flags, m, reference)],
            s=28,
            zorder=3,
        )
        ax.annotate(
            str(m),
            (max(row["runtime"], 1e-3), row["value"]),
            fontsize=6,
            xytext=(3, 2),
            textcoords="offset points",
        )
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    lo, hi = per["runtime"].clip(lower=1e-3).min(), per["runtime"].clip(lower=1e-3).max()
    centre = np.sqrt(lo * hi)
    ax.set_xlim(min(lo / 1.5, centre / 4), max(hi * 1.5, centre * 4))  # at least a decade
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("wall time per cell (s, log scale)")
    ax.set_ylabel(metric)
    ax.set_title(f"{task}: {metric} against runtime", fontsize=10)
    ax.grid(alpha=0.3)
    return finish(fig, path, overwrite=overwrite)


def bench_figures(table: pd.DataFrame, tasks: Sequence[Any]) -> dict[str, Figure]:
    """The report's figures: ``{"<task>_leaderboard", "<task>_heatmap", "<task>_runtime":
    Figure}`` for every task with results (``tasks``: :class:`vc.bench.Task` objects).
    This is what ``vcell bench`` passes as ``vc.bench.run(figures=...)``.

    Parameters
    ----------
    table
        The benchmark's tidy results table (:func:`vc.bench.read_results`).
    tasks
        The :class:`vc.bench.Task` objects to draw; each is drawn on its primary metric,
        against the reference baseline of :func:`vc.bench.leaderboard`. Tasks without an
        ``ok`` result of that metric are skipped.

    Returns
    -------
    ``{name: Figure}``, three figures per drawn task (none saved).
    """
    from ..bench import leaderboard

    out: dict[str, Figure] = {}
    for task in tasks:
        prim = task.primary
        ok = table[(table["task"] == task.name) & (table["metric"] == prim.name)]
        ok = ok[ok["status"] == "ok"]
        if ok.empty:
            continue
        _, info = leaderboard(table, task)
        ref = info["reference"]
        hib = prim.higher_is_better
        out[f"{task.name}_leaderboard"] = bench_leaderboard(
            table,
            task=task.name,
            metric=prim.name,
            higher_is_better=hib,
            bound=prim.bound,
            reference=ref,
        )
        out[f"{task.name}_heatmap"] = bench_heatmap(
            table, task=task.name, metric=prim.name, higher_is_better=hib
        )
        out[f"{task.name}_runtime"] = bench_runtime(
            table, task=task.name, metric=prim.name, reference=ref
        )
    return out
