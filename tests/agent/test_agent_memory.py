"""Memory of verified runs: only verified runs are stored, the most similar one comes back
as a worked example (never the same question), the store is a versioned JSON file, and
the CLI lists, exports and clears it."""

from __future__ import annotations

import json

import pytest

import virtualcell as vc
from virtualcell.agent import Agent, ScriptedBackend, Workspace
from virtualcell.agent._memory import Memory

CALL = '{"tool": "tf_targets", "args": {"tf": "KLF1"}}'


def _run(kb, tmp_path, replies, question, memory, name="ws"):
    backend = ScriptedBackend(replies)
    agent = Agent(backend, kb=kb, workspace=Workspace(tmp_path / name), plan=False,
                  memory=memory)  # fmt: skip
    return agent.run(question), backend


def test_only_verified_runs_are_stored(kb, tmp_path):
    mem = Memory(tmp_path / "mem.json")
    q = "Name a target gene regulated by the transcription factor KLF1."
    ans, _ = _run(kb, tmp_path, [CALL, '{"answer": "KLF1 activates HBB."}'], q, mem)
    assert ans.verification == "verified" and ans.remembered and len(mem) == 1
    # an unsupported answer (removed by the verifier) is not stored
    bad, _ = _run(kb, tmp_path, [CALL, '{"answer": "KLF1 activates INS."}'], q, mem, "ws2")
    assert bad.verification != "verified" and not bad.remembered and len(mem) == 1
    # an answer without any tool call is not stored either
    none, _ = _run(kb, tmp_path, ['{"answer": "KLF1 activates HBB."}'], q, mem, "ws3")
    assert not none.remembered and len(mem) == 1
    rec = json.loads((tmp_path / "mem.json").read_text())
    assert rec["version"] == 1 and rec["runs"][0]["calls"][0]["tool"] == "tf_targets"
    assert rec["runs"][0]["answer"] == "KLF1 activates HBB." and rec["runs"][0]["citations"]
    assert Memory(tmp_path / "mem.json").runs == mem.runs  # reloads from disk


def test_similar_run_is_shown_as_worked_example_never_the_same_question(kb, tmp_path):
    mem = Memory(tmp_path / "mem.json")
    q1 = "Name a target gene regulated by the transcription factor KLF1."
    _run(kb, tmp_path, [CALL, '{"answer": "KLF1 activates HBB."}'], q1, mem)
    q2 = "Name a target gene regulated by the transcription factor GATA1."
    _, backend = _run(kb, tmp_path, ['{"answer": "x"}'], q2, mem, "ws2")
    first = backend.calls[0]
    assert first[1] == {"role": "user", "content": first[1]["content"]}
    assert "KLF1" in first[1]["content"] and CALL.replace(" ", "") in first[2]["content"].replace(
        " ", ""
    )
    assert first[-1]["content"].startswith(f"Question: {q2}")
    # the same question is never its own example (no recall of a stored instance)
    assert mem.similar(q1) == []
    _, again = _run(kb, tmp_path, ['{"answer": "x"}'], q1, mem, "ws3")
    assert len(again.calls[0]) == 2  # system + question only


def test_memory_file_errors_and_cli(kb, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 99, "runs": []}')
    with pytest.raises(vc.ValidationError, match="version-1"):
        Memory(bad)
    from typer.testing import CliRunner

    from virtualcell.cli import app

    mem = Memory(tmp_path / "mem.json")
    _run(kb, tmp_path, [CALL, '{"answer": "KLF1 activates HBB."}'],
         "Name a target of the transcription factor KLF1.", mem)  # fmt: skip
    runner = CliRunner()
    path = str(tmp_path / "mem.json")
    res = runner.invoke(app, ["agent", "memory", "list", "--path", path, "--json"])
    assert res.exit_code == 0 and len(json.loads(res.stdout)["runs"]) == 1
    out = tmp_path / "export.json"
    res = runner.invoke(app, ["agent", "memory", "export", "--path", path, "--out", str(out)])
    assert res.exit_code == 0 and json.loads(out.read_text())["runs"] == mem.runs
    res = runner.invoke(app, ["agent", "memory", "clear", "--path", path])
    assert res.exit_code == 0 and "removed 1" in res.stdout
    assert Memory(tmp_path / "mem.json").runs == []
    from virtualcell.cli import main

    assert main(["agent", "memory", "list", "--path", str(bad)]) == 2


