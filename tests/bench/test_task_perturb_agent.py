"""The perturbation and agent adapters: a cell equals the library's own evaluation,
baselines flagged as the task modules flag them, applicability, the per-seed cache of
the agent task, and both tasks in the presets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import virtualcell as vc
from virtualcell.bench import TASKS, RunContext, _agent, _grn, _perturb

_KBDATA = Path(__file__).resolve().parents[1] / "knowledge" / "_kbdata.py"


# -- perturb -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim20():
    ds = {d.name: d for d in _perturb.datasets("quick", None)}
    assert set(ds["sim_perturbseq_20"].splits) == set(vc.perturb.TASKS)
    return ds["sim_perturbseq_20"].load()


def test_perturb_cell_equals_vc_perturb_evaluate(sim20):
    report = vc.perturb.evaluate(sim20.source, task="unseen_singles", seed=0, methods=["linear"])
    by_method = {r["method"]: r for r in report["results"]}
    for method in ("linear", "additive"):
        rows = _perturb.run(sim20, split="unseen_singles", method=method, seed=0, options={},
                            context=RunContext())  # fmt: skip
        got = {r["metric"]: r["value"] for r in rows}
        names = {m.name for m in _perturb.METRICS}  # cells: DE overlap too
        if method == "additive":  # unseen genes add nothing: no change, no correlation
            assert np.isnan(by_method[method]["pearson_delta"])
            names -= {"pearson_delta"}
        assert set(got) == names
        want = {k: by_method[method][k] for k in got}
        assert got == pytest.approx(want, nan_ok=False)
    assert np.isfinite(list(got.values())).all()


def test_perturb_peer_scores_a_prediction_file_like_the_method_itself(sim20, tmp_path):
    import anndata as ad
    import pandas as pd

    task = vc.perturb.load_task(sim20.source, task="unseen_singles", seed=0)
    model = vc.perturb.make_predictor("linear", perturbation_type=task.perturbation_type)
    pred = model.fit(task.train).predict(task.conditions, on_unsupported="flag")
    labels = ["control", *pred.obs["perturbation"].astype(str)]
    x = np.vstack([model.data_.control, pred.X])
    path = tmp_path / "linear_predictions.h5ad"
    ad.AnnData(X=x, obs=pd.DataFrame({"condition": labels}, index=[f"p{i}" for i in range(len(x))]),
               var=pd.DataFrame(index=pred.var_names)).write_h5ad(path)  # fmt: skip
    peer = _perturb.peer_method(str(path), name="linear_file", perturbation_key="condition")
    assert peer.peer and peer.options_for("quick")["predictions"] == str(path)
    got = _perturb.run(sim20, split="unseen_singles", method=peer.name, seed=0,
                       options=peer.options_for("quick"), context=RunContext())  # fmt: skip
    own = _perturb.run(sim20, split="unseen_singles", method="linear", seed=0, options={},
                       context=RunContext())  # fmt: skip
    got = {r["metric"]: r["value"] for r in got}
    own = {r["metric"]: r["value"] for r in own}
    assert "de_overlap" not in got  # profiles only: no cells to test
    assert set(got) == set(own) - {"de_overlap"}
    assert got == pytest.approx({k: own[k] for k in got}, rel=1e-4, abs=1e-6)
    short = tmp_path / "short.h5ad"
    ad.AnnData(X=x[:2], obs=pd.DataFrame({"condition": labels[:2]}, index=["a", "b"]),
               var=pd.DataFrame(index=pred.var_names)).write_h5ad(short)  # fmt: skip
    with pytest.raises(vc.ValidationError, match=r"lack .* test condition"):
        _perturb.run(sim20, split="unseen_singles", method="peer", seed=0,
                     options=_perturb.peer_method(str(short), perturbation_key="condition")
                     .options_for("quick"), context=RunContext())  # fmt: skip


def test_perturb_methods_and_datasets():
    methods = {m.name: m for m in _perturb.methods()}
    assert set(methods) == set(vc.perturb.METHODS.names())
    baselines = {n for n, m in methods.items() if m.baseline}
    assert baselines == set(vc.perturb.METHODS.names(baseline=True))
    assert {"train_mean", "no_change", "additive", "linear", "matching_mean"} <= baselines
    assert methods["oracle_isp"].presets == ("full",) and "demo" in methods["network"].presets
    demo = {d.name for d in _perturb.datasets("demo", None) if "demo" in d.presets}
    assert demo == {"sim_perturbseq_100"}
    full = {d.name: d for d in _perturb.datasets("full", None)}
    assert {"dream4_10_1", "dream4_100_3"} <= set(full)
    assert _grn.SIM_DEMO["n_genes"] == 100  # the same simulation as the GRN task's


# -- agent ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("_bench_kbdata", _KBDATA)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    root = mod.write_sources(tmp_path_factory.mktemp("kb-src"))
    out = tmp_path_factory.mktemp("kb") / "knowledge.sqlite"
    vc.knowledge.build(root, out=out, include_defaults=False)
    return out


def test_agent_cells_read_one_cached_run_per_seed(tiny_store, tmp_path, monkeypatch):
    data = _agent.load_tasks("tiny", None, {"qa_process": 1, "claims": 3})
    store = tmp_path / "agent" / "tiny" / "kb" / "knowledge.sqlite"  # the run's cached store
    store.parent.mkdir(parents=True)
    store.write_bytes(tiny_store.read_bytes())
    calls = []
    real = vc.agent.evaluate
    monkeypatch.setattr(vc.agent, "evaluate",
                        lambda *a, **k: calls.append(a) or real(*a, **k))  # fmt: skip
    ctx = RunContext(scratch=str(tmp_path))
    got = {}
    for method in ("reference_solver", "keyword_router", "majority"):
        for fam in ("qa_process", "claims"):
            if _agent.applicable(data, fam, method):
                continue
            rows = _agent.run(data, split=fam, method=method, seed=0, options={}, context=ctx)
            got[method, fam] = {r["metric"]: r["value"] for r in rows}
    assert len(calls) == 1  # the reference solver's run answered every system of the seed
    assert set(got) == {("reference_solver", "qa_process"), ("reference_solver", "claims"),
                        ("keyword_router", "qa_process"), ("keyword_router", "claims"),
                        ("majority", "claims")}  # fmt: skip
    (res,) = tmp_path.glob("agent/tiny/seed-0-*/results-scripted.json")
    full = json.loads(res.read_text())
    claims = [r for r in full["rows"] if r["family"] == "claims"]
    assert len(claims) == 3
    assert (
        got["reference_solver", "claims"]["success_rate"] == sum(r["success"] for r in claims) / 3
    )
    assert (
        full["baselines_by_family"]["majority"]["claims"]
        == got["majority", "claims"]["success_rate"]
    )
    assert got["reference_solver", "qa_process"]["success_rate"] == sum(
        r["success"] for r in full["rows"] if r["family"] == "qa_process"
    ) / sum(r["family"] == "qa_process" for r in full["rows"])
    assert "valid_call_rate" in got["reference_solver", "qa_process"]
    assert "valid_call_rate" not in got["keyword_router", "qa_process"]
    with pytest.raises(vc.ValidationError, match="no data_edges task"):
        _agent.run(
            data, split="data_edges", method="reference_solver", seed=0, options={}, context=ctx
        )


def test_agent_methods_datasets_and_applicability():
    methods = {m.name: m for m in _agent.methods()}
    assert {n for n, m in methods.items() if m.baseline} == {
        "keyword_router", "top_enrichment", "majority"}  # fmt: skip
    assert methods["local"].presets == ("full",) and not methods["local"].baseline
    data = _agent.load_tasks("x", None, {"claims": 1})
    assert _agent.applicable(data, "qa_process", "majority")
    assert _agent.applicable(data, "naming_go", "top_enrichment") is None
    assert _agent.applicable(data, "qa_process", "keyword_router") is None
    quick = [d for d in _agent.datasets("quick", None) if "quick" in d.presets]
    assert [d.name for d in quick] == ["agent_small"]
    assert set(quick[0].splits) <= set(vc.agent.DEFAULT_TASK_COUNTS)
    assert "reference_solver" in methods and not methods["reference_solver"].baseline


def test_both_tasks_are_registered():
    assert {"grn", "represent", "perturb", "agent"} <= set(TASKS.names())
    assert TASKS.get("perturb").primary.name == "pearson_delta"
    assert TASKS.get("agent").primary.name == "success_rate"


def test_fresh_run_removes_the_shared_scratch(toy, tmp_path):
    stale = tmp_path / "scratch" / "agent" / "old.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    vc.bench.run("quick", out=tmp_path, tasks=["toy"], n_jobs=1, report=False)
    assert stale.exists()  # a resumed run keeps what cells shared
    vc.bench.run("quick", out=tmp_path, tasks=["toy"], n_jobs=1, report=False, resume=False)
    assert not stale.exists()


def test_reference_solver_is_its_own_kind_in_the_report():
    from virtualcell.bench._report import _kind

    assert _kind({"method": "reference_solver"}) == "reference_solver"
    assert _kind({"method": "local"}) == "virtualcell"
    assert _kind({"method": "keyword_router", "baseline": True}) == "baseline"
