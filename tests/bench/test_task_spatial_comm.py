"""The communication adapter: a cell equals ``vc.spatial.evaluate_communication`` on the
section simulated for its seed, the methods and baselines of the registry, the presets'
sections, and the task in the table."""

from __future__ import annotations

import pytest

import virtualcell as vc
from virtualcell.bench import TASKS, RunContext, _spatial_comm


@pytest.fixture(scope="module")
def small():
    ds = {d.name: d for d in _spatial_comm.datasets("quick", None) if "quick" in d.presets}
    assert list(ds) == ["tissue_small"]
    data = ds["tissue_small"].load()
    assert data.facts["cells"] == 600 and data.facts["candidate pairs"] == 6
    return data


def test_cell_equals_evaluate_on_the_seeds_section(small):
    for seed in (1, 0):  # seed 0's section is the loader's cached one
        rows = _spatial_comm.run(small, split="all", method="coexpression", seed=seed,
                                 options={}, context=RunContext())  # fmt: skip
        got = {r["metric"]: r["value"] for r in rows}
        assert list(got) == ["auprc", "auroc"]
        opts = dict(_spatial_comm.TISSUE_QUICK)
        adata = vc.sim.simulate_tissue(opts.pop("grn"), seed=seed, **opts)
        want = vc.spatial.evaluate_communication(adata, methods=["coexpression"], baselines=False)
        assert got == {
            "auprc": want.value("coexpression", "auprc"),
            "auroc": want.value("coexpression", "auroc"),
        }
        assert 0 < got["auprc"] <= 1


def test_method_options_reach_the_method(small):
    rows = _spatial_comm.run(small, split="all", method="permutation", seed=0,
                             options={"n_perm": 20}, context=RunContext())  # fmt: skip
    assert 0 < rows[0]["value"] <= 1
    with pytest.raises(vc.ValidationError, match="takes no option 'n_perm'"):
        _spatial_comm.run(small, split="all", method="coexpression", seed=0,
                          options={"n_perm": 20}, context=RunContext())  # fmt: skip


def test_methods_datasets_and_registration():
    methods = {m.name: m for m in _spatial_comm.methods()}
    assert set(methods) == set(vc.spatial.COMMUNICATION_METHODS.names())
    assert {n for n, m in methods.items() if m.baseline} == {"permutation", "coexpression"}
    assert methods["permutation"].options_for("quick") == {"n_perm": 200}
    assert methods["response"].options_for("demo") == {"n_perm": 1000}
    demo = {d.name for d in _spatial_comm.datasets("demo", None) if "demo" in d.presets}
    assert demo == {"tissue_1k"}
    full = {d.name for d in _spatial_comm.datasets("full", None) if "full" in d.presets}
    assert full == {"tissue_5k"}
    assert _spatial_comm.datasets("demo", vc.bench.UserData("x.h5ad")) == []
    assert "spatial_communication" in TASKS.names()
    assert TASKS.get("spatial_communication").primary.name == "auprc"
