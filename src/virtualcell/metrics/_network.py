"""Network (GRN) metrics: AUROC, AUPRC, AUPRC ratio, EPR and signed accuracy.

All take ``(truth, scores, *, genes=None, regulators=None, self_loops=False,
outside="raise")``; the candidate-edge universe, self-loops and unlisted edges are
defined once in :mod:`virtualcell.metrics._edges` (and ``docs/metrics.md``). Higher
scores mean more confident edges; absolute values are not taken (rank ``|score|``
yourself for signed scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from .._errors import ValidationError
from .._utils import doc_params
from ..data import normalize_edge_table, parse_signs
from ._checks import EdgeInput
from ._edges import EDGE_PARAMS, EdgeScores, edge_scores

__all__ = ["auprc", "auprc_ratio", "auroc", "early_precision", "epr", "signed_accuracy"]

_documented = doc_params(
    **EDGE_PARAMS,
    method=(
        '``"average_precision"`` (scikit-learn\'s step sum) or ``"trapezoid"`` (BEELINE\'s '
        "trapezoidal area)."
    ),
)


def _aligned(truth: EdgeInput, scores: EdgeInput, kw: dict[str, Any]) -> EdgeScores:
    edges = edge_scores(truth, scores, **kw)
    n_true = int(edges.truth.sum())
    if n_true == 0 or n_true == len(edges.truth):
        raise ValidationError(
            f"the universe of {len(edges.truth)} candidate edges holds {n_true} true edges; "
            "network metrics need both true and false candidates"
        )
    return edges


@_documented
def auroc(
    truth: EdgeInput,
    scores: EdgeInput,
    *,
    genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    self_loops: bool = False,
    outside: Literal["raise", "drop"] = "raise",
) -> float:
    """Area under the ROC curve: probability that a random true edge outscores a random
    false one, ties counting 1/2 (Mann-Whitney U / (P N)); unlisted edges are tied last.

    ``P`` and ``N`` are the true and false candidate edges of the universe (both must be
    non-empty).

    Returns
    -------
    AUROC in [0, 1], higher is better, 0.5 = random ranking (``METRIC_SPECS["auroc"]``).
    """
    e = _aligned(truth, scores, _kw(genes, regulators, self_loops, outside))
    ranks = rankdata(e.ranking_score())
    p = int(e.truth.sum())
    n = len(e.truth) - p
    return float((ranks[e.truth].sum() - p * (p + 1) / 2) / (p * n))


def _kw(
    genes: Sequence[str] | None,
    regulators: Sequence[str] | None,
    self_loops: bool,
    outside: Literal["raise", "drop"],
) -> dict[str, Any]:
    return {"genes": genes, "regulators": regulators, "self_loops": self_loops, "outside": outside}


def _pr_points(e: EdgeScores) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold, highest first."""
    s = e.ranking_score()
    order = np.argsort(-s, kind="stable")
    s_sorted, t_sorted = s[order], e.truth[order]
    tp = np.cumsum(t_sorted)
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), len(s_sorted) - 1]
    tp_at, n_at = tp[last].astype(float), last + 1.0
    return tp_at / n_at, tp_at / tp[-1]


@_documented
def auprc(
    truth: EdgeInput,
    scores: EdgeInput,
    *,
    genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    self_loops: bool = False,
    outside: Literal["raise", "drop"] = "raise",
    method: Literal["average_precision", "trapezoid"] = "average_precision",
) -> float:
    """Area under the precision-recall curve.

    ``"average_precision"`` (default, scikit-learn's ``average_precision_score``):
    ``sum_i (R_i - R_{i-1}) P_i`` over distinct score thresholds, highest first.
    ``"trapezoid"`` (BEELINE's ``auc(recall, precision)``): trapezoidal area under the
    points ``(R_i, P_i)`` plus ``(0, 1)``; it is slightly optimistic. Tied scores form
    one threshold; unlisted edges are one tied block at the end.

    Returns
    -------
    AUPRC in [0, 1], higher is better; a random ranking scores about the edge density
    ``n_true / n_universe`` (``METRIC_SPECS["auprc"]``).
    """
    e = _aligned(truth, scores, _kw(genes, regulators, self_loops, outside))
    prec, rec = _pr_points(e)
    if method == "average_precision":
        return float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
    if method == "trapezoid":
        return float(np.trapezoid(np.r_[1.0, prec], np.r_[0.0, rec]))
    raise ValidationError(f"method must be 'average_precision' or 'trapezoid', got {method!r}")


@_documented
def auprc_ratio(
    truth: EdgeInput,
    scores: EdgeInput,
    *,
    genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    self_loops: bool = False,
    outside: Literal["raise", "drop"] = "raise",
    method: Literal["average_precision", "trapezoid"] = "average_precision",
) -> float:
    """AUPRC divided by that of a random predictor, the edge density
    ``n_true / n_universe`` (BEELINE's AUPRC ratio).

    Returns
    -------
    ``auprc / density``, in [0, 1 / density]: 1 = random ranking, higher is better
    (``METRIC_SPECS["auprc_ratio"]``, no fixed bound).
    """
    kw = _kw(genes, regulators, self_loops, outside)
    e = _aligned(truth, scores, kw)
    return auprc(truth, scores, method=method, **kw) / e.density


