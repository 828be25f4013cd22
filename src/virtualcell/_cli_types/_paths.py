"""Input options: an existing regular file or folder (FIFOs and devices refused without
opening them), and the data argument (a path or a registry dataset name)."""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from ._commands import _INPUTS, _remember

__all__ = ["data_argument", "input_argument", "input_path"]


def _not_regular(path: Path) -> str | None:
    """Why ``path`` cannot be read as data (``None`` when it can), without opening it."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"{path} cannot be opened ({exc.strerror or exc})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    what = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file"
    return f"{path} is {what}, not a data file"


def _check_input(
    value: Any, *, file_okay: bool, dir_okay: bool, hint: str = "", what: str = ""
) -> Any:
    if value is None:
        return value
    path = Path(value).expanduser()
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist{hint}")
    problem = _not_regular(path)
    if problem:
        raise typer.BadParameter(problem)
    if path.is_dir() and not dir_okay:
        raise typer.BadParameter(f"{path} is a folder, not {what or 'a file'}")
    if path.is_file() and not file_okay:
        raise typer.BadParameter(f"{path} is a file, not {what or 'a folder'}")
    return value


def _strip_prefix(value: Any, prefixes: Sequence[str]) -> Any:
    """``value`` without a leading ``PREFIX:`` of ``prefixes`` (case-insensitive)."""
    if value is None or not prefixes:
        return value
    head, sep, rest = str(value).partition(":")
    return rest if sep and head.lower() in {p.lower() for p in prefixes} else value


def input_path(
    default: Any,
    *decls: str,
    help: str,
    file_okay: bool = True,
    dir_okay: bool = True,
    missing_hint: str = "",
    what: str = "",
    prefixes: Sequence[str] = (),
) -> Any:
    """An option naming an existing regular file or folder (no FIFOs, sockets, devices);
    ``missing_hint`` is appended to the message for a path that does not exist, ``what``
    names the expected kind (``"a checkpoint folder"``) when the other kind is given.
    ``prefixes`` (e.g. ``("geneformer", "scgpt")``): the path may stand behind
    ``PREFIX:``; the check applies to the path and the value is returned as given."""

    def callback(ctx, param, value):  # untyped: typer passes (ctx, param, value)
        path = _strip_prefix(value, prefixes)
        _check_input(path, file_okay=file_okay, dir_okay=dir_okay, hint=missing_hint, what=what)
        _remember(ctx, _INPUTS, param, path)
        return value

    return typer.Option(default, *decls, help=help, callback=callback)


def input_argument(
    default: Any, *, help: str, file_okay: bool = True, dir_okay: bool = True, what: str = ""
) -> Any:
    """An argument naming an existing regular file or folder (the checks of
    :func:`input_path`)."""

    def callback(ctx, param, value):  # untyped: typer passes (ctx, param, value)
        value = _check_input(value, file_okay=file_okay, dir_okay=dir_okay, what=what)
        _remember(ctx, _INPUTS, param, value)
        return value

    return typer.Argument(default, help=help, callback=callback)


def _check_source(value: str | None) -> str | None:
    if value is None:
        return value
    path = Path(value).expanduser()
    if path.exists() or path.is_symlink():
        problem = _not_regular(path)
        if problem:
            raise typer.BadParameter(problem)
        return value
    from ..data import looks_like_path
    from ..datasets import names

    if looks_like_path(value):
        raise typer.BadParameter(f"{path} does not exist")
    known = names()
    if value not in known:
        close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise typer.BadParameter(
            f"{value!r} is neither an existing file or folder nor a registry dataset.{hint} "
            "(`vcell datasets list` shows the registry)"
        )
    return value


def data_argument(
    help: str = "A file, a folder or a registry dataset name.",
    default: Any = ...,
    metavar: str = "DATA",
) -> Any:
    """The data argument of a command: an existing path or a registry dataset name."""

    def callback(ctx, param, value):  # untyped: typer passes (ctx, param, value)
        value = _check_source(value)
        if value is not None and Path(value).expanduser().exists():
            _remember(ctx, _INPUTS, param, value)
        return value

    return typer.Argument(
        default, help=help, callback=callback, show_default=False, metavar=metavar
    )
