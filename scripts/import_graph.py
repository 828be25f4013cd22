"""Print the package-level import graph of ``src/virtualcell`` as a markdown table, read
with the layer test's own reader (``tests/structure/test_layers.py``: every import form).

    python scripts/import_graph.py

``_errors`` / ``_settings`` / ``_version`` are omitted; ``<pkg>/_cli.py`` modules and the
package root count as the ``cli`` layer (whose row is summarised). ``docs/architecture.md``
holds this table; ``tests/structure/test_import_graph_doc.py`` fails when it is stale.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _layers_module():
    spec = importlib.util.spec_from_file_location(
        "_vc_test_layers", ROOT / "tests" / "structure" / "test_layers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def graph() -> dict[str, set[str]]:
    """``{package: packages it imports}`` (every import form)."""
    layers = _layers_module()
    out: dict[str, set[str]] = defaultdict(set)
    for path in sorted(layers.SRC.rglob("*.py")):
        pkg = layers._package(path)
        for target, _ in layers._imports(path):
            if target != pkg and target not in ("_errors", "_settings", "_version"):
                out[pkg].add(target)
    return out


def table() -> str:
    """The graph as the markdown table of ``docs/architecture.md``."""
    from virtualcell._utils import markdown_table

    layers = _layers_module()
    g = graph()
    rows = []
    for names in layers.LAYERS:
        for name in names:
            if name in ("_errors", "_settings", "_version"):
                continue
            imports = (
                "every package" if name == "cli" else ", ".join(sorted(g.get(name, ()))) or "-"
            )
            rows.append({"package": f"`{name}`", "imports": imports})
    return markdown_table(rows)


def main() -> None:
    print(table())


if __name__ == "__main__":
    main()
