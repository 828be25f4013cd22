"""The design adapter: a cell equals ``vc.design.run_screen`` on a fresh environment,
baselines flagged as ``vc.design.POLICIES`` flags them, the presets' screens, the local
agent's applicability, and the task in the table."""

from __future__ import annotations

import pytest

import virtualcell as vc
from virtualcell.bench import TASKS, RunContext, _design


@pytest.fixture(scope="module")
def small():
    ds = {d.name: d for d in _design.datasets("quick", None) if "quick" in d.presets}
    assert list(ds) == ["sim_knockout_small"]
    data = ds["sim_knockout_small"].load()
    assert data.facts["budget"] == "3 rounds x 5" and data.facts["candidates"] == 50
    return data


@pytest.mark.parametrize("method", ["random", "agent_scripted"])
def test_design_cell_equals_a_fresh_run_screen(small, method):
    import virtualcell.agent  # noqa: F401  (registers the agent policy)

    for seed in (1, 0):  # seed 0's environment is the loader's cached one
        rows = _design.run(small, split="sim_knockout", method=method, seed=seed, options={},
                           context=RunContext())  # fmt: skip
        got = {r["metric"]: r["value"] for r in rows}
        assert list(got) == [m.name for m in _design.METRICS]
        if method == "agent_scripted":
            policy = vc.agent.AgentPolicy(backend="expert", seed=seed, kb=None)
        else:
            policy = vc.design.make_policy(method, seed=seed)
        env = vc.design.make_env("sim_knockout", seed=seed, **_design.ENV_QUICK)
        want = vc.design.run_screen(env, policy, seed=seed)
        assert got == {"hit_rate": want.hit_rate, "discovery_auc": want.auc,
                       "hits": float(want.hits)}  # fmt: skip
        assert 0 <= got["hit_rate"] <= 1 and got["hits"] == pytest.approx(
            got["hit_rate"] * want.n_true_hits
        )


def test_design_methods_datasets_and_applicability(small):
    import virtualcell.agent  # noqa: F401  (the LLM policy must not become a method)

    methods = {m.name: m for m in _design.methods()}
    non_llm = set(vc.design.POLICIES.names()) - {"agent"}
    assert set(methods) == non_llm | {"agent_scripted", "agent_local"}
    assert {n for n, m in methods.items() if m.baseline} == set(
        vc.design.POLICIES.names(baseline=True)) == {"random", "prior"}  # fmt: skip
    assert methods["agent_local"].presets == ("full",)
    assert "demo" in methods["agent_scripted"].presets
    demo = {d.name for d in _design.datasets("demo", None) if "demo" in d.presets}
    assert demo == {"sim_knockout_100"}
    full = {d.name: d for d in _design.datasets("full", None) if "full" in d.presets}
    assert set(full) == {"sim_knockout_100", "sim_knockout", "sim_program", "sim_pairs",
                         "dream4"}  # fmt: skip
    assert full["dream4"].source == "reference"
    assert _design.datasets("demo", vc.bench.UserData("x.h5ad")) == []
    assert _design.applicable(small, "sim_knockout", "agent_local")
    assert _design.applicable(small, "sim_knockout", "agent_scripted") is None
    dream = _design.DesignScreen("dream4", {})
    assert _design.applicable(dream, "dream4", "agent_local") is None


def test_design_task_is_registered():
    assert "design" in TASKS.names()
    assert TASKS.get("design").primary.name == "hit_rate"
