"""Parse-time checks of command-line values for the model, training, GRN and tl commands.

Each function is a typer ``callback``: it runs while the arguments are parsed, before any
work starts, and turns a bad value into a one-line usage error naming the option (exit
2). Config fields are checked by constructing the config dataclass with that one value,
so the command line and the Python API share one rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from .._errors import ValidationError

__all__ = [
    "checked",
    "config_field",
    "device",
    "existing_folder",
    "output_file",
    "output_folder",
]


def checked(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Callback from a library check: ``check(value)`` returns the value to use or raises
    :class:`~virtualcell.ValidationError`, which becomes a usage error of the option."""

    def callback(value: Any) -> Any:
        if value is None:
            return value
        try:
            return check(value)
        except ValidationError as err:
            raise typer.BadParameter(str(err)) from None

    return callback


def config_field(config_cls: type, name: str) -> Callable[[Any], Any]:
    """Callback: the value must be valid for ``config_cls``'s field ``name``."""

    def check(value: Any) -> Any:
        config_cls(**{name: value})
        return value

    return checked(check)


def _check_device(value: str) -> str:
    from ..models._device import check_device

    return check_device(value)


#: Callback: a device this machine has (``auto``, ``cpu``, ``cuda[:N]``, ``mps``).
device = checked(_check_device)


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _writable_parent(path: Path) -> None:
    parent = _parent(path)
    if not parent.is_dir():
        raise typer.BadParameter(f"folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise typer.BadParameter(f"folder {parent} is not writable")


def output_file(*suffixes: str) -> Callable[[Path | None], Path | None]:
    """Callback: a file to write whose format follows its suffix (one of ``suffixes``),
    in an existing, writable folder."""

    def check(path: Path | None) -> Path | None:
        if path is None:
            return None
        if path.suffix.lower() not in suffixes:
            raise typer.BadParameter(
                f"{path.name!r}: the format follows the suffix; use {' or '.join(suffixes)}"
            )
        if path.exists() and path.is_dir() and path.suffix.lower() != ".zarr":
            raise typer.BadParameter(f"{path} is a folder, not a file")
        _writable_parent(path)
        return path

    return check


def output_folder(path: Path | None) -> Path | None:
    """Callback: a folder to write (created if missing) inside an existing folder."""
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} is a file; give a folder")
    _writable_parent(path)
    return path


def existing_folder(path: Path | None) -> Path | None:
    """Callback: a folder that exists (e.g. a checkpoint)."""
    if path is not None and not path.is_dir():
        what = "is a file, not a checkpoint folder" if path.exists() else "does not exist"
        raise typer.BadParameter(f"{path} {what}")
    return path
