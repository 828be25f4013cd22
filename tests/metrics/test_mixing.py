"""Modality mixing (FOSCTTM, modality ASW): hand-computed cases and references."""

from __future__ import annotations

import numpy as np
import pytest

from virtualcell import ValidationError
from virtualcell.metrics import (
    METRIC_SPECS,
    _mixing,
    batch_asw,
    foscttm,
    higher_is_better,
    modality_asw,
)


def _brute_foscttm(x: np.ndarray, y: np.ndarray) -> float:
    """The definition as SCOT / UnionCom compute it: for each cell the rank of its true
    match among the sorted distances (first occurrence), divided by n - 1; both
    directions, averaged."""
    n = len(x)
    fracs = []
    for a, b in ((x, y), (y, x)):
        per = []
        for i in range(n):
            d = np.sqrt(((a[i] - b) ** 2).sum(axis=1))
            per.append(sorted(d.tolist()).index(d[i]) / (n - 1))
        fracs.append(np.mean(per))
    return float(np.mean(fracs))


def test_foscttm_hand_computed():
    # x -> y: cell 0 (own distance 0.9) has y1 = 0 closer: 1/2; cell 1 (own 1) has y0 at
    # 0.1: 1/2; cell 2: 0. y -> x likewise 1/2, 1/2, 0. Mean 1/3.
    x = np.array([[0.0], [1.0], [4.0]])
    y = np.array([[0.9], [0.0], [4.0]])
    assert foscttm(x, y) == pytest.approx(1 / 3)


def test_foscttm_asymmetric_hand_computed():
    # x -> y: cell 0 own d=2, y1 (d=1) closer -> 1/2; cell 1 own d=0 -> 0; cell 2 own d=0
    # -> 0; mean 1/6. y -> x: y0=2: own x0 d=2, x1 (d=1) closer, x2 (d=3) not -> 1/2;
    # y1=1: own x1 d=0 -> 0; y2=5: own d=0 -> 0; mean 1/6. Total 1/6.
    x = np.array([[0.0], [1.0], [5.0]])
    y = np.array([[2.0], [1.0], [5.0]])
    assert foscttm(x, y) == pytest.approx(1 / 6)


def test_foscttm_ties_not_closer_and_identical_is_zero():
    x = np.array([[0.0], [0.0], [1.0]])
    assert foscttm(x, x) == 0.0


@pytest.mark.parametrize("chunk", [2048, 7])
def test_foscttm_matches_brute_force(monkeypatch, chunk):
    monkeypatch.setattr(_mixing, "_CHUNK", chunk)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(53, 4))
    y = x + rng.normal(scale=0.8, size=x.shape)
    assert foscttm(x, y) == pytest.approx(_brute_foscttm(x, y), abs=1e-12)


def test_foscttm_unrelated_spaces_near_half():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 3)), rng.normal(size=(400, 3))
    assert foscttm(x, y) == pytest.approx(0.5, abs=0.05)
    aligned = x + rng.normal(scale=0.1, size=x.shape)
    assert foscttm(x, aligned) < 0.05


def test_foscttm_bad_input():
    with pytest.raises(ValidationError, match="same cells"):
        foscttm(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValidationError, match="2-D"):
        foscttm(np.zeros(3), np.zeros(3))
    with pytest.raises(ValidationError, match="NaN"):
        foscttm(np.full((3, 2), np.nan), np.zeros((3, 2)))


def test_modality_asw_is_batch_asw_of_pooled_cells():
    rng = np.random.default_rng(2)
    lab = np.repeat(["A", "B"], 30)
    x = rng.normal(size=(60, 3)) + (lab == "B")[:, None] * 6.0
    mixed = x + rng.normal(scale=0.3, size=x.shape)
    apart = x + 20.0
    pooled = batch_asw(
        np.repeat(["x", "y"], 60), np.vstack([x, mixed]), labels=np.concatenate([lab, lab])
    )
    assert modality_asw(x, mixed, labels=lab) == pytest.approx(pooled)
    assert modality_asw(x, mixed, labels=lab) > 0.8
    assert modality_asw(x, apart, labels=lab) < 0.1
    with pytest.raises(ValidationError, match="one entry per cell"):
        modality_asw(x, mixed, labels=lab[:5])


def test_modality_asw_matches_scib_metrics():
    scib = pytest.importorskip("scib_metrics")
    rng = np.random.default_rng(3)
    lab = np.repeat(["A", "B", "C"], 20)
    x = rng.normal(size=(60, 4)) + np.repeat(np.eye(3, 4) * 5, 20, axis=0)
    y = x + rng.normal(scale=0.5, size=x.shape) + 0.7
    ref = float(
        scib.silhouette_batch(
            np.vstack([x, y]), np.concatenate([lab, lab]), np.repeat(["x", "y"], 60)
        )
    )
    assert modality_asw(x, y, labels=lab) == pytest.approx(ref, abs=1e-5)


def test_directions_registered():
    assert not higher_is_better("foscttm") and METRIC_SPECS["foscttm"].bound == 0.0
    assert higher_is_better("modality_asw")
