"""Reading the plain-data pickles that published checkpoints ship (never general pickles).

Geneformer's gene token dictionary and gene median file are pickles of one ``dict``.
Unpickling runs code named inside the file, so they are read with
:class:`PlainDataUnpickler`: its ``find_class`` refuses every global (no class, function
or module can be named, hence nothing can be called) and persistent ids are refused, so
only the pickle opcodes that build plain values remain. The result is then checked to be
a ``dict`` or ``list`` whose keys and values are ``str``, ``int`` or ``float`` (``bool``
and ``None`` are refused too). A file that needs anything else — a class, a numpy scalar
— is refused with a :class:`~virtualcell.DataFormatError` naming what it asked for.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from .._errors import DataFormatError

__all__ = ["PlainDataUnpickler", "read_plain_pickle"]

#: Largest pickle file read (bytes): a gene dictionary is a few MB.
MAX_PICKLE_BYTES = 256 * 1024 * 1024


class _Refused(Exception):
    pass


class PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that can build only plain values: every global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise _Refused(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused(f"persistent id {str(pid)[:40]!r}")


def _plain(value: Any, depth: int = 0) -> bool:
    if depth > 2:
        return False
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str | int | float):
        return True
    if isinstance(value, dict):
        return all(
            isinstance(k, str | int) and not isinstance(k, bool) and _plain(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    return False


def read_plain_pickle(path: str | Path) -> dict[Any, Any] | list[Any]:
    """A ``dict`` / ``list`` of ``str`` / ``int`` / ``float`` from a pickle file, read with
    :class:`PlainDataUnpickler`; anything else is a :class:`~virtualcell.DataFormatError`.

    Parameters
    ----------
    path
        The pickle file (e.g. a Geneformer gene dictionary).

    Returns
    -------
    dict or list
        The plain data held by the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DataFormatError(f"{path}: cannot be read ({e.strerror or e})") from None
    if size > MAX_PICKLE_BYTES:
        raise DataFormatError(f"{path}: {size} bytes is too large for a gene dictionary")
    data = path.read_bytes()
    try:
        value = PlainDataUnpickler(io.BytesIO(data)).load()
    except _Refused as e:
        raise DataFormatError(
            f"{path}: refused: the pickle asks for {e} (only plain dict/list pickles of "
            "str/int/float are read, nothing in them is executed); convert it to JSON "
            "(same name, .json) with a trusted Python if it is yours"
        ) from None
    except Exception as e:  # truncated or not a pickle at all
        raise DataFormatError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
    if not isinstance(value, dict | list) or not _plain(value):
        raise DataFormatError(
            f"{path}: expected a dict or list of str/int/float, got {type(value).__name__} "
            "with other content"
        )
    return value
