"""Discovery-curve metrics of closed-loop screens (``vc.design``).

A screen has a hidden set of true hits ``H`` (perturbation labels) and measures its
proposals round by round: ``P_1, ..., P_R`` (each a list of labels). Labels are compared
in the package grammar (``B+A`` is ``A+B``; :func:`virtualcell.data.join_perturbation`),
and a perturbation measured twice counts once. With ``F_r = H ∩ (P_1 ∪ ... ∪ P_r)``:

* :func:`discovery_curve` — ``curve_r = |F_r| / |H|`` (the cumulative hit rate after
  each round; ``normalize=False``: the count ``|F_r|``);
* :func:`hit_rate` — ``|H ∩ M| / |H|`` for the measured perturbations ``M``
  (BioDiscoveryAgent's *hit ratio*: the share of the true hits found);
* :func:`hits_at_budget` — ``|H ∩ {m_1, ..., m_b}|``, the distinct true hits among the
  first ``b`` measurements (in measurement order; ``b`` = all by default);
* :func:`discovery_auc` — the area under the discovery curve, ``(1/R) Σ_r curve_r``
  (a step curve over the budget on ``[0, 1]``: 1 = every hit found in the first round).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .._errors import ValidationError
from .._utils import doc_params
from ..data import join_perturbation, split_perturbation

__all__ = ["discovery_auc", "discovery_curve", "hit_rate", "hits_at_budget"]

_documented = doc_params(
    truth="The hidden true hits: perturbation labels (``A``, ``A+B``), at least one.",
    measured="The measured perturbation labels, in measurement order (repeats count once).",
    proposals="One list of measured labels per round, in order (at least one round).",
)


def _canon(label: object, what: str) -> str:
    if not isinstance(label, str | np.str_):
        raise ValidationError(f"{what} must be perturbation labels (strings), got {label!r}")
    text = str(label).strip()
    if not text:
        raise ValidationError(f"{what} contains an empty label")
    return join_perturbation(split_perturbation(text))


def _truth_set(truth: Iterable[str]) -> set[str]:
    if isinstance(truth, str):
        raise ValidationError("truth must be a collection of hit labels, not one string")
    hits = {_canon(t, "truth") for t in truth}
    if not hits:
        raise ValidationError("truth is empty: a screen needs at least one true hit")
    return hits


def _flat(measured: Sequence[str], what: str) -> list[str]:
    if isinstance(measured, str):
        raise ValidationError(f"{what} must be a sequence of labels, not one string")
    return [_canon(m, what) for m in measured]


def _rounds(proposals: Sequence[Sequence[str]]) -> list[list[str]]:
    if isinstance(proposals, str) or not len(proposals):
        raise ValidationError("proposals must be a non-empty sequence of rounds (lists of labels)")
    out = []
    for i, r in enumerate(proposals):
        if isinstance(r, str):
            raise ValidationError(
                f"proposals[{i}] is a string; each round must be a list of labels"
            )
        out.append(_flat(r, f"proposals[{i}]"))
    return out


def discovery_curve(
    truth: Iterable[str], proposals: Sequence[Sequence[str]], *, normalize: bool = True
) -> np.ndarray:
    """Cumulative share (or number) of the true hits found after each round.

    Parameters
    ----------
    truth
        The true hit labels.
    proposals
        One list of measured labels per round, in order.
    normalize
        Divide by the number of true hits (``False``: distinct hits found).

    Returns
    -------
    ``float64`` array of length ``len(proposals)``, non-decreasing; normalised, in
    [0, 1] (higher is better: more hits found by that round).

    Examples
    --------
    >>> discovery_curve(["A", "B", "C", "D"], [["A", "X"], ["Y", "Z"], ["B", "C"]])
    array([0.25, 0.25, 0.75])
    """
    hits = _truth_set(truth)
    found: set[str] = set()
    curve = []
    for r in _rounds(proposals):
        found |= hits.intersection(r)
        curve.append(len(found))
    out = np.asarray(curve, dtype=np.float64)
    return out / len(hits) if normalize else out


@_documented
def hit_rate(truth: Iterable[str], measured: Sequence[str]) -> float:
    """Share of the true hits among the measured perturbations, ``|H ∩ M| / |H|``.

    In [0, 1], higher is better (``METRIC_SPECS["hit_rate"]``).

    Returns
    -------
    The hit rate.

    Examples
    --------
    >>> hit_rate(["A", "B"], ["B", "C", "B"])
    0.5
    """
    hits = _truth_set(truth)
    return len(hits.intersection(_flat(measured, "measured"))) / len(hits)


@_documented
def hits_at_budget(
    truth: Iterable[str], measured: Sequence[str], *, budget: int | None = None
) -> int:
    """Distinct true hits among the first ``budget`` measurements (default: all).

    ``|H ∩ {m_1, ..., m_b}|``, in [0, |H|], higher is better (``METRIC_SPECS["hits"]``).

    Parameters
    ----------
    budget
        Number of measurements counted, from the first (an integer >= 0; ``None``: all).

    Returns
    -------
    The number of distinct true hits found.

    Examples
    --------
    >>> hits_at_budget(["A", "B"], ["A", "C", "B"], budget=2)
    1
    """
    hits = _truth_set(truth)
    items = _flat(measured, "measured")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 0:
            raise ValidationError(f"budget must be an integer >= 0, got {budget!r}")
        items = items[: int(budget)]
    return len(hits.intersection(items))


@_documented
def discovery_auc(truth: Iterable[str], proposals: Sequence[Sequence[str]]) -> float:
    """Area under the discovery curve: the mean over rounds of the cumulative hit rate.

    ``(1/R) Σ_r curve_r`` — the area under the step function that holds ``curve_r`` over
    the ``r``-th ``1/R`` of the budget; in ``[0, 1]``, higher is better
    (``METRIC_SPECS["discovery_auc"]``). Finding hits earlier scores higher at the same
    final hit rate.

    Returns
    -------
    The discovery AUC.

    Examples
    --------
    >>> discovery_auc(["A", "B"], [["A"], ["X"], ["B"], ["Y"]])
    0.75
    """
    return float(discovery_curve(truth, proposals).mean())
