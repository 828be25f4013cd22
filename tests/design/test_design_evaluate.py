"""vc.design.evaluate: screen results in the evaluation contract."""

from __future__ import annotations

import pytest

import virtualcell as vc


def test_evaluate_puts_screens_in_the_contract(tiny_knockout):
    results = [
        vc.design.run_screen(
            tiny_knockout, vc.design.make_policy(p, seed=0), rounds=2, batch=3, seed=0
        )
        for p in ("random", "prior")
    ]
    res = vc.design.evaluate(results)
    assert isinstance(res, vc.metrics.EvalResult) and res.task == "design"
    t = res.table
    assert len(t) == 6 and set(t["metric"]) == {"hit_rate", "discovery_auc", "hits"}
    assert set(t["unit"]) == {"screen"} and set(t["dataset"]) == {"sim_knockout"}
    assert t.groupby("method")["baseline"].first().to_dict() == {"prior": True, "random": True}
    for r in results:
        assert res.value(r.policy, "hit_rate") == pytest.approx(r.hit_rate)
        assert res.value(r.policy, "discovery_auc") == pytest.approx(r.auc)
        assert res.value(r.policy, "hits") == r.hits
    assert [d["policy"] for d in res["results"]] == ["random", "prior"]
    assert len(vc.design.evaluate(results[0]).table) == 3
    with pytest.raises(vc.ValidationError, match="no screen results"):
        vc.design.evaluate([])
