"""Gene-identifier harmonisation with real symbols, aliases, Ensembl and Entrez IDs."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from virtualcell._errors import ValidationError
from virtualcell.data import gene_table, harmonize_genes


def test_table_is_compact_and_complete():
    table = gene_table()
    assert list(table.columns) == ["symbol", "entrez", "ensembl", "aliases", "type"]
    assert len(table) > 60_000
    row = table.set_index("symbol").loc["TP53"]
    assert row["entrez"] == "7157"
    assert "ENSG00000141510" in row["ensembl"].split("|")


@pytest.mark.parametrize(
    ("given", "expected", "rule"),
    [
        ("TP53", "TP53", "symbol"),
        ("ENSG00000141510", "TP53", "ensembl"),
        ("ENSG00000141510.17", "TP53", "ensembl"),  # version suffix stripped
        ("7157", "TP53", "entrez"),
        ("GeneID:672", "BRCA1", "entrez"),
        ("MLL", "KMT2A", "alias"),  # previous symbol
        ("SEPT7", "SEPTIN7", "alias"),
        ("C10orf10", "DEPP1", "alias"),
        ("Cd3e", "CD3E", "symbol_case"),
        ("HLA-A", "HLA-A", "symbol"),
    ],
)
def test_single_identifiers(given, expected, rule):
    report = harmonize_genes([given])
    assert report.mapped == [expected]
    assert report.rules == [rule]


def test_ambiguous_alias_is_unmapped_and_reported():
    report = harmonize_genes(["TAZ"])  # alias of TAFAZZIN and WWTR1
    assert report.mapped == [None]
    assert report.ambiguous == {"TAZ": ["TAFAZZIN", "WWTR1"]}
    assert report.unmapped == ["TAZ"]


def test_current_symbol_wins_over_alias():
    # symbols that are also another gene's alias must map to themselves
    table = gene_table()
    aliases = table["aliases"].str.split("|").explode()
    symbols = set(table["symbol"])
    both = sorted(set(aliases) & symbols)
    assert both, "table should contain symbols that are also someone's alias"
    report = harmonize_genes(both[:50])
    assert report.mapped == both[:50]


def test_collision_keeps_exact_symbol_and_reports():
    report = harmonize_genes(["p53", "TP53", "ENSG00000141510", "CD4"])
    assert report.mapped == [None, "TP53", None, "CD4"]
    assert report.collisions == {"TP53": ["TP53", "p53", "ENSG00000141510"]}
    assert report.new_names == ["p53", "TP53", "ENSG00000141510", "CD4"]
    assert report.n_mapped == 2 and report.n_unmapped == 2


def test_to_ensembl_and_entrez():
    assert harmonize_genes(["TP53"], to="ensembl").mapped == ["ENSG00000141510"]
    assert harmonize_genes(["MLL"], to="entrez").mapped == ["4297"]


def test_anndata_inplace_renames_and_keeps_input():
    adata = ad.AnnData(
        X=np.ones((2, 4), dtype=np.float32),
        var=pd.DataFrame(index=["MLL", "TP53", "NOT_A_GENE", "ENSG00000105329"]),
    )
    report = harmonize_genes(adata, inplace=True)
    assert adata.var_names.tolist() == ["KMT2A", "TP53", "NOT_A_GENE", "TGFB1"]
    assert adata.var["gene_input"].tolist() == ["MLL", "TP53", "NOT_A_GENE", "ENSG00000105329"]
    assert adata.uns["vc"]["gene_mapping"]["n_mapped"] == 3
    assert report.renamed == {"MLL": "KMT2A", "ENSG00000105329": "TGFB1"}
    assert "3/4 mapped" in report.summary()


def test_not_inplace_leaves_anndata_untouched_and_key_column():
    adata = ad.AnnData(
        X=np.ones((1, 2), dtype=np.float32),
        var=pd.DataFrame({"gene_ids": ["GeneID:7157", "GeneID:672"]}, index=["a", "b"]),
    )
    report = harmonize_genes(adata, gene_key="gene_ids")
    assert report.mapped == ["TP53", "BRCA1"]
    assert adata.var_names.tolist() == ["a", "b"]


def test_errors_are_clear():
    with pytest.raises(ValidationError, match="not supported"):
        harmonize_genes(["Actb"], species="mouse")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="inplace"):
        harmonize_genes(["TP53"], inplace=True)
    with pytest.raises(ValidationError, match="no column"):
        harmonize_genes(ad.AnnData(np.ones((1, 1))), gene_key="gene_ids")


def test_coverage_on_wu2020():
    from virtualcell.datasets import wu2020

    pytest.importorskip("scanpy")
    adata = wu2020()
    report = harmonize_genes(adata)
    assert report.n_input == 30727
    assert report.coverage > 0.8
