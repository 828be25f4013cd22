"""``docs/architecture.md`` shows the package import graph as ``scripts/import_graph.py``
prints it now (rerun the script and paste its table when this fails)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "_vc_import_graph", ROOT / "scripts" / "import_graph.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_architecture_page_shows_the_current_import_graph():
    table = _script().table().strip()
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert table.splitlines()[0] == "| package | imports |"
    assert table in page, (
        "docs/architecture.md's import graph is stale: replace it with the output of "
        "python scripts/import_graph.py\n" + table
    )