def test_bench_memory_rounds_need_an_llm(kb, tmp_path):
    with pytest.raises(vc.ValidationError, match="LLM backend"):
        vc.agent.run_benchmark("scripted", kb=kb, folder=tmp_path, rounds=2)


@pytest.mark.parametrize(
    "question, kind",
    [
        ("Name a target gene regulated by the transcription factor KLF1.", "gene"),
        ("Which genes does KLF1 regulate?", "gene"),
        ("What pathway do these genes share: A, B, C?", "process"),
        ("Name one biological process that the gene TP53 is involved in.", "process"),
        ("How many distinct cell types are in the data?", "number"),
        ("Which cluster expresses GATA1 the most?", "group"),
        ("Is the claim 'TP53 activates CDKN1A' supported, contradicted or unknown?", "verdict"),
        # the last thing asked wins
        ("Find the perturbation that changes X most, then name a process of its targets.",
         "process"),
        ("Tell me about KLF1.", None),
    ],
)  # fmt: skip
def test_asked_kind_reads_the_last_thing_asked(question, kind):
    from virtualcell.agent._evidence import asked_kind

    assert asked_kind(question) == kind


def test_off_question_answer_is_not_stored_even_when_verified(kb, tmp_path):
    """A supported GO process is not an answer to "name a target gene": the run is
    verified (its claim is supported) but its evidence does not give a gene, so it is not
    remembered; the on-question run is."""
    mem = Memory(tmp_path / "mem.json")
    q = "Name a target gene regulated by the transcription factor KLF1."
    call = '{"tool": "go_annotations", "args": {"gene": "KLF1"}}'
    off, _ = _run(kb, tmp_path, [call, '{"answer": "KLF1 is involved in erythrocyte '
                  'differentiation (GO:0030218)."}'], q, mem)  # fmt: skip
    assert off.verification == "verified"
    assert off.evidence.startswith("no result of a gene-giving tool")
    assert not off.remembered and len(mem) == 0
    on, _ = _run(kb, tmp_path, [CALL, '{"answer": "KLF1 activates HBB."}'], q, mem, "ws2")
    assert on.evidence == "checked" and on.remembered and len(mem) == 1
    assert json.loads((tmp_path / "mem.json").read_text())["runs"][0]["evidence"] == "checked"


def test_check_evidence_needs_the_answer_in_a_result_of_the_asked_kind():
    from virtualcell.agent._evidence import check_evidence

    q = "Name a target gene regulated by the transcription factor KLF1."
    calls = [{"tool": "tf_targets", "ok": True, "observation": "target: HBB, GATA1"}]
    kinds = {"tf_targets": "gene"}
    assert check_evidence(q, "HBB", calls, kinds) == "checked"
    assert check_evidence(q, "INS", calls, kinds).startswith("no result")  # not in the result
    assert check_evidence(q, "KLF1", calls, kinds).startswith("the answer adds nothing")
    failed = [{**calls[0], "ok": False}]
    assert check_evidence(q, "HBB", failed, kinds).startswith("no result")
    assert check_evidence("Tell me about KLF1.", "HBB", calls, kinds).startswith("the question")
    # a short label (a cluster "c3") is an item; a word of the question is not
    cq = "Which cluster (obs column 'cluster') expresses G19 the most?"
    table = [{"tool": "expression_by_group", "ok": True, "observation": "group c3 c1 c2"}]
    assert check_evidence(cq, "c3", table, {"expression_by_group": "group"}) == "checked"
    assert check_evidence(cq, "cluster", table, {"expression_by_group": "group"}) != "checked"
    v = "Is the claim 'KLF1 activates HBB' supported, contradicted or unknown?"
    verdict = [{"tool": "verify_claim", "ok": True, "observation": "label: supported"}]
    assert check_evidence(v, "supported", verdict, {"verify_claim": "verdict"}) == "checked"
