"""Tiny screen environments shared by the design tests (built once per session)."""

from __future__ import annotations

import pytest

#: Options that make a simulated screen tiny (30 genes, few cells): built in < 1 s.
TINY = {"n_genes": 30, "truth_cells": 50, "observational_cells": 100, "control_cells": 50,
        "cells": 20}  # fmt: skip


@pytest.fixture
def tiny_options() -> dict:
    """Options of a tiny simulated screen."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_knockout():
    import virtualcell as vc

    return vc.design.make_env("sim_knockout", seed=0, **TINY)


@pytest.fixture(scope="session")
def tiny_pairs():
    import virtualcell as vc

    return vc.design.make_env("sim_pairs", seed=1, pool_size=6, single_cells=50, **TINY)
