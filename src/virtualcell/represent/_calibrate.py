"""Calibration of class scores on a held-out part of the reference.

* ``temperature`` (Guo et al. 2017): one scalar ``T`` minimising the negative
  log-likelihood of the held-out labels under ``softmax(logits / T)``, searched on
  ``log T`` in ``[-4, 4]`` (bounded scalar minimisation); the predicted label does not
  change, the confidence does.
* ``isotonic`` (Zadrozny & Elkan 2002): a non-decreasing map from the raw confidence
  (largest softmax probability) to the observed accuracy on the held-out cells
  (scikit-learn ``IsotonicRegression``, clipped to [0, 1]).
* ``none``: the raw softmax confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError

__all__ = ["Calibrator", "softmax"]

CalibrationMethod = Literal["temperature", "isotonic", "none"]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (numerically stable)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


@dataclass
class Calibrator:
    """Fitted calibration of one method's scores."""

    method: CalibrationMethod = "temperature"
    temperature: float = 1.0
    iso: Any = field(default=None, repr=False)

    def fit(self, logits: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on held-out ``logits`` (n x classes) and integer labels ``y``."""
        if self.method not in ("temperature", "isotonic", "none"):
            raise ValidationError(
                f"calibration must be 'temperature', 'isotonic' or 'none', got {self.method!r}"
            )
        logits = np.asarray(logits, dtype=np.float64)
        y = np.asarray(y, dtype=int)
        if self.method == "temperature":
            from scipy.optimize import minimize_scalar

            rows = np.arange(len(y))

            def nll(log_t: float) -> float:
                p = softmax(logits, float(np.exp(log_t)))
                return float(-np.log(np.clip(p[rows, y], 1e-12, None)).mean())

            res = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded")
            self.temperature = float(np.exp(res.x))
        elif self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            p = softmax(logits)
            correct = (p.argmax(1) == y).astype(float)
            self.iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
                p.max(1), correct
            )
        return self

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (temperature scaling; otherwise the raw softmax)."""
        t = self.temperature if self.method == "temperature" else 1.0
        return softmax(logits, t)

    def confidence(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated confidence of the predicted (argmax) class."""
        p = self.probabilities(logits).max(1)
        if self.method == "isotonic" and self.iso is not None:
            p = np.clip(self.iso.predict(p), 0.0, 1.0)
        return p

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "temperature": self.temperature}
        if self.iso is not None:
            out["isotonic_x"] = np.asarray(self.iso.X_thresholds_, dtype=float).tolist()
            out["isotonic_y"] = np.asarray(self.iso.y_thresholds_, dtype=float).tolist()
        return out