def _top_set(e: EdgeScores, k: int | None) -> np.ndarray:
    """Mask of the top-``k`` listed edges, all edges tied with the k-th included."""
    n_true = int(e.truth.sum())
    k = n_true if k is None else int(k)
    if k < 1:
        raise ValidationError(f"k must be >= 1, got {k}")
    listed = e.listed
    values = np.sort(e.score[listed])[::-1]
    if len(values) == 0:
        return np.zeros(len(e.truth), dtype=bool)
    cut = values[min(k, len(values)) - 1]
    return listed & (np.nan_to_num(e.score, nan=-np.inf) >= cut)


@_documented
def early_precision(
    truth: EdgeInput,
    scores: EdgeInput,
    *,
    k: int | None = None,
    genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    self_loops: bool = False,
    outside: Literal["raise", "drop"] = "raise",
) -> float:
    """Precision among the top-``k`` listed edges (``k`` = number of true edges by
    default); edges tied with the k-th score are all included; if fewer than ``k`` edges
    are listed, all listed edges.

    Returns
    -------
    The share of true edges in that set, in [0, 1], higher is better; NaN if no edge is
    listed.
    """
    e = _aligned(truth, scores, _kw(genes, regulators, self_loops, outside))
    top = _top_set(e, k)
    return float(e.truth[top].mean()) if top.any() else float("nan")


@_documented
def epr(
    truth: EdgeInput,
    scores: EdgeInput,
    *,
    k: int | None = None,
    genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None,
    self_loops: bool = False,
    outside: Literal["raise", "drop"] = "raise",
) -> float:
    """Early precision ratio (BEELINE): :func:`early_precision` divided by the precision
    of a random predictor, the edge density of the universe.

    Returns
    -------
    ``early_precision / density``, in [0, 1 / density]: 1 = random, higher is better
    (``METRIC_SPECS["epr"]``, no fixed bound); NaN if no edge is listed.
    """
    kw = _kw(genes, regulators, self_loops, outside)
    e = _aligned(truth, scores, kw)
    return early_precision(truth, scores, k=k, **kw) / e.density


def _signs(values: Any, name: str) -> np.ndarray:
    return parse_signs(values, what=name).astype(int)


def signed_accuracy(
    truth: EdgeInput,
    prediction: EdgeInput,
    *,
    sign_column: str = "sign",
) -> float:
    """Fraction of true edges, among those the prediction also signs, whose predicted
    sign (activation +1 / repression -1) equals the true sign.

    ``truth`` / ``prediction`` are either 1-D sign arrays over the same candidate edges
    (0 = no edge), or edge tables with a ``sign_column`` (the sign words of
    :mod:`virtualcell.data._edges`: ``+``/``-``, ``+1``/``-1``, ``activation``/
    ``repression`` ...; for the prediction the sign of ``score`` is used when
    ``sign_column`` is absent). NaN when no true edge is predicted with a sign.

    Parameters
    ----------
    truth
        The true signed network: an edge table with ``sign_column``, or a 1-D array of
        signs (+1, -1, 0 = no edge) over enumerated candidate edges.
    prediction
        The predicted signs in the form of ``truth`` (an edge table with ``sign_column``
        or a ``score`` column, or a 1-D sign array of the same length); each edge at
        most once.
    sign_column
        Column holding the signs in the edge tables.

    Returns
    -------
    Signed accuracy in [0, 1], higher is better.
    """
    if isinstance(truth, pd.DataFrame):
        t = normalize_edge_table(truth, what="truth")
        p = normalize_edge_table(prediction, what="prediction")
        if sign_column not in p.columns and "score" not in p.columns:
            raise ValidationError(
                f"prediction has neither a {sign_column!r} nor a 'score' column: "
                f"{list(prediction.columns)}"
            )
        if sign_column not in t.columns:
            raise ValidationError(f"truth lacks the sign column {sign_column!r}")
        t_sign = pd.Series(_signs(t[sign_column], "truth"), index=[t["regulator"], t["target"]])
        p_col = p[sign_column] if sign_column in p.columns else p["score"]
        p_sign = pd.Series(_signs(p_col, "prediction"), index=[p["regulator"], p["target"]])
        if t_sign.index.has_duplicates or p_sign.index.has_duplicates:
            raise ValidationError("an edge is listed twice in truth or prediction")
        joined = pd.concat([t_sign.rename("t"), p_sign.rename("p")], axis=1, join="inner")
        t_arr, p_arr = joined["t"].to_numpy(), joined["p"].to_numpy()
    else:
        t_arr, p_arr = _signs(truth, "truth"), _signs(prediction, "prediction")
        if t_arr.shape != p_arr.shape:
            raise ValidationError(
                f"truth and prediction differ in length: {t_arr.shape} vs {p_arr.shape}"
            )
    both = (t_arr != 0) & (p_arr != 0)
    return float(np.mean(t_arr[both] == p_arr[both])) if both.any() else float("nan")
