"""Figures of the representation tasks (annotation, calibration, integration).

All follow the ``vc.pl`` contract ``f(obj, *, ax=None, path=None, ...) -> Figure`` and draw
results computed beforehand (:func:`virtualcell.represent.annotate`,
:func:`virtualcell.represent.score_integration`, a UMAP in ``obsm``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._base import figure_params, finish, new_axes, new_figure

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "annotation_embedding",
    "confusion_matrix",
    "integration_scores",
    "per_class_f1",
    "reliability_diagram",
]

PathLike = str | os.PathLike[str] | None


def _obs(adata: AnnData, key: str) -> pd.Series:
    if key not in adata.obs:
        raise ValidationError(f"obs has no column {key!r} (have {list(adata.obs.columns)[:20]})")
    return adata.obs[key]


def _is_categorical(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object


def _scatter(
    ax: Axes, xy: np.ndarray, values: pd.Series, title: str, palette: dict[str, Any]
) -> None:
    if _is_categorical(values):
        cats = sorted(pd.unique(values.astype(str)))
        for c in cats:
            m = (values.astype(str) == c).to_numpy()
            ax.scatter(xy[m, 0], xy[m, 1], s=4, color=palette[c], label=c, linewidths=0)
        ax.legend(fontsize=5, markerscale=2, loc="best", frameon=False, ncol=1 + len(cats) // 12)
    else:
        sc = ax.scatter(
            xy[:, 0], xy[:, 1], s=4, c=np.asarray(values, float), cmap="viridis", linewidths=0
        )
        ax.figure.colorbar(sc, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


@figure_params
def annotation_embedding(
    adata: AnnData,
    *,
    color: str | Sequence[str] = ("vc_label", "vc_confidence"),
    basis: str = "X_umap",
    ax: Axes | None = None,
    path: PathLike = None,
    overwrite: bool = False,
) -> Figure:
    """Scatter of a 2-D embedding (``obsm[basis]``, e.g. a UMAP) coloured by ``obs``
    columns: true labels, predictions (``vc_label``), confidence, unknown score. One panel
    per column (``ax`` only with a single column); a category has the same colour in
    every panel.

    Parameters
    ----------
    adata
        Cells with ``obsm[basis]`` and the ``obs`` columns of ``color`` (e.g. after
        :func:`~virtualcell.represent.annotate`); not modified.
    color
        One ``obs`` column or several (one panel each): categorical columns get one colour
        per category, numeric ones a viridis scale with a colour bar.
    basis
        ``obsm`` key of the 2-D embedding (its first two columns are drawn).

    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    if basis not in adata.obsm:
        raise ValidationError(
            f"obsm has no {basis!r}: compute it first (e.g. scanpy.tl.umap) or pass basis="
        )
    xy = np.asarray(adata.obsm[basis])[:, :2]
    cols = [color] if isinstance(color, str) else list(color)
    if ax is not None:
        if len(cols) != 1:
            raise ValidationError("ax= needs a single color column")
        fig, axes = new_axes(ax)[0], [ax]
    else:
        fig = new_figure(figsize=(4.2 * len(cols), 3.8))
        axes = [fig.add_subplot(1, len(cols), i + 1) for i in range(len(cols))]
    values = {c: _obs(adata, c) for c in cols}
    # one colour per category across panels, so a label and its prediction match
    cats = sorted({str(v) for s in values.values() if _is_categorical(s) for v in pd.unique(s)})
    palette = dict(zip(cats, _colors(len(cats)), strict=True))
    for a, c in zip(axes, cols, strict=True):
        _scatter(a, xy, values[c], c, palette)
    return finish(fig, path, overwrite=overwrite)


