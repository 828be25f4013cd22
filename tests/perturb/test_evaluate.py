"""Tasks (leak-checked splits), the evaluation driver, the CLI, Norman's GI table, plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from conftest import linear_cells
from virtualcell import ValidationError
from virtualcell.cli import main
from virtualcell.data.splits import Split, check_no_leakage
from virtualcell.perturb import METHODS, METRIC_BEST, load_task

REQUIRED = ("method", "baseline", "pearson_delta", "l2", "mse_top20_de", "pds")


def _dream4(shared_data, k=1, size=10):
    return (
        shared_data / "grn" / "dream4" / f"DREAM4_InSilico_Size{size}" / f"insilico_size{size}_{k}"
    )


@pytest.mark.shared_data
def test_dream4_tasks(shared_data):
    folder = _dream4(shared_data)
    task = load_task(folder, task="doubles", seed=0)
    assert task.subgroups == {"combo_seen2": sorted(task.subgroups["combo_seen2"])}
    assert len(task.conditions) == 5 and all("+" in c for c in task.conditions)
    exp = set(task.train.obs["experiment"].astype(str))
    assert exp == {"wildtype", "knockout", "knockdown", "multifactorial"}
    assert task.truth.obs["experiment"].astype(str).value_counts().to_dict() == {
        "dual_knockout": 5,
        "wildtype": 1,
    }
    assert task.leakage["test"] == 5 and task.reference == "additive"
    tasks = [load_task(folder, task="unseen_singles", seed=s) for s in (0, 1, 2)]
    held = [tuple(t.conditions) for t in tasks]
    assert len(set(held)) > 1  # random splits differ by seed
    for t in tasks:
        genes = set(t.conditions)
        assert not genes & set(t.train.obs["perturbation"].astype(str))  # no KO or KD kept
        assert set(t.truth.obs["experiment"].astype(str)) == {"wildtype", "knockout"}


def test_cells_tasks_and_leakage(sim_small):
    task = load_task(sim_small, task="doubles", seed=1)
    assert {"combo_seen2"} <= set(task.subgroups)
    check_no_leakage(task.split)
    train_labels = set(task.train.obs["perturbation"].astype(str))
    assert not train_labels & set(task.conditions)
    assert set(task.strata.values()) <= {"additive", "moderate", "strong"} and task.strata
    single = load_task(sim_small, task="unseen_singles", seed=1)
    assert list(single.subgroups) == ["unseen_single"]
    assert all("+" not in c for c in single.conditions)
    assert single.reference == vc.perturb.TASKS.get("unseen_singles").reference == "train_mean"
    with pytest.raises(ValidationError, match="task must be one of doubles, unseen_singles"):
        load_task(sim_small, task="triples")
    with pytest.raises(ValidationError, match="task must be one of"):
        load_task(sim_small, task="Doubles")  # names are exact, as before the registry
    with pytest.raises(ValidationError, match="needs task='unseen_singles'"):
        load_task(sim_small, task="doubles", folds=3)
    with pytest.raises(ValidationError, match="no double"):
        load_task(linear_cells(doubles=False), task="doubles")


@pytest.fixture(scope="module")
def evaluated(sim_small, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate") / "run"
    report = vc.perturb.evaluate(sim_small, task="doubles", seed=0, methods=["network"], out=folder)
    return report, folder


def test_evaluate_scores_every_method_next_to_the_baselines(evaluated):
    report, folder = evaluated
    names = [r["method"] for r in report["results"]]
    assert set(METHODS.names(baseline=True)) | {"network"} == set(names)
    for r in report["results"]:
        if "error" in r:
            continue
        for key in (*REQUIRED, *METRIC_BEST, "by_subgroup", "by_stratum", "normalized"):
            assert key in r, (r["method"], key)
        assert r["normalized"]["reference"] == "additive"
        assert 0 <= r["pds"] <= 1 and 0 <= r["centroid_accuracy"] <= 1
        assert r["interaction"]["n"] > 0
    ref = next(r for r in report["results"] if r["method"] == "additive")
    assert ref["normalized"]["l2"] == 0.0  # the reference against itself
    per = report["per_perturbation"]
    assert set(per["method"]) == set(names) and np.isfinite(per["de_overlap"]).all()
    saved = json.loads((folder / "results.json").read_text())
    assert saved["task"] == "doubles" and len(saved["results"]) == len(names)
    split = Split.load(folder / "split.json")
    check_no_leakage(split)
    assert (folder / "per_perturbation.csv").stat().st_size > 0


def _cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_list_and_evaluate_json(tmp_path, capsys):
    code, out, _ = _cli(["perturb", "--list-methods"], capsys)
    assert code == 0 and out.split() == METHODS.names()
    path = tmp_path / "cells.h5ad"
    linear_cells(n_genes=10, n_singles=8, n_cells=10).write_h5ad(path)
    code, out, err = _cli(
        ["perturb", "evaluate", str(path), "--task", "unseen_singles", "--seed", "2",
         "--methods", "network", "--json"], capsys,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)  # one JSON object alone on stdout
    assert report["dataset"] == "cells.h5ad" and report["task"] == "unseen_singles"
    assert report["seed"] == 2
    assert {r["method"] for r in report["results"]} == set(METHODS.names(baseline=True)) | {
        "network"
    }
    for r in report["results"]:
        assert all(k in r for k in REQUIRED) or "error" in r


def test_cli_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "bad.h5ad"
    bad = linear_cells()
    bad.obs = bad.obs.drop(columns="perturbation")
    bad.write_h5ad(path)
    code, out, err = _cli(["perturb", "evaluate", str(path), "--task", "doubles"], capsys)
    assert code == 2 and out == "" and "perturbation" in err and "Traceback" not in err
    code, _, err = _cli(["perturb", "evaluate", str(path), "--methods", "nope"], capsys)
    assert code == 2 and "unknown perturbation predictor" in err
    code, _, err = _cli(["perturb", "evaluate", str(path), "--task", "x"], capsys)
    assert code == 2 and "--task" in err


def test_cli_predict_writes_h5ad(tmp_path, capsys):
    import anndata as ad

    path = tmp_path / "cells.h5ad"
    linear_cells().write_h5ad(path)
    out = tmp_path / "pred.h5ad"
    code, _, err = _cli(["perturb", "predict", str(path), "-p", "g0+g1,g7", "-m", "additive",
                         "-o", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    pred = ad.read_h5ad(out)
    assert pred.obs["perturbation"].tolist() == ["g0+g1", "g7"]


@pytest.mark.shared_data
def test_norman_gi_table(shared_data):
    table = vc.perturb.read_norman_gi(shared_data / "perturbation" / "norman2019_gi")
    assert len(table) == 125 and table.index.is_unique
    assert all("+" in i for i in table.index)
    row = table.loc["AHR+FEV"]
    assert row["magnitude"] == pytest.approx(
        np.sqrt((1.324721493929142**2 + 0.89711960688212**2) / 2)
    )
    assert set(table["mode"]) <= set(vc.metrics.INTERACTION_MODES)


def test_norman_reader_errors(tmp_path):
    with pytest.raises(vc.DataFormatError, match="no Norman GI table"):
        vc.perturb.read_norman_gi(tmp_path)
    pd.DataFrame({"name": ["A_B"], "x": [1]}).to_csv(tmp_path / "regr_fits_final.csv")
    with pytest.raises(vc.DataFormatError, match="ts_coef_first"):
        vc.perturb.read_norman_gi(tmp_path)


def test_simulator_preset_is_strongly_epistatic():
    # the documented setting: 100 genes, 60 singles, 60 doubles, 100 cells per condition
    adata = vc.sim.simulate_preset(
        "epistasis", grn=100, singles=60, doubles=60, cells_per_condition=100, seed=3,
        keep_true_expression=False,
    )  # fmt: skip
    table = vc.sim.nonadditivity(adata)
    frac = table.groupby("perturbation")["nonadditive"].any().mean()
    assert frac >= 0.25
    default = vc.sim.simulate_perturbseq(
        100, singles=60, doubles=60, cells_per_condition=100, seed=3, method="fast",
        keep_true_expression=False,
    )  # fmt: skip
    base = vc.sim.nonadditivity(default).groupby("perturbation")["nonadditive"].any().mean()
    assert frac > base  # the defaults of simulate_perturbseq are untouched and milder
    assert adata.uns["vc"]["sim"]["preset"] == "epistasis"
    with pytest.raises(ValidationError, match="unknown simulator preset"):
        vc.sim.simulate_preset("nope")


def test_plots(evaluated, tmp_path):
    report, _ = evaluated
    fig = vc.pl.perturbation_bars(report, metric="l2", path=tmp_path / "bars.png")
    assert fig.axes and (tmp_path / "bars.png").stat().st_size > 0
    fig = vc.pl.perturbation_bars([report, report], metric="pearson_delta")
    assert len(fig.axes[0].patches) > 0
    inter = next(r for r in report["results"] if r["method"] == "additive")["interaction"]
    fig = vc.pl.interaction_confusion(inter, path=tmp_path / "conf.png")
    assert (tmp_path / "conf.png").exists()
    rng = np.random.default_rng(0)
    t, c = rng.normal(size=20) + 3, np.full(20, 3.0)
    fig = vc.pl.perturbation_scatter(t, t + rng.normal(scale=0.1, size=20), c,
                                     genes=[f"g{i}" for i in range(20)], label="A+B")  # fmt: skip
    assert "A+B" in fig.axes[0].get_title()
    with pytest.raises(ValidationError):
        vc.pl.perturbation_scatter(t, t[:5], c)


@pytest.mark.slow
@pytest.mark.shared_data
def test_network_beats_additive_on_dream4_100_doubles(shared_data):
    report = vc.perturb.evaluate(
        _dream4(shared_data, k=1, size=100), task="doubles", seed=0, methods=["network"]
    )
    res = {r["method"]: r for r in report["results"]}
    assert res["network"]["l2"] < res["additive"]["l2"]
    assert res["network"]["pearson_delta"] > res["additive"]["pearson_delta"]


def test_folds_hold_out_every_gene_once_per_seed(tmp_path, capsys):
    data = linear_cells(n_genes=12, n_singles=8, n_cells=8, doubles=False)
    genes = {f"g{i}" for i in range(8)}
    for seed in (0, 1):
        tasks = [
            load_task(data, task="unseen_singles", seed=seed, folds=3, fold=f) for f in range(3)
        ]
        held = [set(t.conditions) for t in tasks]
        assert set().union(*held) == genes and sum(map(len, held)) == len(genes)
        assert sorted(map(len, held)) == [2, 3, 3]  # near-equal blocks
        for t, h in zip(tasks, held, strict=True):
            check_no_leakage(t.split)
            assert not h & set(t.train.obs["perturbation"].astype(str))
    with pytest.raises(ValidationError, match=r"n_folds must be in 2 \.\. 8"):
        load_task(data, task="unseen_singles", folds=9)
    with pytest.raises(ValidationError, match="needs task='unseen_singles'"):
        load_task(linear_cells(), task="doubles", folds=3)
    out = tmp_path / "cv"
    result = vc.perturb.evaluate(
        data, task="unseen_singles", folds=4, methods=["linear"], out=out, seed=3
    )
    per = result["per_perturbation"]
    for method, rows in per.groupby("method"):
        assert sorted(rows["perturbation"]) == sorted(genes), method  # each gene scored once
        assert sorted(rows["fold"].unique()) == [0, 1, 2, 3]
    assert result["folds"] == 4 and result["n_test"] == len(genes)
    assert sorted(p.name for p in out.glob("split_fold*.json")) == [
        f"split_fold{f}.json" for f in range(4)
    ]
    # the fold's model never saw the gene it is scored on: train_mean of fold f equals the
    # mean change of the other folds' genes, so it differs between folds
    tm = per[per["method"] == "train_mean"]
    assert tm.groupby("fold")["l2"].mean().nunique() > 1
    assert set(result.table["split"]) == {"unseen_singles:4-fold"}
    path = tmp_path / "cells.h5ad"
    data.write_h5ad(path)
    code, _, err = _cli(["perturb", "evaluate", str(path), "--folds", "1"], capsys)
    assert code == 2 and "--folds" in err
    code, _, err = _cli(
        ["perturb", "evaluate", str(path), "--task", "doubles", "--folds", "3"], capsys
    )
    assert code == 2 and "unseen_singles" in err


def test_data_every_method_would_refuse_is_refused_once_before_any_method(tmp_path, capsys):
    """Duplicated gene names, or a cell without counts, made every method fail on its own
    (exit 1 after all of them ran, the same message once per method): now one error,
    exit 2, before the first method."""
    dup = linear_cells()
    dup.var_names = ["g0", "g0", *map(str, dup.var_names[2:])]
    empty = linear_cells()
    x = empty.X.toarray() if hasattr(empty.X, "toarray") else np.array(empty.X)
    x[3] = 0
    empty.X = x
    for adata, match in ((dup, r"1 gene name\(s\) occur more than once in var_names \(g0\)"),
                         (empty, r"1 cell\(s\) without counts \(total 0: " + empty.obs_names[3])):  # fmt: skip
        with pytest.raises(ValidationError, match=match):
            load_task(adata, task="unseen_singles", seed=0)
        path = tmp_path / "cells.h5ad"
        adata.write_h5ad(path)
        code = main(["perturb", "evaluate", str(path), "--task", "unseen_singles",
                     "--baselines-only", "--json"])  # fmt: skip
        captured = capsys.readouterr()
        assert code == 2 and captured.out == ""
        assert captured.err.count("error:") == 1 and "failed" not in captured.err


def test_a_groupby_typo_is_refused_even_without_network():
    """``--groupby`` is read by ``network`` only: with the baselines alone a misspelt
    column was ignored silently (and with network, network alone failed)."""
    with pytest.raises(ValidationError, match=r"groupby column 'zone' \(--groupby\) not in obs"):
        vc.perturb.evaluate(linear_cells(), task="unseen_singles", baselines_only=True,
                            groupby="zone")  # fmt: skip
