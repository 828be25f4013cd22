"""The two tables of ``vc.represent``: annotation methods and embedding sources.

Built-ins are listed here, in one place; users add their own with
``ANNOTATION_METHODS.register(name)`` / ``EMBEDDINGS.register(name)`` (a subclass of
:class:`~virtualcell.represent.Annotator` or of :class:`~virtualcell.represent.EmbeddingSource`,
the abstract contracts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._utils import Entry, Registry

if TYPE_CHECKING:  # pragma: no cover
    from ._embeddings import EmbeddingSource
    from ._methods import Annotator

__all__ = [
    "ANNOTATION_METHODS",
    "EMBEDDINGS",
    "get_embedding",
    "get_method",
    "list_embeddings",
    "list_methods",
]


def _method_builtins() -> list[Entry[type[Annotator]]]:
    from . import _methods as m

    return [
        Entry(
            "knn",
            m.KNNAnnotator,
            "k-nearest-neighbour label transfer in an embedding",
            tags=("embedding",),
        ),
        Entry(
            "centroid",
            m.CentroidAnnotator,
            "nearest class centroid in an embedding",
            tags=("embedding",),
        ),
        Entry(
            "linear_probe",
            m.LinearProbeAnnotator,
            "multinomial logistic regression on an embedding",
            tags=("embedding",),
        ),
        Entry(
            "finetune",
            m.FineTuneAnnotator,
            "fine-tune a pretrained oracle with a classification head (needs --model)",
            tags=("oracle",),
        ),
        Entry(
            "l1_logreg",
            m.L1LogRegAnnotator,
            "L1 logistic regression on 2000 HVGs (baseline)",
            baseline=True,
            tags=("genes",),
        ),
        Entry(
            "celltypist",
            m.CellTypistAnnotator,
            "CellTypist trained on the reference (baseline peer)",
            baseline=True,
            tags=("genes", "peer"),
        ),
    ]


def _embedding_builtins() -> list[Entry[type[EmbeddingSource]]]:
    from . import _embeddings as e

    return [
        Entry(
            "pca",
            e.PCASource,
            "PCA on 2000 HVGs of log-normalised expression (baseline)",
            baseline=True,
        ),
        Entry(
            "oracle",
            e.OracleSource,
            "a pretrained / fine-tuned checkpoint (model=; the shipped oracle by default)",
        ),
        Entry("genept", e.GenePTSource, "GenePT: expression-weighted gene text embeddings"),
        Entry("sentence", e.SentenceSource, "cell sentence (top genes) embedded as text"),
        Entry(
            "scvi",
            e.ScVISource,
            "scVI latent space (optional peer, transductive)",
            tags=("peer", "transductive"),
        ),
    ]


#: Annotation methods (``vcell annotate --list-methods``).
ANNOTATION_METHODS: Registry[type[Annotator]] = Registry("annotation method", _method_builtins)
#: Embedding sources (``vc.represent.embed(source=...)``).
EMBEDDINGS: Registry[type[EmbeddingSource]] = Registry("embedding source", _embedding_builtins)


def get_method(name: str) -> type[Annotator]:
    """The annotator class registered as ``name``.

    Parameters
    ----------
    name
        Name in :data:`ANNOTATION_METHODS` (closest names suggested when unknown).
    """
    return ANNOTATION_METHODS.get(name)


def get_embedding(name: str) -> type[EmbeddingSource]:
    """The embedding-source class registered as ``name``.

    Parameters
    ----------
    name
        Name in :data:`EMBEDDINGS` (closest names suggested when unknown).
    """
    return EMBEDDINGS.get(name)


def list_methods(*, baseline: bool | None = None) -> dict[str, str]:
    """``{name: description}`` of the annotation methods (``baseline=True``: baselines
    only).

    Parameters
    ----------
    baseline
        ``True``: baselines only; ``False``: the other methods; ``None``: all.
    """
    return {
        e.name: e.description
        for e in ANNOTATION_METHODS.entries()
        if baseline is None or e.baseline == baseline
    }


def list_embeddings() -> dict[str, str]:
    """``{name: description}`` of the embedding sources."""
    return EMBEDDINGS.describe()
