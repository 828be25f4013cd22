"""The new-user battery (cases in ``cases_newuser.py``; format in ``_battery.py``)."""

from __future__ import annotations

import pytest

from ._battery import run_case
from .cases_newuser import CASES


def test_battery_is_large_and_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) >= 10 and len(set(ids)) == len(ids)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path):
    result = run_case(case, tmp_path / "case")
    assert result.passed, f"{case.id}: " + "; ".join(result.failures) + f"\n{result.output}"
