"""Annotation methods: reference cells with labels -> class scores for query cells.

Every method has the same small interface (:class:`Annotator`)::

    m = KNNAnnotator(embedding="pca").fit(reference, labels, layer=None, batches=None)
    m.classes_                       # the class names, in the column order of the scores
    m.logits(query)                  # (n_query, n_classes) log-probabilities / scores
    m.space(query)                   # the representation distances are measured in
    m.predict(query)                 # (logits, space) with one pass over the cells

``logits`` are turned into probabilities with a softmax (after calibration) by
:func:`~virtualcell.represent.annotate`; ``space`` is used for the "distance to the
reference" part of the unknown score.

Methods on an embedding (any source of :func:`~virtualcell.represent.list_embeddings`):
``knn``, ``centroid``, ``linear_probe``. Gene-level baselines: ``l1_logreg`` (L1 logistic
regression on HVGs) and ``celltypist`` (peer, trained here). Oracle fine-tuning:
``finetune`` (a pretrained checkpoint + classification head, every weight trained).
"""

from __future__ import annotations

import abc
import warnings
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError, VirtualCellError
from .._utils import unit_rows
from ..data import select_matrix
from ._features import HVGScaler, standardize_by_batch

__all__ = [
    "Annotator",
    "CellTypistAnnotator",
    "CentroidAnnotator",
    "EmbeddingAnnotator",
    "FineTuneAnnotator",
    "KNNAnnotator",
    "L1LogRegAnnotator",
    "LinearProbeAnnotator",
]

_EPS = 1e-6


