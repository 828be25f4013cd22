"""Layering of models, train, grn and tl: no import of a higher layer, even inside a function.

The rule (docs/architecture.md): data, datasets -> pp, metrics -> sim -> knowledge ->
tokenize -> models -> train -> tasks (grn, ...) -> design -> agent -> bench -> pl, tl ->
cli. This file checks the packages of the models/train/grn/tl work (and ``data._stream``,
``pl._grn``); the project-wide structure test checks every package the same way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "virtualcell"

#: Layer index of each package (same index = same layer; private helpers at the bottom).
LAYER = {
    "_errors": 0, "_settings": 0, "_utils": 0, "_version": 0,
    "data": 1, "datasets": 1,
    "pp": 2, "metrics": 2,
    "sim": 3,
    "knowledge": 4,
    "tokenize": 5,
    "models": 6,
    "train": 7,
    "grn": 8, "perturb": 8, "represent": 8,
    "design": 9,
    "agent": 10,
    "bench": 11,
    "pl": 12, "tl": 12,
    "cli": 13,
}  # fmt: skip


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, target package)`` of every virtualcell import in ``path``."""
    rel = path.relative_to(SRC)
    mod = ["virtualcell", *rel.with_suffix("").parts]
    is_pkg = mod[-1] == "__init__"
    if is_pkg:
        mod = mod[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod[: len(mod) - node.level + (1 if is_pkg else 0)]
                head = ".".join(base + ([node.module] if node.module else []))
                names = [f"{head}.{a.name}" for a in node.names] if not node.module else [head]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "virtualcell" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _files() -> list[Path]:
    out = [p for pkg in ("models", "train", "grn", "tl") for p in sorted((SRC / pkg).rglob("*.py"))]
    return [*out, SRC / "data" / "_stream.py", SRC / "pl" / "_grn.py"]


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_import(path):
    own = path.relative_to(SRC).parts[0]
    upward = [
        f"line {line}: {own} -> {target}"
        for line, target in _imports(path)
        if target != own and LAYER[target] >= LAYER[own]
    ]
    assert not upward, f"{path.relative_to(SRC)} imports a higher or equal layer: {upward}"


def test_checker_sees_imports_inside_functions(tmp_path, monkeypatch):
    pkg = tmp_path / "virtualcell" / "models"
    pkg.mkdir(parents=True)
    (pkg / "_x.py").write_text("def f():\n    from ..train import train\n")
    monkeypatch.setattr(f"{__name__}.SRC", tmp_path / "virtualcell")
    assert _imports(pkg / "_x.py") == [(2, "train")]
