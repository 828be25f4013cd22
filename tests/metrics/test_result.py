"""The evaluation contract: EvalResult and the one metric-direction table."""

import math

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell.metrics import EVAL_COLUMNS, EvalResult, higher_is_better, metric_spec


def _rows():
    for seed, extra in ((0, 0.0), (1, 2.0)):
        for unit, value in (("A", 1.0), ("B", 3.0 + extra), ("C", math.nan)):
            yield {"method": "m", "baseline": False, "dataset": "d", "split": "s",
                   "seed": seed, "unit": unit, "metric": "l2", "value": value}  # fmt: skip


def test_from_rows_fills_direction_and_orders_columns():
    res = EvalResult.from_rows("perturb/doubles", _rows(), meta={"version": "x"})
    assert tuple(res.table.columns[: len(EVAL_COLUMNS)]) == EVAL_COLUMNS
    assert not res.table["higher_is_better"].any()  # l2: lower is better
    assert len(res.table) == 6


def test_summary_means_units_within_seed_then_seeds():
    s = EvalResult.from_rows("t", _rows()).summary()
    assert len(s) == 1
    # seed 0: mean(1, 3) = 2; seed 1: mean(1, 5) = 3 -> mean 2.5, sd of (2, 3)
    assert s["mean"].iloc[0] == pytest.approx(2.5)
    assert s["sd"].iloc[0] == pytest.approx(np.std([2.0, 3.0], ddof=1))
    assert s["n_seeds"].iloc[0] == 2
    assert s["n_units"].iloc[0] == 4  # NaN units are not counted
    assert EvalResult.from_rows("t", _rows()).value("m", "l2") == pytest.approx(2.5)
    assert math.isnan(EvalResult.from_rows("t", _rows()).value("other", "l2"))


def test_report_reads_as_mapping_and_wide_tables_melt():
    wide = pd.DataFrame({"perturbation": ["A", "B"], "pearson_delta": [0.5, 0.7],
                         "l2": [1.0, 2.0], "method": ["m", "m"]})  # fmt: skip
    res = EvalResult.from_wide(
        "t", wide, metrics=["pearson_delta", "l2"], unit="perturbation",
        constants={"baseline": True, "dataset": "d", "split": "s", "seed": 0},
        report={"results": [1, 2]},
    )  # fmt: skip
    assert res["results"] == [1, 2] and list(res) == ["results"]
    assert set(res.table["unit"]) == {"A", "B"}
    pd_row = res.table[(res.table["metric"] == "pearson_delta") & (res.table["unit"] == "B")]
    assert pd_row["value"].iloc[0] == 0.7 and bool(pd_row["higher_is_better"].iloc[0])


def test_unknown_metric_and_missing_columns_are_clear_errors():
    with pytest.raises(vc.ValidationError, match="unknown metric 'nope'"):
        metric_spec("nope")
    with pytest.raises(vc.ValidationError, match="lacks column"):
        EvalResult(task="t", table=pd.DataFrame({"method": ["m"]}))


def test_directions_are_defined_once():
    assert higher_is_better("pearson_delta") and not higher_is_better("mse")
    assert metric_spec("auprc_ratio").bound is None


def test_brief_is_one_compact_line():
    res = EvalResult.from_rows("grn", [], report={"auprc": 0.123456, "n": 3, "rows": [1]})
    assert res.brief() == "grn evaluation {auprc: 0.1235; n: 3}"
    # without scalar report entries: each method's mean per metric
    assert EvalResult.from_rows("t", _rows()).brief() == "t evaluation {m l2: 2.5}"


def test_score_report_is_the_one_metric_json_form():
    rows = [
        {"method": m, "baseline": b, "dataset": "d", "split": "all", "seed": s, "unit": u,
         "metric": "ari", "value": v}
        for m, b, s, u, v in [("m", False, 0, "a", 0.2), ("m", False, 0, "b", 0.4),
                              ("m", False, 1, "a", 0.6), ("base", True, 0, "a", 0.1)]
    ]  # fmt: skip
    res = EvalResult.from_rows("t", rows)
    rep = res.score_report("ari")
    assert list(rep) == ["metric", "higher_is_better", "results"]
    assert rep["metric"] == "ari" and rep["higher_is_better"] is True
    # units averaged within a seed (0.3), then seeds (0.3, 0.6) -> 0.45; table order kept
    assert rep["results"] == [
        {"method": "m", "baseline": False, "score": pytest.approx(0.45)},
        {"method": "base", "baseline": True, "score": pytest.approx(0.1)},
    ]
    with pytest.raises(vc.ValidationError, match="no metric 'auprc'"):
        res.score_report("auprc")