@figure_params
def confusion_matrix(
    adata: AnnData,
    *,
    label_key: str,
    prediction_key: str = "vc_label",
    normalize: bool = True,
    ax: Axes | None = None,
    path: PathLike = None,
    overwrite: bool = False,
) -> Figure:
    """Confusion matrix of true labels (rows) against predictions (columns); with
    ``normalize`` each row sums to 1 (recall on the diagonal).

    Parameters
    ----------
    adata
        Cells with ``obs[label_key]`` and ``obs[prediction_key]``; not modified.
    label_key
        ``obs`` column holding the true cell labels (rows).
    prediction_key
        ``obs`` column holding the predicted labels (columns).
    normalize
        Divide each row by its number of true cells (shares in [0, 1]); ``False``: counts.

    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    truth = _obs(adata, label_key).astype(str).to_numpy()
    pred = _obs(adata, prediction_key).astype(str).to_numpy()
    classes = sorted(set(truth) | set(pred))
    table = pd.crosstab(
        pd.Categorical(truth, classes), pd.Categorical(pred, classes), dropna=False
    ).to_numpy(dtype=float)
    if normalize:
        table = table / np.maximum(table.sum(1, keepdims=True), 1)
    n = len(classes)
    fig, ax = new_axes(ax, figsize=(1.2 + 0.45 * n, 1.0 + 0.4 * n))
    im = ax.imshow(table, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(n), classes, rotation=90, fontsize=6)
    ax.set_yticks(range(n), classes, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if table[i, j] > 0:
                txt = f"{table[i, j]:.2f}" if normalize else f"{int(table[i, j])}"
                ax.text(
                    j,
                    i,
                    txt,
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="white" if table[i, j] > 0.6 * table.max() else "black",
                )
    fig.colorbar(im, ax=ax, shrink=0.7)
    return finish(fig, path, overwrite=overwrite)


@figure_params
def per_class_f1(
    adata: AnnData,
    *,
    label_key: str,
    prediction_key: str = "vc_label",
    ax: Axes | None = None,
    path: PathLike = None,
    overwrite: bool = False,
) -> Figure:
    """Bar chart of the F1 of each true class (``2 TP / (2 TP + FP + FN)``), with the
    number of true cells; the title gives their unweighted mean (macro-F1 over the true
    classes).

    Parameters
    ----------
    adata
        Cells with ``obs[label_key]`` and ``obs[prediction_key]``; not modified.
    label_key
        ``obs`` column holding the true cell labels (one bar per class).
    prediction_key
        ``obs`` column holding the predicted labels.

    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    truth = _obs(adata, label_key).astype(str).to_numpy()
    pred = _obs(adata, prediction_key).astype(str).to_numpy()
    classes = sorted(set(truth))
    f1, n = [], []
    for c in classes:
        tp = float(((truth == c) & (pred == c)).sum())
        fp = float(((truth != c) & (pred == c)).sum())
        fn = float(((truth == c) & (pred != c)).sum())
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        n.append(int((truth == c).sum()))
    fig, ax = new_axes(ax, figsize=(max(4.0, 0.45 * len(classes) + 1.5), 3.2))
    ax.bar(range(len(classes)), f1, color="#4477aa")
    ax.set_xticks(
        range(len(classes)),
        [f"{c} ({k})" for c, k in zip(classes, n, strict=True)],
        rotation=90,
        fontsize=6,
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    ax.set_title(f"per-class F1 (macro {np.mean(f1):.3f})", fontsize=9)
    return finish(fig, path, overwrite=overwrite)


@figure_params
def reliability_diagram(
    adata: AnnData,
    *,
    label_key: str,
    prediction_key: str = "vc_label",
    confidence_key: str = "vc_confidence",
    raw_confidence_key: str | None = "vc_confidence_raw",
    n_bins: int = 10,
    ax: Axes | None = None,
    path: PathLike = None,
    overwrite: bool = False,
) -> Figure:
    """Accuracy against mean confidence per confidence bin (calibrated, and uncalibrated
    when ``raw_confidence_key`` is in ``obs``), with the ECE of each in the legend
    (:func:`~virtualcell.metrics.reliability_bins`, :func:`~virtualcell.metrics.ece`).

    Parameters
    ----------
    adata
        Cells with the label, prediction and confidence columns in ``obs``; not modified.
    label_key
        ``obs`` column holding the true cell labels.
    prediction_key
        ``obs`` column holding the predicted labels.
    confidence_key
        ``obs`` column holding the (calibrated) confidence of each prediction, in [0, 1].
    raw_confidence_key
        ``obs`` column of the uncalibrated confidence, drawn as a second curve when
        present; ``None``: not drawn.
    n_bins
        Number of equal-width confidence bins on [0, 1].

    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    from ..metrics import ece, reliability_bins

    truth = _obs(adata, label_key).astype(str).to_numpy()
    pred = _obs(adata, prediction_key).astype(str).to_numpy()
    fig, ax = new_axes(ax, figsize=(4.0, 4.0))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="perfect")
    keys = [(confidence_key, "calibrated", "#4477aa")]
    if raw_confidence_key is not None and raw_confidence_key in adata.obs:
        keys.insert(0, (raw_confidence_key, "uncalibrated", "#cc6677"))
    for key, name, col in keys:
        conf = _obs(adata, key).to_numpy(dtype=float)
        tab = reliability_bins(truth, pred, confidence=conf, n_bins=n_bins)
        used = tab["n"] > 0
        e = ece(truth, pred, confidence=conf, n_bins=n_bins)
        ax.plot(
            tab["confidence"][used],
            tab["accuracy"][used],
            marker="o",
            ms=3,
            color=col,
            label=f"{name} (ECE {e:.3f})",
        )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
    ax.legend(fontsize=7, loc="upper left")
    return finish(fig, path, overwrite=overwrite)


@figure_params
def integration_scores(
    table: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    ax: Axes | None = None,
    path: PathLike = None,
    overwrite: bool = False,
) -> Figure:
    """Grouped bars of scIB metrics (columns) for several embeddings (rows), e.g. the
    table of :func:`~virtualcell.represent.score_integration` before/after integration.

    Parameters
    ----------
    table
        Scores in [0, 1], one row per embedding (the row index names the bars' legend),
        one column per metric.
    metrics
        Columns to draw, in order (default: every column).

    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValidationError("integration_scores needs a non-empty DataFrame")
    cols = list(metrics) if metrics is not None else list(table.columns)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValidationError(f"metrics not in the table: {missing}")
    fig, ax = new_axes(ax, figsize=(max(5.0, 0.8 * len(cols) + 1.5), 3.4))
    width = 0.8 / len(table)
    x = np.arange(len(cols))
    for i, (name, row) in enumerate(table.iterrows()):
        ax.bar(
            x + i * width,
            row[cols].to_numpy(dtype=float),
            width,
            label=str(name),
            color=_colors(len(table))[i],
        )
    ax.set_xticks(x + 0.4 - width / 2, cols, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    return finish(fig, path, overwrite=overwrite)
