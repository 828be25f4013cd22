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
* ``random`` (baseline) — uniform random scores (seeded): the chance level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._utils import Entry, Registry

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ._labels import LabelTexts

__all__ = [
    "ZERO_SHOT_METHODS",
    "BridgeMethod",
    "GenePTMethod",
    "MarkerScoreMethod",
    "RandomMethod",
]


class BridgeMethod:
    """The cell–text bridge, trained on the reference (options go to ``train_bridge``)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.model: Any = None

    def fit(self, adata: AnnData, *, label_key: str, layer: str | None = None, kb: Any = None,
            seed: int = 0) -> BridgeMethod:  # fmt: skip
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
        from ..represent._embeddings import GenePTSource

        cells = GenePTSource(gene_embeddings=self.table).fit(adata, layer=layer)
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
    ]


#: Zero-shot annotators by name (``vcell text eval --method``).
ZERO_SHOT_METHODS: Registry[Any] = Registry("zero-shot method", _builtins)
