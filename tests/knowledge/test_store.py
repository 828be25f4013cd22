from __future__ import annotations

import hashlib
import sqlite3

import pytest
from _kbdata import ANNOTATIONS, GENES, GMT, GO_EDGES, GO_TERMS, TRRUST

from virtualcell._errors import DataFormatError, DatasetNotAvailableError, ValidationError
from virtualcell.knowledge import FORMAT_VERSION, build
from virtualcell.knowledge import load as kb_open


def test_build_counts_and_provenance(tiny_sources, tmp_path):
    stats = build(tiny_sources, out=tmp_path / "kb.sqlite", include_defaults=False)
    assert stats.counts == {
        "genes": len(GENES),
        "go_terms": len(GO_TERMS),
        "go_edges": len(GO_EDGES),
        "annotations": len(ANNOTATIONS),
        "tfs": 3,
        "tf_targets": len(TRRUST),
        "gene_sets": len(GMT),
        "lr_pairs": 0,
    }
    assert stats.path.exists() and stats.bytes == stats.path.stat().st_size
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no temporary left behind
    by_name = {s["path"].rsplit("/", 1)[-1]: s for s in stats.sources}
    trrust = tiny_sources / "tf_knowledge" / "trrust_rawdata.human.tsv"
    assert by_name[trrust.name]["sha256"] == hashlib.sha256(trrust.read_bytes()).hexdigest()
    assert by_name["go_terms.tsv.gz"]["version"].startswith("GO 2099-01-01")
    with sqlite3.connect(stats.path) as con:
        meta = dict(con.execute("SELECT key, value FROM meta"))
    assert meta["format_version"] == str(FORMAT_VERSION)


def test_open_errors(tmp_path, tiny_kb_path):
    with pytest.raises(DatasetNotAvailableError, match="vcell kb build"):
        kb_open(tmp_path / "missing.sqlite")
    bad = tmp_path / "old.sqlite"
    bad.write_bytes(tiny_kb_path.read_bytes())
    with sqlite3.connect(bad) as con:
        con.execute("UPDATE meta SET value = '0' WHERE key = 'format_version'")
    with pytest.raises(DataFormatError, match="format 0"):
        kb_open(bad)
    with pytest.raises(DataFormatError, match="does not exist"):
        build(tmp_path / "nope", out=tmp_path / "x.sqlite", include_defaults=False)


def test_failed_build_keeps_old_store(tiny_kb_path, tmp_path):
    out = tmp_path / "kb.sqlite"
    out.write_bytes(tiny_kb_path.read_bytes())
    before = out.read_bytes()
    broken = tmp_path / "broken"
    (broken / "go").mkdir(parents=True)
    (broken / "go" / "go_terms.tsv.gz").write_bytes(b"not gzip")
    with pytest.raises(DataFormatError):
        build(broken, out=out, include_defaults=False, overwrite=True)
    assert out.read_bytes() == before


def test_gene_record_and_aliases(tiny_kb):
    g = tiny_kb.gene("p53")  # alias, lower case
    assert g.symbol == "TP53" and g.entrez == "7157" and g.ensembl == ["ENSG00000141510"]
    assert g.is_tf and set(g.aliases) == {"P53", "LFS1"}
    # description comes from NCBI gene_info, filled into the GO-extract gene table
    assert "tumor protein p53 designation" in g.description
    assert set(g.targets["target"]) == {"CDKN1A", "MDM2", "BAX"}
    assert set(g.go["go_id"]) == {"GO:0006915", "GO:0005634"}
    assert tiny_kb.resolve("EKLF") == "KLF1" and tiny_kb.resolve("nosuchgene") is None
    with pytest.raises(ValidationError, match="NOSUCH"):
        tiny_kb.gene("NOSUCH")
    # annotated under a symbol missing from the gene table: annotations still reachable
    assert tiny_kb.go_annotations("NEWSYM1")["go_id"].tolist() == ["GO:0005634"]
    with pytest.raises(ValidationError, match="NEWSYM1"):
        tiny_kb.gene("NEWSYM1")


def test_propagation(tiny_kb):
    direct = tiny_kb.go_annotations("GATA1")
    assert set(direct["go_id"]) == {"GO:0045648", "GO:0005634"}
    up = tiny_kb.go_annotations("GATA1", propagate=True)
    # is_a ancestors only: regulation terms do not propagate to the regulated process
    assert set(up["go_id"]) == {"GO:0045648", "GO:0045646", "GO:0005634"}
    assert up.set_index("go_id").loc["GO:0045646", "via"] == "GO:0045648"
    klf1 = set(tiny_kb.go_annotations("KLF1", propagate=True)["go_id"])
    assert klf1 == {"GO:0030218", "GO:0030154", "GO:0008150"}
    # NOT annotations are excluded from term -> genes and do not propagate
    assert tiny_kb.genes_for_term("GO:0006915") == ["BAX", "TP53"]
    assert tiny_kb.genes_for_term("GO:0030154") == ["HBB", "KLF1"]
    assert tiny_kb.genes_for_term("GO:0030154", propagate=False) == []
    assert tiny_kb.ancestors("GO:0030073") == {"GO:0046879", "GO:0008150"}
    assert tiny_kb.descendants("GO:0008150") >= {"GO:0030218", "GO:0030073"}


def test_regulators_and_sets(tiny_kb):
    r = tiny_kb.regulators("HBB")
    assert set(r["tf"]) == {"KLF1", "GATA1"} and set(r["sign"]) == {1}
    assert tiny_kb.targets("TP53").set_index("target").loc["BAX", "sign"] == 0
    assert tiny_kb.gene_sets("tiny")["INSULIN_SET"] == ["INS", "GCG"]
    assert tiny_kb.tfs() == ["GATA1", "KLF1", "TP53"]
    with pytest.raises(ValidationError, match="no gene-set library"):
        tiny_kb.gene_sets("nope")
