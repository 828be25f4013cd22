"""Retrievable passages (genes, GO terms, gene sets) built from the store."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["KINDS", "Passage", "build_passages"]

#: Kinds of passages the search covers.
KINDS = ("gene", "go_term", "gene_set")
_NS = {"BP": "biological process", "MF": "molecular function", "CC": "cellular component"}


@dataclass
class Passage:
    """One retrieved passage with its citations.

    Attributes
    ----------
    id
        ``"gene:SYMBOL"``, ``"GO:0000001"`` or ``"set:LIBRARY:NAME"``.
    kind
        ``"gene"``, ``"go_term"`` or ``"gene_set"``.
    title, text
        Short title and the passage text.
    citations
        Identifiers backing the passage: GO IDs with evidence codes, NCBI Gene / Ensembl
        IDs, gene-set library names, each with the source version they come from.
    score
        Fused retrieval score (higher is better); ``ranks`` holds the per-retriever ranks.
    """

    id: str
    kind: str
    title: str
    text: str
    citations: list[str] = field(default_factory=list)
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "text": self.text,
            "citations": self.citations,
            "score": round(float(self.score), 6),
            "ranks": self.ranks,
        }


def _join(values, sep: str = "; ") -> str:
    return sep.join(v for v in dict.fromkeys(values) if v)


def build_passages(con: sqlite3.Connection, max_terms: int = 60) -> pd.DataFrame:
    """All passages as a table: ``id, kind, key, title, text, dense_text``.

    ``text`` (lexical index) holds everything searchable; ``dense_text`` (embedded) is the
    short title: gene symbol + name, GO term name, gene-set name. Titles keep embedding the
    whole human KB affordable on a CPU (~90k short texts) and long lists of gene symbols
    would only add noise; definitions, descriptions and GO term lists of genes are
    searched lexically (and GenePT gene embeddings use them, see ``_genept``)."""
    genes = pd.read_sql_query("SELECT * FROM genes", con).fillna("")
    terms = pd.read_sql_query("SELECT * FROM go_terms", con).fillna("")
    ann = pd.read_sql_query("SELECT DISTINCT gene, go_id FROM annotations", con)
    sets = pd.read_sql_query("SELECT library, name, genes FROM gene_sets", con).fillna("")

    tname = dict(zip(terms["id"], terms["name"], strict=True))
    ann = ann.assign(term=ann["go_id"].map(tname)).dropna()
    per_gene = ann.groupby("gene")["term"].agg(lambda s: _join(list(s)[:max_terms]))
    go_txt = genes["symbol"].map(per_gene).fillna("")

    head = (
        genes["symbol"]
        + " ("
        + genes["name"]
        + ")"
        + genes["aliases"].map(lambda a: f". Also known as {a.replace('|', ', ')}" if a else "")
    )
    desc = genes["description"].map(lambda d: f". {d}" if d else "")
    go_part = go_txt.map(lambda t: f". Gene Ontology: {t}" if t else "")
    g = pd.DataFrame(
        {
            "id": "gene:" + genes["symbol"],
            "kind": "gene",
            "key": genes["symbol"],
            "title": genes["symbol"] + ": " + genes["name"],
            "text": head + desc + go_part,
            "dense_text": genes["symbol"] + ": " + genes["name"],
            "annotated": go_txt != "",
        }
    )
    ns = terms["namespace"].map(lambda n: _NS.get(n, n))
    definition = terms["definition"].map(lambda d: f". {d}" if d else "")
    t = pd.DataFrame(
        {
            "id": terms["id"],
            "kind": "go_term",
            "key": terms["id"],
            "title": terms["id"] + " " + terms["name"],
            # the name twice: a cheap field boost, so exact name matches rank above terms
            # that only mention the words in their definitions
            "text": terms["name"] + ". " + terms["name"] + " (" + ns + ")" + definition,
            "dense_text": terms["name"],
            "annotated": True,
        }
    )
    members = sets["genes"].str.split("|")
    s = pd.DataFrame(
        {
            "id": "set:" + sets["library"] + ":" + sets["name"],
            "kind": "gene_set",
            "key": sets["library"] + ":" + sets["name"],
            "title": sets["name"] + " [" + sets["library"] + "]",
            "text": sets["name"]
            + " ("
            + sets["library"].str.replace("_", " ")
            + "). Genes: "
            + members.map(lambda m: ", ".join(m[:40])),
            "dense_text": sets["name"].str.replace("_", " "),
            "annotated": True,
        }
    )
    return pd.concat([g, t, s], ignore_index=True)
