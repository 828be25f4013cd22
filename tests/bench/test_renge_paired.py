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
