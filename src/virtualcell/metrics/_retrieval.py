"""Retrieval metrics: recall@k of a ranked list of items per query.

Used by the text bridge (cells -> label texts and label texts -> cells), but defined for
any ``queries x items`` score matrix.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._errors import ValidationError
from ._checks import as_float_array

__all__ = ["recall_at_k"]


def recall_at_k(truth: ArrayLike, scores: ArrayLike, *, k: int) -> float:
    """Share of queries with at least one relevant item among their ``k`` best-scored items.

    ``truth`` (which items are relevant to which query, booleans) and ``scores`` are
    ``queries x items`` (higher score = better).
    For query ``q`` let ``b_q`` be the best score of a relevant item; its pessimistic rank
    is ``1 + #{irrelevant j: s_qj >= b_q}`` (ties with irrelevant items count against it,
    so a constant score finds nothing unless ``k`` covers every item)::

        recall@k = (1 / |Q|) * sum_{q in Q} [ 1 + #{irrelevant j: s_qj >= b_q} <= k ]

    over the queries ``Q`` with at least one relevant item (others are left out). This is
    the "R@K" of image-text retrieval (a hit if any of the relevant items is retrieved);
    with one relevant item per query it equals top-k accuracy. ``NaN`` scores rank last.

    Parameters
    ----------
    truth
        ``queries x items`` booleans (or 0/1): which items are relevant to each query;
        at least one query with a relevant item.
    scores
        ``queries x items`` scores of the same shape (higher = better).
    k
        Cut-off of the ranked list (a positive integer).

    Returns
    -------
    Recall@k in [0, 1], higher is better.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}")
    rel = np.asarray(truth)
    if rel.dtype != bool:
        if not np.isin(rel, (0, 1)).all():
            raise ValidationError("truth must hold booleans (or 0/1)")
        rel = rel.astype(bool)
    s = as_float_array(scores, "scores")
    if rel.ndim != 2 or s.shape != rel.shape:
        raise ValidationError(
            f"truth and scores must be queries x items of the same shape, got {rel.shape} "
            f"and {s.shape}"
        )
    s = np.where(np.isnan(s), -np.inf, s)
    has = rel.any(1)
    if not has.any():
        raise ValidationError("no query has a relevant item")
    s, rel = s[has], rel[has]
    best = np.where(rel, s, -np.inf).max(1)
    rank = 1 + ((s >= best[:, None]) & ~rel).sum(1)
    return float(np.mean(rank <= k))
