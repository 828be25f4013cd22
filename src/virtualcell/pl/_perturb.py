"""Figures of perturbation prediction (``vc.pl``), drawn from ``vc.perturb`` results.

* :func:`perturbation_scatter` — predicted vs true change from control of one perturbation
  (one point per gene);
* :func:`perturbation_bars` — one metric per method and test subgroup, baselines hatched;
* :func:`interaction_confusion` — true vs predicted interaction mode of the doubles.

They only draw; the numbers come from :func:`vc.perturb.evaluate` (its report dict) or
from predicted and observed profiles.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ValidationError
from ._base import figure_params, finish, new_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["interaction_confusion", "perturbation_bars", "perturbation_scatter"]


@figure_params
def perturbation_scatter(
    true: Any,
    predicted: Any,
    control: Any,
    *,
    genes: Sequence[str] | None = None,
    label: str = "",
    n_labels: int = 5,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Figure:
    """Predicted vs true change from control of one perturbation (one point per gene).

    Parameters
    ----------
    true, predicted, control
        Mean profiles (genes) of the observed and predicted perturbation and of control.
    genes
        Gene names, in the profiles' order (``None``: no gene is labelled).
    label
        The perturbation, for the title.
    n_labels
        How many genes to label: those with the largest true ``|change|`` (needs ``genes``).
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    t, p, c = (np.asarray(v, dtype=float) for v in (true, predicted, control))
    if not (t.shape == p.shape == c.shape) or t.ndim != 1:
        raise ValidationError(
            "true, predicted and control must be gene vectors of one length, "
            f"got shapes {t.shape}, {p.shape}, {c.shape}"
        )
    t, p = t - c, p - c
    fig, ax = new_axes(ax, figsize=(4.5, 4.5))
    ax.scatter(t, p, s=10, alpha=0.7, color="#3b6ea8", linewidths=0)
    lim = float(np.nanmax(np.abs(np.r_[t, p, 1e-12]))) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color="grey", lw=0.8, ls="--")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    if genes is not None and n_labels > 0:
        if len(genes) != len(t):
            raise ValidationError(f"{len(genes)} gene names for {len(t)} genes")
        for i in np.argsort(-np.abs(t), kind="stable")[:n_labels]:
            ax.annotate(
                str(genes[i]), (t[i], p[i]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
    with np.errstate(invalid="ignore"):
        r = np.corrcoef(t, p)[0, 1] if np.std(t) > 0 and np.std(p) > 0 else np.nan
    ax.set_xlabel("true change from control")
    ax.set_ylabel("predicted change from control")
    title = f"Pearson-delta {r:.2f}"
    ax.set_title(f"{label}\n{title}" if label else title, fontsize=10)
    return finish(fig, path, overwrite=overwrite)


@figure_params
def perturbation_bars(
    report: dict | Sequence[dict],
    *,
    metric: str = "pearson_delta",
    subgroups: Sequence[str] | None = None,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Figure:
    """Bars of ``metric`` per method and test subgroup; baselines hatched.

    Parameters
    ----------
    report
        What :func:`vc.perturb.evaluate` returns (or its ``results`` list). With
        several reports (e.g. seeds) pass a list of reports: bars show the mean and the
        error bars the range.
    metric
        A key of the results (``pearson_delta``, ``l2``, ``pds`` ...).
    subgroups
        Which subgroups to show (default: all of the first report).
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    reports = [report] if isinstance(report, Mapping) else list(report)
    if not reports:
        raise ValidationError("no report to plot")
    results = [r["results"] if isinstance(r, Mapping) and "results" in r else r for r in reports]
    first = [x for x in results[0] if "error" not in x]
    if not first:
        raise ValidationError("the report holds no successful method")
    names = [x["method"] for x in first]
    baseline = {x["method"]: bool(x.get("baseline")) for x in first}
    subs = (
        list(subgroups)
        if subgroups is not None
        else list(first[0].get("by_subgroup", {})) or ["all"]
    )
    values = np.full((len(results), len(subs), len(names)), np.nan)
    for k, res in enumerate(results):
        by_name = {x["method"]: x for x in res if "error" not in x}
        for i, sub in enumerate(subs):
            for j, name in enumerate(names):
                rec = by_name.get(name)
                if rec is None:
                    continue
                src = rec if sub == "all" else rec.get("by_subgroup", {}).get(sub, {})
                v = src.get(metric)
                values[k, i, j] = np.nan if v is None else float(v)
    mean = np.nanmean(values, axis=0)
    lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    fig, ax = new_axes(ax, figsize=(min(12.0, 3.0 + 0.22 * len(names) * len(subs)), 3.8))
    width = 0.8 / len(names)
    cmap = _palette(len(names))
    for j, name in enumerate(names):
        x = np.arange(len(subs)) + (j - (len(names) - 1) / 2) * width
        err = None
        if len(results) > 1:
            err = np.vstack([mean[:, j] - lo[:, j], hi[:, j] - mean[:, j]])
        ax.bar(x, mean[:, j], width, yerr=err, label=name, color=cmap[j],
               hatch="//" if baseline[name] else None, edgecolor="white", capsize=2)  # fmt: skip
    ax.set_xticks(np.arange(len(subs)))
    ax.set_xticklabels(subs)
    ax.set_ylabel(metric)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"{metric} by test subgroup (hatched: baselines)")
    return finish(fig, path, overwrite=overwrite)


@figure_params
def interaction_confusion(
    interaction: dict,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Figure:
    """True (rows) vs predicted (columns) interaction modes of the doubles.

    Parameters
    ----------
    interaction
        A result's ``"interaction"`` entry from :func:`vc.perturb.evaluate`: ``modes``
        (the mode names), ``confusion`` (counts, true modes in rows, predicted in
        columns) and optionally ``accuracy`` (shown in the title).
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    for key in ("modes", "confusion"):
        if key not in interaction:
            raise ValidationError(f"interaction result lacks {key!r}")
    modes = list(interaction["modes"])
    mat = np.asarray(interaction["confusion"], dtype=float)
    if mat.shape != (len(modes), len(modes)):
        raise ValidationError(
            f"confusion matrix shape {mat.shape} does not match {len(modes)} modes"
        )
    fig, ax = new_axes(ax, figsize=(4.4, 3.8))
    im = ax.imshow(mat, cmap="Blues")
    for i in range(len(modes)):
        for j in range(len(modes)):
            ax.text(j, i, f"{int(mat[i, j])}", ha="center", va="center",
                    color="white" if mat[i, j] > mat.max() / 2 else "black", fontsize=9)  # fmt: skip
    ax.set_xticks(range(len(modes)))
    ax.set_xticklabels(modes, rotation=30, ha="right")
    ax.set_yticks(range(len(modes)))
    ax.set_yticklabels(modes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = interaction.get("accuracy")
    ax.set_title(
        f"interaction mode (accuracy {acc:.2f})" if acc is not None else "interaction mode"
    )
    fig.colorbar(im, ax=ax, shrink=0.8)
    return finish(fig, path, overwrite=overwrite)


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]
