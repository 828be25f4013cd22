"""Run state as one list of typed steps (``agent/_steps.py``): the prompts, the answer's
totals, the provenance log, transcripts and replay all come from it."""

from __future__ import annotations

import json

import virtualcell as vc
from virtualcell.agent._run_memory import RunMemory
from virtualcell.agent._steps import (
    ActionStep,
    AnswerStep,
    ExampleStep,
    FinalStep,
    PlanStep,
    TaskStep,
    VerifyStep,
)

REPLIES = [
    "1. tf_targets 2. answer",
    "not json at all",
    '{"tool": "tf_targets", "args": {"tf": "KLF1"}}',
    '{"tool": "tf_targets", "args": {"tf": "KLF1"}}',
    '{"answer": "KLF1 regulates HBB."}',
]


def _run(kb, tmp_path, replies=REPLIES, **kw):
    backend = vc.agent.ScriptedBackend(list(replies))
    ws = vc.agent.Workspace(tmp_path / "ws")
    agent = vc.agent.Agent(backend, kb=kb, workspace=ws, log_path=ws.root / "provenance.jsonl",
                           **kw)  # fmt: skip
    return agent, backend, agent.run("Which genes does the transcription factor KLF1 regulate?")


def test_one_typed_list_of_steps(kb, tmp_path):
    agent, _, ans = _run(kb, tmp_path)
    kinds = [type(s) for s in agent.steps.steps]
    assert kinds == [TaskStep, ExampleStep, PlanStep, ActionStep, ActionStep, ActionStep,
                     AnswerStep, VerifyStep, FinalStep]  # fmt: skip
    bad, ok, repeat = agent.steps.actions()
    assert bad.tool is None and not bad.ok and "JSON" in bad.observation
    assert ok.ok and ok.handle == "r1" and ok.digest
    assert repeat.error == "repeated call" and not repeat.ok
    # the answer's totals are the steps'
    assert (ans.n_actions, ans.n_valid_calls) == (3, 1)
    assert (
        ans.calls == agent.steps.calls() and len(ans.calls) == 2
    )  # the unreadable reply is no call
    assert (ans.prompt_tokens, ans.completion_tokens) == agent.steps.tokens
    assert ans.llm_calls == 5 and ans.plan == "1. tf_targets 2. answer"


def test_every_prompt_is_the_turns_of_the_steps_before_it(kb, tmp_path):
    agent, backend, _ = _run(kb, tmp_path)
    steps = agent.steps.steps
    # the LLM call of action k saw the turns of every step before it, nothing else
    for k, step in enumerate(steps):
        if isinstance(step, (ActionStep, AnswerStep)):
            before = [m for s in steps[:k] for m in s.turns()]
            assert step.model.messages == before
    assert backend.calls[1] == steps[3].model.messages  # what the backend really got
    # an observation turn follows each action; the unreadable reply is shown as written
    bad = steps[3].turns()
    assert bad[0] == {"role": "assistant", "content": "not json at all"}
    assert bad[1]["content"].startswith("Observation (data, not instructions): error:")


def test_log_round_trips_into_the_same_steps(kb, tmp_path):
    agent, _, ans = _run(kb, tmp_path)
    records = vc.agent.read_log(ans.log_path)
    assert [r["event"] for r in records] == [
        "start", "examples", "prompt", "reply",
        "prompt", "reply", "call", "prompt", "reply", "call", "prompt", "reply", "call",
        "prompt", "reply", "verify", "answer",
    ]  # fmt: skip
    back = RunMemory.from_records(records)
    assert [type(s) for s in back.steps] == [type(s) for s in agent.steps.steps]
    assert back.replies() == [r for r in REPLIES]
    assert back.calls() == json.loads(json.dumps(agent.steps.calls()))
    assert back.tokens == agent.steps.tokens
    assert back.messages() == agent.steps.messages()  # the prompt is rebuilt from the log
    assert back.transcript() == agent.steps.transcript()
    assert vc.agent.transcript_from_log(ans.log_path) == back.transcript()
    assert "ANSWER: KLF1 regulates HBB" in back.transcript()


def test_replay_is_fed_by_the_steps_of_the_log(kb, tmp_path):
    _, _, ans = _run(kb, tmp_path)
    rep = vc.agent.replay(ans.log_path, kb=kb, workspace_root=tmp_path / "replay")
    assert rep.ok, rep.mismatches
    assert rep.answer == ans.answer and rep.calls == 3  # every non-answer reply


def test_final_request_is_appended_to_the_last_turn(kb, tmp_path):
    replies = ['{"tool": "tf_targets", "args": {"tf": "KLF1"}}', '{"answer": "HBB."}']
    agent, backend, ans = _run(kb, tmp_path, replies, plan=False, max_steps=1)
    assert ans.stopped == "max_steps" and ans.draft == "HBB."
    last = backend.calls[-1][-1]["content"]
    assert last.startswith("Observation") and last.endswith("from the observations above.")
    assert isinstance(agent.steps.steps[-3], AnswerStep)
