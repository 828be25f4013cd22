"""Build the compact human gene-identifier table shipped with virtualcell.

Output: ``src/virtualcell/data/resources/human_genes.tsv.gz`` with columns
``symbol, entrez, ensembl (|-separated), aliases (|-separated), type``; lines starting
with ``#`` describe the sources.

Inputs (public files; any subset of the optional ones may be given)
-------------------------------------------------------------------
--genes      ``human_genes.tsv.gz`` extracted from Bioconductor ``org.Hs.eg.db``
             (columns entrez_id, symbol, name, gene_type, ensembl_ids, aliases). This is
             the primary, most recent source of current symbols.
--gene-info  NCBI ``Homo_sapiens.gene_info.gz`` (optional): adds its synonyms and Ensembl
             cross-references; where its (older) symbol differs from the current symbol of
             the same Entrez ID, that older symbol is added as an alias (previous symbol).
--ensembl    Ensembl ``Homo_sapiens.GRCh38.*.entrez.tsv.gz`` (optional): gene -> Entrez
             cross-references (adds Ensembl IDs).

Example::

    python scripts/build_gene_table.py \\
        --genes "$VIRTUALCELL_DATA/knowledge/go_2022/human_genes.tsv.gz" \\
        --gene-info "$VIRTUALCELL_DATA/knowledge/gene_info/Homo_sapiens.gene_info.gz" \\
        --ensembl "$VIRTUALCELL_DATA/knowledge/gene_info/Homo_sapiens.GRCh38.101.entrez.tsv.gz"

Genes of type ``biological-region`` (regulatory regions, not transcribed genes) are left
out to keep the table small.
"""

from __future__ import annotations

import argparse
import gzip
from collections import defaultdict
from pathlib import Path

import pandas as pd

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "virtualcell"
    / "data"
    / "resources"
    / "human_genes.tsv.gz"
)


def _split(value: object) -> list[str]:
    if not isinstance(value, str) or value in {"", "-"}:
        return []
    return [v.strip() for v in value.split("|") if v.strip() and v.strip() != "-"]


def build(genes: Path, gene_info: Path | None, ensembl: Path | None) -> pd.DataFrame:
    base = pd.read_csv(genes, sep="\t", dtype=str).fillna("")
    base = base[base["gene_type"] != "biological-region"]
    symbols: dict[str, str] = dict(zip(base["entrez_id"], base["symbol"], strict=True))
    types = dict(zip(base["entrez_id"], base["gene_type"], strict=True))
    ens: dict[str, set[str]] = defaultdict(set)
    aliases: dict[str, set[str]] = defaultdict(set)
    for eid, e_ids, als in zip(
        base["entrez_id"], base["ensembl_ids"], base["aliases"], strict=True
    ):
        ens[eid].update(_split(e_ids))
        aliases[eid].update(_split(als))
    if gene_info is not None:
        info = pd.read_csv(gene_info, sep="\t", dtype=str).fillna("")
        for eid, sym, syn, xrefs in zip(
            info["GeneID"], info["Symbol"], info["Synonyms"], info["dbXrefs"], strict=True
        ):
            if eid not in symbols:
                continue
            aliases[eid].update(_split(syn))
            if sym and sym != symbols[eid]:
                aliases[eid].add(sym)  # previous symbol of the same gene
            for x in _split(xrefs):
                if x.startswith("Ensembl:"):
                    ens[eid].add(x.split(":", 1)[1])
    if ensembl is not None:
        table = pd.read_csv(
            ensembl, sep="\t", dtype=str, usecols=["gene_stable_id", "xref", "db_name"]
        )
        table = table[table["db_name"] == "EntrezGene"].drop_duplicates(["gene_stable_id", "xref"])
        for gid, eid in zip(table["gene_stable_id"], table["xref"], strict=True):
            if eid in symbols:
                ens[eid].add(gid)
    rows = []
    for eid, sym in symbols.items():
        als = sorted(a for a in aliases[eid] if a != sym)
        rows.append(
            {
                "symbol": sym,
                "entrez": eid,
                "ensembl": "|".join(sorted(ens[eid])),
                "aliases": "|".join(als),
                "type": types[eid],
            }
        )
    return pd.DataFrame(rows).sort_values("symbol", kind="stable").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--genes", type=Path, required=True)
    parser.add_argument("--gene-info", type=Path)
    parser.add_argument("--ensembl", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    table = build(args.genes, args.gene_info, args.ensembl)
    sources = [f"genes={args.genes.name}"]
    if args.gene_info:
        sources.append(f"gene_info={args.gene_info.name}")
    if args.ensembl:
        sources.append(f"ensembl={args.ensembl.name}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", compresslevel=9) as handle:
        handle.write("# virtualcell human gene-identifier table (format 1)\n")
        handle.write(f"# built by scripts/build_gene_table.py from: {', '.join(sources)}\n")
        handle.write(
            "# sources: Bioconductor org.Hs.eg.db 3.16 (NCBI Gene 2022-09-12, Ensembl 2022-06-28); NCBI gene_info; Ensembl\n"
        )
        table.to_csv(handle, sep="\t", index=False)
    print(f"wrote {len(table)} genes to {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
