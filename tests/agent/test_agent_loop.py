"""The plan-act-verify loop with a scripted LLM: tools, verification, budgets, parsing,
provenance log and replay."""

from __future__ import annotations

import json

import pytest

import virtualcell as vc
from virtualcell.agent import Agent, ScriptedBackend, Workspace, parse_action, replay


def _agent(kb, replies, tmp_path, **kw):
    ws = Workspace(tmp_path / "ws")
    return Agent(
        ScriptedBackend(replies), kb=kb, workspace=ws, log_path=tmp_path / "log.jsonl", **kw
    )


def test_loop_calls_tools_and_verifier_removes_unsupported_claims(kb, tmp_path):
    replies = [
        "1. tf_targets for KLF1\n2. answer",
        '{"tool": "tf_targets", "args": {"tf": "KLF1"}}',
        json.dumps(
            {
                "answer": "KLF1 activates HBB. KLF1 activates INS. "
                "KLF1 is involved in erythrocyte differentiation (GO:0030218). "
                "MDM2 is involved in apoptotic process."
            }
        ),
    ]
    ans = _agent(kb, replies, tmp_path).run("Which genes does KLF1 regulate?")
    assert ans.stopped == "answer" and ans.n_valid_calls == 1 and ans.n_actions == 1
    assert ans.calls[0]["tool"] == "tf_targets" and ans.calls[0]["handle"] == "r1"
    labels = {c.sentence: (c.label, c.action) for c in ans.claims}
    assert labels["KLF1 activates HBB."] == ("supported", "kept")
    assert labels["KLF1 activates INS."] == ("unsupported", "removed")  # no such edge
    assert labels["MDM2 is involved in apoptotic process."] == ("contradicted", "removed")  # NOT
    assert "INS" not in ans.answer and "MDM2" not in ans.answer
    assert ans.answer.startswith("KLF1 activates HBB [1].")
    assert any("PMID:8657147" in c for c in ans.citations)
    assert any(c.startswith("GO:0030218 erythrocyte differentiation [IMP]") for c in ans.citations)
    text = ans.transcript()
    assert (
        "VERIFY [unsupported, removed] KLF1 activates INS." in text
        and "PLAN: 1. tf_targets" in text
    )


def test_flag_mode_keeps_marked_claims(kb, tmp_path):
    replies = ["plan", json.dumps({"answer": "KLF1 activates INS."})]
    ans = _agent(kb, replies, tmp_path, on_unsupported="flag").run("q")
    assert ans.answer == "KLF1 activates INS. [unverified: unsupported]"


def test_workspace_results_support_data_claims(kb, tmp_path):
    import anndata as ad
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(90, 4)).astype(np.float32)
    labels = ["control"] * 30 + ["G1"] * 30 + ["G2"] * 30
    X[30:60, 3] += 20  # knocking out G1 moves G4 a lot
    adata = ad.AnnData(
        X, obs=pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(90)])
    )
    adata.var_names = ["G1", "G2", "G3", "G4"]
    ws = Workspace(tmp_path / "ws")
    ws.put(adata, name="data")
    replies = [
        "plan",
        '{"tool": "perturbation_effects", "args": {"adata": "data", "gene": "G4"}}',
        '{"answer": "G1 changes G4 the most. G2 changes G3 the most."}',
    ]
    ans = Agent(ScriptedBackend(replies), kb=kb, workspace=ws).run("Which perturbation changes G4?")
    kept = [c for c in ans.claims if c.action == "kept"]
    assert [c.sentence for c in kept] == ["G1 changes G4 the most."]
    assert kept[0].source == "workspace:r1" and "perturbation_effects" in ans.citations[0]
    top = ws.get("r1")
    assert top.iloc[0]["perturbation"] == "G1" and top.iloc[0]["delta"] > 0.5  # log1p scale


def test_budgets_stop_the_loop_and_ask_for_an_answer(kb, tmp_path):
    replies = [
        "plan",
        '{"tool": "tf_targets", "args": {"tf": "TP53"}}',
        '{"tool": "tf_regulators", "args": {"gene": "HBB"}}',
        '{"answer": "TP53 activates CDKN1A."}',
    ]
    ans = _agent(kb, replies, tmp_path, max_steps=2).run("q")
    assert ans.stopped == "max_steps" and ans.n_valid_calls == 2
    assert ans.answer == "TP53 activates CDKN1A [1]."
    ans = _agent(
        kb,
        ["plan", '{"tool": "tf_targets", "args": {"tf": "TP53"}}', '{"answer": "x"}'],
        tmp_path,
        max_tokens=1,
    ).run("q")
    assert (
        ans.stopped == "max_tokens"
        and ans.n_actions == 0
        and ans.answer == "No answer: the token budget was used up."
    )


