"""Zero-shot annotators: score cells against label *texts* (no cell of the label needed).

Every method has ``fit(reference, *, label_key, layer, kb, seed)`` (the reference holds
only the labels seen in training) and ``scores(adata, texts, *, layer) -> (cells x
labels)`` for any :class:`~virtualcell.text.LabelTexts`. The table
:data:`ZERO_SHOT_METHODS` lists them; baselines are flagged:

* ``bridge`` — the trained cell–text model (:func:`~virtualcell.text.train_bridge`):
  cosine of the cell and the label's mean text embedding;
* ``marker_score`` (baseline) — marker genes *named by the label texts*
  (``LabelTexts.markers``: genes in the label, in the matched Cell Ontology term's name
  and synonyms, signed words of its definition; resolved with the knowledge base's
  aliases); score = mean z-score of log expression over the positive markers minus the
  mean over the negative ones (z-scores over the scored cells); a label naming no gene of
  the data scores ``-inf`` (never chosen);
* ``genept`` (baseline) — GenePT: the cell's expression-weighted mean of gene text
  embeddings (the knowledge base's gene records + GO terms, all-MiniLM-L6-v2; over the
  ``n_hvg`` most variable genes of the reference) against the mean MiniLM embedding of
  the label texts, by cosine; no training;
* ``random`` (baseline) — uniform random scores (seeded): the chance level;
* ``text_map`` — ESZSL (Romera-Paredes & Torr 2015), a bilinear compatibility between
  cell features and label-text embeddings, fitted on the seen types in closed form (see
  :class:`TextMapMethod`); ``text_map_conse`` — ConSE (Norouzi et al. 2014): a logistic
  regression over the seen types whose probabilities mix the seen labels' text
  embeddings. Both calibrated (stacking) on the seen cells only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._utils import Entry, Registry

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ._labels import LabelTexts

__all__ = [
    "ZERO_SHOT_METHODS",
    "BridgeMethod",
    "ConSEMethod",
    "GenePTMethod",
    "MarkerScoreMethod",
    "RandomMethod",
    "TextMapMethod",
    "label_matrix",
]


class BridgeMethod:
    """The cell–text bridge, trained on the reference (options go to ``train_bridge``)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.model: Any = None

    def fit(self, adata: AnnData, *, label_key: str, layer: str | None = None, kb: Any = None,
            seed: int = 0, **_: Any) -> BridgeMethod:  # fmt: skip
        from ._bridge import train_bridge

        self.model = train_bridge(
            adata, label_key=label_key, layer=layer, kb=kb, seed=seed, **self.options
        )
        return self

    def scores(self, adata: AnnData, texts: LabelTexts, *, layer: str | None = None
               ) -> np.ndarray:  # fmt: skip
        from ._bridge import label_embeddings

        lab = label_embeddings(self.model, texts).to_numpy()
        return self.model.embed_cells(adata, layer=layer) @ lab.T


class MarkerScoreMethod:
    """Marker genes named by the label texts, scored per cell (see the module docstring)."""

    def __init__(self, **_: Any) -> None:
        pass

    def fit(self, adata: AnnData, **_: Any) -> MarkerScoreMethod:
        return self

    def scores(self, adata: AnnData, texts: LabelTexts, *, layer: str | None = None
               ) -> np.ndarray:  # fmt: skip
        from ..represent import expression, log_expression

        X, genes = expression(adata, layer=layer)
        col = {g: i for i, g in enumerate(genes)}
        named = sorted({g for m in texts.markers.values() for g in m if g in col})
        out = np.full((adata.n_obs, len(texts.texts)), -np.inf)
        if not named:
            return out
        L = log_expression(X)[:, [col[g] for g in named]].toarray().astype(np.float64)
        sd = L.std(0)
        z = (L - L.mean(0)) / np.where(sd > 0, sd, 1.0)
        zi = {g: i for i, g in enumerate(named)}
        for j, label in enumerate(texts.texts):
            m = texts.markers.get(label, {})
            pos = [zi[g] for g, s in m.items() if s > 0 and g in zi]
            neg = [zi[g] for g, s in m.items() if s < 0 and g in zi]
            if not pos and not neg:
                continue
            score = np.zeros(adata.n_obs)
            if pos:
                score += z[:, pos].mean(1)
            if neg:
                score -= z[:, neg].mean(1)
            out[:, j] = score
        return out


