"""``vc.text.describe``: a group of cells in words, with citations; and the agent tool."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from _textdata import needs_embedder

import virtualcell as vc
from virtualcell._errors import ValidationError

pytestmark = [pytest.mark.usefixtures("warm_jit"), needs_embedder]

GENES = ["KLF1", "GATA1", "HBB", "INS", "GCG", "TP53", "CDKN1A", "MDM2", "BAX", "ACTB"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The tiny knowledge base of tests/knowledge plus a GO library over its genes."""
    from virtualcell.knowledge import build

    spec = importlib.util.spec_from_file_location(
        "_kbdata", Path(__file__).resolve().parents[1] / "knowledge" / "_kbdata.py"
    )
    kbdata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kbdata)
    root = kbdata.write_sources(tmp_path_factory.mktemp("describe-kb"))
    go = {
        "erythrocyte differentiation (GO:0030218)": ["KLF1", "GATA1", "HBB"],
        "insulin secretion (GO:0030073)": ["INS", "GCG"],
        "apoptotic process (GO:0006915)": ["TP53", "BAX", "CDKN1A", "MDM2"],
    }
    (root / "gene_sets" / "GO_Biological_Process_test.gmt").write_text(
        "".join(f"{k}\t\t" + "\t".join(v) + "\n" for k, v in go.items())
    )
    out = tmp_path_factory.mktemp("describe-kb-out") / "knowledge.sqlite"
    build(root, out=out, include_defaults=False)
    return out


@pytest.fixture
def clusters():
    """90 cells: cluster 'ery' over-expresses KLF1, GATA1, HBB; 'beta' INS, GCG."""
    rng = np.random.default_rng(0)
    group = np.repeat(["ery", "beta", "other"], 30)
    rate = np.full((90, len(GENES)), 2.0)
    rate[group == "ery", :3] *= 10
    rate[group == "beta", 3:5] *= 10
    a = ad.AnnData(sp.csr_matrix(rng.poisson(rate).astype(np.float32)))
    a.var_names = GENES
    a.obs_names = [f"c{i}" for i in range(90)]
    a.obs["leiden"] = group
    return a


def test_describe_cites_markers_processes_and_gene_names(clusters, store):
    d = vc.text.describe(clusters, groupby="leiden", group="ery", kb=store, n_markers=3,
                         ontology=False)  # fmt: skip
    assert set(d.markers["gene"]) == {"KLF1", "GATA1", "HBB"}
    assert d.n_cells == 30 and "30 of 90 cells" in d.text
    assert list(d.processes["go_id"]) == ["GO:0030218"]
    assert "erythrocyte differentiation" in d.text
    # every citation number in the text points into the citation list, and back
    marks = {int(m) for m in __import__("re").findall(r"\[(\d+)\]", d.text)}
    assert marks == set(range(1, len(d.citations) + 1))
    assert any(c.startswith("GO:0030218") for c in d.citations)
    assert any("KLF transcription factor 1" in c for c in d.citations)
    assert d.cell_types.empty  # no ontology, no labels, no model: no candidates
    brief = d.brief()
    assert "KLF1" in brief and "[" in brief and len(brief) <= 700


def test_describe_ranks_given_labels(clusters, store):
    d = vc.text.describe(
        clusters, groupby="leiden", group="ery", kb=store, ontology=False,
        labels=["erythrocyte", "pancreatic beta cell"],
    )  # fmt: skip
    assert d.cell_types["name"].iloc[0] == "erythrocyte"
    assert set(d.cell_types["source"]) == {"label"}


def test_describe_refuses_bad_input(clusters):
    with pytest.raises(ValidationError, match="groupby 'nope'"):
        vc.text.describe(clusters, groupby="nope", group="ery")
    with pytest.raises(ValidationError, match="group 'x' not in"):
        vc.text.describe(clusters, groupby="leiden", group="x")
    with pytest.raises(ValidationError, match="n_markers"):
        vc.text.describe(clusters, groupby="leiden", group="ery", n_markers=0)


def test_agent_tool_describes_a_cluster_with_citations(clusters, store, tmp_path):
    from virtualcell.agent import Toolbox
    from virtualcell.agent._workspace import Workspace
    from virtualcell.knowledge import load as kb_open

    kb = kb_open(store)
    try:
        tb = Toolbox(Workspace(tmp_path), kb=kb)
        assert "describe_cluster" in tb.names()
        schema = tb.get("describe_cluster").to_dict()
        shown = str(schema)
        assert "groupby" in shown and "'kb'" not in shown and "ontology" not in shown
        handle = tb.workspace.put(clusters, name="cells")
        res = tb.call("describe_cluster", {"adata": handle, "groupby": "leiden", "group": "beta"})
        assert res.ok, res.observation
        assert "INS" in res.observation and "GCG" in res.observation
        assert "GO:0030073" in res.observation  # insulin secretion, cited by id
    finally:
        kb.close()
