"""Shared test configuration.

* ``VIRTUALCELL_DATA`` defaults to ``../shared/data`` beside the checkout (the reference
  data); tests that need it use the ``shared_data`` fixture and skip when it is absent.
* Downloads are forbidden (``VIRTUALCELL_OFFLINE=1``) and the cache is a temporary folder,
  so no test touches the network or the user's cache.
* ``--runslow`` enables tests marked ``slow``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
_DEFAULT_SHARED = _REPO.parent / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")
    parser.addoption("--runnetwork", action="store_true", help="run tests marked network")


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("VIRTUALCELL_DATA") and _DEFAULT_SHARED.is_dir():
        os.environ["VIRTUALCELL_DATA"] = str(_DEFAULT_SHARED)
    os.environ.setdefault("VIRTUALCELL_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gates = {
        "slow": (config.getoption("--runslow"), "slow: run with --runslow"),
        "network": (config.getoption("--runnetwork"), "needs internet: run with --runnetwork"),
    }
    for item in items:
        for marker, (enabled, reason) in gates.items():
            if marker in item.keywords and not enabled:
                item.add_marker(pytest.mark.skip(reason=reason))
        if "gpu" in item.keywords:
            import torch

            if not torch.cuda.is_available():
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets a private cache folder and offline mode; settings restored after."""
    from virtualcell import settings

    monkeypatch.setattr(settings, "cache_dir", tmp_path_factory.mktemp("vc-cache"))
    monkeypatch.setattr(settings, "offline", True)
    monkeypatch.setattr(settings, "verbosity", 0)
    data = os.environ.get("VIRTUALCELL_DATA")
    monkeypatch.setattr(settings, "data_dir", Path(data) if data else None)
    yield


@pytest.fixture
def shared_data() -> Path:
    """Root of the reference data (``../shared/data``); skips the test when absent."""
    from virtualcell import settings

    if settings.data_dir is None or not settings.data_dir.is_dir():
        pytest.skip("reference data (VIRTUALCELL_DATA / ../shared/data) not available")
    return settings.data_dir
