"""Output options under the one output rule (:func:`virtualcell._utils.check_output`):
:func:`output_path` and :func:`overwrite_option`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import typer

from .._errors import ValidationError
from ._commands import _INPUTS, _OUTPUTS, _PENDING, _label, _remember

__all__ = ["FOLDER_FORMATS", "output_path", "overwrite_option"]


#: Output formats that are folders on disk (written like a file: atomically, replaced whole).
FOLDER_FORMATS = (".zarr",)


def overwrite_option(
    help: str = "Replace outputs that exist already (an output that is also an input is "
    "refused even so).",
) -> Any:
    """``--overwrite``: the one way to replace an existing output (parsed before every
    other option, so that :func:`output_path` knows it)."""
    return typer.Option(False, "--overwrite", help=help, is_eager=True)


def _overwrite_hint(ctx: Any) -> tuple[bool, str]:
    """(``--overwrite`` given, what to tell the user) for the command of ``ctx``."""
    params = getattr(getattr(ctx, "command", None), "params", []) or []
    has_flag = any(getattr(p, "name", None) == "overwrite" for p in params)
    given = bool(ctx.params.get("overwrite")) if ctx is not None else False
    hint = "pass --overwrite to replace it" if has_flag else "choose another name"
    return given, hint


def _check_output(
    ctx: Any,
    param: Any,
    value: Any,
    *,
    suffixes: Sequence[str] | None,
    kind: Literal["file", "folder"],
    existing: Literal["refuse", "resume"],
    parents: bool = False,
) -> Any:
    if value is None:
        return value
    path = Path(value).expanduser()
    parent = path.parent
    if parents:  # the command creates missing folders: check the nearest existing one
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            raise typer.BadParameter(f"{parent} is a file; {path} cannot be created in it")
    if not parent.is_dir():
        raise typer.BadParameter(f"folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise typer.BadParameter(f"folder {parent} is not writable")
    if kind == "file":
        suffix = path.suffix.lower()
        if suffixes is not None and suffix not in suffixes:
            got = path.suffix or "no suffix"
            raise typer.BadParameter(
                f"cannot write {path.name!r}: its suffix ({got}) must be one of "
                f"{', '.join(suffixes)} (the format follows the suffix)"
            )
        if path.is_dir() and suffix not in FOLDER_FORMATS:
            raise typer.BadParameter(f"{path} is a folder; give a file name")
    elif path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} is a file; give a folder")
    _remember(ctx, _OUTPUTS, param, value)

    def rule() -> None:  # after every argument is parsed (CheckedCommand)
        from .._utils import check_output

        overwrite, hint = _overwrite_hint(ctx)
        if existing == "resume":  # the library continues or refuses an existing run
            overwrite = True
        try:
            check_output(
                path, overwrite=overwrite, kind=kind, name=_label(param), hint=hint,
                inputs=ctx.meta.get(_INPUTS, []),
            )  # fmt: skip
        except ValidationError as err:
            raise typer.BadParameter(
                str(err).removeprefix(f"{_label(param)} "), ctx=ctx, param=param
            ) from None

    if ctx is not None:
        ctx.meta.setdefault(_PENDING, []).append(rule)
    return value


def output_path(
    default: Any,
    *decls: str,
    help: str,
    suffixes: Sequence[str] | None = None,
    kind: Literal["file", "folder"] = "file",
    existing: Literal["refuse", "resume"] = "refuse",
    parents: bool = False,
) -> Any:
    """An output option, checked by the one output rule
    (:func:`virtualcell._utils.check_output`) before any work starts: its parent folder
    exists and is writable, a file's suffix is one of ``suffixes`` (the suffix decides
    the format), a file is not an existing folder (except folder formats such as
    ``.zarr``) and a folder is not an existing file; it is never one of the command's
    inputs; an existing output (a file, a folder that is not empty) is refused unless
    the command's ``--overwrite`` (:func:`overwrite_option`) is given.
    ``existing="resume"``: the command continues the run an existing folder holds
    (its library refuses what it cannot resume). ``parents``: missing folders above the
    output are created by the command (only the nearest existing one is checked)."""
    allowed = tuple(s.lower() for s in suffixes) if suffixes is not None else None

    def callback(ctx, param, value):  # untyped: typer passes (ctx, param, value)
        return _check_output(
            ctx, param, value, suffixes=allowed, kind=kind, existing=existing, parents=parents
        )

    return typer.Option(default, *decls, help=help, callback=callback)
