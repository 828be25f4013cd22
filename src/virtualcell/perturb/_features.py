"""Feature-based baselines: a gene's features -> the change its perturbation causes.

* ``genept_ridge`` (GenePert, Märtens et al. 2024 style): ridge regression from the
  GenePT text embedding of the perturbed gene to its change from control;
* ``go_ridge`` / ``go_forest``: ridge regression / random forest from knowledge-base
  features of the gene (GO annotations, known TF targets among the measured genes,
  "is a TF"; :func:`~virtualcell.perturb._knowledge.go_tf_features`).

Each learns from the training single perturbations (``delta_g = y_g - ctrl``); the ridge
strength is chosen by leave-one-out cross-validation inside the training data
(``RidgeCV``). A condition is predicted as ``ctrl + sum_g d_g`` with ``d_g`` the observed
change when ``g`` was perturbed alone in training and the model's prediction otherwise. A
gene without features (not in the knowledge base, e.g. synthetic names) cannot be
predicted: it raises, or with ``on_unsupported="flag"`` falls back to the training mean.
``features=`` (a genes x features DataFrame) replaces the knowledge base.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data import split_perturbation
from ._base import Predictor, Unsupported
from ._data import TrainingData, parse_conditions

__all__ = ["FeatureForest", "FeatureRidge", "GenePTRidge"]


class _FeatureModel(Predictor):
    """Shared logic: features of genes, a regressor of single-gene changes."""

    source: str = "go"
    uses_features = True

    def __init__(self, *, features: pd.DataFrame | None = None, kb: Any = None, **kw: Any) -> None:
        super().__init__(**kw)
        if features is not None and not isinstance(features, pd.DataFrame):
            raise ValidationError("features must be a DataFrame (genes x features)")
        self.features = features
        self.kb = kb

    def _lookup(self, genes: list[str]) -> pd.DataFrame:
        """Feature rows of the genes that have features (others are left out)."""
        if self.features is not None:
            table = self.features
            return table.loc[[g for g in genes if g in table.index]].astype(np.float64)
        missing = [g for g in genes if g not in self._cache]
        if missing:
            if self.source == "genept":
                from ._knowledge import genept_features

                new = genept_features(missing, kb=self.kb, measured=self._require_fit().genes)
            else:
                from ._knowledge import go_tf_features

                new = go_tf_features(missing, self._require_fit().genes, kb=self.kb)
            for g in missing:
                self._cache[g] = None if new is None or g not in new.index else new.loc[g]
        rows = {g: self._cache[g] for g in genes if self._cache.get(g) is not None}
        return pd.DataFrame(rows).T.fillna(0.0).astype(np.float64) if rows else pd.DataFrame()

    def predict(
        self, perturbations: Any, *, on_unsupported: Any = "raise", time: Any = None
    ) -> Any:
        """:meth:`Predictor.predict`, with the features of every unseen gene of the
        request looked up in ONE knowledge-base query first (one query per gene cost
        ~0.15 s each: minutes for a screen of hundreds of held-out genes)."""
        data = self._require_fit()
        labels = parse_conditions(perturbations)
        if self.features is None:
            need = sorted(
                {g for lab in labels for g in split_perturbation(lab) if data.single(g) is None}
            )
            if need:
                self._lookup(need)  # fills the per-gene cache that _predict_one reads
        return super().predict(labels, on_unsupported=on_unsupported, time=time)

    def _make_regressor(self) -> Any:
        raise NotImplementedError

    def _fit(self, data: TrainingData, adata) -> None:
        self._cache: dict[str, Any] = {}
        self.__dict__.pop("time_model_", None)  # the per-day regressor, fitted when asked
        singles = sorted(data.seen_singles)
        feats = self._lookup(singles)
        self.columns_ = list(feats.columns)
        self.model_ = None
        self.n_train_ = len(feats)
        if len(feats) < 3 or not self.columns_:
            return  # nothing to learn from: unseen genes fall back (flagged)
        y = np.vstack([data.profiles.loc[g].to_numpy() - data.control for g in feats.index])
        self.model_ = self._make_regressor().fit(feats.to_numpy(), y)

    def _features_of(self, need: list[str], model: Any) -> np.ndarray:
        feats = self._lookup(need)
        lacking = [g for g in need if g not in feats.index]
        if lacking or model is None:
            why = (
                f"no {self.source} features (not in the knowledge base)"
                if lacking
                else f"fewer than 3 training genes have {self.source} features"
            )
            raise Unsupported(lacking or need, why)
        return feats.reindex(columns=self.columns_, fill_value=0.0).to_numpy()

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        data = self._require_fit()
        out = data.control.copy()
        need = [g for g in genes if data.single(g) is None]
        if need:
            x = self._features_of(need, self.model_)  # raises Unsupported before any use
            out += self.model_.predict(x).sum(axis=0)
        for g in genes:
            s = data.single(g)
            if s is not None:
                out += s - data.control
        return out

    def _predict_time(self, genes: tuple[str, ...], k: int) -> np.ndarray:
        """Per time point: the same regressor fitted on the training genes' changes of
        every day at once (targets = the days' changes side by side, each against its
        day's control); a seen gene adds its observed change of that day (its pooled
        change where it has no cell that day)."""
        data = self._require_fit()
        course = self._time_course()
        n_t, n_g = course.control.shape
        out = course.control[k].copy()
        need = [g for g in genes if data.single(g) is None]
        if need:
            if not hasattr(self, "time_model_"):
                have = self._lookup(sorted(data.seen_singles)).index
                train = [g for g in have if np.isfinite(course.profiles[g]).all()]
                self.time_model_ = None
                if len(train) >= 3 and self.columns_:
                    x = self._lookup(train).reindex(columns=self.columns_, fill_value=0.0)
                    y = np.vstack([course.change(g).ravel() for g in train])  # type: ignore[union-attr]
                    self.time_model_ = self._make_regressor().fit(x.to_numpy(), y)
            x = self._features_of(need, self.time_model_)
            pred = self.time_model_.predict(x)  # type: ignore[union-attr]
            out += pred.reshape(len(need), n_t, n_g)[:, k].sum(axis=0)
        for g in genes:
            s = data.single(g)
            if s is not None:
                day = course.change(g)
                ok = day is not None and np.isfinite(day[k]).all()
                out += day[k] if ok else s - data.control  # type: ignore[index]
        return out


class GenePTRidge(_FeatureModel):
    """GenePert-style ridge regression on GenePT gene-text embeddings."""

    name = "genept_ridge"
    source = "genept"

    def _make_regressor(self) -> Any:
        from sklearn.linear_model import RidgeCV

        return RidgeCV(alphas=np.logspace(-2, 3, 11))


class FeatureRidge(_FeatureModel):
    """Ridge regression on GO and TF-target features of the perturbed gene."""

    name = "go_ridge"
    source = "go"

    def _make_regressor(self) -> Any:
        from sklearn.linear_model import RidgeCV

        return RidgeCV(alphas=np.logspace(-2, 3, 11))


class FeatureForest(_FeatureModel):
    """Random forest on GO and TF-target features of the perturbed gene."""

    name = "go_forest"
    source = "go"

    def __init__(self, *, n_estimators: int = 200, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_estimators = int(n_estimators)

    def _make_regressor(self) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(
            n_estimators=self.n_estimators, max_features="sqrt", random_state=self.seed, n_jobs=1
        )
