"""Texts about cell types and cells, built offline: what the text bridge is trained and
queried with.

**Label texts** (:func:`label_texts`) — from a label alone, without any cell of its type,
so they can describe types held out of training:

1. the label as written, in ontology wording (:func:`~virtualcell.knowledge.
   normalize_label`: ``"CD14+ Monocyte"`` -> ``"CD14-positive Monocyte"``) and with its
   abbreviations spelt out (:data:`ABBREVIATIONS`, :func:`expand_abbreviations`:
   ``"8.2-Tem"`` -> ``"8.2-effector memory T cell"``; the spelt-out form is what is
   matched to the ontology);
2. the matched Cell Ontology term (:func:`~virtualcell.knowledge.match_cell_types`,
   accepted matches only): its label, up to ``n_synonyms`` synonyms and
   ``"<label>: <definition>"``;
3. its ontology relatives (``parent_levels``, default 2): the names of its parents and
   grandparents, each as a text and together as ``"<label>, a kind of <p1>, <p2>"``: the
   vocabulary a held-out type shares with its seen relatives;
4. the genes the label, those ontology texts and the user's extra texts name
   (:func:`gene_mentions`; in the ontology definition and the relatives' names only
   words with a sign, ``CD16-negative``) as ``"cells expressing G1, G2"`` (positive
   mentions) and ``"cells not expressing G3"``.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from ..knowledge import KnowledgeBase

__all__ = [
    "ABBREVIATIONS",
    "LabelTexts",
    "cell_sentences",
    "expand_abbreviations",
    "gene_mentions",
    "go_terms",
    "label_texts",
    "marker_genes",
    "marker_texts",
]

# a gene-like word, optionally followed by a sign: CD14+, CD25-, CD16-negative, Kit-positive
_MENTION = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]{1,14})"
    r"(\+|-positive|-negative|-high|-low|-(?![A-Za-z0-9]))?"
)
_CD = re.compile(r"^(CD\d+)[A-Z]{1,3}$")

#: Abbreviations of cell-type names common in labels, spelt out in Cell Ontology wording
#: (whole words, case-insensitive): general immunology usage, not one data set's names.
ABBREVIATIONS: dict[str, str] = {
    "treg": "regulatory T cell",
    "tem": "effector memory T cell",
    "tcm": "central memory T cell",
    "trm": "tissue-resident memory T cell",
    "teff": "effector T cell",
    "temra": "effector memory T cell re-expressing CD45RA",
    "tfh": "T follicular helper cell",
    "th1": "T-helper 1 cell",
    "th2": "T-helper 2 cell",
    "th17": "T-helper 17 cell",
    "tn": "naive T cell",
    "nk": "natural killer cell",
    "nkt": "natural killer T cell",
    "mait": "mucosal invariant T cell",
    "ilc": "innate lymphoid cell",
    "dc": "dendritic cell",
    "pdc": "plasmacytoid dendritic cell",
    "cdc": "conventional dendritic cell",
    "mono": "monocyte",
    "hsc": "hematopoietic stem cell",
    "hspc": "hematopoietic stem and progenitor cell",
    "gdt": "gamma-delta T cell",
}
_ABBREV = re.compile(
    r"(?<![A-Za-z0-9])("
    + "|".join(sorted(ABBREVIATIONS, key=len, reverse=True))
    + r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)


def expand_abbreviations(label: str) -> str:
    """``label`` with the abbreviations of :data:`ABBREVIATIONS` spelt out (whole words,
    case-insensitive): ``"4.6a-Treg"`` -> ``"4.6a-regulatory T cell"``, ``"CD56+ NK"`` ->
    ``"CD56+ natural killer cell"``.

    Parameters
    ----------
    label
        A cell-type label as written in a dataset.

    Returns
    -------
    str
        The label with every known abbreviation replaced.
    """
    return _ABBREV.sub(lambda m: ABBREVIATIONS[m.group(1).lower()], str(label))


def _resolver(genes: Sequence[str], kb: Any) -> Any:
    """``name -> gene of the data`` (exact, case-insensitive, then knowledge-base alias)."""
    upper: dict[str, str] = {}
    for g in genes:
        upper.setdefault(str(g).upper(), str(g))

    def resolve(name: str) -> str | None:
        hit = upper.get(name.upper())
        if hit is None and kb is not None:
            sym = kb.resolve(name)
            hit = upper.get(sym.upper()) if sym else None
        return hit

    return resolve


def gene_mentions(
    text: str, *, genes: Sequence[str], kb: KnowledgeBase | None = None, signed_only: bool = False
) -> dict[str, int]:
    """Genes of ``genes`` that ``text`` names, with their sign (+1 / -1).

    A word counts when it is written like a gene (three or more characters, upper case
    letters and digits: ``FOS``, ``IL6ST``, ``CD14``) or carries a sign (``Kit-positive``,
    ``CD25-``). It is resolved to a gene of ``genes`` by exact (case-insensitive) symbol,
    then through the knowledge base's aliases (``CD56`` -> ``NCAM1``); a CD antigen with an
    isoform suffix falls back to its number (``CD45RA`` -> ``CD45`` -> ``PTPRC``).
    ``-negative`` and a trailing ``-`` give -1, ``-low`` is ignored, anything else +1; the
    first mention of a gene decides its sign. ``signed_only`` keeps only words with a
    sign (for prose such as ontology definitions, where a bare gene name may be negated:
    "negative for CD3, CD19 and CD20").

    Parameters
    ----------
    text
        Free text: a label, a marker sentence or an ontology definition.
    genes
        The genes of the data (the only genes that can be returned).
    kb
        An opened knowledge store (``vc.knowledge.load()``) whose aliases resolve names
        the data spells differently; ``None``: symbols only.
    signed_only
        Count only words carrying a sign (``-positive``, ``-negative``, ``+``, ``-``).

    Returns
    -------
    dict[str, int]
        ``{gene of genes: +1 or -1}`` in order of first mention.
    """
    resolve = _resolver(genes, kb)
    found: dict[str, int] = {}
    for word, sign in _MENTION.findall(str(text)):
        gene_like = len(word) >= 3 and word == word.upper() and not word.isdigit()
        if not (gene_like or sign) or (signed_only and not sign):
            continue
        if sign == "-low":
            continue
        hit = resolve(word)
        m = _CD.match(word.upper())
        if hit is None and m:
            hit = resolve(m.group(1))
        if hit is None or hit in found:
            continue
        found[hit] = -1 if sign in ("-negative", "-") else 1
    return found


@dataclass
class LabelTexts:
    """Texts of cell-type labels (see the module docstring).

    Attributes
    ----------
    texts
        ``{label: [text, ...]}`` (the label itself first).
    terms
        The ontology match of each label (:func:`~virtualcell.knowledge.match_cell_types`
        columns), empty when the ontology was not used.
    markers
        ``{label: {gene: sign}}``: genes named by the label or its ontology texts.
    """

    texts: dict[str, list[str]]
    terms: pd.DataFrame = field(default_factory=pd.DataFrame)
    markers: dict[str, dict[str, int]] = field(default_factory=dict)

    def __getitem__(self, label: str) -> list[str]:
        return self.texts[label]

    def labels(self) -> list[str]:
        return list(self.texts)


def _ontology_table(ontology: Any) -> pd.DataFrame | None:
    from ..knowledge import cell_ontology, ontology_available

    if isinstance(ontology, pd.DataFrame):
        return ontology
    if ontology is True or ontology == "auto":
        if ontology is True or ontology_available():
            return cell_ontology()
        return None
    if ontology is False or ontology is None:
        return None
    raise ValidationError(
        f"ontology must be True, False, 'auto' or a table like vc.knowledge.cell_ontology(), "
        f"got {type(ontology).__name__}"
    )


def label_texts(
    labels: Sequence[str],
    *,
    genes: Sequence[str] = (),
    kb: Any = None,
    ontology: Any = "auto",
    extra: Mapping[str, str | Sequence[str]] | None = None,
    n_synonyms: int = 3,
    min_similarity: float = 0.6,
    parent_levels: int = 2,
) -> LabelTexts:
    """Texts describing each label, built from the label alone (no cells of its type).

    Parameters
    ----------
    labels
        Cell-type labels.
    genes
        Gene symbols of the data (gene mentions are resolved to these).
    kb
        An open :class:`~virtualcell.knowledge.KnowledgeBase` for gene aliases, or None.
    ontology
        ``"auto"`` (the Cell Ontology when installed), ``True`` (required), ``False``, or
        a table like :func:`virtualcell.knowledge.cell_ontology`.
    extra
        More texts per label (``{label: text or [texts]}``), e.g. a user's descriptions.
    n_synonyms
        Ontology synonyms kept per label.
    min_similarity
        Smallest embedding similarity of an accepted ontology match.
    parent_levels
        Generations of ontology ancestors whose names join the texts (0: none, 1:
        parents, 2: parents and grandparents); needs a ``parents`` column in the table.

    Returns
    -------
    LabelTexts
    """
    from ..knowledge import match_cell_types, normalize_label

    if isinstance(labels, str):
        raise ValidationError("labels must be a list of strings, not one string")
    labels = [str(x) for x in dict.fromkeys(labels)]
    if not labels:
        raise ValidationError("labels is empty")
    if isinstance(parent_levels, bool) or not isinstance(parent_levels, int) or parent_levels < 0:
        raise ValidationError(f"parent_levels must be an integer >= 0, got {parent_levels!r}")
    table = _ontology_table(ontology)
    terms = pd.DataFrame()
    spelt = {label: expand_abbreviations(label) for label in labels}
    if table is not None:
        queries = list(dict.fromkeys(spelt.values()))
        found = match_cell_types(queries, ontology=table, min_similarity=min_similarity)
        terms = found.loc[[spelt[x] for x in labels]].set_axis(pd.Index(labels, name="label"))
        terms.insert(0, "query", [spelt[x] for x in labels])
    extra = dict(extra or {})
    unknown = sorted(set(extra) - set(labels))
    if unknown:
        raise ValidationError(f"extra texts for labels that are not in labels: {unknown[:5]}")
    texts: dict[str, list[str]] = {}
    markers: dict[str, dict[str, int]] = {}
    for label in labels:
        own = list(dict.fromkeys([label, normalize_label(label), normalize_label(spelt[label])]))
        onto: list[str] = []
        kin: list[str] = []
        prose: set[str] = set()
        if len(terms) and bool(terms.at[label, "accepted"]):
            term = terms.at[label, "term_id"]
            name = str(table.at[term, "label"])
            syns = [str(s) for s in table.at[term, "synonyms"]][:n_synonyms]
            desc = str(table.at[term, "description"])
            onto = [name, *syns] + ([f"{name}: {desc}"] if desc else [])
            prose.add(f"{name}: {desc}")
            kin = _relatives(table, term, parent_levels)
            if kin:
                kin = [*kin, f"{name}, a kind of {', '.join(kin)}"]
                prose.update(kin)
        add = extra.get(label, [])
        add = [add] if isinstance(add, str) else list(add)
        named: dict[str, int] = {}
        for t in own + onto + kin + [str(a) for a in add]:
            for g, s in gene_mentions(t, genes=genes, kb=kb, signed_only=t in prose).items():
                named.setdefault(g, s)
        sentences = []
        pos = [g for g, s in named.items() if s > 0]
        neg = [g for g, s in named.items() if s < 0]
        if pos:
            sentences.append("cells expressing " + ", ".join(pos))
        if neg:
            sentences.append("cells not expressing " + ", ".join(neg))
        texts[label] = list(dict.fromkeys(own + onto + kin + sentences + [str(a) for a in add]))
        markers[label] = named
    return LabelTexts(texts=texts, terms=terms, markers=markers)


def _relatives(table: pd.DataFrame, term: str, levels: int) -> list[str]:
    """Names of ``term``'s ancestors up to ``levels`` generations (parents first)."""
    if levels == 0 or "parents" not in table.columns:
        return []
    out: list[str] = []
    frontier = [term]
    for _ in range(levels):
        nxt = [p for t in frontier if t in table.index for p in table.at[t, "parents"]]
        nxt = [p for p in dict.fromkeys(nxt) if p in table.index]
        out += [str(table.at[p, "label"]) for p in nxt]
        frontier = nxt
    return list(dict.fromkeys(out))


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
