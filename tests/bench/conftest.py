"""Fixtures of the benchmark tests: the toy task registered for one test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def toy():
    """The toy task (``tests/bench/_toy.py``) registered as ``toy`` during the test."""
    import _toy

    from virtualcell.bench import TASKS

    TASKS.add("toy", _toy.TOY, replace=True)
    yield _toy
    if "toy" in TASKS:
        TASKS.remove("toy")
