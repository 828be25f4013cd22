"""benchmarks/demo_identity.py: two bench results tables compared row by row (the check
that a refactoring leaves the demo's results.parquet unchanged)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from _scripts import benchmark_script


@pytest.fixture(scope="module")
def identity():
    return benchmark_script("demo_identity")


def _table() -> pd.DataFrame:
    rows = []
    for method in ("mean", "linear"):
        for seed in (0, 1):
            for metric, value in (("mse", 0.25 + seed), ("pearson", math.nan)):
                rows.append(
                    {
                        "task": "perturb", "dataset": "toy", "split": "singles",
                        "method": method, "seed": seed, "metric": metric, "value": value,
                        "runtime_s": 1.0, "peak_mb": 10.0, "versions": "v1",
                        "baseline": method == "mean", "peer": False, "status": "ok",
                        "cpu_s": 1.0, "load_s": 0.1, "py_peak_mb": None, "error": None,
                        "key": f"k-{method}-{seed}",
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def _run(identity, tmp_path, a: pd.DataFrame, b: pd.DataFrame, capsys, *args: str):
    pa, pb = tmp_path / "a.parquet", tmp_path / "b.parquet"
    a.to_parquet(pa)
    b.to_parquet(pb)
    rc = identity.main([str(pa), str(pb), *args])
    captured = capsys.readouterr()
    return rc, captured.out.splitlines(), captured.err


def test_same_tables_and_timing_columns_are_identical(identity, tmp_path, capsys):
    b = _table()
    b["runtime_s"] = 99.0  # the machine, not the method
    b["peak_mb"] = 1e4
    b = b.iloc[::-1]  # row order does not matter
    rc, lines, _ = _run(identity, tmp_path, _table(), b, capsys)
    assert rc == 0
    assert lines[0].startswith("IDENTICAL: 8 rows in A, 8 in B, 8 in both")
    assert len(lines) == 1


def test_every_difference_is_listed(identity, tmp_path, capsys):
    b = _table()
    b.loc[0, "value"] += 1e-9  # beyond 1e-12
    b.loc[2, "value"] += 1e-15  # within the tolerance
    b.loc[1, "value"] = 0.5  # NaN became a number
    b.loc[4, "status"] = "failed"
    b = b.drop(index=7)
    extra = b.iloc[[0]].assign(metric="new_metric")
    b = pd.concat([b, extra])
    rc, lines, _ = _run(identity, tmp_path, _table(), b, capsys)
    assert rc == 1
    assert lines[0].startswith(
        "DIFFERENT: 8 rows in A, 8 in B, 7 in both; 1 only in A, 1 only in B"
    )
    assert "2 values differ" in lines[0] and "1 differences in status" in lines[0]
    body = lines[1:]
    assert len(body) == 5
    assert sum(line.startswith("value: ") for line in body) == 2
    assert any("'metric': 'mse'" in line and "seed': 0" in line for line in body)
    assert any(line.startswith("status: ") and "B='failed'" in line for line in body)
    assert any(line.startswith("only in A: ") for line in body)
    assert any(line.startswith("only in B: ") and "new_metric" in line for line in body)


def test_ignored_metric_and_unreadable_input(identity, tmp_path, capsys):
    b = _table()
    b.loc[b["metric"] == "mse", "value"] += 1.0
    rc, lines, _ = _run(identity, tmp_path, _table(), b, capsys, "--ignore-metric", "mse")
    assert rc == 0 and "metrics left out: mse" in lines[0]
    bad = _table().drop(columns=["key"])
    rc, _, err = _run(identity, tmp_path, _table(), bad, capsys)
    assert rc == 2
    assert "not a bench results table (missing columns ['key'])" in err


def _record(folder, method, seed, status="ok", rows=(("mse", 0.5),), reason=None):
    import json

    path = folder / "runs" / "perturb" / "toy" / method / f"singles_s{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {
        "key": f"k-{method}-{seed}", "status": status, "versions": {"virtualcell": "0"},
        "cell": {"task": "perturb", "task_version": "1", "dataset": "toy",
                 "dataset_version": "1", "split": "singles", "method": method,
                 "method_version": "1", "seed": seed, "options": {}},
        "rows": [{"metric": m, "value": v} for m, v in rows], "runtime_s": 1.0 + seed,
    }  # fmt: skip
    if reason:
        rec["reason"] = reason
    path.write_text(json.dumps(rec))


def test_records_of_unfinished_runs(identity, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for seed in (0, 1, 2):  # A finished three cells, B two of them (still running)
        _record(a, "mean", seed, rows=(("mse", 0.5 + seed), ("pearson", None)))
    for seed in (0, 1):
        _record(b, "mean", seed, rows=(("mse", 0.5 + seed), ("pearson", None)))
    _record(a, "picky", 0, status="n/a", rows=(), reason="needs doubles")
    _record(b, "picky", 0, status="n/a", rows=(), reason="needs doubles")
    rc = identity.main(["--records", str(a), str(b)])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0, out
    assert out[0].startswith("IDENTICAL: cells finished: 4 in A, 3 in B, 3 in both (compared)")
    _record(b, "mean", 1, rows=(("mse", 1.5 + 1e-6), ("pearson", None)))
    _record(b, "picky", 0, rows=(("mse", 0.1),))  # was n/a
    rc = identity.main(["--records", str(a), str(b)])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert sum(line.startswith("value: ") for line in out) == 1
    assert any(line.startswith("only in A: ") and "'metric': 'n/a'" in line for line in out)
    assert any(line.startswith("only in B: ") and "'method': 'picky'" in line for line in out)
    rc = identity.main(["--records", str(tmp_path / "nothing"), str(b)])
    assert rc == 2 and "no cell records under runs/" in capsys.readouterr().err