class GenePTMethod:
    """GenePT cell embedding vs label-text embedding (see the module docstring)."""

    def __init__(self, *, n_hvg: int = 2000, **_: Any) -> None:
        self.n_hvg = int(n_hvg)
        self.table: Any = None

    def fit(self, adata: AnnData, *, layer: str | None = None, kb: Any = None,
            **_: Any) -> GenePTMethod:  # fmt: skip
        from .._errors import DatasetNotAvailableError
        from ..knowledge import gene_text_embeddings
        from ..represent import HVGScaler

        if kb is None:
            raise DatasetNotAvailableError("the genept baseline needs a knowledge store (kb)")
        genes = HVGScaler(self.n_hvg).fit(adata, layer=layer).genes
        self.table = gene_text_embeddings(list(genes), kb=kb)
        return self

    def scores(self, adata: AnnData, texts: LabelTexts, *, layer: str | None = None
               ) -> np.ndarray:  # fmt: skip
        from ..knowledge import embed_cached
        from ..represent import get_embedding

        source = get_embedding("genept")(gene_embeddings=self.table)
        cells = source.fit(adata, layer=layer)
        c = cells.transform(adata, layer=layer)
        lab = []
        for ts in texts.texts.values():
            v = embed_cached(list(ts), description="label texts").mean(0)
            lab.append(v / max(float(np.linalg.norm(v)), 1e-12))
        return c @ np.asarray(lab).T


class RandomMethod:
    """Uniform random scores (the chance level), seeded."""

    def __init__(self, **_: Any) -> None:
        self.seed = 0

    def fit(self, adata: AnnData, *, seed: int = 0, **_: Any) -> RandomMethod:
        self.seed = int(seed)
        return self

    def scores(self, adata: AnnData, texts: LabelTexts, *, layer: str | None = None
               ) -> np.ndarray:  # fmt: skip
        rng = np.random.default_rng([self.seed, adata.n_obs, len(texts.texts)])
        return rng.random((adata.n_obs, len(texts.texts)))


def label_matrix(
    texts: Mapping[str, Sequence[str]], *, encoder: Callable[[list[str]], Any] | None = None
) -> np.ndarray:
    """One unit vector per label (rows in ``texts`` order): the mean of the unit
    embeddings of its texts, renormalised (a prompt ensemble). ``encoder`` maps a list of
    texts to a (texts x dims) array; default all-MiniLM-L6-v2
    (:func:`~virtualcell.knowledge.embed_cached`)."""
    if encoder is None:
        from ..knowledge import embed_cached

        def encoder(ts: list[str]) -> Any:
            return embed_cached(ts, description="label texts")

    rows = []
    for ts in texts.values():
        e = np.asarray(encoder(list(ts)), dtype=np.float64)
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        v = e.mean(0)
        rows.append(v / max(float(np.linalg.norm(v)), 1e-12))
    return np.asarray(rows, dtype=np.float64)


#: the cell side of :class:`TextMapMethod` (``cells=``): PCA fitted on the reference, or the
#: embedding source of that name with its defaults (``oracle``: the shipped checkpoint)
CELL_FEATURES = ("pca", "oracle")


