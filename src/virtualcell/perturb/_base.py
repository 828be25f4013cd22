"""The predictor contract: ``fit(adata_train)`` then ``predict(perturbations) -> AnnData``.

Every method of :data:`~virtualcell.perturb.METHODS` is a :class:`Predictor` subclass that
implements ``_fit`` (learn from a :class:`~virtualcell.perturb._data.TrainingData`) and
``_predict_one`` (one condition -> a mean profile). The base class does the rest, the
same way for all:

* labels are parsed in the package grammar (``control``, ``A``, ``A+B``);
* predictions are clipped at 0 (expression is non-negative) and returned as an AnnData of
  pseudobulk means with the training genes;
* genes never perturbed in training are listed in ``obs["unseen_genes"]``;
* a condition a method cannot represent (e.g. a gene without features) raises
  :class:`~virtualcell.ValidationError` naming the genes, or — with
  ``on_unsupported="flag"`` — is predicted as the training mean with
  ``obs["fallback"] = True``;
* :meth:`Predictor.sample` draws per-cell samples (counts when counts came in);
* with ``time=`` (training cells with ``obs["time"]``), conditions are predicted per time
  point, each against the control of its own day (:mod:`._time`).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._version import __version__
from ..data import PERTURBATION_KEY, UNS_KEY, split_perturbation
from ._data import TARGET_SUM, TrainingData, parse_conditions, prepare_training
from ._time import TIME_KEY, TimeCourse, time_course, time_label

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["Predictor", "Unsupported", "count_units", "shift_cells"]


class Unsupported(Exception):
    """Raised by ``_predict_one`` when a method cannot represent some genes."""

    def __init__(self, genes: Iterable[str], reason: str) -> None:
        self.genes = sorted(set(genes))
        self.reason = reason
        super().__init__(f"{reason}: {', '.join(self.genes[:10])}")


class Predictor(abc.ABC):
    """Base class of perturbation-response predictors (abstract: a method implements
    :meth:`_predict_one`, and :meth:`_fit` when it learns more than the pseudobulks).

    Parameters
    ----------
    perturbation_type
        Which perturbed rows are the conditions to learn (``"auto"``: the most frequent
        type; see :mod:`virtualcell.perturb._data`).
    groupby
        ``obs`` column whose groups (cell types) methods may model separately;
        ``"auto"`` uses ``cell_type`` when present.
    seed
        Random seed of everything the method draws.
    """

    #: Registry name (set by subclasses).
    name: ClassVar[str] = "predictor"
    #: Whether the method can predict genes never perturbed in training from features;
    #: methods that only recombine observed profiles say False.
    uses_features: ClassVar[bool] = False
    #: Set the perturbed genes to their knock level (:meth:`TrainingData.knock_level`)
    #: after ``_predict_one`` (``train_mean_ko``; an option of ``linear`` / ``additive``).
    clamp_targets: bool = False

    def __init__(
        self,
        *,
        perturbation_type: str | None = "auto",
        groupby: str | None = None,
        seed: int = 0,
    ) -> None:
        self.perturbation_type = perturbation_type
        self.groupby = groupby
        self.seed = int(seed)
        self.data_: TrainingData | None = None
        self.fit_seconds_: float | None = None
        self._time_source: tuple[Any, str] | None = None
        self._time: TimeCourse | None = None

    def __repr__(self) -> str:
        state = "fitted" if self.data_ is not None else "not fitted"
        return f"{type(self).__name__}({self.name!r}, {state})"

    # ------------------------------------------------------------------ public
    def fit(self, adata: AnnData, *, perturbation_key: str = PERTURBATION_KEY) -> Predictor:
        """Learn from training cells (or profiles) with ``obs[perturbation_key]``.

        Returns the predictor itself.
        """
        t0 = time.perf_counter()
        self.data_ = prepare_training(
            adata,
            perturbation_key=perturbation_key,
            perturbation_type=self.perturbation_type,
            groupby=self.groupby,
            seed=self.seed,
        )
        # the per-time pseudobulks are computed on the first time-resolved request only
        self._time_source, self._time = (adata, perturbation_key), None
        self._fit(self.data_, adata)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def predict(
        self,
        perturbations: Iterable[str] | str,
        *,
        on_unsupported: Literal["raise", "flag"] = "raise",
        time: Any = None,
    ) -> AnnData:
        """Predicted mean profile of each condition (per time point with ``time``).

        Parameters
        ----------
        perturbations
            Labels such as ``"KLF1"``, ``"CEBPE+KLF1"`` (``"control"`` gives the control).
        on_unsupported
            ``raise``: a :class:`~virtualcell.ValidationError` names the genes the method
            cannot represent; ``flag``: predict the training mean for those conditions
            and set ``obs["fallback"]``.
        time
            ``None`` (default): one time-pooled profile per condition. ``"all"``, a time
            point or a list of them (values of the training cells' ``obs["time"]``): one
            row per condition x time point, the change predicted against that day's
            control (``control`` is that day's control mean; the fallback is the day's
            training mean). See :mod:`virtualcell.perturb._time`.

        Returns
        -------
        AnnData, conditions (x time points) x genes, in the training expression space
        (``uns["vc"]["perturb"]["space"]``): ``X`` (float64, >= 0); ``obs`` columns
        ``perturbation``, ``n_genes`` (genes in the condition), ``unseen_genes``
        (comma-joined genes never perturbed in training, ``""`` if none), ``fallback``;
        with ``time`` also ``time`` (rows condition-major, index ``"<label>@<time>"``).

        Raises
        ------
        ValidationError
            Unsupported genes (``on_unsupported="raise"``); with ``time``: training cells
            without ``obs["time"]`` (or with missing values, or a time point without
            control cells), a time point not in the training cells.
        """
        import anndata as ad

        data = self._require_fit()
        labels = parse_conditions(perturbations)
        idx = data.gene_index
        seen = data.seen_genes
        if on_unsupported == "raise" and not self.uses_features:
            # a gene neither measured nor perturbed in training (often a typo): a method
            # without gene features would silently predict "no effect" for it
            strangers = sorted(
                {g for lab in labels for g in split_perturbation(lab)} - set(idx) - set(seen)
            )
            if strangers:
                raise ValidationError(
                    f"method {self.name!r} knows nothing of {', '.join(strangers[:10])}: "
                    "neither measured nor perturbed in training (check the spelling, or use "
                    "a method with gene features, e.g. go_ridge)"
                )
        course = None if time is None else self._time_course()
        steps = [None] if course is None else course.resolve(time)
        rows = [(lab, k) for lab in labels for k in steps]
        out = np.empty((len(rows), len(data.genes)))
        fallback = np.zeros(len(rows), dtype=bool)
        unseen_col = []
        for i, (label, k) in enumerate(rows):
            genes = split_perturbation(label)
            unseen_col.append(",".join(g for g in genes if g not in seen))
            if not genes:
                out[i] = data.control if k is None else course.control[k]  # type: ignore[union-attr]
                continue
            try:
                out[i] = self._predict_one(genes) if k is None else self._predict_time(genes, k)
                if self.clamp_targets:
                    out[i] = self._clamp(out[i], genes)
            except Unsupported as err:
                if on_unsupported == "raise":
                    raise ValidationError(
                        f"method {self.name!r} cannot predict {label!r}: {err}"
                    ) from None
                out[i] = data.train_mean() if k is None else course.train_mean(k)  # type: ignore[union-attr]
                fallback[i] = True
        unknown = sorted({g for lab in labels for g in split_perturbation(lab)} - set(idx))
        cols: dict[str, Any] = {
            PERTURBATION_KEY: [lab for lab, _ in rows],
            "n_genes": [len(split_perturbation(lab)) for lab, _ in rows],
            "unseen_genes": unseen_col,
            "fallback": fallback,
        }
        names = [lab for lab, _ in rows]
        if course is not None:
            cols[TIME_KEY] = [course.times[k] for _, k in rows]
            names = [f"{lab}@{time_label(course.times[k])}" for lab, k in rows]
        obs = pd.DataFrame(cols, index=pd.Index(names, dtype=str))
        obs.index = _unique(obs.index)
        result = ad.AnnData(
            X=np.clip(np.nan_to_num(out), 0.0, None),
            obs=obs,
            var=pd.DataFrame(index=pd.Index(data.genes, dtype=str)),
        )
        result.uns[UNS_KEY] = {
            "perturb": {
                "method": self.name,
                "space": data.space,
                "counts_input": data.counts,
                "perturbation_type": data.perturbation_type or "",
                "unmeasured_genes": unknown,
                "version": __version__,
            }
        }
        return result

    def sample(self, predicted: AnnData, *, n_cells: int = 100, seed: int = 0) -> AnnData:
        """Per-cell samples of predicted conditions.

        Each sampled cell is a random training control cell shifted by the predicted
        change of its condition (``cell + prediction - control mean`` in the expression
        space, clipped at 0). When counts came in, the shifted cell is turned back into
        counts with that control cell's total (``expm1(value) * total / 1e4``), rounded
        stochastically (floor plus a Bernoulli draw of the remainder), so the result is
        integer counts with the predicted mean. When log-normalised values came in whose
        counts can be read back (:func:`count_units`: every control cell's ``expm1``
        values are whole multiples of its smallest non-zero one, as ``log1p`` of counts or
        of counts per 10,000 are), the shifted cell is rounded the same way onto that
        cell's own lattice (``log1p(round(expm1(value) / unit) * unit)``): real cells hold
        only such values, and a cell shifted off them moves every tied value (zeros, equal
        counts) past its twin among the control cells, so that any change, however small,
        would test as DE.

        Returns
        -------
        AnnData with ``n_cells`` cells per condition of ``predicted``, ``obs`` columns
        ``perturbation`` and ``sampled_from`` (the control cell index).
        """
        import anndata as ad
        from scipy import sparse

        data = self._require_fit()
        if n_cells < 1:
            raise ValidationError(f"n_cells must be >= 1, got {n_cells}")
        if list(map(str, predicted.var_names)) != data.genes:
            raise ValidationError("predicted genes differ from the training genes")
        cells = data.control_cells
        assert cells is not None
        rng = np.random.default_rng(seed)
        pred = np.asarray(predicted.X, dtype=np.float64)
        units = None if data.counts else count_units(cells)
        blocks, labels, source = [], [], []
        for i, label in enumerate(predicted.obs[PERTURBATION_KEY].astype(str)):
            pick = rng.integers(0, len(cells), size=n_cells)
            library = data.control_library[pick] if data.counts else None
            unit = None if units is None else units[pick]
            shifted = shift_cells(cells[pick], pred[i] - data.control, rng, library=library,
                                  unit=unit)  # fmt: skip
            blocks.append(shifted.astype(np.float32))
            labels += [label] * n_cells
            source.append(pick)
        x = np.vstack(blocks)
        obs = pd.DataFrame(
            {PERTURBATION_KEY: labels, "sampled_from": np.concatenate(source)},
            index=[f"cell{i}" for i in range(x.shape[0])],
        )
        out = ad.AnnData(
            X=sparse.csr_matrix(x) if data.counts else x,
            obs=obs,
            var=pd.DataFrame(index=pd.Index(data.genes, dtype=str)),
        )
        out.uns[UNS_KEY] = {"perturb": {"method": self.name, "sampled": True,
                                        "counts": data.counts, "space": data.space}}  # fmt: skip
        return out

    # ------------------------------------------------------------------ time points
    def _time_course(self) -> TimeCourse:
        """The per-time pseudobulks of the training cells (computed once, when first
        asked for; :func:`time_course` raises for a missing or odd time column)."""
        from ._data import row_roles

        data = self._require_fit()
        if self._time is None:
            adata, key = self._time_source  # type: ignore[misc]
            labels, role, _ = row_roles(
                adata, perturbation_key=key, perturbation_type=self.perturbation_type
            )
            self._time = time_course(
                adata, labels=labels, role=role, genes=data.genes, counts=data.counts
            )
        return self._time

    def _predict_time(self, genes: tuple[str, ...], k: int) -> np.ndarray:
        """Mean profile of the condition at time point ``k`` (an index of
        ``self._time_course().times``). Default: the time-pooled change of
        :meth:`_predict_one` added to that day's control (a method without a time model
        predicts the same change every day)."""
        data = self._require_fit()
        return self._time_course().control[k] + self._predict_one(genes) - data.control

    # ------------------------------------------------------------------ for subclasses
    def _require_fit(self) -> TrainingData:
        if self.data_ is None:
            raise ValidationError(f"predictor {self.name!r} is not fitted: call fit(adata) first")
        return self.data_

    def _fit(self, data: TrainingData, adata: AnnData) -> None:
        """Learn from ``data`` (and the raw ``adata`` for cell-level methods); the
        default learns nothing beyond the pseudobulks."""
        return None

    @abc.abstractmethod
    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        """Mean profile (expression space) of the condition perturbing ``genes``."""

    def _clamp(self, profile: np.ndarray, genes: tuple[str, ...]) -> np.ndarray:
        """``profile`` with each measured perturbed gene set to its knock level."""
        data = self._require_fit()
        idx = data.gene_index
        out = np.array(profile, dtype=np.float64)
        for g in genes:
            level = data.knock_level(g)
            if level is not None:
                out[idx[g]] = level
        return out

    def _single_effects(self, genes: tuple[str, ...]) -> list[np.ndarray | None]:
        """Observed change from control of each gene perturbed alone (None if unseen)."""
        data = self._require_fit()
        out = []
        for g in genes:
            s = data.single(g)
            out.append(None if s is None else s - data.control)
        return out


def shift_cells(
    cells: np.ndarray, change: np.ndarray, rng: np.random.Generator, *,
    library: np.ndarray | None = None, unit: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """The rule of :meth:`Predictor.sample`: control ``cells`` (expression space) shifted
    by the predicted ``change``, clipped at 0; with ``library`` (the cells' total counts:
    counts came in) turned back into counts ``expm1(value) * library / 1e4``, rounded
    stochastically (floor plus a Bernoulli draw of the remainder, from ``rng``); with
    ``unit`` (each cell's count unit, :func:`count_units`) rounded the same way to whole
    units and returned in the expression space, ``log1p(count * unit)``."""
    shifted = np.clip(cells + np.asarray(change)[None, :], 0.0, None)
    if library is not None or unit is not None:
        scale = (np.asarray(library, dtype=np.float64) / TARGET_SUM if library is not None
                 else 1.0 / np.asarray(unit, dtype=np.float64))  # fmt: skip
        expected = np.expm1(shifted) * scale[:, None]
        if library is None:  # whole units read back to round-off are whole (no change)
            whole = np.round(expected)
            near = np.abs(expected - whole) <= 1e-6 * np.maximum(whole, 1.0)
            expected[near] = whole[near]
        base = np.floor(expected)
        shifted = base + (rng.random(expected.shape) < expected - base)
        if library is None:
            shifted = np.log1p(shifted / scale[:, None])
    return shifted


def count_units(cells: np.ndarray, *, tol: float = 1e-3, max_count: int = 32) -> np.ndarray | None:
    """Each cell's count unit when ``cells`` (cells x genes) are ``log1p`` of whole
    multiples of a per-cell unit (``log1p`` of counts: unit 1; of counts per 10,000:
    ``1e4 / total``), else None.

    A cell's unit is its smallest non-zero ``expm1`` value divided by the smallest ``m``
    in 1..``max_count`` (that value's count) for which every non-zero ``expm1`` value of
    the cell is within ``tol`` (plus ``1e-5`` relative: float32 storage) of a whole
    multiple of it; a cell without non-zero values gets the median unit. None when some
    cell has no such unit or no cell holds a value above one unit."""
    x = np.asarray(cells, dtype=np.float64)
    if x.size == 0 or np.any(x < 0):
        return None
    e = np.expm1(x)
    pos = e > 0
    if not pos.any():
        return None
    smallest = np.where(pos, e, np.inf).min(axis=1)
    has = np.isfinite(smallest)
    unit = np.full(len(x), np.nan)
    top = 0.0
    for m in range(1, max_count + 1):
        todo = np.flatnonzero(has & np.isnan(unit))
        if not len(todo):
            break
        u = smallest[todo] / m
        q = e[todo] / u[:, None]
        ok = ((np.abs(q - np.round(q)) <= tol + 1e-5 * q) | ~pos[todo]).all(axis=1)
        unit[todo[ok]] = u[ok]
        if ok.any():
            top = max(top, float(q[ok].max()))
    if np.isnan(unit[has]).any() or top < 1.5:
        return None
    unit[~has] = np.median(unit[has])
    return unit


def _unique(index: pd.Index) -> pd.Index:
    if index.is_unique:
        return index
    seen: dict[str, int] = {}
    names = []
    for name in index:
        k = seen.get(name, 0)
        names.append(name if k == 0 else f"{name}-{k}")
        seen[name] = k + 1
    return pd.Index(names)
