"""Texts built from the cells of a type (training only) and from single cells.

**Marker texts** (:func:`marker_texts`, training only: they need the type's cells) — the
``n_markers`` genes with the largest Welch t statistic of log expression, type vs all
other cells (higher in the type), in sentence templates; with a knowledge base also their
gene names and the GO biological processes over-represented among them (these carry the
words — "cytotoxicity", "antigen presentation" — that ontology definitions of unseen
types use too).

**Cell sentences** (:func:`cell_sentences`) — each cell's ``top_k`` most over-expressed
genes (largest z-score against the cells it is fitted on, among its expressed genes):
``"a cell with high expression of G1, G2, ..."``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..knowledge import KnowledgeBase

__all__ = ["GO_LIBRARY_PREFIX", "cell_sentences", "go_terms", "marker_genes", "marker_texts"]


def marker_genes(
    X: Any, genes: Sequence[str], labels: np.ndarray, *, n_markers: int = 20
) -> dict[str, list[str]]:
    """Top ``n_markers`` genes per label by Welch t of log expression (label vs rest),
    only genes with a higher mean in the label; ``X`` is log-normalised (cells x genes).

    Parameters
    ----------
    X
        Log-normalised expression, cells x genes (dense or sparse).
    genes
        Gene names of the columns of ``X``.
    labels
        One label per cell (row of ``X``).
    n_markers
        Most genes kept per label.

    Returns
    -------
    dict[str, list[str]]
        ``{label: marker genes, highest t first}`` (fewer than ``n_markers`` where fewer
        genes are higher in the label).
    """
    import scipy.sparse as sp

    X = sp.csr_matrix(X, dtype=np.float32)
    genes = np.asarray([str(g) for g in genes], dtype=object)
    labels = np.asarray(labels).astype(str)
    sq = X.multiply(X).tocsr()
    total, total_sq, n = np.asarray(X.sum(0)).ravel(), np.asarray(sq.sum(0)).ravel(), X.shape[0]
    out: dict[str, list[str]] = {}
    for label in dict.fromkeys(labels):
        rows = labels == label
        k = int(rows.sum())
        s_in = np.asarray(X[rows].sum(0)).ravel()
        q_in = np.asarray(sq[rows].sum(0)).ravel()
        m_in = s_in / k
        v_in = np.maximum(q_in / k - m_in**2, 0) * k / max(k - 1, 1)
        r = n - k
        if r == 0:
            out[label] = []
            continue
        m_out = (total - s_in) / r
        v_out = np.maximum((total_sq - q_in) / r - m_out**2, 0) * r / max(r - 1, 1)
        se = np.sqrt(v_in / k + v_out / r) + 1e-6
        t = (m_in - m_out) / se
        t[m_in <= m_out] = -np.inf
        order = np.argsort(-t, kind="stable")[:n_markers]
        out[label] = [str(genes[i]) for i in order if np.isfinite(t[i])]
    return out


#: Gene-set library prefix of the GO terms named in marker texts (newest first).
GO_LIBRARY_PREFIX = "GO_Biological_Process"
_GO_ID = re.compile(r"\s*\(GO:\d+\)\s*$")


def _go_library(kb: Any) -> dict[str, list[str]] | None:
    libs = [x for x in kb.gene_set_libraries() if x.startswith(GO_LIBRARY_PREFIX)]
    return kb.gene_sets(sorted(libs)[-1]) if libs else None


def go_terms(
    genes: Sequence[str], *, gene_sets: Mapping[str, Sequence[str]], background: Sequence[str],
    n_terms: int = 3,
) -> list[str]:  # fmt: skip
    """Names of the ``n_terms`` gene sets most over-represented among ``genes``
    (hypergeometric p-value over ``background``, :func:`virtualcell.knowledge.enrich`; sets
    with at least 2 of the genes and at most 500 members), GO ids stripped."""
    from ..knowledge import enrich

    if len(genes) < 2:
        return []
    res = enrich(list(genes), gene_sets=gene_sets, background=list(background), max_size=500)
    res = res[res["overlap"] >= 2].head(n_terms)
    return [_GO_ID.sub("", str(t)).strip().lower() for t in res["term"]]


def marker_texts(
    markers: Mapping[str, Sequence[str]],
    *,
    kb: KnowledgeBase | None = None,
    background: Sequence[str] = (),
    n_variants: int = 6,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Sentences from each label's marker genes (training texts; see the module docstring).

    Per label: ``"<label> cells express G1, ..., G10"``, ``n_variants`` sentences ``"cells
    with high expression of ..."`` over random subsets (5 to 10 genes, random order) of
    the markers; with ``kb``: the top five markers with their gene names, and the GO
    biological processes most over-represented among the markers (:func:`go_terms`,
    ``background`` = the data's genes) as ``"<label> cells: genes for t1; t2; t3"`` and
    ``"cells with high expression of genes for t1, t2"``.

    Parameters
    ----------
    markers
        ``{label: marker genes, best first}`` (e.g. from :func:`marker_genes`).
    kb
        An opened knowledge store (``vc.knowledge.load()``) for gene names and GO terms;
        ``None``: marker sentences only.
    background
        The data's genes, the background of the GO over-representation (empty: no GO
        sentences).
    n_variants
        Sentences over random marker subsets per label.
    seed
        Seed of those random subsets.

    Returns
    -------
    dict[str, list[str]]
        ``{label: distinct sentences}`` (empty for a label without markers).
    """
    rng = np.random.default_rng(seed)
    names: dict[str, str] = {}
    sets = None
    if kb is not None:
        want = sorted({g for ms in markers.values() for g in list(ms)[:5]})
        if want:
            q = ",".join("?" * len(want))
            df = kb._q(f"SELECT symbol, name FROM genes WHERE symbol IN ({q})", tuple(want))
            names = {s: n for s, n in zip(df["symbol"], df["name"].fillna(""), strict=True) if n}
        if len(background):
            sets = _go_library(kb)
    out: dict[str, list[str]] = {}
    for label, ms in markers.items():
        ms = list(ms)
        if not ms:
            out[label] = []
            continue
        texts = [f"{label} cells express {', '.join(ms[:10])}"]
        for _ in range(n_variants):
            k = int(rng.integers(min(5, len(ms)), min(10, len(ms)) + 1))
            pick = rng.permutation(ms)[:k]
            texts.append("cells with high expression of " + ", ".join(pick))
        named = [f"{g} ({names[g]})" for g in ms[:5] if g in names]
        if named:
            texts.append("cells expressing " + "; ".join(named))
        if sets is not None:
            terms = go_terms(ms, gene_sets=sets, background=background)
            if terms:
                texts.append(f"{label} cells: genes for {'; '.join(terms)}")
                texts.append("cells with high expression of genes for " + ", ".join(terms[:2]))
        out[label] = list(dict.fromkeys(texts))
    return out


def cell_sentences(z: np.ndarray, genes: Sequence[str], *, top_k: int = 8) -> list[str]:
    """``"a cell with high expression of G1, ..., Gk"`` from each row's ``top_k`` largest
    positive z-scores (``z``: cells x genes, standardised against a reference).

    Parameters
    ----------
    z
        Standardised expression, cells x genes (e.g. log expression z-scored per gene
        against the training cells).
    genes
        Gene names of the columns of ``z``.
    top_k
        Most genes named per cell (only genes with a positive z-score are named).

    Returns
    -------
    list[str]
        One sentence per row of ``z``.
    """
    z = np.asarray(z, dtype=np.float32)
    genes = np.asarray([str(g) for g in genes], dtype=object)
    k = min(top_k, z.shape[1])
    top = np.argsort(-z, axis=1, kind="stable")[:, :k]
    out = []
    for row, idx in zip(z, top, strict=True):
        keep = [genes[i] for i in idx if row[i] > 0]
        out.append("a cell with high expression of " + ", ".join(keep) if keep else "a cell")
    return out
