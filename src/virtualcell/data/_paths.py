"""Input paths: what every reader checks before it opens anything.

A reader refuses, with one line naming the path:

- an argument that is not a path at all (``vc.data.read(123)``);
- a path that does not exist (a string that looks like a registry dataset name instead
  points to :func:`virtualcell.datasets.read`);
- anything that is not a regular file or a folder (a FIFO, a socket, a device): opening
  a FIFO would block forever waiting for a writer.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .._errors import DataFormatError, DatasetNotAvailableError

__all__ = ["KNOWN_EXTENSIONS", "check_input_path", "check_regular_file", "looks_like_path"]

_TABLE_EXTENSIONS = (".csv", ".tsv", ".tab", ".txt")
#: Extensions that make a string a path even when no such file exists.
KNOWN_EXTENSIONS = (
    ".h5ad", ".h5", ".hdf5", ".loom", ".zarr", ".mtx", ".gz", ".zip", *_TABLE_EXTENSIONS
)  # fmt: skip


def looks_like_path(source: str) -> bool:
    """Whether a string that names no existing file is still meant as a path (it has a
    separator, starts with ``.`` or ``~``, or ends in a known data extension) rather
    than a registry dataset name.

    Parameters
    ----------
    source
        The string given as a path or a dataset name.
    """
    return (
        "/" in source
        or "\\" in source
        or source.startswith((".", "~"))
        or source.lower().endswith(KNOWN_EXTENSIONS)
    )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_regular_file(path: str | os.PathLike[str], *, folder_ok: bool = True) -> Path:
    """``path`` as a :class:`Path` if it is a regular file (or a folder when
    ``folder_ok``); otherwise :class:`DataFormatError` naming what it is."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataFormatError(f"no such file or folder: {path}") from None
    except OSError as exc:
        raise DataFormatError(f"cannot open {path}: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return path
    if stat.S_ISDIR(mode):
        raise DataFormatError(f"{path} is a folder; a file is expected here")
    raise DataFormatError(f"cannot read {path}: it is {_kind(mode)}, not a data file")


def check_input_path(source: object) -> Path:
    """The existing regular file or folder ``source`` names, or one clear error.

    Raises
    ------
    DataFormatError
        ``source`` is not a ``str`` / path, does not exist, or is not a regular file or
        folder.
    DatasetNotAvailableError
        ``source`` names no file and looks like a registry dataset name.
    """
    if not isinstance(source, str | os.PathLike):
        raise DataFormatError(
            f"expected a file or folder path (str or pathlib.Path), got "
            f"{type(source).__name__} {source!r:.60}"
        )
    path = Path(source).expanduser()
    if not path.exists() and not path.is_symlink():
        if isinstance(source, str) and source.strip() and not looks_like_path(source):
            raise DatasetNotAvailableError(
                f"no file or folder named {source!r}; registry datasets are read by name "
                f"with vc.datasets.read({source!r}) (vcell commands accept both)"
            )
        raise DataFormatError(f"no such file or folder: {path}")
    return check_regular_file(path)
