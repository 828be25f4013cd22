"""Fixtures: a tiny knowledge base (see ``_kbdata.py``), built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from _kbdata import write_sources


@pytest.fixture(scope="session")
def tiny_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sources(tmp_path_factory.mktemp("kb-src"))


@pytest.fixture(scope="session")
def tiny_kb_path(tiny_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from virtualcell.knowledge import build

    out = tmp_path_factory.mktemp("kb") / "knowledge.sqlite"
    build(tiny_sources, out=out, include_defaults=False)
    return out


@pytest.fixture
def tiny_kb(tiny_kb_path: Path):
    from virtualcell.knowledge import load as kb_open

    kb = kb_open(tiny_kb_path)
    yield kb
    kb.close()
