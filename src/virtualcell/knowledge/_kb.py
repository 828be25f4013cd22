"""Read access to a built knowledge store: genes, GO, TF targets, gene sets, search."""

from __future__ import annotations

import re
import sqlite3
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from .._errors import DataFormatError, DatasetNotAvailableError, ValidationError
from ._passages import KINDS, Passage
from ._search import Mode, SearchIndex
from ._store import default_path, read_meta

__all__ = ["MIN_SYMBOL_FRACTION", "PROPAGATE_RELATIONS", "GeneRecord", "KnowledgeBase"]

#: Relations over which annotations are propagated to ancestors (GO's true-path rule).
PROPAGATE_RELATIONS = ("is_a", "part_of")
#: Least fraction of a data set's gene names that must be official symbols
#: (:meth:`KnowledgeBase.symbol_fraction`) for the store's knowledge to be used for them:
#: below it the names are of another namespace (DREAM4's or a simulator's ``G1``, ``G2``
#: ...), whose alias matches would be unrelated human genes.
MIN_SYMBOL_FRACTION = 0.2


@dataclass
class GeneRecord:
    """One gene with its identifiers, description, GO annotations and regulatory edges."""

    symbol: str
    name: str
    aliases: list[str]
    entrez: str
    ensembl: list[str]
    type: str
    description: str
    go: pd.DataFrame = field(repr=False)
    targets: pd.DataFrame = field(repr=False)
    regulators: pd.DataFrame = field(repr=False)
    is_tf: bool = False

    def to_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "name": self.name,
            "aliases": self.aliases,
            "entrez": self.entrez,
            "ensembl": self.ensembl,
            "type": self.type,
            "description": self.description,
            "is_tf": self.is_tf,
            "go": self.go.to_dict(orient="records"),
            "targets": self.targets.to_dict(orient="records"),
            "regulators": self.regulators.to_dict(orient="records"),
        }


