"""Policies and the closed loop: valid proposals, no repeats, seeded, the runner's
checks and the result's numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import virtualcell as vc
from virtualcell import ValidationError
from virtualcell.design import History, run_screen

POLICIES = ["random", "prior", "active_ucb", "active_thompson", "active_ei"]


@pytest.mark.parametrize("name", POLICIES)
def test_policy_runs_a_screen(tiny_knockout, name):
    res = run_screen(tiny_knockout, name, rounds=3, batch=3, seed=0)
    flat = [p for r in res.proposals for p in r]
    assert len(flat) == 9 and len(set(flat)) == 9  # unmeasured candidates, no repeats
    assert set(flat) <= set(tiny_knockout.candidates)
    assert len(res.curve) == 3 and np.all(np.diff(res.curve) >= 0)
    assert res.hit_rate == res.curve[-1] == res.hits / res.n_true_hits
    assert res.hits == len(set(flat) & set(tiny_knockout.hits))
    assert res.auc == pytest.approx(np.mean(res.curve))
    d = res.to_dict()
    assert {"env", "policy", "hit_rate", "hits", "curve"} <= set(d)
    json.dumps(d)  # serialisable


def test_random_is_seeded(tiny_knockout):
    a = run_screen(tiny_knockout, "random", rounds=2, batch=4, seed=0)
    b = run_screen(tiny_knockout, "random", rounds=2, batch=4, seed=0)
    assert a.proposals == b.proposals


def test_prior_ranks_by_the_network(tiny_knockout):
    pol = vc.design.make_policy("prior", seed=0)
    scores = pol.scores(tiny_knockout.view())
    res = run_screen(tiny_knockout, pol, rounds=1, batch=5, seed=0)
    assert set(res.proposals[0]) == set(scores.sort_values(ascending=False).index[:5])
    assert res.notes["prior_source"] == "inferred"  # synthetic gene names: not in the KB


def test_active_surrogate_uses_the_virtual_cell(tiny_knockout):
    pol = vc.design.ActivePolicy(acquisition="ucb", seed=0)
    history = History(tiny_knockout.view())
    history.rounds.append(tiny_knockout.candidates[:6])
    history.add(*tiny_knockout.measure(tiny_knockout.candidates[:6], round=1))
    table = pol.surrogate(history)
    assert len(table) == 24 and {"mu", "sigma", "virtual_cell", "prior"} <= set(table)
    assert (table["sigma"] > 0).all()  # bootstrap ensemble: uncertainty everywhere
    assert table["virtual_cell"].notna().all()


def test_pair_screen_with_active_learning(tiny_pairs):
    """Every round proposes ``batch`` new gene pairs among the candidates, and the hits
    counted are exactly the true hits among them."""
    res = run_screen(tiny_pairs, "active_thompson", rounds=2, batch=3, seed=0)
    proposed = [p for r in res.proposals for p in r]
    assert [len(r) for r in res.proposals] == [3, 3] and len(set(proposed)) == 6
    assert all("+" in p for p in proposed) and set(proposed) <= set(tiny_pairs.candidates)
    assert res.found == [p for p in proposed if p in set(tiny_pairs.hits)]
    assert res.hits == len(res.found) and res.n_true_hits == len(tiny_pairs.hits)
    assert res.n_measured == 6 and len(res.curve) == 2


class _Bad:
    name = "bad"

    def __init__(self, reply):
        self.reply = reply

    def propose(self, history, budget):
        return self.reply(history, budget)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (lambda h, b: h.remaining()[: b + 1], "proposed 4 perturbations; the batch is 3"),
        (lambda h, b: ["NOT_A_GENE"], "not candidates"),
        (lambda h, b: [h.remaining()[0]] * 2, "more than once"),
        (lambda h, b: "G01", "list of labels"),
    ],
)
def test_runner_refuses_bad_proposals(tiny_knockout, reply, match):
    with pytest.raises(ValidationError, match=match):
        run_screen(tiny_knockout, _Bad(reply), rounds=1, batch=3)


def test_repeats_are_replicates_or_refused(tiny_knockout):
    first = tiny_knockout.candidates[:2]
    same = _Bad(lambda h, b: list(first))
    res = run_screen(tiny_knockout, same, rounds=2, batch=2)
    assert res.n_measured == 2  # measured twice, counted once
    with pytest.raises(ValidationError, match="re-proposed"):
        run_screen(tiny_knockout, _Bad(lambda h, b: list(first)), rounds=2, batch=2,
                   repeats="refuse")  # fmt: skip


def test_compare_and_summarize(tiny_options):
    TINY = tiny_options
    results = vc.design.compare(["sim_knockout"], ["random", "prior"], seeds=[0, 1], rounds=2,
                                batch=3, env_options={"sim_knockout": TINY})  # fmt: skip
    table = vc.design.summarize(results)
    assert list(table["policy"]) == ["random", "prior"]
    assert (table["n_seeds"] == 2).all()
    rnd = table.set_index("policy").loc["random"]
    assert rnd["ratio_vs_random"] == pytest.approx(1.0) or rnd["hit_rate"] == 0
    with pytest.raises(ValidationError):
        vc.design.summarize([])


def test_policy_table_is_filled_by_design_alone():
    import virtualcell.agent  # noqa: F401  (importing a higher layer registers nothing)

    assert vc.design.POLICIES.names() == sorted(POLICIES)
    for name in POLICIES:
        assert isinstance(vc.design.make_policy(name, seed=0), vc.design.Policy), name
    with pytest.raises(ValidationError, match=r"vc\.agent\.AgentPolicy"):
        vc.design.make_policy("agent")
    with pytest.raises(TypeError, match="abstract"):
        type("NoPropose", (vc.design.Policy,), {})()


def test_bad_policy_options():
    with pytest.raises(ValidationError, match="acquisition"):
        vc.design.ActivePolicy(acquisition="greedy")
    with pytest.raises(ValidationError, match="unknown"):
        vc.design.ActivePolicy(predictor="no_such_model")
    with pytest.raises(ValidationError, match="unknown design policy"):
        vc.design.make_policy("nope")
