"""Embedding sources: every way to turn cells into vectors, behind one interface.

A source is fitted on a reference (or on the cells themselves) and embeds any AnnData::

    src = get_embedding("pca")().fit(reference)
    z = src.transform(query)

Built-in sources (the table is in ``_registry.py``):

* ``pca`` (baseline) — log-normalise, 2 000 HVGs, z-score, PCA (50 components), fitted on
  the reference (:class:`~virtualcell.models.PCAEncoder`);
* ``oracle`` — a pretrained or fine-tuned checkpoint (``CellEncoder``, ``CellGPT``,
  ``CellPredictor``; ``model=`` a folder or a loaded model): its pooled embedding, or
  (``readout="input"``) the expression-weighted mean of its input gene embeddings;
  ``post="pca"`` z-scores the embedding dimensions and keeps 50 principal components
  fitted on the reference;
* ``genept`` — GenePT: expression-weighted mean of gene text embeddings
  (``gene_embeddings=`` a genes x dims table, default the knowledge base's
  :func:`~virtualcell.knowledge.gene_text_embeddings`);
* ``sentence`` — a cell sentence (top-``top_k`` gene names) embedded as text by the
  offline all-MiniLM-L6-v2 model (extra ``text``);
* ``scvi`` — scVI latent space (optional peer ``scvi-tools``; transductive: trained on
  the cells it embeds).
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import ValidationError
from ._features import expression, log_expression

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "EmbeddingSource",
    "GenePTSource",
    "OracleSource",
    "PCASource",
    "ScVISource",
    "SentenceSource",
    "embed",
]


class EmbeddingSource(abc.ABC):
    """The contract of every embedding source (:data:`EMBEDDINGS` holds subclasses):
    ``fit`` on reference cells (a no-op for sources that need none), then ``transform``
    any cells to a ``cells x dims`` array."""

    @abc.abstractmethod
    def fit(self, adata: AnnData, *, layer: str | None = None) -> EmbeddingSource:
        """Fit on ``adata`` (the reference); returns self."""

    @abc.abstractmethod
    def transform(self, adata: AnnData, *, layer: str | None = None) -> np.ndarray:
        """The embedding of ``adata`` (cells x dims)."""

    def fit_transform(self, adata: AnnData, *, layer: str | None = None) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` on the same cells."""
        return self.fit(adata, layer=layer).transform(adata, layer=layer)


def _log_adata(adata: AnnData, layer: str | None) -> Any:
    import anndata as ad

    X, genes = expression(adata, layer=layer, what="the pca embedding")
    out = ad.AnnData(log_expression(X))
    out.var_names = list(genes)
    out.var_names_make_unique()
    return out


class PCASource(EmbeddingSource):
    """PCA on highly variable genes of log-normalised expression (the baseline).

    ``normalize`` (``None``: log-normalise here) hands the expression as it is to the
    :class:`~virtualcell.models.PCAEncoder` with its own rule (``auto`` / ``yes`` /
    ``no``; the benchmark states it per dataset).
    """

    def __init__(
        self,
        *,
        n_hvg: int = 2000,
        n_comps: int = 50,
        seed: int = 0,
        normalize: Literal["auto", "yes", "no"] | None = None,
    ) -> None:
        self.n_hvg, self.n_comps, self.seed = int(n_hvg), int(n_comps), int(seed)
        self.normalize = normalize
        self.encoder: Any = None

    def _input(self, adata: AnnData, layer: str | None) -> tuple[Any, str | None]:
        return (_log_adata(adata, layer), None) if self.normalize is None else (adata, layer)

    def fit(self, adata: AnnData, *, layer: str | None = None) -> PCASource:
        from ..models import PCAConfig, PCAEncoder

        cfg = PCAConfig(
            n_hvg=self.n_hvg, n_comps=self.n_comps, normalize=self.normalize or "no",
            seed=self.seed,
        )  # fmt: skip
        data, layer = self._input(adata, layer)
        self.encoder = PCAEncoder(cfg).fit(data, layer=layer)
        return self

    def transform(self, adata: AnnData, *, layer: str | None = None) -> np.ndarray:
        if self.encoder is None:
            raise ValidationError("the pca embedding is not fitted")
        data, layer = self._input(adata, layer)
        return self.encoder.embed(data, layer=layer)


