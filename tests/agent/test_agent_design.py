"""The LLM design policy (``vc.agent.AgentPolicy``) on a tiny simulated screen, offline:
the scripted expert (calls the virtual cell, proposes its top rows), a scripted backend
with a fixed reply (parsing, validation, the random fill), and the local LLM (slow)."""

from __future__ import annotations

import json

import pytest

import virtualcell as vc
from virtualcell import ValidationError
from virtualcell.agent import AgentPolicy, ScriptedBackend, parse_candidates

TINY = {"n_genes": 30, "truth_cells": 50, "observational_cells": 100, "control_cells": 50,
        "cells": 20}  # fmt: skip


@pytest.fixture(scope="module")
def screen():
    return vc.design.make_env("sim_knockout", seed=0, **TINY)


def test_agent_is_a_design_policy():
    # a vc.design.Policy, passed as an object: importing vc.agent adds nothing to the table
    assert isinstance(AgentPolicy(backend="expert", kb=None), vc.design.Policy)
    assert "agent" not in vc.design.POLICIES
    with pytest.raises(ValidationError, match="AgentPolicy"):
        vc.design.make_policy("agent", backend="expert", kb=None)


def test_expert_agent_calls_the_virtual_cell(screen):
    pol = AgentPolicy(backend="expert", kb=None, seed=0)
    res = vc.design.run_screen(screen, pol, rounds=2, batch=3, seed=0)
    assert res.policy == "agent"
    rounds = res.notes["rounds"]
    assert [r["tool_calls"] for r in rounds] == [["predict_candidates"]] * 2
    assert all(r["from_model"] == 3 and r["filled"] == 0 for r in rounds)
    assert all(t > 0 for t in res.prompt_tokens) and all(t > 0 for t in res.completion_tokens)
    # the expert proposes what the virtual cell ranks first
    hist = vc.design.History(screen.view())
    top = vc.design.predict_candidates(hist, top=3)
    assert res.proposals[0] == list(top.index)


def test_scripted_reply_is_parsed_validated_and_filled(screen):
    c = screen.candidates
    reply = json.dumps({"answer": f"{c[4]}, NOT_A_GENE, {c[7]}, {c[4]}"})
    pol = AgentPolicy(backend=ScriptedBackend(replies=[reply]), kb=None, seed=0)
    res = vc.design.run_screen(screen, pol, rounds=1, batch=4, seed=0)
    batch = res.proposals[0]
    assert batch[:2] == [c[4], c[7]] and len(set(batch)) == 4
    assert res.notes["rounds"][0]["from_model"] == 2
    assert res.notes["rounds"][0]["filled"] == 2


def test_a_model_that_names_nothing_gets_a_random_batch(screen):
    pol = AgentPolicy(backend=ScriptedBackend(replies=['{"answer": "no idea"}']), kb=None)
    res = vc.design.run_screen(screen, pol, rounds=1, batch=3, seed=0)
    assert len(res.proposals[0]) == 3
    assert res.notes["rounds"][0]["from_model"] == 0


def test_fill_from_the_virtual_cell(screen):
    pol = AgentPolicy(backend=ScriptedBackend(replies=['{"answer": ""}']), kb=None,
                      fill="model")  # fmt: skip
    res = vc.design.run_screen(screen, pol, rounds=1, batch=3, seed=0)
    top = vc.design.predict_candidates(vc.design.History(screen.view()), top=3)
    assert res.proposals[0] == list(top.index)


def test_parse_candidates():
    allowed = ["A+B", "C", "D"]
    assert parse_candidates("try B + A, then c? no: C and D, D", allowed) == ["A+B", "C", "D"]
    assert parse_candidates("C D A+B", allowed, limit=2) == ["C", "D"]
    assert parse_candidates("", allowed) == []


def test_bad_agent_options():
    with pytest.raises(ValidationError, match="fill"):
        AgentPolicy(backend="expert", fill="best")
    with pytest.raises(ValidationError, match="max_steps"):
        AgentPolicy(backend="expert", max_steps=0)


@pytest.mark.slow
def test_local_llm_agent_one_round(screen):
    pol = AgentPolicy(backend="local", kb=None, seed=0, max_steps=2)
    res = vc.design.run_screen(screen, pol, rounds=1, batch=3, seed=0)
    assert len(res.proposals[0]) == 3
    assert res.prompt_tokens[0] > 0 and res.completion_tokens[0] > 0
