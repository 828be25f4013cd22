"""The one argument-range check and the one output rule of the library (the CLI checks at parse time with
:mod:`virtualcell._cli_types`; library calls check here, with the same words)."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path

from .._errors import ValidationError

__all__ = ["check_number", "check_output"]


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    """Raise :class:`ValidationError` unless ``value`` is a finite number (an integer
    when ``integer``) within the bounds.

    >>> check_number("seed", 0, low=0, integer=True)
    >>> check_number("hill_n", -2.0, low=0, low_open=True)
    Traceback (most recent call last):
    ...
    virtualcell._errors.ValidationError: hill_n must be a finite number > 0, got -2.0
    """
    kind = "an integer" if integer else "a finite number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    rule = f"{name} must be {kind}" + (f" {' and '.join(bounds)}" if bounds else "")
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    if isinstance(value, bool) or not ok_type:
        raise ValidationError(f"{rule}, got {type(value).__name__} {value!r}")
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValidationError(f"{rule}, got {value!r}")
    if low is not None and (number <= low if low_open else number < low):
        raise ValidationError(f"{rule}, got {value!r}")
    if high is not None and (number >= high if high_open else number > high):
        raise ValidationError(f"{rule}, got {value!r}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[tuple[str, str | os.PathLike[str]]] = (),
    kind: str = "file",
    name: str = "--out",
    hint: str = "pass --overwrite (overwrite=True) to replace it",
) -> Path:
    """The one output rule of every command and library writer; returns the path.

    - an output that is also an input (the same file or folder, ``inputs`` as
      ``(name, path)`` pairs) is refused always, with or without ``overwrite``;
    - an existing output is refused unless ``overwrite``: a file (``kind="file"``), or a
      folder that is not empty (``kind="folder"``; an empty folder is used as is);
    - an existing output of the other kind is refused (a folder where a file is written,
      a file where a folder is written).

    Called before any work starts, so a refused output costs nothing.
    """
    out = Path(path).expanduser()
    for what, source in inputs:
        src = Path(source).expanduser()
        if _same_file(out, src):
            raise ValidationError(
                f"{name} {out} is also the input {what}; write the result to another file "
                "(an input is never replaced, with or without --overwrite)"
            )
    if kind == "folder":
        if out.exists() and not out.is_dir():
            raise ValidationError(f"{name} {out} is a file; give a folder")
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise ValidationError(f"{name} {out} is a folder that is not empty; {hint}")
        return out
    if out.is_dir() and out.suffix.lower() not in (".zarr",):
        raise ValidationError(f"{name} {out} is a folder; give a file name")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise ValidationError(f"{name} {out} exists; {hint}")
    return out
