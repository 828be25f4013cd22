"""Filled calls (``agent/_fill.py``): only tools whose required arguments exist are offered,
only those arguments, each an enum of existing values; answers are result values. The
property that matters: a schema-valid call is an executable one (tested with a random
model that samples every branch of the schema)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell.agent._fill import (
    _arg_schema,
    answer_values,
    can_fill,
    fill_context,
    offered,
)


def _adata():
    ad = pytest.importorskip("anndata")
    obs = pd.DataFrame(
        {"cluster": ["c1", "c2"] * 10, "library_size": np.arange(20.0)},
        index=[f"cell{i}" for i in range(20)],
    )
    var = pd.DataFrame(index=["GATA1", "KLF1", "HBB"])
    return ad.AnnData(np.ones((20, 3), dtype=np.float32), obs=obs, var=var)


def test_values_come_from_the_question_and_the_data(kb, tmp_path):
    ws = vc.agent.Workspace(tmp_path / "ws")
    ws.put(_adata(), name="data")
    tb = vc.agent.Toolbox(ws, kb=kb)
    q = (
        "In the data (handle 'data'), is the claim 'KLF1 activates HBB' supported? "
        "Edges: KLF1->HBB, GATA1->KLF1. Also TP53 and the word THE."
    )
    fill = fill_context(q, ws, kb, tb.tools)
    assert fill.of("gene")[:4] == ["KLF1", "HBB", "GATA1", "TP53"]
    assert "THE" not in fill.of("gene") and "data" not in fill.of("phrase")
    assert fill.of("phrase") == ["KLF1 activates HBB"]
    assert fill.of("edges") == [["KLF1->HBB", "GATA1->KLF1"]]
    assert fill.of("obs_column") == ["cluster"]  # numeric columns are not groupings
    assert fill.of("genes") == [["KLF1", "HBB", "GATA1", "TP53"]]
    assert fill.answers == []  # nothing computed yet: nothing to answer with
    # a group must be a level of the grouping column chosen with it
    s = offered([tb.tools["describe_cluster"]], fill)["describe_cluster"]
    (only,) = s["anyOf"]
    assert only["properties"]["groupby"] == {"const": "cluster"}
    assert only["properties"]["group"] == {"enum": ["c1", "c2"]}


def test_only_fillable_tools_with_only_required_arguments(kb, tmp_path):
    ws = vc.agent.Workspace(tmp_path / "ws")
    tb = vc.agent.Toolbox(ws, kb=kb)
    fill = fill_context("Which genes does KLF1 regulate?", ws, kb, tb.tools)
    args = offered([tb.tools[n] for n in tb.names()], fill)
    assert args["tf_targets"]["properties"] == {"tf": {"type": "string", "enum": ["KLF1"]}}
    assert set(args["go_annotations"]["properties"]) == {"gene"}  # `propagate` left out
    # no data set: no tool that needs an AnnData; no path: no read_data; no quote: no claim
    for name in ("count_cell_types", "perturbation_effects", "read_data", "verify_claim"):
        assert name not in args
    # a tool that needs a GO id may be shown (results can add one) but is not offered yet
    assert can_fill(tb.tools["go_term"], fill) and "go_term" not in args
    assert not can_fill(tb.tools["read_data"], fill)
    ws.put(_adata(), name="data")
    ws.put(pd.DataFrame({"a": [1]}), name="table")
    fill = fill_context("How many cell types are in the data?", ws, kb, tb.tools)
    args = offered([tb.tools["count_cell_types"]], fill)
    assert args["count_cell_types"]["properties"]["adata"]["enum"] == ["data"]  # not "table"


def test_after_a_result_calls_build_on_it_and_answers_are_result_values(kb, tmp_path):
    ws = vc.agent.Workspace(tmp_path / "ws")
    tb = vc.agent.Toolbox(ws, kb=kb)
    q = "Name a target gene regulated by the transcription factor TP53."
    assert tb.call("tf_targets", {"tf": "TP53"}).ok
    fill = fill_context(q, ws, kb, tb.tools)
    targets = [str(t) for t in ws.results["r1"].value["target"]]
    assert len(targets) == 3 and fill.answers == targets and "TP53" not in fill.answers
    chained = offered(
        [tb.tools[n] for n in ("tf_targets", "gene_info", "enrich")], fill, chain=True
    )
    assert set(chained["gene_info"]["properties"]["symbol"]["enum"]) <= set(targets)
    assert "TP53" not in chained["gene_info"]["properties"]["symbol"]["enum"]
    # its gene column, by reference (every row: see the test below)
    assert chained["enrich"]["properties"]["genes"] == {"const": "r1.target"}
    assert tb.prepare("enrich", {"genes": "r1.target"})[1]["genes"] == targets
    assert chained["tf_targets"]["properties"]["tf"]["enum"] == targets  # not TP53 again


def _many_genes(n):
    ad = pytest.importorskip("anndata")
    genes = [f"G{i:03d}" for i in range(n)]
    return genes, ad.AnnData(np.ones((2, n), dtype=np.float32), var=pd.DataFrame(index=genes))


def test_a_result_gene_column_is_passed_whole_not_its_first_rows(kb, tmp_path):
    # a TF with 40 targets: a chained enrich gets all 40 (it got the first 25 before)
    genes, adata = _many_genes(40)
    ws = vc.agent.Workspace(tmp_path / "ws")
    ws.put(adata, name="data")
    tb = vc.agent.Toolbox(ws, kb=kb)
    table = pd.DataFrame({"target": genes, "sign": ["+"] * 40})
    ws.add_result("tf_targets", {"tf": "G999"}, table)
    fill = fill_context("Which process do the targets of G999 share?", ws, kb, tb.tools)
    s = offered([tb.tools["enrich"]], fill, chain=True)["enrich"]["properties"]["genes"]
    ref = s["const"]
    assert tb.prepare("enrich", {"genes": ref})[1]["genes"] == genes
    # a parameter that takes no reference gets the genes written out (bounded)
    tool = tb.tools["evaluate_grn"]
    written = _arg_schema(tool, "genes", tool.schema["properties"]["genes"], fill, chain=True)
    assert written == {"const": genes[:25]}


def test_a_chained_gene_list_is_the_latest_results(kb, tmp_path):
    # perturbations -> targets -> enrich: the targets, not the perturbations
    genes, adata = _many_genes(8)
    ws = vc.agent.Workspace(tmp_path / "ws")
    ws.put(adata, name="data")
    tb = vc.agent.Toolbox(ws, kb=kb)
    ws.add_result("perturbation_effects", {}, pd.DataFrame({"perturbation": genes[:4]}))
    ws.add_result("tf_targets", {"tf": genes[0]}, pd.DataFrame({"target": genes[4:]}))
    fill = fill_context("Which process is enriched?", ws, kb, tb.tools)
    first, last = fill.of("genes")
    assert first.endswith(".perturbation") and last.endswith(".target")
    s = offered([tb.tools["enrich"]], fill, chain=True)["enrich"]["properties"]["genes"]
    assert s == {"const": last}


def test_a_question_gene_list_is_kept_whole(kb, tmp_path):
    genes, adata = _many_genes(30)
    ws = vc.agent.Workspace(tmp_path / "ws")
    ws.put(adata, name="data")
    tb = vc.agent.Toolbox(ws, kb=kb)
    q = f"What process do these genes share: {', '.join(genes)}?"
    assert fill_context(q, ws, kb, tb.tools).of("genes") == [genes]  # before: the first 25


def test_answer_values_by_result_type():
    df = pd.DataFrame({"perturbation": ["A", "B", "C", "D"], "z": [3.0, 2.0, 1.0, 0.5]})
    assert answer_values(df) == ["A", "B", "C"]
    assert answer_values({"n_clusters": 3, "silhouette": {2: 0.1}}) == ["3"]
    from virtualcell.agent._toolset import _bp_terms, _supported_edges

    go = pd.DataFrame(
        {
            "go_id": ["GO:1", "GO:2", "GO:3"],
            "name": ["binding", "apoptotic process", "cell death"],
            "namespace": ["MF", "BP", "BP"],
            "via": ["", "", "GO:2"],
        }
    )
    assert _bp_terms(go) == ["apoptotic process (GO:2)"]  # direct BP annotations only
    edges = pd.DataFrame({"edge": ["A->B", "A->C"], "supported": [False, False]})
    assert _supported_edges(edges) == ["none of the edges is supported"]
    edges["supported"] = [True, True]
    assert _supported_edges(edges) == ["A->B, A->C"]  # one answer value: the whole list


def test_agent_with_filling_sends_filled_schemas_then_only_the_answer(kb, tmp_path):
    replies = ['{"tool": "tf_targets", "args": {"tf": "KLF1"}}', '{"answer": ["HBB"]}']
    backend = vc.agent.ScriptedBackend(replies)
    agent = vc.agent.Agent(backend, kb=kb, workspace=vc.agent.Workspace(tmp_path / "ws"),
                           plan=False, max_tools=5, ground_arguments=True)  # fmt: skip
    ans = agent.run("Name a target gene regulated by the transcription factor KLF1.")
    first, second = backend.schemas
    names = [o["properties"]["tool"]["const"] for o in first["anyOf"] if "tool" in o["properties"]]
    assert "tf_targets" in names and "read_data" not in names
    assert not any("answer" in o["properties"] for o in first["anyOf"])  # nothing to answer yet
    # after the call: the used tool is gone; the answer is a list of result values
    opts = second.get("anyOf", [second])
    answer = next(o for o in opts if "answer" in o["properties"])
    (values,) = answer["properties"]["answer"]["prefixItems"]  # one value of the one result
    assert "HBB" in values["enum"] and "KLF1" not in values["enum"]
    assert answer["properties"]["answer"]["maxItems"] == 1  # no padded list
    assert all(o["properties"].get("tool", {}).get("const") != "tf_targets" for o in opts)
    assert ans.draft == "HBB" and ans.n_valid_calls == 1
    system = backend.calls[0][0]["content"]
    assert "- tf_targets(tf):" in system  # required arguments only in the prompt


def test_random_model_calls_are_executable(kb, tmp_path, tiny):
    """Every call a random model samples from a filled schema validates and runs."""
    pytest.importorskip("llguidance")
    from virtualcell.agent import action_schema

    ws = vc.agent.Workspace(tmp_path / "ws")
    ws.put(_adata(), name="data")
    tb = vc.agent.Toolbox(ws, kb=kb)
    q = "In the data, which cluster expresses KLF1 the most? Is 'KLF1 activates HBB' true?"
    fill = fill_context(q, ws, kb, tb.tools)
    names = ("go_annotations", "tf_targets", "verify_claim", "expression_by_group", "read_data")
    args = offered([tb.tools[n] for n in names], fill)
    assert "read_data" not in args
    schema = action_schema([tb.tools[n] for n in args], args=args, answer=False)
    b = vc.agent.LocalBackend()
    b.load = lambda: tiny  # the random model instead of the GGUF file
    b._path = lambda: __import__("pathlib").Path("tiny.gguf")
    ran = set()
    for seed in range(10):
        text = b.chat([{"role": "user", "content": f"q{seed}"}], max_tokens=80,
                      temperature=1.5, seed=seed, schema=schema).text  # fmt: skip
        obj = json.loads(text)
        res = tb.call(obj["tool"], obj["args"])
        assert res.ok, (obj, res.error)
        ran.add(obj["tool"])
    assert len(ran) >= 2


def test_local_score_is_the_log_probability_of_each_continuation(tiny):
    """Scoring with the reused prompt cache equals a plain full forward pass per option."""
    import torch

    b = vc.agent.LocalBackend()
    b.load = lambda: tiny
    b._path = lambda: __import__("pathlib").Path("tiny.gguf")
    model, tok = tiny
    msgs = [{"role": "user", "content": "which tool?"}]
    conts = ['{"tool":"go_annotations","args":', '{"tool":"tf_targets","args":', '{"answer":[']
    got = b.score(msgs, conts)
    again = b.score(msgs, conts)  # from the kept cache of the same prompt
    prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    n = len(tok(prompt, add_special_tokens=False)["input_ids"])
    for c, lp, lp2 in zip(conts, got, again, strict=True):
        ids = tok(prompt + c, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
        want = sum(float(logp[i - 1, ids[i]]) for i in range(n, len(ids)))
        assert lp == pytest.approx(want, abs=1e-3) and lp2 == pytest.approx(want, abs=1e-3)


class _Scoring(vc.agent.ScriptedBackend):
    """A scripted backend that also scores branches (as the local model does)."""

    def score(self, messages, continuations):
        self.scored = [*getattr(self, "scored", []), list(continuations)]
        return [2.0 if "tf_targets" in c else -1.0 for c in continuations]


def test_the_branch_is_chosen_by_its_whole_probability(kb, tmp_path):
    backend = _Scoring(['{"tool": "tf_targets", "args": {"tf": "KLF1"}}', '{"answer": ["HBB"]}'])
    agent = vc.agent.Agent(backend, kb=kb, workspace=vc.agent.Workspace(tmp_path / "ws"),
                           plan=False, max_tools=5, ground_arguments=True)  # fmt: skip
    agent.run("Name a target gene regulated by the transcription factor KLF1.")
    first = backend.schemas[0]
    assert "anyOf" not in first and first["properties"]["tool"]["const"] == "tf_targets"
    assert '{"tool":"tf_targets","args":' in backend.scored[0]
    mc = agent.steps.actions()[0].model
    assert mc.choices['{"tool":"tf_targets","args":'] == 2.0 and len(mc.choices) >= 2
