"""Per-time-point pseudobulks of the training cells (``Predictor.predict(time=...)``).

When the training cells carry ``obs["time"]`` (a time course: RENGE's days 2-5), a
predictor can predict a condition *per time point*. :class:`TimeCourse` holds what every
method needs for that: the training time points (sorted), the control mean of each time
point and the mean profile of each training condition at each time point (NaN where a
condition has no cell at that time). It is computed on the first time-resolved request,
never for steady-state predictions.

The rules (:meth:`vc.perturb.Predictor.predict`): the change of a condition at time ``t``
is taken against the control of the same time ``t``; a method without a time model
predicts its time-pooled change on every day's control (``_predict_time`` of the base
class); ``train_mean`` predicts the mean of the training profiles of day ``t``;
``go_forest`` / ``go_ridge`` / ``genept_ridge`` regress the per-day changes;
``primed_network`` propagates the knockout through its network with per-day gains
(:mod:`._primed`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "TIME_KEY",
    "TimeCourse",
    "check_time_points",
    "time_course",
    "time_label",
    "time_order",
]

#: The ``obs`` column of the time point of each cell.
TIME_KEY = "time"


def time_order(value: Any) -> tuple:
    """Sort key of time points: numbers by value, then labels in natural order (``day2``
    before ``day10``; plain string order put ``day10`` first)."""
    if not isinstance(value, str):
        return (0, float(value), ())
    parts = re.split(r"(\d+)", value)
    return (1, 0.0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))


def time_label(value: Any) -> str:
    """A time point as written in names and keys (``G08@2``, ``per_day``): a whole number
    stored as a float without its ``.0`` (``2.0`` -> ``"2"``; files often hold days as
    floats), other numbers as Python writes them (``2.5``), labels as they are
    (``day2``). The one formatter of every row name and key that holds a time point."""
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return str(int(v)) if v.is_integer() else str(v)
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


@dataclass
class TimeCourse:
    """Per-time pseudobulks of the training cells.

    Attributes
    ----------
    times
        Time points, sorted (numbers when every value is numeric; labels in natural
        order, :func:`time_order`).
    control
        Control mean per time point, times x genes.
    profiles
        Mean profile per time point of every training condition (label -> times x genes,
        NaN rows where the condition has no cell at that time).
    n_cells
        Cells per condition and time point (label -> times).
    """

    times: list[Any]
    control: np.ndarray
    profiles: dict[str, np.ndarray]
    n_cells: dict[str, np.ndarray]

    def resolve(self, time: Any) -> list[int]:
        """Indices of the requested time points: ``"all"``, one value or a list of values
        (``3``, ``3.0`` and ``"3"`` name the same numeric time point)."""
        if isinstance(time, str) and time == "all":
            return list(range(len(self.times)))
        values = list(time) if isinstance(time, (list, tuple, np.ndarray)) else [time]
        if not values:
            raise ValidationError("time: empty list of time points")
        out = []
        for v in values:
            k = self._find(v)
            if k is None:
                raise ValidationError(
                    f"time {v!r} is not a time point of the training cells "
                    f"(obs[{TIME_KEY!r}] has {self.times})"
                )
            out.append(k)
        return out

    def _find(self, value: Any) -> int | None:
        for k, t in enumerate(self.times):
            if isinstance(t, float):
                try:
                    if float(value) == t:
                        return k
                except (TypeError, ValueError):
                    continue
            elif str(value) == str(t):
                return k
        return None

    def change(self, label: str) -> np.ndarray | None:
        """Observed change of a training condition per time point (times x genes, NaN
        rows where it has no cell), or None if it is not a training condition."""
        prof = self.profiles.get(label)
        return None if prof is None else prof - self.control

    def train_mean(self, k: int, labels: list[str] | None = None) -> np.ndarray:
        """Mean over the training conditions (``labels``: those) of their profiles at time
        ``k`` (each condition with cells there weighs the same); the control when none
        has."""
        names = list(self.profiles) if labels is None else labels
        rows = [self.profiles[c][k] for c in names if np.isfinite(self.profiles[c][k]).all()]
        return np.mean(rows, axis=0) if rows else self.control[k].copy()


def check_time_points(adata: AnnData, role: np.ndarray) -> None:
    """The checks of :func:`time_course` without its pseudobulks (``role`` of
    :func:`row_roles`): run once before any method by ``evaluate(by_time=True)``."""
    _time_codes(adata, role)


def _time_codes(adata: AnnData, role: np.ndarray) -> tuple[list[Any], np.ndarray, bool]:
    """``(time points, code of each row, numeric)``; raises on a missing column, missing
    values or a time point without control cells."""
    if TIME_KEY not in adata.obs:
        cols = ", ".join(map(str, adata.obs.columns[:10])) or "none"
        raise ValidationError(
            f"time-resolved prediction needs obs[{TIME_KEY!r}] in the training cells "
            f"(columns: {cols})"
        )
    raw = adata.obs[TIME_KEY]
    if raw.isna().any():
        raise ValidationError(
            f"obs[{TIME_KEY!r}] has {int(raw.isna().sum())} missing value(s): every cell "
            "needs its time point"
        )
    values = raw.to_numpy()
    try:
        num = values.astype(np.float64)
        numeric = True
    except (TypeError, ValueError):
        numeric = False
    if numeric:
        uniq = sorted(set(num.tolist()))
        tcode = np.searchsorted(np.array(uniq), num)
    else:
        strs = values.astype(str)
        uniq = sorted(set(strs.tolist()), key=time_order)
        where = {t: k for k, t in enumerate(uniq)}
        tcode = np.array([where[t] for t in strs.tolist()], dtype=np.int64)
    ctrl = role == "control"
    for k, t in enumerate(uniq):
        if not (ctrl & (tcode == k)).any():
            raise ValidationError(
                f"obs[{TIME_KEY!r}] time point {t!r} has no control cells: its changes "
                "would have no reference"
            )
    return uniq, tcode, numeric


def time_course(
    adata: AnnData,
    *,
    labels: np.ndarray,
    role: np.ndarray,
    genes: list[str],
    counts: bool,
) -> TimeCourse:
    """:class:`TimeCourse` of the training cells ``adata`` (rows with ``labels`` and
    ``role`` of :func:`row_roles`; primary rows are the conditions).

    Raises
    ------
    ValidationError
        No ``obs["time"]`` column, missing values in it, or a time point without control
        cells (its changes would have no reference).
    """
    from ._data import _group_means, expression_matrix

    uniq, tcode, numeric = _time_codes(adata, role)
    if len(adata.var_names) != len(genes) or list(map(str, adata.var_names)) != genes:
        adata = adata[:, genes]
    ctrl = role == "control"
    keep = ctrl | (role == "primary")
    conds = sorted(set(labels[keep & ~ctrl].tolist()))
    names = ["__control__", *conds]
    cidx = {c: i for i, c in enumerate(conds)}
    ccode = np.array(
        [0 if c else 1 + cidx.get(lab, -1) for lab, c in zip(labels, ctrl, strict=True)]
    )
    rows = np.flatnonzero(keep)
    x, _ = expression_matrix(adata[rows] if len(rows) < adata.n_obs else adata, counts=counts)
    codes = ccode[rows] * len(uniq) + tcode[rows]
    mean, _, size = _group_means(x, codes, len(names) * len(uniq))
    mean = mean.reshape(len(names), len(uniq), len(genes))
    size = size.reshape(len(names), len(uniq))
    mean[size == 0] = np.nan
    return TimeCourse(
        times=[float(t) for t in uniq] if numeric else list(uniq),
        control=mean[0],
        profiles={c: mean[1 + i] for i, c in enumerate(conds)},
        n_cells={c: size[1 + i].astype(int) for i, c in enumerate(conds)},
    )
