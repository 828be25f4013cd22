"""Discovery-curve metrics of closed-loop screens, against a direct reference
implementation (sets, loops) and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from virtualcell import ValidationError
from virtualcell.metrics import discovery_auc, discovery_curve, hit_rate, hits_at_budget


def _reference_curve(truth, rounds):
    hits = set(truth)
    seen, out = set(), []
    for r in rounds:
        seen.update(r)
        out.append(len(hits & seen) / len(hits))
    return out


def test_hand_values():
    truth = ["A", "B", "C", "D"]
    rounds = [["A", "X"], ["Y", "Z"], ["B", "C"]]
    np.testing.assert_allclose(discovery_curve(truth, rounds), [0.25, 0.25, 0.75])
    np.testing.assert_array_equal(discovery_curve(truth, rounds, normalize=False), [1, 1, 3])
    assert discovery_auc(truth, rounds) == pytest.approx((0.25 + 0.25 + 0.75) / 3)
    assert hit_rate(truth, ["B", "C", "B"]) == 0.5
    assert hits_at_budget(truth, ["A", "X", "B", "C"], budget=2) == 1
    assert hits_at_budget(truth, ["A", "X", "B", "C"]) == 3


def test_matches_reference_on_random_screens():
    rng = np.random.default_rng(0)
    labels = [f"G{i}" for i in range(40)]
    for _ in range(20):
        truth = list(rng.choice(labels, size=5, replace=False))
        rounds = [list(rng.choice(labels, size=4, replace=True)) for _ in range(6)]
        ref = _reference_curve(truth, rounds)
        np.testing.assert_allclose(discovery_curve(truth, rounds), ref)
        assert discovery_auc(truth, rounds) == pytest.approx(np.mean(ref))
        flat = [x for r in rounds for x in r]
        assert hit_rate(truth, flat) == pytest.approx(ref[-1])
        assert hits_at_budget(truth, flat) == round(ref[-1] * 5)


def test_pairs_match_in_either_order_and_repeats_count_once():
    truth = ["A+B", "C+D"]
    assert discovery_curve(truth, [["B+A", "B+A"], ["D+C"]]).tolist() == [0.5, 1.0]
    assert hits_at_budget(truth, ["B+A", "A+B"]) == 1


def test_earlier_discovery_scores_higher_auc():
    truth = ["A", "B"]
    early = [["A", "B"], ["X", "Y"]]
    late = [["X", "Y"], ["A", "B"]]
    assert discovery_curve(truth, early)[-1] == discovery_curve(truth, late)[-1] == 1.0
    assert discovery_auc(truth, early) == 1.0 > discovery_auc(truth, late) == 0.5


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: discovery_curve([], [["A"]]), "truth is empty"),
        (lambda: discovery_curve("AB", [["A"]]), "not one string"),
        (lambda: discovery_curve(["A"], []), "non-empty"),
        (lambda: discovery_curve(["A"], ["A"]), "proposals\\[0\\] is a string"),
        (lambda: hit_rate(["A"], [3]), "labels"),
        (lambda: hits_at_budget(["A"], ["A"], budget=-1), "budget"),
    ],
)
def test_bad_input_is_refused(call, match):
    with pytest.raises(ValidationError, match=match):
        call()
