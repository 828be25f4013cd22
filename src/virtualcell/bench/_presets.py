"""The presets of ``vcell bench --preset``.

Every preset runs every registered task with all of its baselines; what changes is the
data, the seeds and the methods' budgets (each task adapter decides its datasets and
method options per preset):

``quick``
    Tiny simulated data, 2 seeds, small budgets: seconds; what the tests run.
``demo``
    Data that ships with the install (bundled in installed packages, or simulated),
    3 seeds: the main job of ``make demo``, at most ~10 minutes on 2 cores.
``full``
    Every dataset reachable: the demo's, the reference data under ``VIRTUALCELL_DATA``
    (BEELINE, DREAM4, SERGIO) and downloads when online; 5 seeds, full budgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import ValidationError
from ._task import PRESET_NAMES

__all__ = ["PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """A named benchmark configuration."""

    name: str
    seeds: tuple[int, ...]
    description: str


PRESETS = {
    "quick": Preset("quick", (0, 1), "tiny simulated data, 2 seeds: seconds (the tests)"),
    "demo": Preset(
        "demo", (0, 1, 2), "data shipped with the install, 3 seeds: <= ~10 min on 2 cores"
    ),
    "full": Preset(
        "full", (0, 1, 2, 3, 4), "every reachable dataset incl. reference data, 5 seeds"
    ),
}
assert tuple(PRESETS) == PRESET_NAMES


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (a one-line error naming the valid ones otherwise)."""
    if name not in PRESETS:
        raise ValidationError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