def test_invalid_replies_are_repaired_a_bounded_number_of_times(kb, tmp_path):
    replies = [
        "plan",
        "I think we should look it up",
        '{"tool": "no_such_tool"}',
        "{'tool': 'tf_targets', 'args': {'tf': 'KLF1',}}",  # python quotes + trailing comma
        '{"answer": "KLF1 activates HBB."}',
    ]
    agent = _agent(kb, replies, tmp_path)
    ans = agent.run("q")
    assert ans.n_actions == 3 and ans.n_valid_calls == 1 and ans.stopped == "answer"
    obs = [m["content"] for m in agent.backend.calls[3] if m["role"] == "user"]
    assert "error: unknown tool 'no_such_tool'" in obs[-1]
    many = ["plan", *["nonsense"] * 10]
    ans = _agent(kb, many, tmp_path, max_repairs=2).run("q")
    assert ans.stopped == "invalid_replies" and ans.n_actions == 3


@pytest.mark.parametrize(
    ("text", "kind", "tool", "args"),
    [
        (
            '```json\n{"tool": "kb_search", "args": {"query": "x"}}\n```',
            "call",
            "kb_search",
            {"query": "x"},
        ),
        (
            'Sure! {"name": "gene_info", "arguments": "{\\"symbol\\": \\"TP53\\"}"}',
            "call",
            "gene_info",
            {"symbol": "TP53"},
        ),
        ('{"tool": "go_term", "go_id": "GO:0030218"}', "call", "go_term", {"go_id": "GO:0030218"}),
        ('{"tool": "tf_targets", "args": {"tf": "KLF1"', "call", "tf_targets", {"tf": "KLF1"}),
        ("{'answer': 'KLF1 activates HBB', }", "answer", "", {}),
    ],
)
def test_tolerant_parsing(text, kind, tool, args):
    a = parse_action(text)
    assert (a.kind, a.tool, a.arguments) == (kind, tool, args)


def test_parse_errors_are_one_line():
    assert parse_action("").error.startswith("empty reply")
    assert "no JSON object" in parse_action("hello").error
    assert "names no" in parse_action('{"x": 1}').error


def test_provenance_log_and_replay(kb, tmp_path):
    replies = [
        "1. tf_targets",
        '{"tool": "tf_targets", "args": {"tf": "TP53"}}',
        '{"tool": "gene_info", "args": {"symbol": "CDKN1A"}}',
        '{"answer": "TP53 activates CDKN1A. TP53 activates HBB."}',
    ]
    ans = _agent(kb, replies, tmp_path).run("What does TP53 activate?")
    records = vc.agent.read_log(tmp_path / "log.jsonl")
    events = [r["event"] for r in records]
    assert events[0] == "start" and events[-1] == "answer" and events.count("prompt") == 4
    assert events.count("call") == 2 and "verify" in events
    calls = [r for r in records if r["event"] == "call"]
    assert calls[0]["arguments"] == {"tf": "TP53"} and len(calls[0]["digest"]) == 16
    assert all("t" in r and "i" in r for r in records)
    prompt = next(r for r in records if r["event"] == "prompt")
    assert (
        prompt["messages"][0]["role"] == "system"
        and "tf_targets(tf: str)" in prompt["messages"][0]["content"]
    )
    report = replay(tmp_path / "log.jsonl", kb=kb)
    assert report.ok and report.calls == 2 and report.answer == ans.answer
    # a tampered log is caught
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    tampered = [json.loads(x) for x in lines]
    for r in tampered:
        if r["event"] == "call":
            r["digest"] = "0" * 16
            break
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tampered))
    bad = replay(tmp_path / "bad.jsonl", kb=kb)
    assert not bad.ok and "recorded digest 0000000000000000" in bad.mismatches[0]


def test_repeated_call_is_not_rerun(kb, tmp_path):
    call = '{"tool": "tf_targets", "args": {"tf": "TP53"}}'
    ans = _agent(kb, ["plan", call, call, '{"answer": "ok"}'], tmp_path).run("q")
    assert ans.n_valid_calls == 1 and ans.calls[1]["observation"].startswith("already done: r1")


