"""Gene knowledge base, grounded retrieval, claim verification, gene text embeddings and
gene-set enrichment (``vc.knowledge``).

Build a local store once (``vcell kb build`` or :func:`build`), then load it::

    import virtualcell as vc
    vc.knowledge.build()                      # offline sources from installed packages
    kb = vc.knowledge.load()
    kb.gene("TP53").go.head()
    kb.search("insulin secretion", k=5)       # passages with citations
    kb.verify("KLF1 regulates erythroid differentiation").label
    vc.knowledge.enrich(["INS", "GCG", "SST"], gene_sets="KEGG_2021_Human")
    vc.knowledge.cell_ontology()              # the Cell Ontology (cellxgene-ontology-guide)
    vc.knowledge.ligand_receptor_pairs(kb)    # ligand -> receptor pairs (LIANA consensus)
"""

from pathlib import Path

import pandas as pd

from ._bm25 import BM25
from ._dense import MODEL_NAME, embed, embed_cached, embedder_available
from ._enrich import bh_fdr, enrich
from ._genept import gene_text_embeddings
from ._kb import MIN_SYMBOL_FRACTION, PROPAGATE_RELATIONS, GeneRecord, KnowledgeBase
from ._ontology import (
    cell_ontology,
    match_cell_types,
    normalize_label,
    ontology_available,
)
from ._passages import KINDS, Passage
from ._search import Mode
from ._store import FORMAT_VERSION, KBStats, build, default_path
from ._verify import Verdict

__all__ = [
    "BM25",
    "FORMAT_VERSION",
    "KINDS",
    "MIN_SYMBOL_FRACTION",
    "MODEL_NAME",
    "PROPAGATE_RELATIONS",
    "GeneRecord",
    "KBStats",
    "KnowledgeBase",
    "Passage",
    "Verdict",
    "bh_fdr",
    "build",
    "cell_ontology",
    "default_path",
    "embed",
    "embed_cached",
    "embedder_available",
    "enrich",
    "gene_text_embeddings",
    "ligand_receptor_pairs",
    "load",
    "match_cell_types",
    "normalize_label",
    "ontology_available",
    "verify",
]


def load(path: str | Path | None = None) -> KnowledgeBase:
    """Open a built knowledge store read-only (default:
    ``settings.cache_dir/kb/knowledge.sqlite``); use it as a context manager or call
    ``close()``.

    Parameters
    ----------
    path
        The store file, or a folder holding ``knowledge.sqlite`` (``None``: the default
        store, :func:`virtualcell.knowledge.default_path`).

    Returns
    -------
    KnowledgeBase
        The opened store.
    """
    return KnowledgeBase(path)


def ligand_receptor_pairs(kb: KnowledgeBase | str | Path | None = None) -> pd.DataFrame:
    """The knowledge base's ligand -> receptor table.

    Built by :func:`build` from LIANA's OmniPath-based consensus resource
    (``liana/resource/omni_resource.csv`` of the installed ``liana`` wheel, BSD-3-Clause;
    the consensus of CellPhoneDB, CellChatDB, ICELLNET, connectomeDB2020, CellTalkDB and
    others) or from a ``*ligand_receptor*.csv`` / ``omni_resource.csv`` in the source
    folder.

    Parameters
    ----------
    kb
        An open :class:`KnowledgeBase`, a store file or folder, or ``None`` for the
        default store.

    Returns
    -------
    pandas.DataFrame
        Columns ``ligand, receptor, source``, one row per pair; a protein complex's
        subunits are ``_``-joined (``ITGA1_ITGB1``).
    """
    if isinstance(kb, KnowledgeBase):
        return kb.ligand_receptor()
    with load(kb) as store:
        return store.ligand_receptor()


def verify(
    claim: str,
    *,
    path: str | Path | None = None,
    n_terms: int = 3,
    mode: Mode = "hybrid",
) -> Verdict:
    """Verify a claim against the default (or ``path``) store; see
    :meth:`KnowledgeBase.verify`.

    Parameters
    ----------
    claim
        A claim about genes, e.g. ``"KLF1 regulates erythroid differentiation"`` or
        ``"TP53 activates CDKN1A"``.
    path
        The store to check against (``None``: the default store).
    n_terms
        Number of GO terms the claim's function phrase is matched to.
    mode
        Retrieval mode of that matching: ``"hybrid"`` (BM25 + dense), ``"lexical"``
        (BM25 only) or ``"dense"``.

    Returns
    -------
    Verdict
        ``label`` (``"supported"`` / ``"contradicted"`` / ``"unknown"``), the evidence
        passages with citations, ``score``, ``genes`` and ``terms``.
    """
    with load(path) as kb:
        return kb.verify(claim, n_terms=n_terms, mode=mode)


def __getattr__(name: str):
    if name == "open":  # renamed: it shadowed the builtin
        raise AttributeError("vc.knowledge.open was renamed to vc.knowledge.load")
    raise AttributeError(f"module 'virtualcell.knowledge' has no attribute {name!r}")