class KnowledgeBase:
    """A built knowledge store, opened read-only.

    Parameters
    ----------
    path
        Store file (default :func:`virtualcell.knowledge.default_path`).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        if self.path.is_dir():
            self.path = self.path / "knowledge.sqlite"
        if not self.path.exists():
            raise DatasetNotAvailableError(
                f"no knowledge store at {self.path}; build one with `vcell kb build` "
                "(or vc.knowledge.build())"
            )
        self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self.meta = read_meta(self._con, self.path)
        self._index = SearchIndex(self)

    def __repr__(self) -> str:
        c = self.counts
        return (
            f"KnowledgeBase({str(self.path)!r}, genes={c.get('genes')}, "
            f"go_terms={c.get('go_terms')}, annotations={c.get('annotations')})"
        )

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- metadata -----------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        return dict(self.meta["counts"])

    @property
    def sources(self) -> list[dict]:
        """Provenance of every source file: role, version, path, sha256, bytes."""
        return list(self.meta["sources"])

    @property
    def notes(self) -> list[str]:
        return list(self.meta["notes"])

    def source_of(self, table: str) -> str:
        """Source version(s) a table was built from."""
        return "; ".join(self.meta.get("table_sources", {}).get(table, [])) or "unknown"

    def _q(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self._con, params=params)

    # -- genes --------------------------------------------------------------------------
    @cached_property
    def _symbols(self) -> dict[str, str]:
        """Upper-case symbol or alias -> official symbol (official symbols win)."""
        df = self._q("SELECT symbol, aliases FROM genes")
        lookup: dict[str, str] = {}
        for sym, aliases in zip(df["symbol"], df["aliases"].fillna(""), strict=True):
            for a in aliases.split("|"):
                if a:
                    lookup.setdefault(a.upper(), sym)
        lookup.update({s.upper(): s for s in df["symbol"]})
        return lookup

    def resolve(self, name: str) -> str | None:
        """Official symbol for a symbol or alias (case-insensitive), or ``None``."""
        return self._symbols.get(name.strip().upper())

    @cached_property
    def _official(self) -> frozenset[str]:
        return frozenset(
            sym.upper() for sym in self._symbols.values()
        )  # every symbol maps to itself

    def symbol_fraction(self, names: Sequence[str]) -> float:
        """Fraction of ``names`` that are official gene symbols (case-insensitive; an
        alias does not count): how likely the names are genes of this store at all.

        Synthetic names such as DREAM4's ``G1`` ... ``G100`` are aliases of unrelated
        human genes (``G1`` of PRB3, ``G3`` of BAG6): 20 of DREAM4's 100 resolve, none is
        an official symbol. Real data name most of their genes by official symbols.

        Parameters
        ----------
        names
            Gene names (e.g. a dataset's ``var_names``).
        """
        names = [str(n).strip().upper() for n in names]
        if not names:
            return 0.0
        return sum(n in self._official for n in names) / len(names)

    def names_genes(self, names: Sequence[str], least: float | None = None) -> bool:
        """Whether ``names`` are genes of this store at all: at least ``least`` (default
        :data:`MIN_SYMBOL_FRACTION`) of them official symbols (:meth:`symbol_fraction`).
        Analyses that draw knowledge for a data set's genes ask this first.

        Parameters
        ----------
        names
            Gene names (e.g. a dataset's ``var_names``).
        least
            Least fraction of official symbols.
        """
        return self.symbol_fraction(names) >= (MIN_SYMBOL_FRACTION if least is None else least)

    def _need_gene(self, name: str) -> str:
        sym = self.resolve(name)
        if (
            sym is None
            and self._q("SELECT 1 FROM annotations WHERE gene = ? LIMIT 1", (name,)).shape[0]
        ):
            return name  # annotated under a symbol the gene table does not list (newer names)
        if sym is None:
            raise ValidationError(f"gene {name!r} is not in the knowledge base (symbol or alias)")
        return sym

    def gene(self, symbol: str) -> GeneRecord:
        """Everything the store holds on one gene (symbol or alias).

        Parameters
        ----------
        symbol
            Gene symbol or alias (case-insensitive), e.g. ``"TP53"``.
        """
        sym = self.resolve(symbol)
        if sym is None:
            raise ValidationError(f"gene {symbol!r} is not in the gene table (symbol or alias)")
        row = self._q("SELECT * FROM genes WHERE symbol = ?", (sym,)).iloc[0].fillna("")
        is_tf = bool(self._q("SELECT 1 FROM tfs WHERE symbol = ?", (sym,)).shape[0])
        return GeneRecord(
            symbol=sym,
            name=row["name"],
            aliases=[a for a in row["aliases"].split("|") if a],
            entrez=str(row["entrez"]),
            ensembl=[e for e in row["ensembl"].split("|") if e],
            type=row["type"],
            description=row["description"],
            go=self.go_annotations(sym),
            targets=self.targets(sym),
            regulators=self.regulators(sym),
            is_tf=is_tf,
        )

    # -- GO -----------------------------------------------------------------------------
    def go_term(self, go_id: str) -> dict:
        """One GO term: ``id, name, namespace, definition``.

        Parameters
        ----------
        go_id
            GO identifier, e.g. ``"GO:0030218"``.
        """
        df = self._q("SELECT * FROM go_terms WHERE id = ?", (go_id,))
        if df.empty:
            raise ValidationError(f"GO term {go_id!r} is not in the knowledge base")
        return df.iloc[0].fillna("").to_dict()

    @cached_property
    def _dag(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        parents: dict[str, list[str]] = {}
        children: dict[str, list[str]] = {}
        e = self._q(
            "SELECT child, parent FROM go_edges WHERE relation IN ({})".format(
                ",".join("?" * len(PROPAGATE_RELATIONS))
            ),
            PROPAGATE_RELATIONS,
        )
        for c, p in zip(e["child"], e["parent"], strict=True):
            parents.setdefault(c, []).append(p)
            children.setdefault(p, []).append(c)
        return parents, children

    @staticmethod
    def _walk(start: str, graph: dict[str, list[str]]) -> set[str]:
        seen, todo = set(), deque([start])
        while todo:
            for nxt in graph.get(todo.popleft(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def ancestors(self, go_id: str) -> set[str]:
        """All ancestors over ``is_a`` / ``part_of`` (not including ``go_id``)."""
        return self._walk(go_id, self._dag[0])

    def descendants(self, go_id: str) -> set[str]:
        """All descendants over ``is_a`` / ``part_of`` (not including ``go_id``)."""
        return self._walk(go_id, self._dag[1])

    def go_annotations(self, gene: str, *, propagate: bool = False) -> pd.DataFrame:
        """GO annotations of a gene: ``go_id, name, namespace, evidence, qualifier, source,
        via``. With ``propagate=True`` ancestors (over is_a / part_of) are added, ``via``
        naming the directly annotated term they were inherited from (empty when direct).

        Parameters
        ----------
        gene
            Gene symbol or alias.
        propagate
            Add the ancestors of the annotated terms (GO's true-path rule).
        """
        sym = self._need_gene(gene)
        direct = self._q(
            "SELECT a.go_id, t.name, t.namespace, a.evidence, a.qualifier, a.source "
            "FROM annotations a LEFT JOIN go_terms t ON t.id = a.go_id WHERE a.gene = ? "
            "ORDER BY a.go_id",
            (sym,),
        ).fillna("")
        direct["via"] = ""
        if not propagate or direct.empty:
            return direct
        rows = []
        have = set(direct["go_id"])
        for go_id, ev, qual in zip(
            direct["go_id"], direct["evidence"], direct["qualifier"], strict=True
        ):
            if "NOT" in qual.upper():
                continue  # a negative annotation does not propagate upwards
            for anc in self.ancestors(go_id):
                if anc not in have:
                    rows.append((anc, ev, qual, go_id))
        if not rows:
            return direct
        up = pd.DataFrame(rows, columns=["go_id", "evidence", "qualifier", "via"]).drop_duplicates(
            "go_id"
        )
        names = self._terms_frame().reindex(up["go_id"])
        up["name"] = names["name"].fillna("").to_numpy()
        up["namespace"] = names["namespace"].fillna("").to_numpy()
        up["source"] = "propagated"
        return pd.concat([direct, up[direct.columns]], ignore_index=True)

    @cached_property
    def _terms(self) -> pd.DataFrame:
        return self._q("SELECT id, name, namespace, definition FROM go_terms").set_index("id")

    def _terms_frame(self) -> pd.DataFrame:
        return self._terms

    def genes_for_term(self, go_id: str, *, propagate: bool = True) -> list[str]:
        """Genes annotated to ``go_id`` (and, with ``propagate``, to any descendant),
        excluding NOT-qualified annotations; sorted.

        Parameters
        ----------
        go_id
            GO identifier, e.g. ``"GO:0030218"``.
        propagate
            Include genes annotated to descendant terms.
        """
        ids = [go_id, *(self.descendants(go_id) if propagate else ())]
        out: set[str] = set()
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            df = self._q(
                f"SELECT gene, qualifier FROM annotations WHERE go_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            out.update(df.loc[~df["qualifier"].fillna("").str.upper().str.contains("NOT"), "gene"])
        return sorted(out)

    # -- regulation and gene sets -------------------------------------------------------
    def targets(self, tf: str) -> pd.DataFrame:
        """TF -> target edges of ``tf``: ``target, sign, source, pmids``.

        Parameters
        ----------
        tf
            Transcription factor symbol or alias.
        """
        sym = self.resolve(tf) or tf
        return self._q(
            "SELECT target, sign, source, pmids FROM tf_targets WHERE tf = ? ORDER BY target, source",
            (sym,),
        )

    def regulators(self, gene: str) -> pd.DataFrame:
        """Edges into ``gene``: ``tf, sign, source, pmids``.

        Parameters
        ----------
        gene
            Target gene symbol or alias.
        """
        sym = self.resolve(gene) or gene
        return self._q(
            "SELECT tf, sign, source, pmids FROM tf_targets WHERE target = ? ORDER BY tf, source",
            (sym,),
        )

    def tfs(self) -> list[str]:
        return self._q("SELECT symbol FROM tfs ORDER BY symbol")["symbol"].tolist()

    def gene_set_libraries(self) -> list[str]:
        return self._q("SELECT DISTINCT library FROM gene_sets ORDER BY library")[
            "library"
        ].tolist()

    def gene_sets(self, library: str | None = None) -> dict[str, list[str]]:
        """Gene sets as ``{name: genes}``; ``library=None`` -> all, keyed ``library:name``."""
        if library is None:
            df = self._q("SELECT library || ':' || name AS name, genes FROM gene_sets")
        else:
            df = self._q("SELECT name, genes FROM gene_sets WHERE library = ?", (library,))
            if df.empty:
                raise ValidationError(
                    f"no gene-set library {library!r}; have {self.gene_set_libraries()}"
                )
        return {
            n: [g for g in s.split("|") if g] for n, s in zip(df["name"], df["genes"], strict=True)
        }

    def ligand_receptor(self) -> pd.DataFrame:
        """Ligand -> receptor pairs of the store (``ligand, receptor, source``; a complex's
        subunits ``_``-joined); a clear error for a store built before the table existed."""
        try:
            return self._q("SELECT ligand, receptor, source FROM lr_pairs ORDER BY rowid")
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
            raise DataFormatError(
                f"{self.path} has no ligand-receptor table (built by an older virtualcell); "
                "rebuild it with `vcell kb build --overwrite`"
            ) from err

    # -- retrieval ----------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        *,
        kinds: tuple[str, ...] | list[str] = KINDS,
        mode: Mode = "lexical",
    ) -> list[Passage]:
        """Ranked passages (genes, GO terms, gene sets) for a free-text query.

        Parameters
        ----------
        query
            Free text, e.g. ``"insulin secretion"``.
        k
            Number of passages.
        kinds
            Subset of ``("gene", "go_term", "gene_set")``.
        mode
            ``"hybrid"`` (BM25 + dense, RRF), ``"lexical"`` (BM25 only; needs no embedder)
            or ``"dense"``. Hybrid falls back to lexical when the embedder is not installed.
        """
        from .._utils import check_number
        from ._dense import embedder_available

        check_number("k", k, low=1, high=1000, integer=True)
        if mode == "hybrid" and not embedder_available():
            mode = "lexical"
        hits = self._index.search(query, k=k, kinds=tuple(kinds), mode=mode)
        p = self._index.passages
        out = []
        for row, score, ranks in hits:
            r = p.iloc[row]
            out.append(
                Passage(
                    id=r["id"],
                    kind=r["kind"],
                    title=r["title"],
                    text=r["text"],
                    citations=self._citations(r["kind"], r["key"], query),
                    score=score,
                    ranks=ranks,
                )
            )
        return out

    def _citations(self, kind: str, key: str, query: str) -> list[str]:
        if kind == "go_term":
            n = self._q("SELECT COUNT(DISTINCT gene) AS n FROM annotations WHERE go_id = ?", (key,))
            return [
                f"{key} [{self.source_of('go_terms')}]",
                f"{int(n['n'].iloc[0])} genes annotated directly",
            ]
        if kind == "gene_set":
            lib = key.split(":", 1)[0]
            ver = next((s["version"] for s in self.sources if lib in s["version"]), lib)
            return [f"gene-set library {lib} [{ver}]"]
        row = self._q("SELECT entrez, ensembl FROM genes WHERE symbol = ?", (key,)).iloc[0]
        cites = [f"NCBI Gene:{row['entrez']} [{self.source_of('genes')}]"]
        if row["ensembl"]:
            cites.append("Ensembl:" + row["ensembl"].split("|")[0])
        ann = self.go_annotations(key)
        if not ann.empty:
            words = set(re.findall(r"[a-z0-9]+", query.lower()))
            overlap = ann["name"].map(
                lambda n: len(words & set(re.findall(r"[a-z0-9]+", n.lower())))
            )
            best = ann.assign(o=overlap).sort_values("o", ascending=False, kind="stable").head(3)
            for _, a in best.iterrows():
                ev = f" [{a['evidence']}]" if a["evidence"] else ""
                cites.append(f"{a['go_id']} {a['name']}{ev} ({a['source']})")
        return cites

    def build_dense_index(self) -> None:
        """Build (or load) the dense embedding index of every passage kind now, instead
        of on the first ``hybrid`` / ``dense`` search or verification; it is cached beside
        the store (see ``docs/knowledge.md`` for the measured cost)."""
        for kind in KINDS:
            self._index.dense(kind)

    def verify(self, claim: str, *, n_terms: int = 3, mode: Mode = "hybrid"):
        """Label a claim about genes ``"supported"`` / ``"contradicted"`` / ``"unknown"``.

        Parameters
        ----------
        claim
            E.g. ``"KLF1 regulates erythroid differentiation"``, ``"TP53 activates
            CDKN1A"``, ``"INS, GCG and SST share function hormone secretion"``.
        n_terms
            Number of GO terms the function phrase is matched to.
        mode
            Retrieval mode for that matching (see :meth:`search`).

        Returns
        -------
        Verdict
            ``label``, ``evidence`` (passages with citations), ``score``, ``genes``,
            ``terms``; the method is described in :mod:`virtualcell.knowledge._verify`.
        """
        from ._verify import verify_claim

        return verify_claim(self, claim, n_terms=n_terms, mode=mode)
