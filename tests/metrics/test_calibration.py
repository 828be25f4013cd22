"""ECE and reliability bins: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from virtualcell import ValidationError
from virtualcell.metrics import ece, reliability_bins


def test_hand_computed_ece():
    # bins of width 0.5: (0, .5] holds conf .2 (wrong) and .4 (right): acc .5, conf .3
    # (.5, 1] holds .6 (right), .8 (right), 1.0 (wrong): acc 2/3, conf .8
    truth = ["a", "a", "a", "a", "a"]
    pred = ["b", "a", "a", "a", "b"]
    conf = [0.2, 0.4, 0.6, 0.8, 1.0]
    table = reliability_bins(truth, pred, confidence=conf, n_bins=2)
    assert table["n"].tolist() == [2, 3]
    assert table["accuracy"].tolist() == pytest.approx([0.5, 2 / 3])
    assert table["confidence"].tolist() == pytest.approx([0.3, 0.8])
    expected = 2 / 5 * abs(0.5 - 0.3) + 3 / 5 * abs(2 / 3 - 0.8)
    assert ece(truth, pred, confidence=conf, n_bins=2) == pytest.approx(expected)


def test_perfect_and_worst_calibration():
    truth = np.array([0, 1] * 50)
    assert ece(truth, truth, confidence=np.ones(100)) == 0.0
    assert ece(truth, 1 - truth, confidence=np.ones(100)) == 1.0


def test_bin_edges_and_zero_confidence():
    table = reliability_bins([1, 1, 1], [1, 1, 1], confidence=[0.0, 0.5, 0.51], n_bins=2)
    assert table["n"].tolist() == [2, 1]
    assert np.isnan(reliability_bins([1], [1], confidence=[1.0], n_bins=3)["accuracy"][0])


def test_bad_confidence():
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        ece([1, 2], [1, 2], confidence=[0.5, 1.5])
    with pytest.raises(ValidationError, match="2 values"):
        ece([1, 2], [1, 2], confidence=[0.5])
    with pytest.raises(ValidationError, match="n_bins"):
        ece([1], [1], confidence=[0.5], n_bins=0)
