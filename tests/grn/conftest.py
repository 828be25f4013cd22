"""Fixtures of the GRN tests (tiny synthetic networks built in memory)."""

from __future__ import annotations

import pytest
from grn_synthetic import linear_gaussian


@pytest.fixture
def linear_net():
    return linear_gaussian()
