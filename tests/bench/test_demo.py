"""The main job: stage mechanics, report files, failure reporting and exit codes."""

from __future__ import annotations

import json

import pytest

import virtualcell as vc
from virtualcell import VirtualCellError
from virtualcell.bench import _stages
from virtualcell.cli import main


def test_simulate_stage_writes_report_and_numbers(tmp_path):
    result = vc.bench.demo(tmp_path, stages=("simulate",), log=lambda _: None)
    assert result.ok
    numbers = json.loads((tmp_path / "results.json").read_text())["stages"]["simulate"]
    assert numbers["status"] == "ok"
    assert numbers["shape"] == [3720, 100]
    assert numbers["conditions"] == 61  # control + 30 singles + 30 doubles
    assert 0.0 <= numbers["nonadditive_fraction"] <= 1.0
    assert (tmp_path / "sim_perturbseq.h5ad").is_file()
    assert (tmp_path / "sim_network.png").stat().st_size > 1000
    report = result.report.read_text()
    assert "## simulate — ok" in report and "true_edges" in report


def test_unknown_stage_is_a_clear_error(tmp_path):
    with pytest.raises(VirtualCellError, match="unknown demo stage"):
        vc.bench.demo(tmp_path, stages=("nope",))


def test_failed_stage_is_reported_and_cli_exits_1(tmp_path, monkeypatch, capsys):
    def broken(ctx):
        raise RuntimeError("boom in stage")

    def fine(ctx):
        return {"answer": 42}

    monkeypatch.setattr(_stages, "STAGES", {"broken": broken, "fine": fine})
    code = main(["demo", "--out", str(tmp_path)])
    assert code == 1
    numbers = json.loads((tmp_path / "results.json").read_text())["stages"]
    assert numbers["broken"]["status"] == "failed"
    assert "boom in stage" in numbers["broken"]["error"]
    assert numbers["fine"] == {"status": "ok", "answer": 42, "seconds": numbers["fine"]["seconds"]}
    assert "boom in stage" in (tmp_path / "broken.error.txt").read_text()
    assert "failed stages: broken" in capsys.readouterr().err
