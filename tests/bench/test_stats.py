"""Leaderboards that cannot be won by coverage: the reference baseline, the normalised
score, the ranks and the paired tests on a hand-made results table (the GRN demo's
numbers, where the old rule ranked a one-split method first and showed a method above
the reference on the mean but below it on the normalised score)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell.bench import Task
from virtualcell.bench._report import _comparison_lines

INT, OBS = ("sim", "interventional"), ("sim", "observational")


def _table(values: dict[str, dict[tuple[str, str], float]], baselines: set[str], *,
           metric: str = "auprc_ratio", seeds: tuple[int, ...] = (0, 1)) -> pd.DataFrame:  # fmt: skip
    """A results table: ``values[method][(dataset, split)]`` on every seed (seed k adds
    0.001 k, so seeds differ but never change an order)."""
    rows = []
    for method, cells in values.items():
        for (dataset, split), v in cells.items():
            for seed in seeds:
                rows.append(
                    {"task": "t", "dataset": dataset, "split": split, "method": method,
                     "seed": seed, "metric": metric, "value": v + 0.001 * seed, "status": "ok",
                     "baseline": method in baselines, "peer": False, "runtime_s": 1.0,
                     "peak_mb": 10.0}
                )  # fmt: skip
    return pd.DataFrame(rows)


def _task(*metrics: str) -> Task:
    return Task("t", "1", "toy", metrics, lambda p, u: [], lambda: [], lambda *a, **k: [])


#: The GRN demo leaderboard of docs/bench.md before the coverage rule (AUPRC ratio).
GRN_DEMO = {
    "pearson": {INT: 3.624, OBS: 2.340},
    "spearman": {INT: 3.571, OBS: 2.275},
    "partial_correlation": {INT: 8.067, OBS: 1.796},
    "perturbation": {INT: 6.429},
    "grnboost2": {INT: 4.934, OBS: 1.322},
    "genie3": {INT: 3.651, OBS: 1.333},
}


def test_a_one_group_method_does_not_outrank_a_full_method_that_beats_it_there():
    board, info = vc.bench.leaderboard(_table(GRN_DEMO, {"pearson", "spearman"}),
                                       _task("auprc_ratio"))  # fmt: skip
    b = board.set_index("method")
    order = list(board["method"])
    # the old rule put perturbation first (+77% from one split); partial correlation beats
    # it on that very split
    assert order.index("partial_correlation") < order.index("perturbation")
    assert order[-1] == "perturbation"  # partial coverage: listed after every full method
    assert math.isnan(b.loc["perturbation", "rank"])
    assert b.loc["perturbation", "rank_in_groups"] == 2  # behind partial_correlation there
    assert b.loc["perturbation", "n_in_groups"] == 6
    assert b.loc["perturbation", "coverage"] == "1/2" and bool(b.loc["perturbation", "partial"])
    assert b.loc["perturbation", "groups"] == "sim/interventional"
    # compared with the reference on its own group only: pearson's 3.624(5) there
    assert b.loc["perturbation", "auprc_ratio_ref"] == "pearson"
    assert b.loc["perturbation", "auprc_ratio_ref_mean"] == pytest.approx(3.6245)
    assert b.loc["perturbation", "auprc_ratio_norm"] == pytest.approx(6.4295 / 3.6245 - 1)
    assert b.loc["perturbation", "pairs"] == 1
    full = board[~board["partial"]]
    assert list(full["rank"]) == [1, 2, 3, 4, 5]
    assert list(full["method"]) == [
        "partial_correlation", "grnboost2", "pearson", "spearman", "genie3"
    ]  # fmt: skip
    assert info["reference"] == "pearson" and info["groups"] == [
        "sim/interventional", "sim/observational"
    ]  # fmt: skip


def test_mean_and_norm_agree_in_direction():
    board, _ = vc.bench.leaderboard(_table(GRN_DEMO, {"pearson", "spearman"}),
                                    _task("auprc_ratio"))  # fmt: skip
    b = board.set_index("method")
    # grnboost2: mean 3.128 above pearson's 2.982 -> a positive norm (it was -3.7%: the
    # average of +36% and -44% per split against each split's best baseline)
    assert b.loc["grnboost2", "auprc_ratio_mean"] == pytest.approx((4.934 + 1.322) / 2 + 0.0005)
    assert b.loc["grnboost2", "auprc_ratio_norm"] == pytest.approx(3.1285 / 2.9825 - 1)
    assert b.loc["grnboost2", "auprc_ratio_norm"] > 0
    for r in board.itertuples():
        diff = r.auprc_ratio_mean - r.auprc_ratio_ref_mean
        assert np.sign(r.auprc_ratio_norm) == np.sign(diff), r.method
    assert b.loc["pearson", "auprc_ratio_norm"] == 0.0 and bool(b.loc["pearson", "reference"])


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_a_partial_baseline_with_the_best_mean_is_not_the_reference(direction):
    values = {
        "full_base": {INT: 3.0, OBS: 2.0},
        "other_base": {INT: 2.5, OBS: 1.9},
        "partial_base": {OBS: 9.0},  # the best mean of all baselines, on the easier group only
        "method": {INT: 3.5, OBS: 2.5},
        "obs_only": {OBS: 4.0},
    }
    if direction == "lower":  # the same order for an error (10 - v)
        values = {m: {g: 10.0 - v for g, v in c.items()} for m, c in values.items()}
    metric = "auprc_ratio" if direction == "higher" else "mse"
    task = _task(metric)
    board, info = vc.bench.leaderboard(
        _table(values, {"full_base", "other_base", "partial_base"}, metric=metric), task
    )
    b = board.set_index("method")
    assert info["reference"] == "full_base"
    assert b.loc["method", f"{metric}_ref"] == "full_base"
    assert b.loc["method", f"{metric}_norm"] > 0
    assert b.loc["method", "rank"] == 1
    # on its own group the partial baseline is a legitimate reference (it covers it)
    assert b.loc["obs_only", f"{metric}_ref"] == "partial_base"
    assert b.loc["obs_only", f"{metric}_norm"] < 0
    # the partial baseline is the best baseline on its own group: its own reference there
    assert b.loc["partial_base", f"{metric}_ref"] == "partial_base"
    assert b.loc["partial_base", "rank_in_groups"] == 1 and b.loc["obs_only", "rank_in_groups"] == 2
    assert list(board["method"])[:3] == ["method", "full_base", "other_base"]


def test_no_baseline_with_full_coverage_means_no_reference():
    values = {"b1": {INT: 3.0}, "b2": {OBS: 2.0}, "m": {INT: 4.0, OBS: 3.0}}
    board, info = vc.bench.leaderboard(_table(values, {"b1", "b2"}), _task("auprc_ratio"))
    b = board.set_index("method")
    assert info["reference"] is None
    assert b.loc["m", "auprc_ratio_ref"] is None and math.isnan(b.loc["m", "auprc_ratio_norm"])
    assert b.loc["m", "rank"] == 1  # ranked among the full-coverage methods (only itself)
    assert b.loc["b1", "auprc_ratio_ref"] == "b1" and b.loc["b1", "auprc_ratio_norm"] == 0


def test_paired_test_uses_the_shared_groups_and_the_methods_reference():
    groups = [("d", f"s{k}") for k in range(6)]
    values = {
        "base": {g: 1.0 + k for k, g in enumerate(groups)},
        "part_base": {g: 10.0 + k for k, g in enumerate(groups[:4])},
        "good": {g: 1.5 + k for k, g in enumerate(groups)},
        "part_good": {g: 10.5 + k for k, g in enumerate(groups[:4])},
    }
    board, _ = vc.bench.leaderboard(_table(values, {"base", "part_base"}), _task("auprc_ratio"))
    b = board.set_index("method")
    assert b.loc["good", "pairs"] == 6 and b.loc["good", "p"] == pytest.approx(2 / 2**6)
    # part_good's groups: part_base covers them and is better there than base
    assert b.loc["part_good", "auprc_ratio_ref"] == "part_base"
    assert b.loc["part_good", "pairs"] == 4 and b.loc["part_good", "p"] == pytest.approx(2 / 16)


def test_the_report_lists_which_methods_were_compared_on_which_groups():
    _, info = vc.bench.leaderboard(_table(GRN_DEMO, {"pearson", "spearman"}),
                                   _task("auprc_ratio"))  # fmt: skip
    full, part = info["comparisons"]
    assert full["groups"] == ["sim/interventional", "sim/observational"]
    assert full["reference"] == "pearson" and "perturbation" not in full["ranked"]
    assert part == {
        "groups": ["sim/interventional"],
        "ranked": ["perturbation"],
        "methods": [*full["ranked"], "perturbation"],
        "reference": "pearson",
    }
    lines = _comparison_lines(info)
    assert lines[0].startswith("on all 2 groups (sim/interventional, sim/observational), "
                               "reference pearson: ranked partial_correlation, grnboost2")  # fmt: skip
    assert lines[1].startswith(
        "on 1 of 2 groups (sim/interventional), reference pearson: ranked perturbation "
        "(against partial_correlation, grnboost2, pearson"
    )
    assert "mean / ref - 1" in info["norm"]


def test_task_metrics_come_from_the_one_direction_table():
    task = _task("auprc_ratio", "mse")
    assert task.metrics == (vc.metrics.METRIC_SPECS["auprc_ratio"], vc.metrics.METRIC_SPECS["mse"])
    assert vc.bench.Metric is vc.metrics.MetricSpec
    # a spec given for a known name is replaced by the table's; a contradicting one fails
    same = _task(vc.bench.Metric("l2", False, None, "mine"))
    assert same.primary == vc.metrics.METRIC_SPECS["l2"]
    with pytest.raises(vc.ValidationError, match="'mse' is given as higher-is-better"):
        _task(vc.bench.Metric("mse", True))
    with pytest.raises(vc.ValidationError, match="unknown metric 'nope'"):
        _task("nope")
    # an adapter's own new metric keeps its spec
    assert _task(vc.bench.Metric("toy_score", False)).primary.higher_is_better is False
    # every built-in task's metrics are the table's specs
    for name in vc.bench.TASKS.names():
        for m in vc.bench.TASKS.get(name).metrics:
            assert m is vc.metrics.METRIC_SPECS[m.name], (name, m.name)
