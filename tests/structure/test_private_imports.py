"""No package imports another package's private module: what one package needs from
another is exported in that package's ``__init__`` / ``__all__`` (the shared private
utilities are ``virtualcell._utils``'s public names, e.g. ``lazy_exports``).

Every import of one ``virtualcell`` module by another is read from the source with
``ast`` (module level, functions, methods, ``TYPE_CHECKING`` blocks; relative and absolute
``from`` imports, ``from ..pkg import _mod``, ``import virtualcell.pkg._mod``,
``importlib.import_module("virtualcell.pkg._mod")`` with a literal name, and
``vc.pkg._mod`` after ``import virtualcell as vc``). An import is *private* when its
target lies in another top-level package than the importer's and a part of the target
after that package starts with ``_`` (``from ..train._config import TrainConfig``).
Importing a top-level private package itself (``from .._utils import log``,
``from .._errors import ValidationError``) is not: those are the shared layer.
The command line layer (``cli.py``) loads each package's ``_cli`` module by name
(``importlib.import_module`` of a computed string), which this reader does not see.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "virtualcell"


def _module_parts(path: Path) -> list[str]:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _targets(text: str, module: list[str], *, is_pkg: bool) -> list[tuple[list[str], int]]:
    """``(dotted target after virtualcell, line)`` of every virtualcell import in ``text``
    (``module``: the importer's dotted name, ``virtualcell`` first)."""
    tree = ast.parse(text)
    found: list[tuple[list[str], int]] = []
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_pkg else module[:-1]
                full = base[: len(base) - (node.level - 1)]
                full = full + (node.module.split(".") if node.module else [])
            elif node.module:
                full = node.module.split(".")
            else:
                continue
            if not full or full[0] != "virtualcell":
                continue
            for alias in node.names:  # ``from ..pkg import _mod`` names a module
                found.append(([*full[1:], alias.name], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "virtualcell":
                    if len(parts) == 1:
                        aliases.add(alias.asname or "virtualcell")
                    else:
                        found.append((parts[1:], node.lineno))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0] if node.args else None
            if (
                name == "import_module"
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value.startswith("virtualcell.")
            ):
                found.append((arg.value.split(".")[1:], node.lineno))
    if aliases:  # ``vc.pkg._mod`` after ``import virtualcell as vc``
        for node in ast.walk(tree):
            chain: list[str] = []
            cur: ast.AST = node
            while isinstance(cur, ast.Attribute):
                chain.insert(0, cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id in aliases and len(chain) >= 2:
                if isinstance(node, ast.Attribute):
                    found.append((chain[:2], node.lineno))
    return found


def _private(importer: str, target: list[str]) -> bool:
    """A target in another top-level package, reached through a private part."""
    if not target or target[0] == importer:
        return False
    return any(p.startswith("_") and not p.startswith("__") for p in target[1:])


def _importer(module: list[str]) -> str:
    """Top-level package of a module (a root-level module is its own package)."""
    return module[1] if len(module) > 1 else module[0]


def private_imports(paths: list[Path] | None = None) -> list[str]:
    """``"file:line: importer -> target"`` for every private cross-package import."""
    out = []
    for path in paths or sorted(SRC.rglob("*.py")):
        module = _module_parts(path)
        importer = _importer(module)
        for target, line in _targets(path.read_text(), module, is_pkg=path.name == "__init__.py"):
            if _private(importer, target):
                rel = path.relative_to(SRC.parent)
                out.append(f"{rel}:{line}: {importer} -> {'.'.join(target)}")
    return out


def test_no_private_cross_package_imports():
    found = private_imports()
    assert not found, (
        "imports of another package's private module (export the name from that "
        "package's __init__ / __all__ and import it from there):\n" + "\n".join(found)
    )


def test_checker_sees_every_form():
    text = (
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "import virtualcell as vc\n"
        "if TYPE_CHECKING:\n    from ..train._config import TrainConfig\n"
        "def f():\n"
        "    from .._utils._lazy import lazy_exports\n"
        "    from ..represent import _methods\n"
        "    from virtualcell.knowledge._sources import collect\n"
        "    import virtualcell.models._pca\n"
        "    importlib.import_module('virtualcell.bench._stats')\n"
        "    return vc.grn._base\n"
        # allowed: public names, the shared private packages, the own package's modules
        "from .._utils import log\n"
        "from .._errors import ValidationError\n"
        "from ..represent import expression\n"
        "from ._labels import marker_genes\n"
        "from . import _c2s\n"
        "vc.data.expression\n"
    )
    module = ["virtualcell", "text", "_probe"]
    found = {
        ".".join(t)
        for t, _ in _targets(text, module, is_pkg=False)
        if _private(_importer(module), t)
    }
    assert found == {
        "train._config.TrainConfig",
        "_utils._lazy.lazy_exports",
        "represent._methods",
        "knowledge._sources.collect",
        "models._pca",
        "bench._stats",
        "grn._base",
    }
