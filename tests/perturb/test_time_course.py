"""Time-resolved perturbation prediction (``Predictor.predict(time=...)``) and per-day
scoring (``vc.perturb.score(time_key=...)``) on tiny simulated time courses."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell import ValidationError

DAYS = (1, 2, 3)
#: share of a knockout's effect that has reached the direct target a_i / the indirect
#: target b_i on each day: direct targets first, indirect ones later
REACH_A = (0.8, 1.0, 1.0)
REACH_B = (0.0, 0.5, 1.0)


def _cascade(n_ko: int = 8, n_cells: int = 40, seed: int = 0) -> ad.AnnData:
    """Regulators ``r<i>`` activate ``a<i>``, which activates ``b<i>``. In the control
    cells everything is at steady state (so the two edges are observable); a knockout of
    ``r<i>`` reaches ``a<i>`` first and ``b<i>`` one day later (``REACH_A``/``REACH_B``)."""
    rng = np.random.default_rng(seed)
    regs = [f"r{i}" for i in range(n_ko)]
    genes = regs + [f"a{i}" for i in range(n_ko)] + [f"b{i}" for i in range(n_ko)]
    rows, labels, times = [], [], []
    for cond in ["control", *regs]:
        for k, day in enumerate(DAYS):
            n = 3 * n_cells if cond == "control" else n_cells
            r = rng.uniform(0.5, 2.5, size=(n, n_ko))
            reach_a, reach_b = np.zeros(n_ko), np.zeros(n_ko)
            if cond != "control":
                i = regs.index(cond)
                reach_a[i], reach_b[i] = REACH_A[k], REACH_B[k]
            a = 1.0 + 0.8 * r * (1 - reach_a) + rng.normal(scale=0.15, size=r.shape)
            # b follows a with a lag: it still sees the part of the drop not yet reached
            lagged = a + 0.8 * r * (reach_a - reach_b)
            b = 1.0 + 0.8 * lagged + rng.normal(scale=0.15, size=r.shape)
            if cond != "control":
                r[:, regs.index(cond)] = 0.0
            rows.append(np.clip(np.hstack([r, a, b]), 0, None))
            labels += [cond] * n
            times += [float(day)] * n
    obs = pd.DataFrame({"perturbation": labels, "time": times},
                       index=[f"c{i}" for i in range(len(labels))])  # fmt: skip
    return ad.AnnData(np.vstack(rows), obs=obs, var=pd.DataFrame(index=genes))


def _without(adata: ad.AnnData, gene: str) -> ad.AnnData:
    return adata[(adata.obs["perturbation"] != gene).to_numpy()].copy()


def _day_change(adata: ad.AnnData, gene: str, day: float) -> np.ndarray:
    lab = adata.obs["perturbation"].astype(str).to_numpy()
    t = adata.obs["time"].to_numpy()
    x = np.asarray(adata.X)
    return x[(lab == gene) & (t == day)].mean(0) - x[(lab == "control") & (t == day)].mean(0)


def _primed(**kw) -> vc.perturb.Predictor:
    opts = {"prior": "none", "components": ("mean", "data"), "time_depth": 2, **kw}
    return vc.perturb.make_predictor("primed_network", **opts)


def test_the_time_aware_prediction_recovers_direct_then_indirect_targets():
    adata = _cascade()
    held = "r3"
    genes = list(adata.var_names)
    model = _primed().fit(_without(adata, held))
    pred = model.predict(["control", held], time="all")
    assert list(pred.obs["time"]) == [1.0, 2.0, 3.0] * 2
    assert list(pred.obs_names[:4]) == ["control@1", "control@2", "control@3", "r3@1"]
    ctrl, ko = np.asarray(pred.X[:3]), np.asarray(pred.X[3:])
    change = ko - ctrl
    a, b = genes.index("a3"), genes.index("b3")
    # direct target down from day 1; the indirect one only later
    assert change[0, a] < -0.5
    assert abs(change[0, b]) < 0.5 * abs(change[0, a])
    assert change[2, b] < -0.5
    ratio = np.abs(change[:, b]) / np.abs(change[:, a])
    assert ratio[0] < ratio[1] < ratio[2]
    # the gains: order 2 grows over the days, order 1 leads on day 1
    gains = model.time_gains_[2]
    assert gains[0, 0] > gains[0, 1] and gains[2, 1] > gains[0, 1] + 0.2
    # and it is closer to each day's truth than predicting the same change every day
    pooled = model.predict([held]).X[0] - model.data_.control
    keep = np.ones(len(genes), dtype=bool)
    keep[genes.index(held)] = False
    for k, day in enumerate(DAYS):
        truth = _day_change(adata, held, day)
        err_time = np.linalg.norm((change[k] - truth)[keep])
        err_pooled = np.linalg.norm((pooled - truth)[keep])
        if k != 1:  # day 2 sits in the middle, where the pooled change is about right
            assert err_time < err_pooled


def test_steady_state_prediction_is_unchanged_by_the_time_path():
    adata = _cascade(n_ko=6, n_cells=20)
    train = _without(adata, "r2")
    model = _primed().fit(train)
    before = np.asarray(model.predict(["r2", "r0"]).X).copy()
    model.predict(["r2"], time="all")
    after = np.asarray(model.predict(["r2", "r0"]).X)
    np.testing.assert_array_equal(before, after)
    assert "time" not in model.predict(["r2"]).obs


def test_the_held_out_genes_cells_are_never_used():
    adata = _cascade(n_ko=6, n_cells=20)
    task = vc.perturb.load_task(adata, task="unseen_singles", folds=3, fold=0, seed=0)
    held = list(task.conditions)
    changed = adata.copy()
    rows = changed.obs["perturbation"].isin(held).to_numpy()
    rng = np.random.default_rng(5)
    changed.X[rows] = rng.uniform(0, 9, size=(int(rows.sum()), changed.n_vars))
    task2 = vc.perturb.load_task(changed, task="unseen_singles", folds=3, fold=0, seed=0)
    assert list(task2.conditions) == held
    primed = {"prior": "none", "components": ("mean", "data"), "time_depth": 2}  # gains fitted
    for name, kw in (("primed_network", primed),
                     ("train_mean", {})):  # fmt: skip
        p1 = vc.perturb.make_predictor(name, **kw).fit(task.train).predict(held, time="all")
        p2 = vc.perturb.make_predictor(name, **kw).fit(task2.train).predict(held, time="all")
        np.testing.assert_array_equal(np.asarray(p1.X), np.asarray(p2.X))
        # and the truth did change, so the check could fail
        assert not np.allclose(_day_change(adata, held[0], 1.0), _day_change(changed, held[0], 1.0))


def test_time_aware_baselines():
    adata = _cascade(n_ko=6, n_cells=20)
    train = _without(adata, "r5")
    mean = vc.perturb.make_predictor("train_mean").fit(train)
    pred = mean.predict(["r5"], time=[2, "3"])
    lab = train.obs["perturbation"].astype(str).to_numpy()
    t = train.obs["time"].to_numpy()
    x = np.asarray(train.X)
    for row, day in zip(np.asarray(pred.X), (2.0, 3.0), strict=True):
        profiles = [x[(lab == g) & (t == day)].mean(0) for g in sorted(set(lab) - {"control"})]
        np.testing.assert_allclose(row, np.clip(np.mean(profiles, axis=0), 0, None))
    # a method without a time model: its pooled change on each day's control
    add = vc.perturb.make_predictor("additive").fit(train)
    p_t = np.asarray(add.predict(["r1"], time="all").X)
    pooled = add.predict(["r1"]).X[0] - add.data_.control
    course = add._time_course()
    np.testing.assert_allclose(p_t, np.clip(course.control + pooled, 0, None))
    # go_forest per day: fitted on the days' changes side by side
    feats = pd.DataFrame(np.eye(adata.n_vars), index=adata.var_names,
                         columns=[f"f{i}" for i in range(adata.n_vars)])  # fmt: skip
    forest = vc.perturb.make_predictor("go_forest", features=feats, n_estimators=20).fit(train)
    p_f = np.asarray(forest.predict(["r5"], time="all").X)
    assert p_f.shape == (3, adata.n_vars)
    d = p_f - course.control
    assert not np.allclose(d[0], d[2])  # the day's changes differ, so do the predictions


def test_bad_time_columns_raise_one_line_naming_it():
    adata = _cascade(n_ko=5, n_cells=10)
    no_time = adata.copy()
    del no_time.obs["time"]
    model = vc.perturb.make_predictor("train_mean").fit(no_time)
    with pytest.raises(ValidationError, match=r"obs\['time'\]"):
        model.predict(["r1"], time="all")
    holes = adata.copy()
    holes.obs["time"] = holes.obs["time"].astype(object)
    holes.obs.iloc[3, holes.obs.columns.get_loc("time")] = np.nan
    with pytest.raises(ValidationError, match=r"obs\['time'\] has 1 missing"):
        vc.perturb.make_predictor("train_mean").fit(holes).predict(["r1"], time="all")
    no_ctrl = adata[~((adata.obs["perturbation"] == "control") & (adata.obs["time"] == 2.0))
                    .to_numpy()].copy()  # fmt: skip
    with pytest.raises(ValidationError, match=r"time point 2\.0 has no control cells"):
        vc.perturb.make_predictor("train_mean").fit(no_ctrl).predict(["r1"], time="all")
    model = vc.perturb.make_predictor("train_mean").fit(adata)
    with pytest.raises(ValidationError, match=r"time 7 is not a time point.*\[1.0, 2.0, 3.0\]"):
        model.predict(["r1"], time=7)
    for err in (ValidationError,):
        with pytest.raises(err, match="time_depth"):
            vc.perturb.make_predictor("primed_network", time_depth=-1)
        with pytest.raises(err, match="time_network"):
            vc.perturb.make_predictor("primed_network", time_network="steady")


def test_score_per_time_point_matches_the_pooled_scorer_on_each_day():
    adata = _cascade(n_ko=6, n_cells=20)
    real = adata[adata.obs["perturbation"].isin(["control", "r1", "r4"]).to_numpy()].copy()
    model = _primed().fit(adata[~adata.obs["perturbation"].isin(["r1", "r4"]).to_numpy()].copy())
    pred = model.predict(["control", "r1", "r4"], time="all")
    res = vc.perturb.score(pred, real, time_key="time")
    per = pd.DataFrame(res["per_perturbation"])
    assert len(per) == 6 and set(per["time"]) == {1.0, 2.0, 3.0}
    assert res["summary"]["n_time_points"] == 3
    assert set(res.table["unit"]) == {f"{g}@{d}" for g in ("r1", "r4") for d in (1, 2, 3)}
    for day in DAYS:  # the same as scoring each day's files alone (each its own control)
        one = vc.perturb.score(pred[(pred.obs["time"] == day).to_numpy()],
                               real[(real.obs["time"] == day).to_numpy()])  # fmt: skip
        a = per[per["time"] == day].set_index("perturbation")
        b = pd.DataFrame(one["per_perturbation"]).set_index("perturbation")
        for m in ("pearson_delta", "l2", "pds"):
            np.testing.assert_allclose(a.loc[["r1", "r4"], m], b.loc[["r1", "r4"], m])
    with pytest.raises(ValidationError, match=r"pred has no time column obs\['day'\]"):
        vc.perturb.score(pred.copy(), real, time_key="day")
    dated = pred.copy()
    dated.obs["day"] = dated.obs["time"]
    with pytest.raises(ValidationError, match=r"real has no time column obs\['day'\]"):
        vc.perturb.score(dated, real, time_key="day")
    late = pred.copy()
    late.obs["time"] = late.obs["time"] + 10
    with pytest.raises(ValidationError, match="predicted time point"):
        vc.perturb.score(late, real, time_key="time")


@pytest.mark.parametrize("kind", ["counts", "log1p_counts"])
def test_evaluate_by_time_de_of_no_change_is_empty_on_count_data(kind):
    # counts, or log1p of counts (RENGE's X): the per-day cells of a prediction of no change
    # stay on the data's values, so no gene tests as DE (off them, every tied value would
    # move past its twin among the day's controls and test as DE)
    adata = _cascade(n_ko=6, n_cells=15)
    counts = np.round(np.asarray(adata.X) * 3)
    adata.X = counts if kind == "counts" else np.log1p(counts).astype(np.float32)
    res = vc.perturb.evaluate(adata, task="unseen_singles", folds=3, seed=0, by_time=True,
                              baselines_only=True)  # fmt: skip
    by = {r["method"]: pd.DataFrame(r["per_time"]) for r in res["results"] if "error" not in r}
    assert (by["no_change"]["de_fdp"] == 0).all() and (by["no_change"]["de_overlap"] == 0).all()
    assert by["train_mean"][["de_overlap", "de_recall", "de_fdp"]].notna().any().all()


def test_score_de_metrics_per_time_point_against_each_days_controls():
    # knockout G1: real cells change G2 on day 1 and G3 on day 2, the prediction G2 on
    # both days; day 2 lifts G5 in every cell (controls too), which only a comparison
    # with another day's controls would call DE
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(8)]

    def make(day_shift):
        rows, labels, days = [], [], []
        for day, shift in day_shift.items():
            ctrl = np.round(rng.gamma(3.0, 1.0, (40, len(genes))), 2)
            ctrl[:, genes.index("G5")] += 4.0 * (day == 2)
            pert = ctrl[:20].copy()
            pert[:, genes.index(shift)] += 6.0
            rows += [ctrl, pert]
            labels += ["control"] * 40 + ["G1"] * 20
            days += [float(day)] * 60
        obs = pd.DataFrame({"perturbation": labels, "time": days},
                           index=[f"c{i}" for i in range(len(labels))])  # fmt: skip
        return ad.AnnData(np.vstack(rows), obs=obs, var=pd.DataFrame(index=genes))

    real, pred = make({1: "G2", 2: "G3"}), make({1: "G2", 2: "G2"})
    res = vc.perturb.score(pred, real, time_key="time")
    per = pd.DataFrame(res["per_perturbation"]).set_index("time")
    assert per.loc[1.0, "de_overlap"] == 1.0 and per.loc[1.0, "de_fdp"] == 0.0
    assert per.loc[2.0, "de_overlap"] == 0.0 and per.loc[2.0, "de_fdp"] == 1.0
    assert res["summary"]["de_overlap"] == pytest.approx(0.5)
    # pooled over days (the days mixed alike in G1's cells and the controls): true DE
    # {G2, G3}, predicted {G2}
    pooled = vc.perturb.score(pred, real)["per_perturbation"][0]
    assert pooled["de_recall"] == 0.5 and pooled["de_fdp"] == 0.0


def test_cli_predict_and_score_per_time_point(tmp_path, capsys):
    import json

    from virtualcell.cli import main

    adata = _cascade(n_ko=5, n_cells=10)
    train, real = tmp_path / "train.h5ad", tmp_path / "real.h5ad"
    _without(adata, "r4").write_h5ad(train)
    adata[adata.obs["perturbation"].isin(["control", "r3", "r4"]).to_numpy()].copy().write_h5ad(
        real
    )
    out = tmp_path / "pred.h5ad"
    code = main(["perturb", "predict", str(train), "-p", "control,r3,r4", "-m", "train_mean",
                 "--time", "all", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    pred = ad.read_h5ad(out)
    assert pred.n_obs == 9 and list(pred.obs["time"][:3]) == [1.0, 2.0, 3.0]
    capsys.readouterr()
    code = main(["perturb", "score", str(out), str(real), "--perturbation-key", "perturbation",
                 "--control", "control", "--time-key", "time", "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    assert doc["summary"]["n_time_points"] == 3 and len(doc["per_perturbation"]) == 6
    code = main(["perturb", "predict", str(train), "-p", "r4", "-m", "train_mean",
                 "--time", "9", "-o", str(tmp_path / "x.h5ad")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "time '9'" in err and "Traceback" not in err


def test_evaluate_by_time_scores_every_method_per_day(tmp_path):
    adata = _cascade(n_ko=6, n_cells=15)
    path = tmp_path / "cascade.h5ad"  # a file, so that the run folder can be resumed
    adata.write_h5ad(path)
    opts = {"primed_network": {"prior": "none", "components": ("mean", "data")}}
    res = vc.perturb.evaluate(path, task="unseen_singles", folds=3, seed=0,
                              methods=["primed_network"], method_options=opts, by_time=True,
                              out=tmp_path / "run")  # fmt: skip
    by = {r["method"]: r for r in res["results"] if "error" not in r}
    assert {"train_mean", "primed_network"} <= set(by)
    for r in by.values():
        per = pd.DataFrame(r["per_time"])
        assert len(per) == 6 * 3 and set(per["time"]) == {1.0, 2.0, 3.0}
        assert set(r["by_time"]["per_day"]) == {"1", "2", "3"}
        mean = per["pearson_delta"].mean()  # NaN for a zero change (no_change, additive)
        assert r["by_time"]["pearson_delta"] == pytest.approx(mean, nan_ok=True)
        assert np.isfinite(mean) or r["method"] not in ("train_mean", "primed_network")
    # the time-pooled scores are those of a run without by_time
    plain = vc.perturb.evaluate(adata, task="unseen_singles", folds=3, seed=0,
                                methods=["primed_network"], method_options=opts)  # fmt: skip
    for r in plain["results"]:
        if "error" not in r:
            assert r["pearson_delta"] == pytest.approx(
                by[r["method"]]["pearson_delta"], nan_ok=True
            )
    splits = set(res.table["split"])
    assert splits == {"unseen_singles:3-fold", "unseen_singles:3-fold:by_time"}
    # resumed from the folder: the per-day scores come back too
    again = vc.perturb.evaluate(path, task="unseen_singles", folds=3, seed=0,
                                methods=["primed_network"], method_options=opts, by_time=True,
                                out=tmp_path / "run")  # fmt: skip
    r2 = {r["method"]: r for r in again["results"] if "error" not in r}
    assert r2["primed_network"]["resumed"]
    assert r2["primed_network"]["by_time"]["pearson_delta"] == pytest.approx(
        by["primed_network"]["by_time"]["pearson_delta"]
    )
    # the DE metrics per day, from cells sampled on each day's control cells
    for name in ("train_mean", "primed_network"):
        per = pd.DataFrame(by[name]["per_time"])
        assert np.isfinite(per[["de_overlap", "de_recall", "de_fdp"]].to_numpy(float)).sum() > 0
        assert np.isfinite(per["de_fdp"]).all()
        assert by[name]["by_time"]["de_overlap"] == pytest.approx(per["de_overlap"].mean())
        assert set(by[name]["by_time"]["per_day"]["2"]) >= {"de_overlap", "de_fdp"}
    # a prediction of no change gives cells like the day's controls: no predicted DE gene
    none = pd.DataFrame(by["no_change"]["per_time"])
    assert (none["de_fdp"] == 0).all() and (none["de_overlap"] == 0).all()
    no_time = adata.copy()
    del no_time.obs["time"]
    with pytest.raises(ValidationError, match=r"by_time needs obs\['time'\]"):
        vc.perturb.evaluate(no_time, task="unseen_singles", folds=3, by_time=True,
                            baselines_only=True)  # fmt: skip


def test_evaluate_by_time_scores_counts_in_the_space_of_the_predictions():
    """On counts the predictions are log1p per 10k: the per-day truth must be too. With
    one time point the per-day scores of train_mean are its pooled scores (they were
    computed on raw counts against log predictions: L2 14.5 instead of 4.5)."""
    sim = vc.sim.simulate_perturbseq(20, cells_per_condition=20, singles=6, doubles=0,
                                     n_cell_types=1, seed=0)  # fmt: skip
    sim.obs["time"] = 2.0
    res = vc.perturb.evaluate(sim, task="unseen_singles", folds=3, seed=0,
                              baselines_only=True, by_time=True)  # fmt: skip
    by = {r["method"]: r for r in res["results"] if "error" not in r}
    for m in ("train_mean", "linear"):
        for metric in ("l2", "pearson_delta"):
            assert by[m]["by_time"][metric] == pytest.approx(by[m][metric], rel=1e-4)


def test_time_labels_sort_in_natural_order():
    """``day2, day3, day10`` (strings) keep their order in predictions and per-day scores
    (plain string order put day10 first)."""
    adata = _cascade(n_ko=5, n_cells=10)
    adata.obs["time"] = ["day" + str(int(t) if t != 3.0 else 10) for t in adata.obs["time"]]
    model = vc.perturb.make_predictor("train_mean").fit(_without(adata, "r4"))
    pred = model.predict(["control", "r4"], time="all")
    assert list(pred.obs["time"][:3]) == ["day1", "day2", "day10"]
    real = adata[adata.obs["perturbation"].isin(["control", "r4"]).to_numpy()].copy()
    per = vc.perturb.score(pred, real, time_key="time")["per_perturbation"]
    assert [r["time"] for r in per] == ["day1", "day2", "day10"]
    assert sorted(["b10", 2.0, "b9", 1.0, "a"], key=vc.perturb._time.time_order) == [
        1.0,
        2.0,
        "a",
        "b9",
        "b10",
    ]


def test_bad_time_points_are_refused_once_before_any_method(tmp_path, capsys):
    """evaluate --by-time on a time column with a hole, or a day without controls: one
    error before the first method (every method failed on its own, exit 1); an empty
    ``--time`` of predict is refused (it predicted time-pooled profiles silently)."""
    import re

    from virtualcell.cli import main

    adata = _cascade(n_ko=5, n_cells=10)
    holes = adata.copy()
    holes.obs.iloc[3, holes.obs.columns.get_loc("time")] = np.nan
    no_ctrl = adata[~((adata.obs["perturbation"] == "control") & (adata.obs["time"] == 2.0))
                    .to_numpy()].copy()  # fmt: skip
    for data, match in ((holes, r"obs\['time'\] has 1 missing"),
                        (no_ctrl, r"time point 2\.0 has no control cells")):  # fmt: skip
        path = tmp_path / "cells.h5ad"
        data.write_h5ad(path)
        code = main(["perturb", "evaluate", str(path), "--task", "unseen_singles", "--folds",
                     "3", "--baselines-only", "--by-time", "--json"])  # fmt: skip
        captured = capsys.readouterr()
        assert code == 2 and captured.out == "", captured.err
        assert re.search(match, captured.err) and "failed" not in captured.err
    path = tmp_path / "train.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "pred.h5ad"
    code = main(["perturb", "predict", str(path), "-p", "r1", "-m", "train_mean", "--time",
                 ",", "-o", str(out)])  # fmt: skip
    assert code == 2 and "--time is empty" in capsys.readouterr().err and not out.exists()


def test_time_points_in_names_and_keys_print_like_the_user_wrote_them(tmp_path, capsys):
    """Days read as floats (``2.0``) were written ``G@2.0`` in row names, table units and
    ``per_day`` keys; whole days now print ``2``, ``2.5`` stays, labels stay (``day2``),
    and the JSON's ``per_day`` keys, ``per_time`` rows, table units and the predicted row
    names name the same days."""
    import json

    from virtualcell.cli import main
    from virtualcell.perturb._time import time_label

    assert [time_label(v) for v in (2.0, np.float32(3.0), np.int64(4), 2.5, "day2", "2.0")] == [
        "2", "3", "4", "2.5", "day2", "2.0"
    ]  # fmt: skip
    adata = _cascade(n_ko=5, n_cells=8)
    adata.obs["time"] = adata.obs["time"].replace({2.0: 2.5})
    pred = vc.perturb.make_predictor("train_mean").fit(adata).predict(["r1"], time="all")
    assert list(pred.obs_names) == ["r1@1", "r1@2.5", "r1@3"]
    path = tmp_path / "days.h5ad"
    adata.write_h5ad(path)
    code = main(["perturb", "evaluate", str(path), "--task", "unseen_singles", "--folds", "3",
                 "--baselines-only", "--by-time", "--json",
                 "--out", str(tmp_path / "run")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    row = next(r for r in doc["results"] if r["method"] == "train_mean")
    assert list(row["by_time"]["per_day"]) == ["1", "2.5", "3"]
    assert {time_label(r["time"]) for r in row["per_time"]} == set(row["by_time"]["per_day"])
    res = vc.perturb.evaluate(path, task="unseen_singles", folds=3, seed=0, baselines_only=True,
                              by_time=True)  # fmt: skip
    units = res.table.query("split.str.endswith(':by_time') and method == 'train_mean'")["unit"]
    assert {u.split("@")[1] for u in units} == {"1", "2.5", "3"}
    per = pd.DataFrame(next(r for r in res["results"] if r["method"] == "train_mean")["per_time"])
    assert per["time"].map(time_label).isin(["1", "2.5", "3"]).all()
