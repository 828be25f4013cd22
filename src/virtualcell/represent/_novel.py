"""Open-set annotation: an "unknown" score for cells of types the reference lacks.

For a query cell with calibrated confidence ``c`` and mean distance ``d`` to its
``k = 10`` nearest reference cells (in the method's own space, reference = the part the
method was fitted on)::

    u_conf = 1 - c
    u_dist = F_cal(d)          # share of held-out reference cells whose own d is below
    unknown_score = (u_conf + u_dist) / 2          # in [0, 1]

``F_cal`` is the empirical distribution of ``d`` over the held-out (calibration) part of
the reference, so ``u_dist`` is about uniform for cells of known types. A cell is flagged
unknown when its score exceeds the 95th percentile of the held-out reference cells'
scores (``quantile=0.95``: about 5 % of known-type cells are flagged by construction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NoveltyScorer"]


@dataclass
class NoveltyScorer:
    """Distance-to-reference + confidence unknown score (see the module docstring)."""

    k: int = 10
    quantile: float = 0.95

    def fit(
        self,
        space_fit: np.ndarray,
        space_cal: np.ndarray,
        conf_cal: np.ndarray,
        *,
        same: bool = False,
    ):
        """Reference space of the fitted part, held-out part and its calibrated confidence
        (``same=True``: the two are the same cells; each cell's own distance is left out)."""
        from sklearn.neighbors import NearestNeighbors

        self._nn = NearestNeighbors(n_neighbors=min(self.k, len(space_fit))).fit(space_fit)
        if same:
            k = min(self.k + 1, len(space_fit))
            d, _ = NearestNeighbors(n_neighbors=k).fit(space_fit).kneighbors(space_fit)
            self._cal_d = np.sort(d[:, 1:].mean(1) if k > 1 else d.mean(1))
        else:
            self._cal_d = np.sort(self._distance(space_cal))
        cal_scores = self.score(space_cal, conf_cal)
        self.threshold = float(np.quantile(cal_scores, self.quantile))
        return self

    def _distance(self, space: np.ndarray) -> np.ndarray:
        d, _ = self._nn.kneighbors(space)
        return d.mean(1)

    def distance_part(self, space: np.ndarray) -> np.ndarray:
        """``u_dist``: the calibration CDF of the mean kNN distance."""
        d = self._distance(space)
        return np.searchsorted(self._cal_d, d, side="left") / max(len(self._cal_d), 1)

    def score(self, space: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """Unknown score in [0, 1] (higher = more likely a type the reference lacks)."""
        return 0.5 * (1.0 - np.asarray(confidence)) + 0.5 * self.distance_part(space)
