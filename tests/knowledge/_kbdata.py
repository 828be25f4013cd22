"""A tiny knowledge base written in the real source formats (go_2022 extract layout, NCBI
gene_info, TRRUST, Lambert TF list, GMT), used by the fixtures in conftest.py and by tests that need the expected values."""

from __future__ import annotations

import gzip
from pathlib import Path

GO_TERMS = [
    ("GO:0008150", "BP", "biological_process", "A biological process."),
    (
        "GO:0030154",
        "BP",
        "cell differentiation",
        "The process whereby a cell acquires specialized features.",
    ),
    (
        "GO:0030218",
        "BP",
        "erythrocyte differentiation",
        "The process in which a myeloid precursor cell acquires the features of an erythrocyte, a red blood cell.",
    ),
    (
        "GO:0045646",
        "BP",
        "regulation of erythrocyte differentiation",
        "Any process that modulates erythrocyte differentiation.",
    ),
    (
        "GO:0045648",
        "BP",
        "positive regulation of erythrocyte differentiation",
        "Any process that activates erythrocyte differentiation.",
    ),
    (
        "GO:0046879",
        "BP",
        "hormone secretion",
        "The regulated release of a hormone into the circulatory system.",
    ),
    (
        "GO:0030073",
        "BP",
        "insulin secretion",
        "The regulated release of proinsulin from secretory granules in pancreatic beta cells.",
    ),
    (
        "GO:0006915",
        "BP",
        "apoptotic process",
        "A programmed cell death process that begins when a cell receives a death signal.",
    ),
    ("GO:0005634", "CC", "nucleus", "A membrane-bounded organelle containing the chromosomes."),
]
GO_EDGES = [
    ("GO:0030154", "GO:0008150", "isa"),
    ("GO:0030218", "GO:0030154", "isa"),
    ("GO:0045646", "GO:0030218", "regulates"),
    ("GO:0045648", "GO:0045646", "isa"),
    ("GO:0045648", "GO:0030218", "positively regulates"),
    ("GO:0046879", "GO:0008150", "isa"),
    ("GO:0030073", "GO:0046879", "isa"),
    ("GO:0006915", "GO:0008150", "isa"),
]
# symbol, entrez, go_id, evidence, qualifier
ANNOTATIONS = [
    ("KLF1", "10661", "GO:0030218", "IMP", ""),
    ("GATA1", "2623", "GO:0045648", "IDA", ""),
    ("GATA1", "2623", "GO:0005634", "IDA", ""),
    ("INS", "3630", "GO:0030073", "IDA", ""),
    ("GCG", "2641", "GO:0046879", "TAS", ""),
    ("TP53", "7157", "GO:0006915", "IDA", ""),
    ("TP53", "7157", "GO:0005634", "IDA", ""),
    ("BAX", "581", "GO:0006915", "IDA", ""),
    ("MDM2", "4193", "GO:0006915", "IMP", "NOT"),
    ("HBB", "3043", "GO:0030218", "TAS", ""),
    ("NEWSYM1", "999999", "GO:0005634", "IEA", ""),  # a symbol the gene table lacks
]
# symbol, entrez, name, type, ensembl, aliases
GENES = [
    ("KLF1", "10661", "KLF transcription factor 1", "protein-coding", "ENSG00000105610", "EKLF"),
    ("GATA1", "2623", "GATA binding protein 1", "protein-coding", "ENSG00000102145", "ERYF1|NFE1"),
    ("INS", "3630", "insulin", "protein-coding", "ENSG00000254647", "IDDM2"),
    ("GCG", "2641", "glucagon", "protein-coding", "ENSG00000115263", "GLP1"),
    ("TP53", "7157", "tumor protein p53", "protein-coding", "ENSG00000141510", "P53|LFS1"),
    (
        "CDKN1A",
        "1026",
        "cyclin dependent kinase inhibitor 1A",
        "protein-coding",
        "ENSG00000124762",
        "P21|CIP1",
    ),
    ("MDM2", "4193", "MDM2 proto-oncogene", "protein-coding", "ENSG00000135679", "HDM2"),
    (
        "BAX",
        "581",
        "BCL2 associated X, apoptosis regulator",
        "protein-coding",
        "ENSG00000087088",
        "BCL2L4",
    ),
    ("HBB", "3043", "hemoglobin subunit beta", "protein-coding", "ENSG00000244734", "CD113t-C"),
    ("ACTB", "60", "actin beta", "protein-coding", "ENSG00000075624", "BRWS1"),
]
TRRUST = [
    ("TP53", "CDKN1A", "Activation", "10101800;10327058"),
    ("TP53", "MDM2", "Activation", "10566557"),
    ("TP53", "BAX", "Unknown", "12345678"),
    ("KLF1", "HBB", "Activation", "8657147"),
    ("GATA1", "HBB", "Activation", "1234"),
]
GMT = {
    "ERYTHROCYTE_SET": ["KLF1", "GATA1", "HBB"],
    "INSULIN_SET": ["INS", "GCG"],
    "P53_SET": ["TP53", "CDKN1A", "MDM2", "BAX"],
}


