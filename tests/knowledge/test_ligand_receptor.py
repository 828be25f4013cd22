"""The knowledge base's ligand -> receptor table: readers, build, accessor, old stores."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from virtualcell._errors import DataFormatError
from virtualcell.knowledge import build, ligand_receptor_pairs
from virtualcell.knowledge import load as kb_open
from virtualcell.knowledge._readers import read_lr_pairs
from virtualcell.knowledge._sources import registry_files

# LIANA's omni_resource.csv layout: an index column, UniProt ids, symbols, resource name
_LIANA = (
    '"","source","target","source_genesymbol","target_genesymbol","resource"\n'
    '"1","P1","P2","TGFB1","TGFBR1_TGFBR2","consensus"\n'
    '"2","P3","P4","CXCL12","CXCR4","consensus"\n'
    '"3","P3","P4","CXCL12","CXCR4","consensus"\n'
    '"4","P5","P6","WNT5A","FZD5","cellchatdb"\n'
)


def test_read_liana_resource_keeps_consensus_rows(tmp_path):
    p = tmp_path / "omni_resource.csv"
    p.write_text(_LIANA)
    df = read_lr_pairs(p, "LIANA consensus")
    assert list(df.columns) == ["ligand", "receptor", "source"]
    assert df[["ligand", "receptor"]].values.tolist() == [
        ["TGFB1", "TGFBR1_TGFBR2"],
        ["CXCL12", "CXCR4"],
    ]  # duplicate dropped, non-consensus resource left out
    every = read_lr_pairs(p, "all", resource=None)
    assert len(every) == 3


def test_read_plain_table_and_missing_column(tmp_path):
    p = tmp_path / "my_ligand_receptor.tsv"
    p.write_text("ligand\treceptor\nA\tB\n\tC\n")
    assert read_lr_pairs(p, "mine")[["ligand", "receptor"]].values.tolist() == [["A", "B"]]
    bad = tmp_path / "bad_ligand_receptor.csv"
    bad.write_text("from,to\nA,B\n")
    with pytest.raises(DataFormatError, match="lacks column"):
        read_lr_pairs(bad, "bad")


def test_build_stores_pairs_and_accessor_reads_them(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "omni_resource.csv").write_text(_LIANA)
    out = tmp_path / "kb.sqlite"
    stats = build(src, out=out, include_defaults=False)
    assert stats.counts["lr_pairs"] == 2
    pairs = ligand_receptor_pairs(out)
    assert pairs[["ligand", "receptor"]].values.tolist() == [
        ["TGFB1", "TGFBR1_TGFBR2"],
        ["CXCL12", "CXCR4"],
    ]
    assert set(pairs["source"]) == {"LIANA consensus"}
    with kb_open(out) as kb:  # an open store is accepted as well
        pd.testing.assert_frame_equal(ligand_receptor_pairs(kb), pairs)


def test_store_without_the_table_gets_a_one_line_error(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "omni_resource.csv").write_text(_LIANA)
    out = tmp_path / "kb.sqlite"
    build(src, out=out, include_defaults=False)
    with sqlite3.connect(out) as con:
        con.execute("DROP TABLE lr_pairs")
    with pytest.raises(DataFormatError, match=r"no ligand-receptor table.*vcell kb build"):
        ligand_receptor_pairs(out)


def test_installed_liana_resource_is_found():
    path = registry_files().get("liana_lr")
    if path is None:
        pytest.skip("liana is not installed (make install adds it, --no-deps)")
    df = read_lr_pairs(path, "LIANA consensus")
    assert len(df) > 1000 and {"CXCL12", "TGFB1"} <= set(df["ligand"])