def test_gene_presence_in_a_result_does_not_support_a_process_claim(kb, tmp_path):
    replies = [
        "plan",
        '{"tool": "tf_targets", "args": {"tf": "KLF1"}}',
        '{"answer": "KLF1 is involved in insulin secretion. KLF1 regulates HBB."}',
    ]
    ans = _agent(kb, replies, tmp_path).run("q")
    assert [(c.sentence, c.action) for c in ans.claims] == [
        ("KLF1 is involved in insulin secretion.", "removed"),
        ("KLF1 regulates HBB.", "kept"),
    ]


def test_vcell_agent_replay(kb, agent_kb_path, tmp_path, capsys):
    from virtualcell.cli import main

    replies = [
        "plan",
        '{"tool": "tf_targets", "args": {"tf": "KLF1"}}',
        '{"answer": "KLF1 regulates HBB."}',
    ]
    _agent(kb, replies, tmp_path).run("q")
    assert (
        main(["agent", "replay", str(tmp_path / "log.jsonl"), "--kb", str(agent_kb_path), "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["calls"] == 1 and out["answer"] == "KLF1 regulates HBB [1]."


def test_without_a_store_knowledge_tools_are_listed_and_say_how_to_build_one(tmp_path, monkeypatch):
    from virtualcell import settings

    monkeypatch.setattr(settings, "data_dir", None)  # no reference data to build from
    assert vc.agent.open_kb() is None
    tb = vc.agent.Toolbox(Workspace(tmp_path))
    assert "kb_search" in tb.names()
    res = tb.call("kb_search", {"query": "insulin"})
    assert res.observation == (
        "error: kb_search: no knowledge store is open; build one with `vcell kb build` (or pass --kb PATH)"
    )


def test_default_store_is_built_from_reference_data(shared_data):
    from virtualcell.knowledge import default_path

    assert not default_path().exists()
    store = vc.agent.open_kb()
    try:
        assert default_path().exists() and store.counts["tf_targets"] > 9000
    finally:
        store.close()


def test_transcript_from_log(kb, tmp_path):
    replies = [
        "1. tf_targets",
        "not json",
        '{"tool": "tf_targets", "args": {"tf": "KLF1"}}',
        '{"answer": "KLF1 activates HBB. KLF1 activates INS."}',
    ]
    _agent(kb, replies, tmp_path).run("Which genes does KLF1 regulate?")
    text = vc.agent.transcript_from_log(tmp_path / "log.jsonl").splitlines()
    assert text[0].startswith("QUESTION: Which genes does KLF1 regulate?  [backend: scripted]")
    assert text[1] == "PLAN: 1. tf_targets" and text[2] == "MODEL: not json"
    assert text[3].startswith("  CALL (none) -> error: no JSON object")
    i = text.index("DRAFT: KLF1 activates HBB. KLF1 activates INS.")
    assert (
        text[i + 2]
        == "VERIFY [unsupported, removed] KLF1 activates INS. (no knowledge-base or workspace evidence)"
    )
    assert text[i + 3] == "ANSWER: KLF1 activates HBB [1]."


def test_a_verify_claim_result_that_echoes_the_claim_is_not_evidence(kb, tmp_path):
    """verify_claim's output names the claim's genes and words ("no X->Y edge"); the
    verifier must not count that echo as workspace support."""
    replies = [
        "1. verify the claim",
        '{"tool": "verify_claim", "args": {"claim": "KLF1 activates INS"}}',
        '{"answer": "KLF1 activates INS."}',
    ]
    ans = _agent(kb, replies, tmp_path).run("Does KLF1 activate INS?")
    assert [(c.sentence, c.action) for c in ans.claims] == [("KLF1 activates INS.", "removed")]
    assert "INS" not in ans.answer


def test_kb_search_passages_side_by_side_are_not_evidence(kb, tmp_path):
    """A search for "KLF1 insulin secretion" returns KLF1's record and the GO term in one
    result; their co-occurrence must not support "KLF1 is involved in insulin secretion"."""
    replies = [
        "1. search",
        '{"tool": "kb_search", "args": {"query": "KLF1 insulin secretion", "mode": "lexical"}}',
        '{"answer": "KLF1 is involved in insulin secretion."}',
    ]
    ans = _agent(kb, replies, tmp_path).run("Is KLF1 involved in insulin secretion?")
    assert [(c.sentence, c.action) for c in ans.claims] == [
        ("KLF1 is involved in insulin secretion.", "removed")
    ]
