"""mean_ci: the Student-t interval of a mean, against scipy's reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import virtualcell as vc
from virtualcell._errors import ValidationError


@pytest.mark.parametrize("n", [2, 3, 5, 12])
@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
def test_mean_ci_matches_scipy_t_interval(n, level):
    x = np.random.default_rng(n).normal(0.4, 0.1, size=n)
    ci = vc.metrics.mean_ci(x, level=level)
    low, high = stats.t.interval(level, n - 1, loc=x.mean(), scale=stats.sem(x))
    assert ci.mean == pytest.approx(x.mean())
    assert (ci.low, ci.high) == pytest.approx((low, high))
    assert ci.n == n and ci.level == level


def test_mean_ci_hand_computed_and_degenerate():
    # values 1, 2, 3: mean 2, sd 1, t_{0.975, 2} = 4.302653 -> half width 4.302653 / sqrt(3)
    ci = vc.metrics.mean_ci([1.0, 2.0, 3.0])
    assert ci.low == pytest.approx(2 - 2.4841377, abs=1e-6)
    assert ci.high == pytest.approx(2 + 2.4841377, abs=1e-6)
    same = vc.metrics.mean_ci([0.5, 0.5, 0.5])
    assert same.low == same.high == 0.5


def test_mean_ci_refuses_bad_input():
    with pytest.raises(ValidationError, match="at least 2"):
        vc.metrics.mean_ci([0.3])
    with pytest.raises(ValidationError, match="level"):
        vc.metrics.mean_ci([0.3, 0.4], level=1.0)
    with pytest.raises(ValidationError, match="1-D"):
        vc.metrics.mean_ci([[0.3, 0.4]])
    with pytest.raises(ValidationError, match="values"):
        vc.metrics.mean_ci([0.3, np.nan])
