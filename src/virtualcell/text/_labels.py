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

Marker texts and cell sentences, which need cells of the type, are in :mod:`._markers`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from ..knowledge import KnowledgeBase

__all__ = [
    "ABBREVIATIONS",
    "LabelTexts",
    "expand_abbreviations",
    "gene_mentions",
    "label_texts",
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
