"""Evaluation that scales: the DE reference, one expression space and Truth per task,
per-method results written as they finish (resume), --baselines-only, cost tiers."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import virtualcell as vc
from conftest import linear_cells
from virtualcell import ValidationError
from virtualcell.cli import main
from virtualcell.metrics import DEReference, de_test, mann_whitney_u
from virtualcell.perturb import METHODS, _scoring, default_methods, method_cost
from virtualcell.perturb import _evaluate as ev

FAST = ["train_mean", "additive", "linear"]


# --------------------------------------------------------------------------- DEReference
@pytest.mark.parametrize("kind", ["sparse_log", "dense_ties", "shifted", "zero_columns"])
def test_de_reference_equals_de_test(kind):
    rng = np.random.default_rng(3)
    n_genes = 40
    ctrl = np.log1p(rng.poisson(rng.uniform(0, 3, n_genes), (250, n_genes))).astype(np.float32)
    pert = np.log1p(rng.poisson(rng.uniform(0, 3, n_genes), (30, n_genes))).astype(np.float32)
    if kind == "shifted":  # perturbed values that no control cell has
        pert = pert + np.float32(0.05)
    if kind == "zero_columns":
        ctrl[:, :4] = 0
        pert[:, 2:6] = 0
    genes = [f"g{i}" for i in range(n_genes)]
    control = sparse.csr_matrix(ctrl) if kind != "dense_ties" else ctrl
    got = DEReference(control, genes=genes).test(pert)
    want = de_test(pert, ctrl, genes=genes)
    assert list(got.columns) == list(want.columns) and got["gene"].tolist() == genes
    for col in ("statistic", "p_value", "fdr", "log2_fold_change"):
        assert np.array_equal(got[col].to_numpy(), want[col].to_numpy()), col


def test_de_reference_bit_codes_with_values_no_control_has():
    rng = np.random.default_rng(5)
    ctrl = np.log1p(rng.poisson(2, (200, 15))).astype(np.float32)
    pert = np.log1p(rng.poisson(2, (30, 15))).astype(np.float64)  # not float32-exact
    pert[:4] = ctrl[:4]  # exact ties with control values
    pert[4:6, :3] = -0.2  # below every control value
    pert[6:8] = ctrl[6:8] + 1e-9  # just above a control value
    ref = DEReference(sparse.csr_matrix(ctrl))
    assert ref._bits  # positive float32 control values: the bit-pattern codes
    got, want = ref.test(pert), de_test(pert, ctrl)
    for col in ("statistic", "p_value", "fdr"):
        assert np.array_equal(got[col].to_numpy(), want[col].to_numpy()), col


def test_de_reference_negative_values_and_errors():
    rng = np.random.default_rng(0)
    ctrl = rng.normal(size=(120, 12))
    ctrl[ctrl < 0.2] = 0.0
    ctrl[:8] = -0.5  # negative values below the zeros
    pert = np.where(rng.random((15, 12)) < 0.5, 0.0, rng.normal(size=(15, 12)))
    ref = DEReference(ctrl, is_log1p=False)
    u, p = mann_whitney_u(pert, ctrl)
    got = ref.test(pert)
    assert np.array_equal(got["statistic"].to_numpy(), u)
    assert np.array_equal(got["p_value"].to_numpy(), p)
    with pytest.raises(ValidationError, match="number of columns"):
        ref.test(pert[:, :5])
    with pytest.raises(ValidationError, match="gene names"):
        DEReference(ctrl, genes=["a"])


# ------------------------------------------------------------------ shared data, old way
def _file(tmp_path, n_cells=25, name="screen.h5ad") -> str:
    adata = linear_cells(n_genes=14, n_singles=8, n_cells=n_cells, doubles=False)
    adata.X = sparse.csr_matrix(adata.X)
    path = tmp_path / name
    adata.write_h5ad(path)
    return str(path)


def _old_way(task, name: str, seed: int = 0) -> pd.DataFrame:
    """One method scored as before the shared Truth: its own fit, its own Truth, and every
    DE test ranking the control cells again (``de_test``)."""
    from virtualcell.metrics import de_fdp, de_genes, de_overlap, de_recall, score_profiles
    from virtualcell.perturb._data import expression_matrix, row_roles

    model = vc.perturb.make_predictor(name, perturbation_type=task.perturbation_type, seed=seed)
    model.fit(task.train)
    pred = model.predict(task.conditions, on_unsupported="flag")
    values = np.asarray(pred.X, dtype=np.float64)
    labels, role, _ = row_roles(task.truth, perturbation_type=task.perturbation_type)
    x, _ = expression_matrix(task.truth, counts=True)
    ctrl = np.flatnonzero(role == "control")
    control = np.asarray(x[ctrl].mean(axis=0)).ravel()
    conds = task.conditions
    truth = np.vstack([np.asarray(x[labels == c].mean(axis=0)).ravel() for c in conds])
    n_cells = np.array([(labels == c).sum() for c in conds])
    genes = list(map(str, task.truth.var_names))
    table = score_profiles(truth, values, control, labels=conds, genes=genes)
    sample_in = ad.AnnData(
        X=values, obs=pd.DataFrame({"perturbation": conds}, index=conds),
        var=pd.DataFrame(index=genes),
    )  # fmt: skip
    cells = model.sample(sample_in, n_cells=int(n_cells.max()), seed=seed)
    px, _ = expression_matrix(cells, counts=True)
    plab = cells.obs["perturbation"].astype(str).to_numpy()
    for i, cond in enumerate(conds):
        sel = np.flatnonzero(plab == cond)[: n_cells[i]]
        pred_de = [g for g in de_genes(de_test(px[sel], x[ctrl], genes=genes)) if g != cond]
        true_de = [g for g in de_genes(de_test(x[labels == cond], x[ctrl], genes=genes))
                   if g != cond]  # fmt: skip
        table.loc[i, "de_overlap"] = de_overlap(true_de, pred_de)
        table.loc[i, "de_recall"] = de_recall(true_de, pred_de)
        table.loc[i, "de_fdp"] = de_fdp(true_de, pred_de)
    return table


@pytest.mark.parametrize("block", [None, 1], ids=["one_sample_call", "sampled_by_blocks"])
def test_shared_truth_gives_the_old_numbers(tmp_path, monkeypatch, block):
    if block is not None:  # one condition's cells at a time: the same cells, same numbers
        monkeypatch.setattr(_scoring, "_SAMPLE_BLOCK", block)
    path = _file(tmp_path)
    result = vc.perturb.evaluate(path, task="unseen_singles", seed=0, methods=FAST)
    per = result.report["per_perturbation"]
    task = vc.perturb.load_task(path, task="unseen_singles", seed=0)
    metrics = [m for m in vc.perturb.PERTURB_METRICS if m in per]
    assert {"de_overlap", "pearson_delta", "pds"} <= set(metrics)
    for name in FAST:
        old = _old_way(task, name)
        new = per[per["method"] == name].reset_index(drop=True)
        assert new["perturbation"].tolist() == old["perturbation"].tolist()
        for m in metrics:
            np.testing.assert_allclose(
                new[m], old[m], rtol=1e-12, atol=1e-12, err_msg=f"{name} {m}"
            )
    assert per["de_overlap"].notna().all()  # the DE metrics were computed, not skipped


def test_shared_training_computes_once(tmp_path, monkeypatch):
    from virtualcell.perturb import _data

    calls = []
    real = _data.expression_matrix

    def counted(adata, **kw):
        calls.append(adata.n_obs)
        return real(adata, **kw)

    monkeypatch.setattr(_data, "expression_matrix", counted)
    path = _file(tmp_path)
    vc.perturb.evaluate(path, task="unseen_singles", seed=0, baselines_only=True)
    task = vc.perturb.load_task(path, task="unseen_singles", seed=0)
    # the training matrix is normalised once for all baselines (not once per method)
    assert calls.count(task.train.n_obs) == 1
    assert len(METHODS.names(baseline=True)) > 5
    # outside an evaluation nothing is shared
    a, b = (vc.perturb.make_predictor("train_mean").fit(task.train) for _ in range(2))
    assert a.data_ is not b.data_


# ------------------------------------------------------------------ resume, output rule
def test_resume_skips_finished_methods_with_identical_results(tmp_path, monkeypatch):
    path = _file(tmp_path)
    out = tmp_path / "eval"
    first = vc.perturb.evaluate(path, task="unseen_singles", seed=0, methods=["train_mean"],
                                baselines_only=False, out=out)  # fmt: skip
    names = {r["method"] for r in first.report["results"]}
    assert {p.stem for p in (out / "methods").glob("*.json")} == names
    assert (out / "run.json").is_file() and (out / "results.json").is_file()

    def boom(*args, **kwargs):
        raise AssertionError("a finished method was run again")

    monkeypatch.setattr(ev, "_run_method", boom)
    again = vc.perturb.evaluate(path, task="unseen_singles", seed=0, methods=["train_mean"],
                                out=out)  # fmt: skip
    assert all(r["resumed"] for r in again.report["results"])
    pd.testing.assert_frame_equal(
        first.report["per_perturbation"], again.report["per_perturbation"], check_exact=True
    )
    for a, b in zip(first.report["results"], again.report["results"], strict=True):
        assert a["method"] == b["method"]
        for m in ("pearson_delta", "l2", "pds", "de_overlap"):
            assert a[m] == b[m] or (np.isnan(a[m]) and np.isnan(b[m]))
    pd.testing.assert_frame_equal(first.table, again.table, check_exact=True)


def test_resume_runs_only_what_is_missing(tmp_path, monkeypatch):
    path = _file(tmp_path)
    out = tmp_path / "eval"
    vc.perturb.evaluate(path, task="unseen_singles", seed=0, baselines_only=True, out=out)
    ran = []
    real = ev._run_method

    def spy(name, *args, **kwargs):
        ran.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ev, "_run_method", spy)
    monkeypatch.setitem(
        METHODS._entries,
        "extra_mean",
        METHODS.entry("train_mean").__class__(
            "extra_mean", METHODS.get("train_mean"), "a copy of train_mean", False, ("cost:cheap",)
        ),
    )
    res = vc.perturb.evaluate(path, task="unseen_singles", seed=0, methods=["extra_mean"], out=out)
    assert ran == ["extra_mean"]
    assert "extra_mean" in {r["method"] for r in res.report["results"]}


def test_output_rule(tmp_path):
    path = _file(tmp_path)
    out = tmp_path / "eval"
    vc.perturb.evaluate(path, task="unseen_singles", seed=0, baselines_only=True, out=out)
    # another evaluation into the same folder: refused before any work, unless overwrite
    with pytest.raises(ValidationError, match="not empty"):
        vc.perturb.evaluate(path, task="unseen_singles", seed=1, baselines_only=True, out=out)
    res = vc.perturb.evaluate(path, task="unseen_singles", seed=1, baselines_only=True, out=out,
                              overwrite=True)  # fmt: skip
    assert json.loads((out / "run.json").read_text())["seed"] == 1
    assert not any(r.get("resumed") for r in res.report["results"])
    # a folder that is no evaluation is refused; the input is never the output
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValidationError, match="not empty"):
        vc.perturb.evaluate(path, task="unseen_singles", baselines_only=True, out=other)
    with pytest.raises(ValidationError, match=r"is a file|also the input"):
        vc.perturb.evaluate(path, task="unseen_singles", baselines_only=True, out=path,
                            overwrite=True)  # fmt: skip


def test_folds_resume(tmp_path, monkeypatch):
    path = _file(tmp_path)
    out = tmp_path / "cv"
    first = vc.perturb.evaluate(path, task="unseen_singles", seed=0, folds=2,
                                baselines_only=True, out=out)  # fmt: skip
    assert (out / "split_fold1.json").is_file()
    monkeypatch.setattr(ev, "_run_method", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    again = vc.perturb.evaluate(path, task="unseen_singles", seed=0, folds=2,
                                baselines_only=True, out=out)  # fmt: skip
    pd.testing.assert_frame_equal(first.report["per_perturbation"],
                                  again.report["per_perturbation"], check_exact=True)  # fmt: skip
    assert set(again.report["per_perturbation"]["fold"]) == {0, 1}


# -------------------------------------------------------------- method lists and costs
def test_baselines_only_and_default_list(tmp_path):
    path = _file(tmp_path)
    res = vc.perturb.evaluate(path, task="unseen_singles", seed=0, baselines_only=True)
    assert [r["method"] for r in res.report["results"]] == METHODS.names(baseline=True)
    with pytest.raises(ValidationError, match="baselines alone"):
        vc.perturb.evaluate(path, task="unseen_singles", baselines_only=True, methods=["network"])
    default = default_methods()
    assert "network" in default and not [m for m in default if m.startswith("oracle")]
    assert {method_cost(m) for m in METHODS.names()} <= {"cheap", "minutes", "pretrains", "trains"}
    assert not [m for m in default if method_cost(m) in ("pretrains", "trains")]
    assert method_cost("oracle_isp") == "pretrains" and method_cost("train_mean") == "cheap"


def test_cli_list_methods_and_resume(tmp_path, capsys):
    assert main(["perturb", "--list-methods"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == METHODS.names()  # names alone on stdout
    assert "pretrains" in captured.err and "cheap" in captured.err
    path = _file(tmp_path)
    out = tmp_path / "o"
    args = ["perturb", "evaluate", path, "--task", "unseen_singles", "--baselines-only",
            "--out", str(out), "--json"]  # fmt: skip
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    records = {p.name: p.stat().st_mtime_ns for p in (out / "methods").glob("*.json")}
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert [r["pearson_delta"] for r in first["results"]] == [
        r["pearson_delta"] for r in second["results"]
    ]
    assert all(r["resumed"] for r in second["results"])
    assert {p.name: p.stat().st_mtime_ns for p in (out / "methods").glob("*.json")} == records
    assert main([*args[:-1], "--seed", "3", "--json"]) == 2  # another run: refused
    assert "--overwrite" in capsys.readouterr().err


def test_resume_is_keyed_on_the_resolved_defaults_and_on_table_content(tmp_path, monkeypatch):
    """A method whose default changed is rerun, not read back as the old one (the key
    holds every option as the method resolves it); a table option is keyed on its
    content, not on its printed corners."""
    from virtualcell.perturb import _methods, _primed
    from virtualcell.perturb._run_store import _key_value

    path = _file(tmp_path)
    out = tmp_path / "o"
    kw = {"task": "unseen_singles", "seed": 0, "methods": ["primed_network"], "out": out}
    vc.perturb.evaluate(path, **kw)
    again = vc.perturb.evaluate(path, **kw)
    assert {r["method"]: r["resumed"] for r in again.report["results"]}["primed_network"]
    assert _methods.resolved_options("primed_network")["knowledge_size"] == 0.25
    monkeypatch.setattr(_primed, "AVERAGE_KNOWLEDGE_SIZE", 0.5)  # a changed default
    assert _methods.resolved_options("primed_network")["knowledge_size"] == 0.5
    changed = vc.perturb.evaluate(path, **kw)
    resumed = {r["method"]: r["resumed"] for r in changed.report["results"]}
    assert not resumed["primed_network"] and resumed["train_mean"]
    a = pd.DataFrame(np.arange(400.0).reshape(100, 4))
    b = a.copy()
    b.iloc[50, 2] = -1.0  # the printed table is the same
    assert str(a) == str(b) and _key_value(a) != _key_value(b)
    assert _key_value(a) == _key_value(a.copy())
