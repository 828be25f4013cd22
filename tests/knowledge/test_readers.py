"""Readers of the other source formats, on tiny files in the same formats."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from virtualcell._errors import DataFormatError
from virtualcell.knowledge import _readers as R
from virtualcell.knowledge._sources import registry_files

GOATOOLS = '''"""Data downloaded from NCBI Gene data converted into Python data."""
downloaded = "2016_01_05" # 2 items
import collections as cx
NtData = cx.namedtuple('NtData', 'tax_id GeneID Symbol Aliases description other_designations')
GENEID2NT = {
  1 : NtData(tax_id=9606, GeneID=1, Symbol='A1BG', Aliases='A1B, ABG', description='alpha-1-B glycoprotein', other_designations='HEL-S-163pA|epididymis protein', OMIM=138670),
  7157 : NtData(tax_id=9606, GeneID=7157, Symbol='TP53', Aliases='P53', description="tumor protein p53, it's", other_designations='', OMIM=''),
}
'''


def test_goatools_table(tmp_path):
    p = tmp_path / "genes_NCBI_9606_All.py"
    p.write_text(GOATOOLS)
    df, version = R.read_goatools_ncbi(p)
    assert version == "2016_01_05"
    assert df["symbol"].tolist() == ["A1BG", "TP53"]
    assert df.loc[0, "aliases"] == "A1B|ABG" and df.loc[1, "name"] == "tumor protein p53, it's"
    assert df.loc[0, "description"] == "HEL-S-163pA; epididymis protein"
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(DataFormatError, match="no NtData"):
        R.read_goatools_ncbi(tmp_path / "empty.py")


def test_enrichr_go_library_to_terms(tmp_path):
    p = tmp_path / "GO_Biological_Process_2023"
    p.write_text("Insulin Secretion (GO:0030073)\t\tINS\tGCG\nnot a go set\t\tA\n")
    sets = R.read_gmt(p, "GO_BP")
    terms, ann = R.go_terms_from_gene_sets(sets, "src")
    assert terms.to_dict("records") == [
        {"id": "GO:0030073", "name": "Insulin Secretion", "namespace": "BP", "definition": ""}
    ]
    assert sorted(ann["gene"]) == ["GCG", "INS"] and set(ann["go_id"]) == {"GO:0030073"}


def test_omnipath_signs(tmp_path):
    df = pd.DataFrame(
        {
            "source": ["A", "A", "B", "C"],
            "target": ["X", "Y", "X", "X"],
            "consensus_stimulation": [True, False, True, False],
            "consensus_inhibition": [False, True, True, False],
            "type": ["transcriptional"] * 3 + ["post_translational"],
            "sources": ["CollecTRI", "DoRothEA", "TRRUST", "SIGNOR"],
            "references_stripped": ["1;2", None, "3", "4"],
        }
    )
    df.to_parquet(tmp_path / "omnipath.parquet")
    out = R.read_omnipath(tmp_path / "omnipath.parquet", "OmniPath")
    assert out["sign"].tolist() == [1, -1, 0]
    assert out["source"].tolist() == ["OmniPath:CollecTRI", "OmniPath:DoRothEA", "OmniPath:TRRUST"]


def test_bioconductor_sqlite(tmp_path):
    go = tmp_path / "GO.sqlite"
    with sqlite3.connect(go) as con:
        con.executescript(
            """
            CREATE TABLE go_term (_id INTEGER PRIMARY KEY, go_id TEXT, term TEXT, ontology TEXT, definition TEXT);
            CREATE TABLE go_bp_parents (_id INT, _parent_id INT, relationship_type TEXT);
            CREATE TABLE go_mf_parents (_id INT, _parent_id INT, relationship_type TEXT);
            CREATE TABLE go_cc_parents (_id INT, _parent_id INT, relationship_type TEXT);
            CREATE TABLE metadata (name TEXT, value TEXT);
            INSERT INTO go_term VALUES (1, 'all', 'all', 'universal', 'root'),
              (2, 'GO:0008150', 'biological_process', 'BP', 'd'), (3, 'GO:0030154', 'cell differentiation', 'BP', 'd2');
            INSERT INTO go_bp_parents VALUES (3, 2, 'isa'), (2, 1, 'isa');
            INSERT INTO metadata VALUES ('GOSOURCEDATE', '2022-07-01');
            """
        )
    tabs, ver = R.read_godb_sqlite(go)
    assert ver == "GO 2022-07-01" and tabs["go_terms"]["id"].tolist() == [
        "GO:0008150",
        "GO:0030154",
    ]
    assert tabs["go_edges"].values.tolist()[0] == ["GO:0030154", "GO:0008150", "is_a"]
    org = tmp_path / "org.Hs.eg.sqlite"
    with sqlite3.connect(org) as con:
        con.executescript(
            """
            CREATE TABLE genes (_id INTEGER PRIMARY KEY, gene_id TEXT);
            CREATE TABLE gene_info (_id INT, gene_name TEXT, symbol TEXT);
            CREATE TABLE genetype (_id INT, gene_type TEXT);
            CREATE TABLE alias (_id INT, alias_symbol TEXT);
            CREATE TABLE ensembl (_id INT, ensembl_id TEXT);
            CREATE TABLE go (_id INT, go_id TEXT, evidence TEXT, ontology TEXT);
            CREATE TABLE metadata (name TEXT, value TEXT);
            INSERT INTO genes VALUES (1, '7157');
            INSERT INTO gene_info VALUES (1, 'tumor protein p53', 'TP53');
            INSERT INTO genetype VALUES (1, 'protein-coding');
            INSERT INTO alias VALUES (1, 'TP53'), (1, 'P53'), (1, 'LFS1');
            INSERT INTO ensembl VALUES (1, 'ENSG00000141510');
            INSERT INTO go VALUES (1, 'GO:0006915', 'IDA', 'BP');
            INSERT INTO metadata VALUES ('EGSOURCEDATE', '2022-Sep12'), ('GOSOURCEDATE', '2022-07-01');
            """
        )
    tabs, ver = R.read_orgdb_sqlite(org, "org.Hs.eg.db")
    g = tabs["genes"].iloc[0]
    assert (g["symbol"], g["aliases"], g["entrez"], g["type"]) == (
        "TP53",
        "P53|LFS1",
        "7157",
        "protein-coding",
    )
    assert tabs["annotations"].iloc[0][["gene", "go_id", "evidence"]].tolist() == [
        "TP53",
        "GO:0006915",
        "IDA",
    ]
    assert "2022-Sep12" in ver


def test_bad_gmt(tmp_path):
    (tmp_path / "x.gmt").write_text("only_one_field\n")
    with pytest.raises(DataFormatError, match="line 1"):
        R.read_gmt(tmp_path / "x.gmt")


def test_registry_files_found_without_import():
    import sys

    files = registry_files()
    if "goatools_ncbi_human" not in files:
        pytest.skip("goatools not installed")
    assert files["goatools_ncbi_human"].name == "genes_NCBI_9606_All.py"
    assert "goatools.test_data" not in sys.modules
