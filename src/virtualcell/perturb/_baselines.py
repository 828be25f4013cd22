"""The baselines every evaluation reports (Ahlmann-Eltze et al. 2025; Systema 2025).

All work on pseudobulk profiles in the training expression space (``ctrl`` = control
mean, ``y_g`` = training profile of gene ``g`` perturbed alone, ``P`` = perturbed genes):

* ``no_change``: ``ctrl`` (its predicted change is zero, so its correlation metrics are
  NaN by definition);
* ``train_mean``: mean of the training perturbation profiles (each condition weighs the
  same);
* ``train_mean_ko``: ``train_mean`` with each perturbed gene set to its knock level, the
  rule ``network`` clamps with (:meth:`TrainingData.knock_level`: the gene's level where
  it was perturbed alone in training, else the training knock ratio times its control
  level) — the same free knowledge "the perturbed gene drops" that ``network`` has;
* ``matching_mean`` (Systema): ``mean_{g in P} m_g`` with ``m_g = y_g`` when ``g`` was
  perturbed alone in training, else the training mean;
* ``additive``: ``ctrl + sum_{g in P} (y_g - ctrl)``; genes never perturbed alone add
  nothing (listed in ``obs["unseen_genes"]``);
* ``linear`` (Ahlmann-Eltze, Huber & Anders 2025, as in their
  ``run_linear_pretrained_model.R``): ``Y ≈ b + G W P^T`` with ``Y`` the genes x
  training-conditions matrix, ``b`` its row means, ``G`` the genes' PCA *scores* (genes x
  ``K``: ``prcomp(Y)$x``, i.e. ``U_K S_K`` of ``Y`` with each condition's column centred
  over the genes — the gene embedding), ``P`` the rows of ``G`` of each condition's
  perturbed genes (summed for combinations) and ``W = (G'G + λI)^-1 G'(Y - b)P (P'P +
  λI)^-1`` (ridge, ``K = 10``, ``λ = 0.1``). A condition is predicted as ``b + G W p``;
  any measured gene has an embedding, so unseen genes work; a gene that is not measured
  cannot be embedded;
* ``linear_rotation``: the same with ``G`` = the unit-norm loadings ``U_K`` of the
  gene-centred ``Y`` (this package's earlier ``linear``; the ridge penalty bites much
  harder on unit-norm embeddings).

``additive``, ``linear`` and ``linear_rotation`` take ``clamp_targets=True`` to set the
perturbed genes to their knock level as ``train_mean_ko`` does.
"""

from __future__ import annotations

import numpy as np

from ..data import split_perturbation
from ._base import Predictor, Unsupported
from ._data import TrainingData

__all__ = [
    "Additive",
    "LinearModel",
    "LinearRotation",
    "MatchingMean",
    "NoChange",
    "TrainMean",
    "TrainMeanKO",
]


class NoChange(Predictor):
    """No change: every perturbation predicted as the control mean."""

    name = "no_change"

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        return self._require_fit().control


class TrainMean(Predictor):
    """Mean of all perturbed training profiles (one weight per condition)."""

    name = "train_mean"

    def _fit(self, data: TrainingData, adata) -> None:
        self.mean_ = data.train_mean()

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        return self.mean_

    def _predict_time(self, genes: tuple[str, ...], k: int) -> np.ndarray:
        """The mean of the training profiles at time point ``k``."""
        return self._time_course().train_mean(k)


class TrainMeanKO(TrainMean):
    """Training mean with the perturbed genes set to their knock level (network's rule)."""

    name = "train_mean_ko"
    clamp_targets = True


class MatchingMean(Predictor):
    """Systema's matching mean: average of the perturbed genes' training profiles."""

    name = "matching_mean"

    def _fit(self, data: TrainingData, adata) -> None:
        self.mean_ = data.train_mean()

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        data = self._require_fit()
        parts = [data.single(g) for g in genes]
        return np.mean([self.mean_ if p is None else p for p in parts], axis=0)


class Additive(Predictor):
    """Additive: control plus the sum of the single-gene changes."""

    name = "additive"

    def __init__(self, *, clamp_targets: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.clamp_targets = bool(clamp_targets)

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        data = self._require_fit()
        out = data.control.copy()
        for eff in self._single_effects(genes):
            if eff is not None:
                out += eff
        return out


class LinearModel(Predictor):
    """Linear model of Ahlmann-Eltze et al. 2025 (PCA-score gene embedding, ridge)."""

    name = "linear"
    uses_features = True

    #: Gene embedding: PCA scores (the published code) or unit-norm loadings.
    embedding = "scores"

    def __init__(
        self, *, n_components: int = 10, ridge: float = 0.1, clamp_targets: bool = False, **kw
    ) -> None:
        super().__init__(**kw)
        self.n_components = int(n_components)
        self.ridge = float(ridge)
        self.clamp_targets = bool(clamp_targets)

    def _fit(self, data: TrainingData, adata) -> None:
        idx = data.gene_index
        conds = [c for c in data.profiles.index if all(g in idx for g in split_perturbation(c))]
        self.w_ = None
        if not conds:  # no perturbation of measured genes: nothing to learn the map from
            return
        y = data.profiles.loc[conds].to_numpy().T  # genes x conditions
        self.b_ = y.mean(axis=1)
        centred = y - self.b_[:, None]
        k = max(1, min(self.n_components, min(centred.shape) - 1 or 1))
        if self.embedding == "scores":
            # prcomp(Y): the genes are the observations, each condition (column) centred
            u, sv, _ = np.linalg.svd(y - y.mean(axis=0, keepdims=True), full_matrices=False)
            self.g_ = u[:, :k] * sv[:k]  # genes x K: PCA scores of the genes (prcomp's x)
        else:
            u, _, _ = np.linalg.svd(centred, full_matrices=False)
            self.g_ = u[:, :k]  # genes x K: unit-norm loadings of the gene-centred Y
        p = np.vstack([self._embed(split_perturbation(c)) for c in conds])  # conditions x K
        lam = self.ridge
        left = np.linalg.solve(self.g_.T @ self.g_ + lam * np.eye(k), self.g_.T @ centred)
        self.w_ = np.linalg.solve(p.T @ p + lam * np.eye(k), (left @ p).T).T  # K x K
        self.conditions_ = conds

    def _embed(self, genes: tuple[str, ...]) -> np.ndarray:
        idx = self._require_fit().gene_index
        missing = [g for g in genes if g not in idx]
        if missing:
            raise Unsupported(missing, "not measured, so it has no gene embedding")
        return self.g_[[idx[g] for g in genes]].sum(axis=0)

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        if self.w_ is None:
            raise Unsupported(
                list(genes), "no training perturbation of a measured gene to learn the map from"
            )
        return self.b_ + self.g_ @ (self.w_ @ self._embed(genes))


class LinearRotation(LinearModel):
    """Linear model with unit-norm PC loadings as the gene embedding (earlier variant)."""

    name = "linear_rotation"
    embedding = "rotation"