class TextMapMethod:
    """Cell features mapped to label-text embeddings, fitted on the seen types only.

    Cell side: PCA (``n_comps`` components on ``n_hvg`` highly variable genes of
    log-normalised expression, :class:`~virtualcell.models.PCAEncoder`) fitted on the
    reference cells, standardised with their mean / sd, plus a constant feature. Text
    side: each label is :func:`label_matrix` of its :func:`~virtualcell.text.label_texts`
    minus the mean over the *seen* labels (fixed at fit time), unit length.

    ``kind="eszsl"`` (ESZSL): ``V = (X'X + alpha I)^-1 X'Y S (S'S + beta I)^-1`` with
    ``X`` the cell features, ``Y`` the +-1 label indicator of the seen types and ``S``
    their text embeddings; a cell's score for any label text ``t`` is ``x V t``, i.e. the
    seen-type ridge scores ``x W`` weighted by ``(S S' + beta I)^-1 S t``: how the label's
    text resembles each seen type's text. ``kind="conse"`` (ConSE): a multinomial
    logistic regression over the seen types (``C = 1 / alpha``); a cell becomes the
    probability-weighted mean of the seen texts (top ``top`` types), scored by cosine.

    A cell's scores are standardised over the labels (mean 0, sd 1 within the cell: the
    argmax is unchanged). **Calibrated stacking** (Chao et al. 2016): ``calibration``
    (a number, in those units, or ``"inner"``) is subtracted from the scores of the seen
    labels so that a type never
    seen in training can win. ``"inner"`` chooses it on the reference alone: in
    ``n_inner`` rounds a third of the seen types is held out *within* the reference,
    the map is refitted on 80 % of the other types' cells, and the offset (0 to 3 in
    steps of 0.05) maximising the harmonic mean of seen and unseen accuracy on the
    remaining cells, averaged over the rounds, is kept (the smallest on ties). No held-out cell or statistic of it is used.

    Options: ``alpha`` (cell-side ridge; ConSE: inverse L2 strength), ``beta`` (text-side
    ridge), ``n_inner`` (calibration rounds), ``ontology`` (for label texts built here),
    ``text_encoder`` (texts -> vectors; default all-MiniLM-L6-v2), ``label_norm``
    (standardise each label's scores by their mean / sd over the reference cells before
    the within-cell standardisation: a label whose text is close to every seen type's
    stops winning everywhere; reference statistics only), ``marker_weight`` (adds that
    times the label's named-gene score: the mean z-score of log expression of the genes
    its texts name positively minus those named negatively, ``LabelTexts.markers``,
    z-scores with the *reference* cells' mean / sd; 0 for a label naming no gene),
    ``cells`` (the cell side, :data:`CELL_FEATURES`: ``pca``, the default, or ``oracle``,
    the shipped oracle's embedding with its own readout in place of the PCA; then
    standardised the same way).
    """

    def __init__(
        self,
        *,
        kind: Literal["eszsl", "conse"] = "eszsl",
        n_hvg: int = 2000,
        n_comps: int = 50,
        alpha: float = 1.0,
        beta: float = 0.1,
        top: int = 3,
        calibration: float | Literal["inner"] = "inner",
        n_inner: int = 5,
        ontology: Any = "auto",
        text_encoder: Callable[[list[str]], Any] | None = None,
        label_norm: bool = True,
        marker_weight: float = 1.0,
        cells: str = "pca",
    ) -> None:
        from .._errors import ValidationError

        if cells not in CELL_FEATURES:
            raise ValidationError(f"cells must be one of {', '.join(CELL_FEATURES)}, got {cells!r}")
        if kind not in ("eszsl", "conse"):
            raise ValidationError(f"kind must be 'eszsl' or 'conse', got {kind!r}")
        if not (isinstance(calibration, int | float) or calibration == "inner"):
            raise ValidationError(f"calibration must be a number or 'inner', got {calibration!r}")
        for name, v in (("alpha", alpha), ("beta", beta)):
            if not float(v) > 0:
                raise ValidationError(f"{name} must be > 0, got {v!r}")
        self.kind, self.alpha, self.beta, self.top = kind, float(alpha), float(beta), int(top)
        self.n_hvg, self.n_comps, self.n_inner = int(n_hvg), int(n_comps), int(n_inner)
        self.calibration, self.ontology = calibration, ontology
        self.text_encoder, self.label_norm = text_encoder, bool(label_norm)
        self.marker_weight = float(marker_weight)
        self.cells = cells
        self.classes: list[str] = []
        self.offset = 0.0

    # -- the map, on features and text rows -------------------------------------------
    def _embed(self, adata: AnnData, layer: str | None) -> np.ndarray:
        if self.cells == "pca":
            return np.asarray(self.encoder.embed(adata, layer=layer), dtype=np.float64)
        return np.asarray(self.encoder.transform(adata, layer=layer), dtype=np.float64)

    def _features(self, adata: AnnData, layer: str | None) -> np.ndarray:
        Z = self._embed(adata, layer)
        X = (Z - self.mu) / self.sd
        return np.hstack([X, np.ones((len(X), 1))])

    def _texts(self, E: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
        E = E - (self.center if center is None else center)
        return E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)

    def _fit_map(self, X: np.ndarray, y: np.ndarray, S: np.ndarray, seed: int) -> Any:
        k = S.shape[0]
        if self.kind == "eszsl":
            Y = -np.ones((len(y), k))
            Y[np.arange(len(y)), y] = 1.0
            W = np.linalg.solve(X.T @ X + self.alpha * np.eye(X.shape[1]), X.T @ Y)
            return W @ np.linalg.solve(S @ S.T + self.beta * np.eye(k), S)
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1.0 / self.alpha, max_iter=500, random_state=seed)
        return lr.fit(X, y), S

    def _score(self, state: Any, X: np.ndarray, T: np.ndarray, Xref: np.ndarray) -> np.ndarray:
        """Compatibility of each cell with each text row (with ``label_norm``: each label
        standardised over the reference cells ``Xref`` first), then standardised within
        the cell (over the labels: argmax unchanged, offsets comparable between label
        sets)."""
        S = self._raw_score(state, X, T)
        if self.label_norm:
            R = self._raw_score(state, Xref, T)
            sd = R.std(0)
            S = (S - R.mean(0)) / np.where(sd > 0, sd, 1.0)
        if S.shape[1] < 2:
            return S
        sd = S.std(1, keepdims=True)
        return (S - S.mean(1, keepdims=True)) / np.where(sd > 0, sd, 1.0)

    def _raw_score(self, state: Any, X: np.ndarray, T: np.ndarray) -> np.ndarray:
        if self.kind == "eszsl":
            return X @ state @ T.T
        lr, S = state
        P = np.zeros((len(X), S.shape[0]))
        P[:, lr.classes_] = lr.predict_proba(X)
        if self.top < P.shape[1]:
            cut = -np.sort(-P, axis=1)[:, [self.top - 1]]
            P = np.where(P >= cut, P, 0.0)
        M = P @ S
        M /= np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)
        return M @ T.T

    def _markers(self, adata: AnnData, layer: str | None, markers: list[dict[str, int]]
                 ) -> np.ndarray:  # fmt: skip
        """(cells x labels) named-gene scores, z-scored with the reference statistics."""
        from ..represent import expression, log_expression

        out = np.zeros((adata.n_obs, len(markers)))
        want = sorted({g for m in markers for g in m if g in self.gene_index})
        if not want or self.marker_weight == 0:
            return out
        X, genes = expression(adata, layer=layer)
        col = {str(g): i for i, g in enumerate(genes)}
        have = [g for g in want if g in col]
        if not have:
            return out
        L = log_expression(X)[:, [col[g] for g in have]].toarray().astype(np.float64)
        ref = [self.gene_index[g] for g in have]
        z = (L - self.gene_mu[ref]) / self.gene_sd[ref]
        zi = {g: i for i, g in enumerate(have)}
        for j, m in enumerate(markers):
            pos = [zi[g] for g, v in m.items() if v > 0 and g in zi]
            neg = [zi[g] for g, v in m.items() if v < 0 and g in zi]
            if pos:
                out[:, j] += z[:, pos].mean(1)
            if neg:
                out[:, j] -= z[:, neg].mean(1)
        return out

    def _inner_offset(self, X: np.ndarray, y: np.ndarray, E: np.ndarray, seed: int) -> float:
        k = E.shape[0]
        n_out = max(1, round(k / 3))
        if k - n_out < 2:
            return 0.0
        rng = np.random.default_rng([seed, 23])
        grid = np.round(np.arange(0.0, 3.0001, 0.05), 2)
        curves = []
        for _ in range(self.n_inner):
            out = rng.choice(k, n_out, replace=False)
            seen = np.setdiff1d(np.arange(k), out)
            is_out = np.isin(y, out)
            train = ~is_out & (rng.random(len(y)) < 0.8)
            test_seen = ~is_out & ~train
            if not test_seen.any() or not is_out.any():
                continue
            remap = {c: i for i, c in enumerate(seen)}
            center = E[seen].mean(0)  # as in fit: the mean of the (inner-)seen labels
            S = self._texts(E[seen], center)
            state = self._fit_map(X[train], np.array([remap[c] for c in y[train]]), S, seed)
            rows = is_out | test_seen
            order = np.concatenate([seen, out])  # columns: seen first, then inner-held
            sc = self._score(state, X[rows], self._texts(E[order], center), X[train])
            sc = sc + self.marker_weight * self.ref_markers[rows][:, order]
            truth = y[rows]
            held = np.isin(truth, out)
            ns = len(seen)
            best_seen, best_out = sc[:, :ns].max(1), sc[:, ns:].max(1)
            pred_seen, pred_out = order[sc[:, :ns].argmax(1)], order[ns + sc[:, ns:].argmax(1)]
            pick_out = best_out[:, None] >= best_seen[:, None] - grid[None, :]
            pred = np.where(pick_out, pred_out[:, None], pred_seen[:, None])
            hit = pred == truth[:, None]
            acc_u, acc_s = hit[held].mean(0), hit[~held].mean(0)
            with np.errstate(invalid="ignore", divide="ignore"):
                curves.append(np.nan_to_num(2 * acc_u * acc_s / (acc_u + acc_s)))
        if not curves:
            return 0.0
        return float(grid[int(np.argmax(np.mean(curves, axis=0)))])

    def fit(self, adata: AnnData, *, label_key: str, layer: str | None = None, kb: Any = None,
            seed: int = 0, texts: LabelTexts | None = None, **_: Any) -> TextMapMethod:  # fmt: skip
        """Fit on the reference's (seen) types; ``texts`` may hold their label texts
        (else built with :func:`~virtualcell.text.label_texts`)."""
        from ..models import PCAConfig, PCAEncoder
        from ..represent import labels_of
        from ._labels import label_texts

        labels = labels_of(adata, label_key)
        self.classes = sorted(set(labels))
        if self.cells == "pca":
            n_comps = max(1, min(self.n_comps, adata.n_obs - 1))
            self.encoder = PCAEncoder(PCAConfig(n_hvg=self.n_hvg, n_comps=n_comps, seed=seed))
        else:  # the shipped oracle, its own readout (docs/represent.md)
            from ..represent import get_embedding

            self.encoder = get_embedding(self.cells)()
        self.encoder.fit(adata, layer=layer)
        Z = self._embed(adata, layer)
        self.mu, sd = Z.mean(0), Z.std(0)
        self.sd = np.where(sd > 0, sd, 1.0)
        X = self._features(adata, layer)
        if texts is None or any(c not in texts.texts for c in self.classes):
            genes = list(self.encoder.genes) if self.cells == "pca" else list(adata.var_names)
            texts = label_texts(self.classes, genes=genes, kb=kb, ontology=self.ontology)
        E = label_matrix({c: texts.texts[c] for c in self.classes}, encoder=self.text_encoder)
        self.center = E.mean(0)
        y = np.searchsorted(self.classes, labels)
        from ..represent import expression, log_expression

        Xg, genes = expression(adata, layer=layer)
        L = log_expression(Xg)
        self.gene_index = {str(g): i for i, g in enumerate(genes)}
        self.gene_mu = np.asarray(L.mean(0), dtype=np.float64).ravel()
        var = np.asarray(L.multiply(L).mean(0), dtype=np.float64).ravel() - self.gene_mu**2
        sd = np.sqrt(np.maximum(var, 0))
        self.gene_sd = np.where(sd > 0, sd, 1.0)
        self.ref_markers = self._markers(
            adata, layer, [texts.markers.get(c, {}) for c in self.classes]
        )
        self.offset = (
            self._inner_offset(X, y, E, seed)
            if self.calibration == "inner"
            else float(self.calibration)
        )
        self.state = self._fit_map(X, y, self._texts(E), seed)
        self.x_ref = X
        return self

    def scores(self, adata: AnnData, texts: LabelTexts, *, layer: str | None = None
               ) -> np.ndarray:  # fmt: skip
        T = self._texts(label_matrix(texts.texts, encoder=self.text_encoder))
        S = self._score(self.state, self._features(adata, layer), T, self.x_ref)
        if self.marker_weight:
            marks = [texts.markers.get(x, {}) for x in texts.texts]
            S = S + self.marker_weight * self._markers(adata, layer, marks)
        seen = np.isin(list(texts.texts), self.classes)
        S[:, seen] -= self.offset
        return S


class ConSEMethod(TextMapMethod):
    """:class:`TextMapMethod` with ``kind="conse"`` (ConSE)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**{"kind": "conse", **options})


def _builtins() -> list[Entry[Any]]:
    return [
        Entry("bridge", BridgeMethod, "the cell–text model (CLIP-style), trained here"),
        Entry(
            "marker_score",
            MarkerScoreMethod,
            "mean z-score of the genes the label texts name (baseline)",
            baseline=True,
        ),
        Entry(
            "genept",
            GenePTMethod,
            "GenePT cell embedding vs label-text embedding, cosine (baseline)",
            baseline=True,
        ),
        Entry("random", RandomMethod, "uniform random scores: chance (baseline)", baseline=True),
        Entry(
            "text_map",
            TextMapMethod,
            "ESZSL: PCA cell features x label-text embeddings, seen types, calibrated",
        ),
        Entry(
            "text_map_conse",
            ConSEMethod,
            "ConSE: seen-type probabilities mix seen label texts, calibrated",
        ),
    ]


#: Zero-shot annotators by name (``vcell text eval --method``).
ZERO_SHOT_METHODS: Registry[Any] = Registry("zero-shot method", _builtins)
