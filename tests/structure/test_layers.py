"""The layer rule is a test: a module never imports a higher layer, not even inside a
function, under ``TYPE_CHECKING`` or through ``import virtualcell as vc; vc.<pkg>``.

Order (lowest first; packages on one line share a rank and may import each other)::

    _utils, _errors, _settings, _version
    data, datasets            (datasets may import data, never the reverse)
    pp, metrics
    sim
    knowledge
    tokenize
    models
    train
    grn, perturb, represent, text, spatial, multiomic
    design
    agent
    bench
    pl, tl                    (may import anything below)
    cli                       (cli.py, _cli_types.py, every ``<pkg>/_cli.py`` module and
                               the package root ``virtualcell/__init__.py``: anything)

Every import of one ``virtualcell`` module by another is read from the source with
``ast`` (module level, functions, methods, ``TYPE_CHECKING`` blocks, relative and
absolute forms, ``importlib.import_module("virtualcell....")`` with a literal name, and
attribute use of ``import virtualcell as vc``). Known violations still being removed are
listed in ``KNOWN_VIOLATIONS``; each is an ``xfail(strict=True)`` case, so the list must
shrink as soon as one is fixed.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "virtualcell"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("_utils", "_errors", "_settings", "_version"),
    ("data", "datasets"),
    ("pp", "metrics"),
    ("sim",),
    ("knowledge",),
    ("tokenize",),
    ("models",),
    ("train",),
    ("grn", "perturb", "represent", "text", "spatial", "multiomic"),
    ("design",),
    ("agent",),
    ("bench",),
    ("pl", "tl"),
    ("cli", "_cli_types"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
CLI_RANK = RANK["cli"]
#: Same-rank imports that are still forbidden: (importer, imported).
FORBIDDEN_SAME_RANK = {("data", "datasets")}

#: Upward imports being removed (module, imported package) -> owner and plan. Each entry
#: is an xfail(strict=True) case: it must be deleted as soon as the import is gone.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package(path: Path) -> str:
    """Layer name of a source file (``<pkg>/_cli.py`` and the root count as ``cli``)."""
    rel = path.relative_to(SRC).parts
    if len(rel) == 1:
        stem = rel[0][:-3]
        return "cli" if stem in ("__init__", "__main__") else stem
    if rel[-1] == "_cli.py":
        return "cli"
    return rel[0]


def _target_package(dotted: list[str]) -> str | None:
    """Layer of an imported ``virtualcell.<...>`` module path (parts after the root)."""
    if not dotted:
        return "cli"  # the root package (``import virtualcell``) may pull in anything
    if dotted[-1] == "_cli":
        return "cli"
    return dotted[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    """``(imported package, line)`` for every virtualcell import in ``path``."""
    return _imports_in(path.read_text(), _module_name(path), is_pkg=path.name == "__init__.py")


def _imports_in(text: str, module_name: str, *, is_pkg: bool) -> list[tuple[str, int]]:
    module = module_name.split(".")
    tree = ast.parse(text)
    found: list[tuple[str, int]] = []
    root_aliases: set[str] = set()

    def add(dotted: list[str], line: int) -> None:
        target = _target_package(dotted)
        if target is not None:
            found.append((target, line))

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_pkg else module[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = node.module.split(".") if node.module else []
                full = base + mod
            elif node.module and node.module.split(".")[0] == "virtualcell":
                full = node.module.split(".")
            else:
                continue
            if full[0] != "virtualcell":
                continue
            rest = full[1:]
            if not rest:  # ``from virtualcell import data`` / ``from .. import metrics``
                for alias in node.names:
                    add([alias.name], node.lineno)
            else:
                add(rest, node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] != "virtualcell":
                    continue
                if len(parts) == 1:
                    root_aliases.add(alias.asname or "virtualcell")
                else:
                    add(parts[1:], node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if (
                name == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.startswith("virtualcell.")
            ):
                add(node.args[0].value.split(".")[1:], node.lineno)
    if root_aliases:  # ``import virtualcell as vc`` then ``vc.grn.infer(...)``
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in root_aliases
                and not node.attr.startswith("__")
            ):
                add([node.attr], node.lineno)
    return found


def _violations() -> dict[tuple[str, str], list[str]]:
    """``{(module, imported package): ["file:line", ...]}`` for every upward import."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(SRC.rglob("*.py")):
        importer = _package(path)
        rank = RANK.get(importer)
        for target, line in _imports(path):
            if target == importer:
                continue
            target_rank = RANK.get(target)
            if rank is None or target_rank is None:
                # an attribute of the root that is not a layer (vc.settings, vc.ValidationError)
                if target_rank is None and target not in _PACKAGES:
                    continue
                out[(_module_name(path), f"{target} (no rank: add it to LAYERS)")].append(
                    f"{path.relative_to(SRC.parent)}:{line}"
                )
                continue
            upward = target_rank > rank or (importer, target) in FORBIDDEN_SAME_RANK
            if upward:
                out[(_module_name(path), target)].append(f"{path.relative_to(SRC.parent)}:{line}")
    return dict(out)


_PACKAGES = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def test_every_package_has_a_rank():
    missing = sorted(p for p in _PACKAGES if p not in RANK)
    assert not missing, f"packages without a layer in LAYERS: {missing}"


def test_no_upward_imports():
    found = {k: v for k, v in _violations().items() if k not in KNOWN_VIOLATIONS}
    lines = [
        f"{mod} imports {pkg} (higher layer) at {', '.join(w)}" for (mod, pkg), w in found.items()
    ]
    assert not found, "upward imports:\n" + "\n".join(lines)


@pytest.mark.parametrize(
    "pair",
    [
        pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=v))
        for k, v in KNOWN_VIOLATIONS.items()
    ],
    ids=[f"{m}->{p}" for m, p in KNOWN_VIOLATIONS],
)
def test_known_violation_is_still_there(pair):
    """Fails (xfail) while the violation exists; XPASS (a failure) once it is gone: then
    delete the entry from ``KNOWN_VIOLATIONS``."""
    assert pair not in _violations()


def test_checker_sees_every_import_form():
    """The checker itself: function-level, TYPE_CHECKING, ``from .. import x``,
    ``import_module`` and ``vc.<pkg>`` imports all count."""
    text = (
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..models import CellModel\n"
        "def f():\n    from ..grn import infer\n    import virtualcell as vc\n"
        "    from .. import knowledge\n"
        "    importlib.import_module('virtualcell.bench._stages')\n"
        "    from ..sim._cli import sim\n"
        "    return vc.train\n"
    )
    targets = {t for t, _ in _imports_in(text, "virtualcell.data._probe", is_pkg=False)}
    assert targets == {"models", "grn", "knowledge", "bench", "cli", "train"}
