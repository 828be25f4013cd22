"""benchmarks/renge_paired.py: paired differences over fold seeds from renge_cv.py's
per-gene tables (a seed counted once across files; L2 ahead = lower)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _scripts import benchmark_script
from scipy import stats


@pytest.fixture(scope="module")
def paired_module():
    return benchmark_script("renge_paired")


def _csv(path: Path, seeds, ours_pd, base_pd, l2_shift=0.0) -> Path:
    rows = []
    for s, a, b in zip(seeds, ours_pd, base_pd, strict=True):
        for gene, noise in (("A", -0.01), ("B", 0.01)):  # the gene mean is the value
            rows.append({"seed": s, "fold": 0, "method": "ours", "perturbation": gene,
                         "pearson_delta": a + noise, "pds": 0.5, "l2": 1.0 + l2_shift})  # fmt: skip
            rows.append({"seed": s, "fold": 0, "method": "train_mean", "perturbation": gene,
                         "pearson_delta": b + noise, "pds": 0.5, "l2": 1.0})  # fmt: skip
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_paired_difference_interval_and_counts(paired_module, tmp_path):
    ours, base = [0.4, 0.5, 0.3, 0.45], [0.35, 0.5, 0.32, 0.3]
    first = _csv(tmp_path / "a.csv", [0, 1, 2, 3], ours, base, l2_shift=-0.1)
    # seed 3 again in a second file with other values: the first file's is kept
    second = _csv(tmp_path / "b.csv", [3, 4], [0.0, 0.6], [0.9, 0.5], l2_shift=-0.1)
    table = paired_module.per_seed([first, second])
    row = paired_module.paired(table, "ours", "train_mean", "pearson_delta")
    diff = np.array([0.05, 0.0, -0.02, 0.15, 0.1])
    half = stats.t.ppf(0.975, 4) * diff.std(ddof=1) / np.sqrt(5)
    assert row["seeds"] == 5
    assert row["difference [95 % t interval]"] == (
        f"{diff.mean():+.3f} [{diff.mean() - half:+.3f}, {diff.mean() + half:+.3f}]"
    )
    assert row["ahead / tied / behind"] == "3 / 1 / 1"
    assert paired_module.paired(table, "ours", "train_mean", "l2")["ahead / tied / behind"] == (
        "5 / 0 / 0"  # lower L2 is ahead
    )
    assert paired_module.paired(table, "ours", "train_mean", "pds_targets_out") is None


def test_against_adds_a_named_method_and_refuses_unknown(paired_module, tmp_path, monkeypatch):
    path = _csv(tmp_path / "a.csv", [0, 1, 2], [0.4, 0.5, 0.3], [0.35, 0.5, 0.32])
    pp = pd.read_csv(path)
    other = pp[pp["method"] == "ours"].assign(method="default", pearson_delta=0.2)
    pd.concat([pp, other]).to_csv(path, index=False)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr("sys.argv", ["renge_paired", str(path), "--ours", "ours",
                                     "--against", "default", "--out", str(out)])  # fmt: skip
    paired_module.main()
    text = (out / "renge_paired.md").read_text()
    assert "--against default" in text
    rows = [line for line in text.splitlines() if line.startswith("| ours |")]
    # pearson_delta: against train_mean and against the named method; ours - default =
    # the gene means 0.4, 0.5, 0.3 minus 0.2 (the +-0.01 gene noise cancels)
    assert any("| default |" in r and "+0.200 [" in r and "3 / 0 / 0" in r for r in rows)
    assert any("| train_mean |" in r for r in rows)
    assert "(best baseline by mean: `train_mean`)" in text  # not the named method
    monkeypatch.setattr("sys.argv", ["renge_paired", str(path), "--ours", "ours",
                                     "--against", "nope", "--out", str(out)])  # fmt: skip
    with pytest.raises(SystemExit, match="--against nope not in the tables"):
        paired_module.main()
