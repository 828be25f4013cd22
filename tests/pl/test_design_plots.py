"""``vc.pl.discovery_curves``: the pl contract (own figure or given axes, atomic save)
and its checks."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell import ValidationError


def _results():
    out = []
    for seed in range(3):
        for name, base in (("random", 0.1), ("active_ucb", 0.3)):
            curve = np.minimum(1.0, base * np.arange(1, 5) + 0.05 * seed).tolist()
            out.append({"env": "toy", "policy": name, "seed": seed, "batch": 4, "curve": curve})
    return out


def test_draws_mean_and_band(tmp_path):
    from matplotlib.figure import Figure

    path = tmp_path / "curves.png"
    fig = vc.pl.discovery_curves(_results(), path=path)
    assert isinstance(fig, Figure) and path.stat().st_size > 0
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"random (n=3)", "active_ucb (n=3)"}
    np.testing.assert_allclose(lines["active_ucb (n=3)"].get_ydata(), [0.35, 0.65, 0.95, 1.0])
    assert len(ax.collections) == 2  # one band per policy


def test_into_given_axes_and_x_measured():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    out = vc.pl.discovery_curves(_results(), ax=ax, x="measured", band="none")
    assert out is fig
    assert list(ax.get_lines()[0].get_xdata()) == [4, 8, 12, 16]
    assert not ax.collections


def test_bad_input():
    mixed = [*_results(), {"env": "other", "policy": "random", "batch": 4, "curve": [0.0]}]
    with pytest.raises(ValidationError, match="several environments"):
        vc.pl.discovery_curves(mixed)
    with pytest.raises(ValidationError, match="no screen results"):
        vc.pl.discovery_curves(_results(), env="nope")
    with pytest.raises(ValidationError, match="band"):
        vc.pl.discovery_curves(_results(), band="ci")
    with pytest.raises(ValidationError, match="use one of"):
        vc.pl.discovery_curves(_results(), path="x.txt")
