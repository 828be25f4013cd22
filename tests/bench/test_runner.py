"""The benchmark runner on the toy task: grid, tidy table, resume, failures, baselines,
user-data flags, parallel and Dask execution."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell import ValidationError
from virtualcell.bench import RESULT_COLUMNS


def _values(table: pd.DataFrame) -> pd.DataFrame:
    cols = ["task", "dataset", "split", "method", "seed", "metric", "value", "status"]
    return table[cols].sort_values(cols[:6]).reset_index(drop=True)


def test_grid_table_and_files(toy, tmp_path):
    res = vc.bench.run("quick", out=tmp_path, tasks=["toy"], n_jobs=1)
    t = res.table
    assert list(t.columns) == RESULT_COLUMNS
    # 4 datasets x 2 splits x {mean, zero, good, broken, picky} x 2 seeds = 80 cells;
    # noisy is demo/full only, needs_pkg cannot import, the unavailable dataset is skipped
    assert res.manifest["cells"] == {
        "total": 80, "reused": 0, "computed": 80, "failed": 16, "not_applicable": 8,
    }  # fmt: skip
    ok = t[t["status"] == "ok"]
    assert set(ok["method"]) == {"mean", "zero", "good", "picky"}
    row = ok[(ok.dataset == "d2") & (ok.split == "b") & (ok.method == "good") & (ok.seed == 1)]
    assert row.set_index("metric")["value"].to_dict() == pytest.approx(
        {"score": 0.6 + 0.01 + 0.02 + 0.1, "error": 1 - 0.73}
    )
    assert ok["baseline"].tolist() == ok["method"].isin(["mean", "zero"]).tolist()
    assert (ok["runtime_s"] >= 0).all() and (ok["peak_mb"] > 10).all()
    assert ok["versions"].str.contains("task=toy@1;dataset=").all()
    failed = t[t["status"] == "failed"]
    assert set(failed["method"]) == {"broken"} and (failed["metric"] == "error").all()
    assert failed["error"].str.contains("broken on purpose").all()
    # files and their agreement
    on_disk = pd.read_parquet(tmp_path / "results.parquet")
    pd.testing.assert_frame_equal(_values(on_disk), _values(t))
    csv = pd.read_csv(tmp_path / "results.csv")
    assert len(csv) == len(t) and list(csv.columns) == RESULT_COLUMNS
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    skipped = {(s["what"], s["name"]) for s in manifest["skipped"]}
    assert skipped == {("dataset", "gone"), ("peer", "needs_pkg")}
    assert manifest["tasks"]["toy"]["not_in_preset"] == ["noisy"]
    assert {n["method"] for n in manifest["not_applicable"]} == {"picky"}
    assert manifest["dataset_facts"]["toy"]["d2"] == {"base": 0.6}
    assert (tmp_path / "report.html").is_file() and (tmp_path / "report.md").is_file()


def test_rerun_reuses_everything_and_retries_failures(toy, tmp_path, capsys):
    first = vc.bench.run("quick", out=tmp_path, tasks=["toy"], n_jobs=1, report=False)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").rglob("*.json")}
    again = vc.bench.run("quick", out=tmp_path, tasks=["toy"], n_jobs=1, report=False)
    # finished (ok and n/a) cells are reused; the 16 failed ones are tried again
    assert again.reused == 64 and again.computed == 16
    pd.testing.assert_frame_equal(_values(first.table), _values(again.table))
    ok_files = [p for p, t in stamps.items() if '"status": "failed"' not in p.read_text()]
    assert len(ok_files) == 64
    assert all(p.stat().st_mtime_ns == stamps[p] for p in ok_files)  # never rewritten
    # a changed option (here: a different seed set) only adds cells
    more = vc.bench.run("quick", out=tmp_path, tasks=["toy"], seeds=[0, 1, 2], n_jobs=1,
                        report=False)  # fmt: skip
    assert more.reused == 64 and more.computed == 16 + 40
    fresh = vc.bench.run("quick", out=tmp_path, tasks=["toy"], n_jobs=1, resume=False,
                         report=False)  # fmt: skip
    assert fresh.reused == 0 and fresh.computed == 80


def test_baselines_cannot_be_switched_off_silently(toy, tmp_path):
    res = vc.bench.run("quick", out=tmp_path, tasks=["toy"], methods=["good"], n_jobs=1)
    assert set(res.table["method"]) == {"good", "mean", "zero"}  # baselines added
    res = vc.bench.run(
        "quick", out=tmp_path / "x", tasks=["toy"], methods=["good"], exclude=["zero"], n_jobs=1
    )
    assert set(res.table["method"]) == {"good", "mean"}
    assert res.manifest["tasks"]["toy"]["excluded_baselines"] == ["zero"]
    html = (tmp_path / "x" / "report.html").read_text()
    assert "Baselines excluded by the user:</b> zero" in html
    md = (tmp_path / "x" / "report.md").read_text()
    assert "Baselines excluded by the user:** zero" in md


def test_bad_options_are_one_line_errors(toy, tmp_path):
    with pytest.raises(ValidationError, match="unknown preset 'fast'"):
        vc.bench.run("fast", out=tmp_path, tasks=["toy"])
    with pytest.raises(ValidationError, match="unknown benchmark task 'nope'"):
        vc.bench.run("quick", out=tmp_path, tasks=["nope"])
    with pytest.raises(ValidationError, match=r"unknown method\(s\) \['nope'\]"):
        vc.bench.run("quick", out=tmp_path, tasks=["toy"], methods=["nope"])
    with pytest.raises(ValidationError, match=r"unknown dataset\(s\) \['d9'\]"):
        vc.bench.run("quick", out=tmp_path, tasks=["toy"], datasets=["d9"])
    with pytest.raises(ValidationError, match="--data needs --task"):
        vc.bench.run("quick", out=tmp_path, data="x.h5ad")
    with pytest.raises(ValidationError, match="task toy with --data needs --label-key"):
        vc.bench.run("quick", out=tmp_path, tasks=["toy"], data="x.h5ad")
    with pytest.raises(ValidationError, match="--truth not used by task"):
        vc.bench.run("quick", out=tmp_path, tasks=["toy"], data="x", user_options={"truth": "t"})
    with pytest.raises(ValidationError, match="describe user data"):
        vc.bench.run("quick", out=tmp_path, tasks=["toy"], user_options={"label_key": "c"})


def test_user_data_replaces_the_preset_datasets(toy, tmp_path):
    res = vc.bench.run(
        "quick", out=tmp_path, tasks=["toy"], data="my.h5ad",
        user_options={"label_key": "cell_type"}, n_jobs=1,
    )  # fmt: skip
    assert set(res.table["dataset"]) == {"user"}
    assert res.manifest["user_data"] == {"path": "my.h5ad", "options": {"label_key": "cell_type"}}


def test_local_processes_and_dask_give_the_serial_table(toy, tmp_path):
    serial = vc.bench.run("quick", out=tmp_path / "s", tasks=["toy"], n_jobs=1, report=False)
    pooled = vc.bench.run("quick", out=tmp_path / "p", tasks=["toy"], n_jobs=2, report=False)
    pd.testing.assert_frame_equal(_values(serial.table), _values(pooled.table))
    pids = {json.loads(p.read_text())["worker_pid"] for p in (tmp_path / "p").rglob("*_s*.json")}
    assert len(pids) >= 2  # really ran in more than one worker process
    dask = vc.bench.run(
        "quick", out=tmp_path / "d", tasks=["toy"], n_jobs=2, dask="local", report=False
    )
    pd.testing.assert_frame_equal(_values(serial.table), _values(dask.table))
    assert dask.manifest["backend"]["dask"] == "local"
    assert dask.manifest["backend"]["workers"] == 2


def test_leaderboard_numbers_by_hand(toy, tmp_path):
    res = vc.bench.run("quick", out=tmp_path, tasks=["toy"], n_jobs=1, report=False)
    board, info = vc.bench.leaderboard(res.table, toy.TOY)
    assert info["reference"] == "mean"  # best baseline on the primary metric
    b = board.set_index("method")
    # seed k: mean over 4 datasets x 2 splits of base + 0.01k (+ 0.02 on b) = 0.5225 + 0.01k
    assert b.loc["mean", "score_mean"] == pytest.approx(0.5275)
    assert b.loc["mean", "score_sd"] == pytest.approx(np.std([0.5225, 0.5325], ddof=1))
    # good is 0.1 above mean everywhere: share of the headroom above the reference's mean
    # over the same groups gained; error (lower is better): relative error reduction
    assert b.loc["good", "score_norm"] == pytest.approx(0.1 / (1 - 0.5275))
    assert b.loc["good", "score_ref"] == "mean"
    assert b.loc["good", "score_ref_mean"] == pytest.approx(0.5275)
    assert b.loc["good", "error_norm"] == pytest.approx(1 - (1 - 0.6275) / (1 - 0.5275))
    # picky covers split a only (base + 0.005 on 4 datasets): compared on those 4 groups
    on_a = np.mean([base + 0.005 for base in toy.BASE.values()])
    assert b.loc["picky", "score_mean"] == pytest.approx(on_a + 0.1)
    assert b.loc["picky", "score_ref_mean"] == pytest.approx(on_a)
    assert b.loc["picky", "score_norm"] == pytest.approx(0.1 / (1 - on_a))
    # one pair per (dataset, split): 8 pairs, all better -> exact two-sided p = 2 / 2**8;
    # Holm over zero, good and picky (picky: 4 pairs, p = 2 / 2**4)
    assert b.loc["good", "pairs"] == 8 and b.loc["good", "p"] == pytest.approx(2 / 256)
    assert b.loc["good", "p_holm"] == pytest.approx(3 * 2 / 256)
    assert b.loc["picky", "p"] == pytest.approx(2 / 16) and b.loc["picky", "mark"] == ""
    assert b.loc["good", "mark"] == "▲" and b.loc["zero", "mark"] == "▼"
    assert b.loc["picky", "coverage"] == "4/8" and bool(b.loc["picky", "partial"])
    # full coverage ranked first; picky (partial) after them, ranked among the 4 methods
    # that cover its groups (tied first with good there)
    assert list(board["method"]) == ["good", "mean", "zero", "picky"]
    assert list(board["rank"][:3]) == [1, 2, 3] and np.isnan(b.loc["picky", "rank"])
    assert b.loc["picky", "rank_in_groups"] == 1 and b.loc["picky", "n_in_groups"] == 4
