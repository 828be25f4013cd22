"""Classification metrics against scikit-learn and a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import virtualcell as vc
from virtualcell._errors import ValidationError

TRUTH = ["a", "a", "b", "b", "c", "c", "c"]
PRED = ["a", "b", "b", "b", "c", "a", "d"]


def test_hand_computed():
    assert vc.metrics.accuracy(TRUTH, PRED) == pytest.approx(4 / 7)
    # classes a,b,c,d: precision a=1/2, b=2/3, c=1, d=0 -> macro 13/24
    assert vc.metrics.precision(TRUTH, PRED) == pytest.approx((0.5 + 2 / 3 + 1 + 0) / 4)
    # recall a=1/2, b=1, c=1/3, d=0
    assert vc.metrics.recall(TRUTH, PRED) == pytest.approx((0.5 + 1 + 1 / 3) / 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_against_sklearn(seed, average):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 5, 200)
    p = np.where(rng.random(200) < 0.6, t, rng.integers(0, 6, 200))
    assert vc.metrics.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    assert vc.metrics.precision(t, p, average=average) == pytest.approx(
        skm.precision_score(t, p, average=average, zero_division=0)
    )
    assert vc.metrics.recall(t, p, average=average) == pytest.approx(
        skm.recall_score(t, p, average=average, zero_division=0)
    )
    assert vc.metrics.macro_f1(t, p) == pytest.approx(
        skm.f1_score(t, p, average="macro", zero_division=0)
    )


def test_labels_argument_matches_sklearn():
    labels = ["a", "b", "c"]
    assert vc.metrics.precision(TRUTH, PRED, labels=labels) == pytest.approx(
        skm.precision_score(TRUTH, PRED, labels=labels, average="macro", zero_division=0)
    )
    assert vc.metrics.macro_f1(TRUTH, PRED, labels=labels) == pytest.approx(
        skm.f1_score(TRUTH, PRED, labels=labels, average="macro", zero_division=0)
    )


def test_bad_input():
    with pytest.raises(ValidationError, match="differ in length"):
        vc.metrics.accuracy([1, 2], [1])
    with pytest.raises(ValidationError, match="missing"):
        vc.metrics.accuracy(["a", None], ["a", "b"])
    with pytest.raises(ValidationError, match="average"):
        vc.metrics.precision(TRUTH, PRED, average="samples")