class _Standardize:
    """Each dimension z-scored by the mean and sd of the cells it was fitted on (a
    constant dimension is only centred)."""

    def fit(self, z: np.ndarray) -> _Standardize:
        self.mean, self.sd = z.mean(0), z.std(0)
        self.sd[~(self.sd > 0)] = 1.0
        return self

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return ((z - self.mean) / self.sd).astype(np.float32)


def _post_pca(n_comps: int):
    from sklearn.decomposition import PCA

    class _Post:
        def fit(self, z: np.ndarray) -> _Post:
            self.scale = _Standardize().fit(z)
            k = min(n_comps, z.shape[1], z.shape[0] - 1)
            self.pca = PCA(n_components=k, svd_solver="full", random_state=0).fit(self.scale(z))
            return self

        def __call__(self, z: np.ndarray) -> np.ndarray:
            return self.pca.transform(self.scale(z)).astype(np.float32)

    return _Post()


#: Cell embeddings an :class:`OracleSource` reads out of a checkpoint.
_READOUTS = ("pooled", "input", "pooled+input")


class OracleSource(EmbeddingSource):
    """Embeddings of a pretrained / fine-tuned model (checkpoint folder or loaded model).

    Parameters
    ----------
    model
        A :class:`~virtualcell.models.CellModel` or a checkpoint folder; ``None`` (the
        default) loads the pretrained CellEncoder shipped with the package
        (:func:`virtualcell.models.shipped_oracle_path`; recipe in ``docs/represent.md``).
    readout
        ``None`` (default): the checkpoint's own choice, ``extra["readout"]`` of its
        ``config.json`` (the shipped oracle: ``input``, measured best), else ``pooled``.
        ``pooled``: the network's pooled cell embedding (its ``<cls>`` / mean-pooled
        hidden state); ``input``: the expression-weighted mean of the model's *input* gene
        embeddings over every vocabulary gene the cell expresses,
        ``z_c = sum_g x_cg e_g / sum_g x_cg`` (``x`` = log-normalised expression by the
        one rule of :func:`vc.data.expression <virtualcell.data.expression>`, ``e_g`` the
        learned embedding of gene ``g``; a gene absent from the vocabulary as written is
        looked up upper-cased; no transformer layer, no truncation to the tokenizer's
        ``max_len``); ``pooled+input``: both side by side, each dimension z-scored with the
        reference's mean and sd. Measured in ``docs/represent.md``.
    post
        ``none``: the embedding as is; ``pca``: z-score each dimension and project on 50
        principal components, both fitted on the reference.
    batch_size
        Cells per forward pass.
    device
        Torch device of the forward passes (default: the model's).
    """

    def __init__(
        self,
        *,
        model: Any = None,
        readout: Literal["pooled", "input", "pooled+input"] | None = None,
        post: Literal["none", "pca"] = "none",
        batch_size: int = 64,
        device: str | None = None,
        **_: Any,
    ) -> None:
        if post not in ("none", "pca"):
            raise ValidationError(f"post must be 'none' or 'pca', got {post!r}")
        if readout not in (None, *_READOUTS):
            raise ValidationError(f"readout must be one of {_READOUTS}, got {readout!r}")
        if model is None:
            from ..models import shipped_oracle_path

            model = shipped_oracle_path()
        if isinstance(model, str | Path):
            from ..models import load

            model = load(model)
        self.model, self.post, self.batch_size = model, post, int(batch_size)
        if readout is None:
            readout = (getattr(model, "extra", None) or {}).get("readout", "pooled")
            if readout not in _READOUTS:
                raise ValidationError(
                    f"the checkpoint's extra['readout'] is {readout!r}; expected one of {_READOUTS}"
                )
        self.readout = readout
        self.device = device
        self._post: Any = None
        self._scale: Any = None

    def _gene_table(self) -> np.ndarray:
        """The network's input gene-embedding table (vocabulary x dims)."""
        tables = [
            m.weight for name, m in self.model.network.named_modules()
            if name.split(".")[-1] == "gene_embedding"
        ]  # fmt: skip
        if not tables:
            raise ValidationError(
                f"readout='input' needs a network with a gene_embedding table; "
                f"{type(self.model.network).__name__} has none (use readout='pooled')"
            )
        return tables[0].detach().float().cpu().numpy()

    def _input_readout(self, adata: AnnData, layer: str | None) -> np.ndarray:
        X, genes = expression(adata, layer=layer, what="the oracle embedding")
        X = log_expression(X)
        vocab = self.model.tokenizer.vocab
        ids = vocab.lookup([str(g) for g in genes])
        # the corpus upper-cases symbols (C1orf -> C1ORF): a gene missing as written is
        # looked up upper-cased
        upper = vocab.lookup([str(g).upper() for g in genes])
        ids = np.where(ids >= 0, ids, upper)
        ids[ids < vocab.n_special] = -1  # special tokens are never genes
        keep = np.flatnonzero(ids >= 0)
        if not len(keep):
            raise ValidationError(
                "readout='input': no gene of the data is in the model's vocabulary "
                f"({len(vocab.genes)} genes, e.g. {', '.join(vocab.genes[:3])}). Are the "
                "gene identifiers of the same kind (symbols vs Ensembl ids) as the vocabulary?"
            )
        W = X[:, keep]
        total = np.asarray(W.sum(1)).ravel()
        z = np.asarray(W @ self._gene_table()[ids[keep]], dtype=np.float64)
        return (z / np.maximum(total, 1e-12)[:, None]).astype(np.float32)

    def _pooled(self, adata: AnnData, layer: str | None) -> np.ndarray:
        return np.asarray(
            self.model.embed(adata, batch_size=self.batch_size, layer=layer, device=self.device),
            dtype=np.float32,
        )

    def _unscaled(self, adata: AnnData, layer: str | None) -> np.ndarray:
        if self.readout == "input":
            return self._input_readout(adata, layer)
        if self.readout == "pooled":
            return self._pooled(adata, layer)
        return np.hstack([self._pooled(adata, layer), self._input_readout(adata, layer)])

    def _fit_on(self, z: np.ndarray) -> np.ndarray:
        """Fit the scaling and the PCA on the unscaled embedding ``z``; return it scaled."""
        if self.readout == "pooled+input":
            self._scale = _Standardize().fit(z)
        z = self._scaled(z)
        if self.post == "pca":
            self._post = _post_pca(50).fit(z)
        return z

    def _scaled(self, z: np.ndarray) -> np.ndarray:
        if self.readout != "pooled+input":
            return z
        if self._scale is None:
            raise ValidationError("the oracle embedding is not fitted")
        return self._scale(z)

    def _finish(self, z: np.ndarray) -> np.ndarray:
        return self._post(z) if self._post is not None else z

    def fit(self, adata: AnnData, *, layer: str | None = None) -> OracleSource:
        if self.readout == "pooled+input" or self.post == "pca":
            self._fit_on(self._unscaled(adata, layer))
        return self

    def transform(self, adata: AnnData, *, layer: str | None = None) -> np.ndarray:
        return self._finish(self._scaled(self._unscaled(adata, layer)))

    def fit_transform(self, adata: AnnData, *, layer: str | None = None) -> np.ndarray:
        """:meth:`fit` then :meth:`transform`, reading the checkpoint out once."""
        return self._finish(self._fit_on(self._unscaled(adata, layer)))