def _gz(path: Path, header: list[str], rows: list[tuple]) -> None:
    with gzip.open(path, "wt") as fh:
        fh.write("\t".join(header) + "\n")
        for r in rows:
            fh.write("\t".join(r) + "\n")


def write_sources(root: Path) -> Path:
    """Write the tiny sources under ``root`` (the layout of the reference data)."""
    go = root / "go_2022"
    go.mkdir(parents=True)
    (go / "SOURCE.txt").write_text("Test extract. GO release 2099-01-01 (tiny).\n")
    _gz(
        go / "go_terms.tsv.gz",
        ["go_id", "ontology", "term", "definition"],
        [(a, b, c, d) for a, b, c, d in GO_TERMS],
    )
    ns = {t[0]: t[1] for t in GO_TERMS}
    _gz(
        go / "go_parents.tsv.gz",
        ["go_id", "parent_go_id", "relationship", "ontology"],
        [(c, p, r, ns[c]) for c, p, r in GO_EDGES],
    )
    _gz(
        go / "human_gene_go.tsv.gz",
        ["symbol", "entrez_id", "go_id", "evidence", "ontology", "qualifier"],
        [(s, e, g, ev, ns[g], q) for s, e, g, ev, q in ANNOTATIONS],
    )
    _gz(
        go / "human_genes.tsv.gz",
        ["entrez_id", "symbol", "name", "gene_type", "ensembl_ids", "aliases"],
        [(e, s, n, t, ens, al) for s, e, n, t, ens, al in GENES],
    )
    info = root / "gene_info"
    info.mkdir()
    _gz(
        info / "Homo_sapiens.gene_info.gz",
        [
            "#tax_id",
            "GeneID",
            "Symbol",
            "LocusTag",
            "Synonyms",
            "dbXrefs",
            "chromosome",
            "map_location",
            "description",
            "type_of_gene",
            "Other_designations",
        ],
        [
            (
                "9606",
                e,
                s,
                "-",
                al or "-",
                f"Ensembl:{ens}",
                "1",
                "-",
                n,
                t,
                f"{n} designation|{s} other name",
            )
            for s, e, n, t, ens, al in GENES
        ],
    )
    tf = root / "tf_knowledge"
    tf.mkdir()
    (tf / "trrust_rawdata.human.tsv").write_text("".join("\t".join(r) + "\n" for r in TRRUST))
    (tf / "Lambert2018_TF_names_v_1.01.txt").write_text("TF\nKLF1\nGATA1\nTP53\n")
    sets = root / "gene_sets"
    sets.mkdir()
    (sets / "tiny.gmt").write_text(
        "".join(f"{k}\tdesc\t" + "\t".join(v) + "\n" for k, v in GMT.items())
    )
    return root
