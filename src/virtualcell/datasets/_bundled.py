"""Locate data files shipped inside installed packages (without importing them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .._errors import DatasetNotAvailableError

__all__ = ["package_file"]


def _package_root(package: str) -> Path | None:
    """Folder of an installed package, found without executing its ``__init__``."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, relative: str, *, dataset: str, install_hint: str) -> Path:
    """Path of ``relative`` inside installed ``package``.

    Raises
    ------
    DatasetNotAvailableError
        The package is not installed or does not contain the file; the message says how to
        install it.
    """
    root = _package_root(package)
    if root is None:
        raise DatasetNotAvailableError(
            f"dataset {dataset!r} is shipped inside the {package!r} package, which is not "
            f"installed; run `{install_hint}`"
        )
    path = root / relative
    if not path.exists():
        raise DatasetNotAvailableError(
            f"dataset {dataset!r}: {relative} not found in the installed {package!r} package "
            f"({root}); reinstall it with `{install_hint}`"
        )
    return path


def find_in_package_tree(package: str, relative: str) -> Path | None:
    """``relative`` inside the package folder or beside it (source checkouts), if present."""
    root = _package_root(package)
    if root is None:
        return None
    for base in (root, root.parent, root.parent.parent):
        candidate = base / relative
        if candidate.exists():
            return candidate
    return None
