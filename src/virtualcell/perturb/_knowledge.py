"""Gene features and priors from the knowledge base (``vc.knowledge``), for human symbols.

* :func:`tf_target_edges` — known TF -> target edges among the measured genes (priors of
  the ``network`` method);
* :func:`go_tf_features` — per gene: its GO annotations (one 0/1 column per term) and its
  known targets among the measured genes (signed), plus "is a TF";
* :func:`genept_features` — GenePT text embeddings (384-d).

Each returns ``None`` (or leaves genes out) when the store is not built or the names are
not human gene symbols (e.g. DREAM4's ``G1``); the callers then flag those genes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._errors import DatasetNotAvailableError, ValidationError
from .._utils import log

__all__ = ["genept_features", "go_tf_features", "open_store", "tf_target_edges"]


def open_store(kb: Any = None) -> Any | None:
    """An open :class:`~virtualcell.knowledge.KnowledgeBase` or None when none is built."""
    from ..knowledge import KnowledgeBase

    if isinstance(kb, KnowledgeBase):
        return kb
    try:
        return KnowledgeBase(kb)
    except DatasetNotAvailableError:
        return None


_told: set[tuple[str, ...]] = set()


def _resolve(
    store: Any,
    genes: Sequence[str],
    measured: Sequence[str] | None = None,
    least: float | None = None,
) -> dict[str, str]:
    """Measured name -> official symbol for the ``genes`` the store knows (by symbol or
    alias); none when ``measured`` (default ``genes``) are not genes of the store
    (:meth:`~virtualcell.knowledge.KnowledgeBase.names_genes`, ``least``): the names are
    then of another namespace (DREAM4's ``G1`` ... ``G100``, a simulator's), and an alias
    match (``G1`` is an alias of PRB3) would hand a synthetic gene an unrelated human
    gene's knowledge."""
    pool = list(genes) if measured is None else list(measured)
    if not store.names_genes(pool, least):
        key = (*sorted(str(g) for g in pool)[:8], str(len(pool)))
        if key not in _told:  # once per gene set and process
            _told.add(key)
            shown = ", ".join(str(g) for g in pool[:3])
            log(f"knowledge: {store.symbol_fraction(pool):.0%} of {len(pool)} gene names "
                f"({shown}, ...) are official gene symbols: not treated as genes of the "
                "knowledge store, so no knowledge is used for them")  # fmt: skip
        return {}
    out = {}
    for g in genes:
        sym = store.resolve(str(g))
        if sym:
            out[str(g)] = sym
    return out


def tf_target_edges(
    genes: Sequence[str], *, kb: Any = None, min_resolved: float | None = None
) -> pd.DataFrame | None:
    """Known TF -> target edges among ``genes``: ``regulator, target, sign``.

    None when no store is built or fewer than ``min_resolved`` of the genes are official
    symbols (:meth:`~virtualcell.knowledge.KnowledgeBase.symbol_fraction`; synthetic names
    such as ``G12``, aliases of unrelated human genes, are not treated as human genes).

    Parameters
    ----------
    genes
        The measured genes (names or identifiers the store resolves to symbols).
    kb
        Knowledge store: an open ``KnowledgeBase``, a path, or ``None`` (the built
        default store).
    min_resolved
        Least fraction of ``genes`` that must be official symbols of the store for edges
        to be returned (default ``vc.knowledge.MIN_SYMBOL_FRACTION``).

    Returns
    -------
    pandas.DataFrame or None
        One row per known edge between two distinct measured genes, with the measured
        names; None when there is no store or too few genes resolve.
    """
    store = open_store(kb)
    if store is None:
        return None
    try:
        names = _resolve(store, genes, least=min_resolved)
        if not names:
            return None
        back = {sym: g for g, sym in names.items()}
        tfs = set(store.tfs())
        rows = []
        for g, sym in names.items():
            if sym not in tfs:
                continue
            tg = store.targets(sym)
            for tgt, sign in zip(tg["target"], tg["sign"], strict=True):
                if tgt in back and back[tgt] != g:
                    rows.append((g, back[tgt], int(np.sign(sign)) or 1))
        table = pd.DataFrame(rows, columns=["regulator", "target", "sign"])
        return table.drop_duplicates(["regulator", "target"]).reset_index(drop=True)
    finally:
        if kb is None or store is not kb:
            store.close()


def go_tf_features(
    genes: Sequence[str], measured: Sequence[str], *, kb: Any = None
) -> pd.DataFrame | None:
    """Knowledge features of ``genes``: ``go:<id>`` 0/1 per GO term annotated to any of
    them, ``target:<gene>`` = sign of a known regulation of measured gene ``<gene>``, and
    ``is_tf``. Genes the store does not know are left out; None without a store or when
    ``measured`` are not named by the store's symbols (:func:`_resolve`)."""
    store = open_store(kb)
    if store is None:
        return None
    try:
        names = _resolve(store, genes, measured)
        if not names:
            return None
        tfs = set(store.tfs())
        back = {}
        for g in measured:
            sym = store.resolve(str(g))
            if sym:
                back.setdefault(sym, str(g))
        rows: dict[str, dict[str, float]] = {}
        for g, sym in names.items():
            feats: dict[str, float] = {}
            try:
                ann = store.go_annotations(sym)
            except ValidationError:
                ann = pd.DataFrame(columns=["go_id", "qualifier"])
            for go_id, qual in zip(ann["go_id"], ann["qualifier"].fillna(""), strict=True):
                if "NOT" not in str(qual).upper():
                    feats[f"go:{go_id}"] = 1.0
            if sym in tfs:
                feats["is_tf"] = 1.0
                tg = store.targets(sym)
                for tgt, sign in zip(tg["target"], tg["sign"], strict=True):
                    if tgt in back:
                        feats[f"target:{back[tgt]}"] = float(np.sign(sign)) or 1.0
            if feats:
                rows[g] = feats
        if not rows:
            return None
        return pd.DataFrame.from_dict(rows, orient="index").fillna(0.0).astype(np.float32)
    finally:
        if kb is None or store is not kb:
            store.close()


def genept_features(
    genes: Sequence[str], *, kb: Any = None, measured: Sequence[str] | None = None
) -> pd.DataFrame | None:
    """GenePT embeddings (genes x 384) of the genes the store knows; None without a store
    or text embedder, or when ``measured`` (default ``genes``: the data set's genes) are
    not named by the store's symbols (:func:`_resolve`)."""
    from ..knowledge import embedder_available, gene_text_embeddings

    store = open_store(kb)
    if store is None or not embedder_available():
        if store is not None and store is not kb:
            store.close()
        return None
    try:
        known = list(_resolve(store, genes, measured))
        if not known:
            return None
        return gene_text_embeddings(known, kb=store)
    except ValidationError:
        return None
    finally:
        if kb is None or store is not kb:
            store.close()