class GenePTSource(EmbeddingSource):
    """GenePT-w cell embeddings: expression-weighted mean of gene text embeddings."""

    def __init__(
        self,
        *,
        gene_embeddings: Any = None,
        weighting: Literal["expression", "rank"] = "expression",
        **_: Any,
    ) -> None:
        self.table, self.weighting = gene_embeddings, weighting
        self.tokenizer: Any = None

    def fit(self, adata: AnnData, *, layer: str | None = None) -> GenePTSource:
        from ..tokenize import GeneTextTokenizer

        table = self.table
        if table is None:
            from ..knowledge import gene_text_embeddings

            _, genes = expression(adata, layer=layer, what="the genept embedding")
            table = gene_text_embeddings(list(genes))
        self.tokenizer = GeneTextTokenizer(
            table, weighting=self.weighting, min_coverage_warn=0.0, min_coverage_error=0.0
        )
        return self

    def transform(self, adata: AnnData, *, layer: str | None = None) -> np.ndarray:
        if self.tokenizer is None:
            raise ValidationError("the genept embedding is not fitted")
        X, genes = expression(adata, layer=layer, what="the genept embedding")
        return self.tokenizer.embed(X, genes=list(genes))


class SentenceSource(EmbeddingSource):
    """Cell sentences (top-``top_k`` expressed gene names) embedded as text."""

    def __init__(self, *, top_k: int = 64, **_: Any) -> None:
        self.top_k = int(top_k)
        self.tokenizer: Any = None

    def fit(self, adata: AnnData, *, layer: str | None = None) -> SentenceSource:
        from ..tokenize import SentenceTokenizer

        X, genes = expression(adata, layer=layer, what="the sentence embedding")
        self.tokenizer = SentenceTokenizer(
            max_len=self.top_k, min_coverage_warn=0.0, min_coverage_error=0.0
        ).fit(X, genes=list(genes))
        return self

    def transform(self, adata: AnnData, *, layer: str | None = None) -> np.ndarray:
        from ..knowledge import embed as embed_texts

        if self.tokenizer is None:
            raise ValidationError("the sentence embedding is not fitted")
        X, genes = expression(adata, layer=layer, what="the sentence embedding")
        texts = self.tokenizer.encode(X, genes=list(genes)).texts
        return embed_texts(list(texts), description="cell sentences")