def _encode(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes, y = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    if len(classes) < 2:
        raise ValidationError(f"the reference has a single label {classes.tolist()}")
    return classes, y


class Annotator(abc.ABC):
    """The contract of every annotation method (:data:`ANNOTATION_METHODS` holds
    subclasses): ``fit`` on labelled reference cells, then ``logits`` (per-class scores)
    and ``space`` (the representation distances are measured in) of any cells."""

    classes_: np.ndarray

    @abc.abstractmethod
    def fit(
        self, adata: Any, labels: np.ndarray, *, layer: str | None = None, batches: Any = None
    ) -> Annotator:
        """Learn the classes of ``labels`` from the reference ``adata``; returns self."""

    @abc.abstractmethod
    def space(self, adata: Any, *, layer: str | None = None, batches: Any = None) -> np.ndarray:
        """The representation of ``adata`` (cells x dims) the method classifies in."""

    @abc.abstractmethod
    def logits(self, adata: Any, *, layer: str | None = None, batches: Any = None) -> np.ndarray:
        """Scores (cells x classes, order of ``classes_``); higher is more likely."""

    def predict(
        self, adata: Any, *, layer: str | None = None, batches: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(logits, space)`` of ``adata``."""
        return self.logits(adata, layer=layer, batches=batches), self.space(
            adata, layer=layer, batches=batches
        )


class EmbeddingAnnotator(Annotator):
    """Base of the feature-based methods: features from an embedding source, optional
    per-batch standardisation, then a classifier on the features."""

    def __init__(self, *, embedding: str = "pca", seed: int = 0, **embedding_options: Any):
        self.embedding, self.seed = embedding, int(seed)
        self.embedding_options = embedding_options
        self.source: Any = None

    # -- features ------------------------------------------------------------------
    def _fit_source(self, adata: Any, layer: str | None) -> None:
        from ._registry import get_embedding

        cls = get_embedding(self.embedding)
        opts = dict(self.embedding_options)
        if self.embedding == "pca":
            opts.setdefault("seed", self.seed)
        try:
            self.source = cls(**opts)
        except TypeError as err:
            raise ValidationError(f"embedding {self.embedding!r}: {err}") from None
        self.source.fit(adata, layer=layer)

    def space(self, adata: Any, *, layer: str | None = None, batches: Any = None) -> np.ndarray:
        z = np.asarray(self.source.transform(adata, layer=layer), dtype=np.float32)
        return standardize_by_batch(z, batches) if batches is not None else z

    # -- classifier ----------------------------------------------------------------
    def fit(
        self, adata: Any, labels: np.ndarray, *, layer: str | None = None, batches: Any = None
    ) -> Annotator:
        self._fit_source(adata, layer)
        self.classes_, y = _encode(labels)
        #: the representation of the cells the method was fitted on
        self.fit_space_ = self.space(adata, layer=layer, batches=batches)
        self._fit_classifier(self.fit_space_, y)
        return self

    def logits(self, adata: Any, *, layer: str | None = None, batches: Any = None) -> np.ndarray:
        return self.predict(adata, layer=layer, batches=batches)[0]

    def predict(
        self, adata: Any, *, layer: str | None = None, batches: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(logits, space)`` of ``adata``, embedding the cells once."""
        z = self.space(adata, layer=layer, batches=batches)
        return self._scores(z), z

    @abc.abstractmethod
    def _fit_classifier(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit the classifier on features ``x`` and class indices ``y``."""

    @abc.abstractmethod
    def _scores(self, x: np.ndarray) -> np.ndarray:
        """Class scores of features ``x``."""


class KNNAnnotator(EmbeddingAnnotator):
    """k-nearest-neighbour label transfer in an embedding: the class scores are the log
    of the distance-weighted vote shares of the ``k`` nearest reference cells (weights
    ``1 / (d + eps)``; a small floor keeps unseen classes finite).

    ``metric="cosine"`` (default) compares directions around the reference centroid:
    every cell's embedding minus the mean of the fitted reference cells, scaled to unit
    length. ``metric="euclidean"`` uses the embedding as it is; there, cells with few
    detected genes lie near the centre of a PCA fitted on a few hundred cells (their
    rare-gene z-scores are small), so they become the nearest neighbour of almost every
    query cell and one class takes nearly all votes (on a 184-cell TPM set, 54 of 55
    query cells got one label).
    """

    def __init__(
        self, *, k: int = 15, metric: Literal["cosine", "euclidean"] = "cosine", **kw: Any
    ) -> None:
        if metric not in ("cosine", "euclidean"):
            raise ValidationError(f"knn metric must be 'cosine' or 'euclidean', got {metric!r}")
        if int(k) < 1:
            raise ValidationError(f"knn k must be >= 1, got {k}")
        super().__init__(**kw)
        self.k, self.metric = int(k), metric

    def _directions(self, x: np.ndarray) -> np.ndarray:
        if self.metric == "euclidean":
            return x
        return unit_rows(np.asarray(x, dtype=np.float64) - self._center)

    def _fit_classifier(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        self._y = y
        self._center = np.asarray(x, dtype=np.float64).mean(0)
        self._nn = NearestNeighbors(n_neighbors=min(self.k, len(x))).fit(self._directions(x))

    def _scores(self, x: np.ndarray) -> np.ndarray:
        d, idx = self._nn.kneighbors(self._directions(x))
        w = 1.0 / (d + 1e-3 * (np.median(d) + _EPS))
        votes = np.zeros((len(x), len(self.classes_)))
        np.add.at(
            votes, (np.repeat(np.arange(len(x)), idx.shape[1]), self._y[idx].ravel()), w.ravel()
        )
        votes /= votes.sum(1, keepdims=True)
        return np.log(votes + 1e-3)


class CentroidAnnotator(EmbeddingAnnotator):
    """Nearest class centroid: scores ``-||z - mu_c||^2 / s`` with ``s`` the mean squared
    distance of reference cells to their own centroid (a softmax gives probabilities)."""

    def _fit_classifier(self, x: np.ndarray, y: np.ndarray) -> None:
        self._mu = np.stack([x[y == c].mean(0) for c in range(len(self.classes_))])
        self._s = float(((x - self._mu[y]) ** 2).sum(1).mean()) + _EPS

    def _scores(self, x: np.ndarray) -> np.ndarray:
        d2 = ((x[:, None, :] - self._mu[None]) ** 2).sum(-1)
        return -d2 / self._s


#: Inverse regularisation strengths ``C="cv"`` chooses from.
PROBE_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


class LinearProbeAnnotator(EmbeddingAnnotator):
    """Linear probe: multinomial logistic regression (L2, ``C``) on the standardised
    embedding. ``C="cv"``: the ``C`` of :data:`PROBE_C_GRID` with the best mean macro-F1
    in a seeded stratified inner cross-validation on the fitting cells (``min(3, smallest
    class size)`` folds; ``C = 1`` when a class has a single cell); the choice is
    ``C_``."""

    def __init__(self, *, C: float | Literal["cv"] = 1.0, **kw: Any) -> None:
        super().__init__(**kw)
        if C != "cv" and not (isinstance(C, int | float) and C > 0):
            raise ValidationError(f"linear_probe: C must be a positive number or 'cv', got {C!r}")
        self.C = C if C == "cv" else float(C)

    def _probe(self, C: float) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=self.seed)
        )

    def _choose_C(self, x: np.ndarray, y: np.ndarray) -> float:
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        folds = min(3, int(np.bincount(y)[np.unique(y)].min()))
        if folds < 2:
            return 1.0
        cv = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
        with warnings.catch_warnings():  # a class missing from one fold's predictions
            warnings.simplefilter("ignore")
            scores = [
                cross_val_score(self._probe(c), x, y, cv=cv, scoring="f1_macro").mean()
                for c in PROBE_C_GRID
            ]
        return float(PROBE_C_GRID[int(np.argmax(scores))])

    def _fit_classifier(self, x: np.ndarray, y: np.ndarray) -> None:
        self.C_ = self._choose_C(x, y) if self.C == "cv" else self.C
        self._clf = self._probe(self.C_).fit(x, y)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return _full_log_proba(self._clf, x, len(self.classes_))


def _full_log_proba(clf: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """log P over all classes (a class absent from the fitting data gets a tiny floor)."""
    p = np.log(np.clip(clf.predict_proba(x), _EPS, None))
    out = np.full((len(x), n_classes), np.log(_EPS))
    out[:, np.asarray(clf.classes_, dtype=int)] = p
    return out


class L1LogRegAnnotator(EmbeddingAnnotator):
    """Baseline: L1-regularised logistic regression (one-vs-rest, liblinear, ``C``) on the
    z-scored log-normalised ``n_hvg`` most variable genes of the reference."""

    def __init__(self, *, C: float = 0.1, n_hvg: int = 2000, seed: int = 0, **_: Any) -> None:
        self.C, self.n_hvg, self.seed = float(C), int(n_hvg), int(seed)
        self.embedding = "hvg"

    def _fit_source(self, adata: Any, layer: str | None) -> None:
        self.source = _ScalerSource(HVGScaler(self.n_hvg).fit(adata, layer=layer))

    def _fit_classifier(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        base = LogisticRegression(
            C=self.C, solver="liblinear", max_iter=1000, random_state=self.seed, **_l1_penalty()
        )
        self._clf = OneVsRestClassifier(base).fit(x, y)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        return _full_log_proba(self._clf, x, len(self.classes_))


def _l1_penalty() -> dict[str, Any]:
    """The L1 option of ``LogisticRegression`` (``l1_ratio=1`` from scikit-learn 1.8,
    ``penalty="l1"`` before)."""
    import sklearn

    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    return {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}


class _ScalerSource:
    def __init__(self, scaler: HVGScaler) -> None:
        self.scaler = scaler

    def transform(self, adata: Any, *, layer: str | None = None) -> np.ndarray:
        return self.scaler.transform(adata, layer=layer)


class CellTypistAnnotator(Annotator):
    """Baseline peer: CellTypist (Domínguez Conde et al. 2022) trained here on the
    reference — logistic regression on log1p(CP10k) expression, all genes, with
    CellTypist's own scaling; scores are its class probabilities (log).

    CellTypist <= 1.7.1 cannot train its default classifier with scikit-learn >= 1.8 (it
    passes the removed ``multi_class="ovr"``); then the same model is rebuilt here step by
    step as ``celltypist.train`` does — genes expressed in the reference, ``StandardScaler``
    (with mean), values above 10 clipped, L2 logistic regression (``C = 1``, lbfgs, 1 000
    iterations) one-vs-rest — and wrapped in a ``celltypist.models.Model`` so that
    ``celltypist.annotate`` predicts with it; ``self.mode`` says which path ran."""

    def __init__(self, *, seed: int = 0, max_iter: int | None = None, **_: Any) -> None:
        self.seed, self.max_iter = int(seed), max_iter
        self.embedding = "hvg"

    def fit(
        self, adata: Any, labels: np.ndarray, *, layer: str | None = None, batches: Any = None
    ) -> CellTypistAnnotator:
        try:
            import celltypist
        except ImportError:
            raise VirtualCellError(
                "the celltypist baseline needs the celltypist package: pip install "
                "'virtualcell[represent]'"
            ) from None
        import contextlib
        import io
        import logging

        logging.getLogger("celltypist").setLevel(logging.WARNING)
        self.classes_, _ = _encode(labels)
        data = _celltypist_input(adata, layer)
        self.source = _ScalerSource(HVGScaler(2000).fit(adata, layer=layer))
        kw = {"check_expression": False, "max_iter": self.max_iter, "n_jobs": 1}
        y = np.asarray(labels, dtype=str)
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                self._model = celltypist.train(data, labels=y, **kw)
                self.mode = "logistic regression"
            except TypeError as err:
                # celltypist <= 1.7.1 passes `multi_class`, removed in scikit-learn 1.8
                if "multi_class" not in str(err):
                    raise
                self._model = _celltypist_ovr(data, y, max_iter=self.max_iter or 1000)
                self.mode = "logistic regression (one-vs-rest, rebuilt for scikit-learn >= 1.8)"
        return self

    def predict(
        self, adata: Any, *, layer: str | None = None, batches: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.logits(adata, layer=layer), self.space(adata, layer=layer, batches=batches)

    def space(self, adata: Any, *, layer: str | None = None, batches: Any = None) -> np.ndarray:
        """The z-scored HVG expression (the L1 baseline's features)."""
        z = np.asarray(self.source.transform(adata, layer=layer), dtype=np.float32)
        return standardize_by_batch(z, batches) if batches is not None else z

    def logits(self, adata: Any, *, layer: str | None = None, batches: Any = None) -> np.ndarray:
        import contextlib
        import io

        import celltypist

        with contextlib.redirect_stdout(io.StringIO()):
            pred = celltypist.annotate(_celltypist_input(adata, layer), model=self._model)
        prob = pred.probability_matrix
        out = np.full((adata.n_obs, len(self.classes_)), _EPS)
        pos = {c: i for i, c in enumerate(self.classes_)}
        for c in prob.columns:
            out[:, pos[str(c)]] = np.asarray(prob[c], dtype=float)
        # SGD mode can give NaN probabilities for some cells: those get a uniform row
        out = np.where(np.isfinite(out), out, 0.0) + _EPS
        out /= out.sum(1, keepdims=True)
        return np.log(np.clip(out, _EPS, None))


def _celltypist_ovr(data: Any, labels: np.ndarray, *, max_iter: int) -> Any:
    """CellTypist's default training recipe with a one-vs-rest logistic regression that
    current scikit-learn accepts (see :class:`CellTypistAnnotator`)."""
    import scipy.sparse as sp
    from celltypist.models import Model
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import StandardScaler

    X = data.X.toarray() if sp.issparse(data.X) else np.asarray(data.X)
    genes = np.asarray(data.var_names)
    keep = X.sum(0) != 0
    scaler = StandardScaler(with_mean=True)
    Z = scaler.fit_transform(X[:, keep])
    Z[Z > 10] = 10
    ovr = OneVsRestClassifier(LogisticRegression(C=1.0, solver="lbfgs", max_iter=max_iter))
    ovr.fit(Z, labels)
    clf = LogisticRegression()
    clf.coef_ = np.vstack([e.coef_ for e in ovr.estimators_])
    clf.intercept_ = np.concatenate([e.intercept_ for e in ovr.estimators_])
    clf.classes_ = ovr.classes_
    clf.features = genes[keep]
    clf.n_features_in_ = int(keep.sum())
    return Model(clf, scaler, {"details": "celltypist recipe, one-vs-rest LR", "date": ""})


def _celltypist_input(adata: Any, layer: str | None) -> Any:
    import anndata as ad

    from ._features import expression, log_expression

    X, genes = expression(adata, layer=layer)
    out = ad.AnnData(log_expression(X))
    out.var_names = list(genes)
    out.var_names_make_unique()
    out.obs_names = [str(n) for n in adata.obs_names]
    return out


class FineTuneAnnotator(Annotator):
    """Oracle fine-tuning: a pretrained checkpoint plus a classification head, all weights
    trained on the reference (:func:`virtualcell.train.finetune`); the
    distance space is the fine-tuned model's pooled embedding."""

    def __init__(
        self,
        *,
        model: Any = None,
        max_steps: int = 300,
        batch_size: int = 32,
        lr: float = 3e-4,
        hidden: int = 128,
        freeze_base: bool = False,
        seed: int = 0,
        **_: Any,
    ) -> None:
        if model is None:
            raise ValidationError(
                "finetune needs model= (a pretrained checkpoint folder, e.g. from `vcell pretrain`)"
            )
        self.model, self.seed = model, int(seed)
        self.options = {
            "max_steps": int(max_steps),
            "batch_size": int(batch_size),
            "lr": float(lr),
            "hidden": int(hidden),
            "freeze_base": bool(freeze_base),
        }
        self.embedding = "finetuned"

    def fit(
        self, adata: Any, labels: np.ndarray, *, layer: str | None = None, batches: Any = None
    ) -> FineTuneAnnotator:
        import dataclasses

        import anndata as ad

        from ..train import FINETUNE_CONFIG, finetune

        self.classes_, y = _encode(labels)
        matrix, genes = select_matrix(adata, layer=layer)
        data = ad.AnnData(matrix)
        data.var_names = list(genes)
        data.obs["_vc_label"] = self.classes_[y]
        opts = self.options
        config = dataclasses.replace(
            FINETUNE_CONFIG,
            max_steps=opts["max_steps"],
            batch_size=opts["batch_size"],
            lr=opts["lr"],
            warmup_steps=min(FINETUNE_CONFIG.warmup_steps, max(opts["max_steps"] // 10, 1)),
            seed=self.seed,
        )
        self.tuned = finetune(
            data,
            self.model,
            label_key="_vc_label",
            train_config=config,
            hidden=opts["hidden"],
            freeze_base=opts["freeze_base"],
        )
        order = [str(c) for c in self.tuned.extra.get("classes", [])]
        if sorted(order) != sorted(self.classes_.tolist()):
            raise VirtualCellError("fine-tuned classes do not match the reference labels")
        self._perm = np.array([order.index(c) for c in self.classes_])
        return self

    def space(self, adata: Any, *, layer: str | None = None, batches: Any = None) -> np.ndarray:
        return np.asarray(self.tuned.embed(adata, layer=layer), dtype=np.float32)

    def predict(
        self, adata: Any, *, layer: str | None = None, batches: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        z = self.space(adata, layer=layer)
        return self._head(z), z

    def logits(self, adata: Any, *, layer: str | None = None, batches: Any = None) -> np.ndarray:
        return self._head(self.space(adata, layer=layer))

    def _head(self, z: np.ndarray) -> np.ndarray:
        import torch

        head = self.tuned.network.head
        with torch.no_grad():
            emb = torch.as_tensor(z).to(next(head.parameters()).device)
            out = head(emb).float().cpu().numpy()
        return out[:, self._perm]