class ScVISource(EmbeddingSource):
    """scVI latent space (optional peer; trained on the cells it embeds)."""

    def __init__(self, *, n_latent: int = 10, max_epochs: int = 100, seed: int = 0, **_: Any):
        self.n_latent, self.max_epochs, self.seed = int(n_latent), int(max_epochs), int(seed)

    def fit(self, adata: AnnData, *, layer: str | None = None) -> ScVISource:
        return self

    def transform(self, adata: AnnData, *, layer: str | None = None) -> np.ndarray:
        from ..models import scvi_embed

        return scvi_embed(
            adata, n_latent=self.n_latent, max_epochs=self.max_epochs, layer=layer, seed=self.seed
        )


def embed(
    adata: AnnData,
    *,
    source: str = "pca",
    model: Any = None,
    reference: Any = None,
    layer: str | None = None,
    key_added: str = "X_vc",
    **options: Any,
) -> np.ndarray:
    """Embed the cells of ``adata`` with any registered source (:func:`list_embeddings`).

    The one ``embed``: ``vc.tl.embed(adata, model)`` is this function with
    ``source="oracle"`` after it checked and loaded the model (same key, same code).

    Parameters
    ----------
    adata
        Cells to embed (counts or log-normalised expression; not scaled data).
    source
        Embedding source name: ``pca``, ``oracle``, ``genept``, ``sentence``, ``scvi``.
    model
        Checkpoint folder or loaded model (``oracle``; default: the shipped checkpoint).
    reference
        AnnData the source is fitted on (HVGs, PCA, post-processing); default ``adata``.
    layer
        Expression layer (``"raw"`` = ``adata.raw``).
    key_added
        ``obsm`` key written.
    **options
        Source options (e.g. ``n_comps`` for ``pca``, ``post`` for ``oracle``,
        ``gene_embeddings`` for ``genept``).

    Returns
    -------
    numpy.ndarray
        ``(n_obs, dim)`` float32, also written to ``adata.obsm[key_added]``.
    """
    from ._registry import get_embedding

    cls = get_embedding(source)
    if model is not None:
        options["model"] = model
    try:
        src = cls(**options)
    except TypeError as err:
        raise ValidationError(f"embedding source {source!r}: {err}") from None
    src.fit(reference if reference is not None else adata, layer=layer)
    z = np.asarray(src.transform(adata, layer=layer), dtype=np.float32)
    adata.obsm[key_added] = z
    return z
