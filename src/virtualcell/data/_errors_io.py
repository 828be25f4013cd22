"""Turning low-level reader failures into one clear :class:`DataFormatError`.

Every reader wraps its work in :func:`reading`, so a truncated HDF5 file, a broken gzip
stream or a malformed table surfaces as ``DataFormatError("cannot read <file> as <format>:
<what failed>")`` instead of an h5py / zlib / pandas traceback.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import DataFormatError, VirtualCellError

__all__ = [
    "HDF5_SIGNATURE",
    "check_gzip",
    "check_hdf5",
    "check_hdf5_metadata",
    "describe_exception",
    "numeric_values",
    "reading",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TRUNCATED = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")


def describe_exception(exc: BaseException) -> str:
    """A short, human sentence for a low-level reading exception."""
    text = str(exc).strip()
    match = _TRUNCATED.search(text)
    if match:
        have, want = int(match.group(1)), int(match.group(2))
        return f"the file is truncated ({have:,} of {want:,} bytes present)"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return f"invalid gzip data ({text or type(exc).__name__})"
    if isinstance(exc, EOFError):
        return "the file ends early (truncated or incomplete compressed stream)"
    if isinstance(exc, UnicodeDecodeError):
        return f"not a text file in UTF-8 ({text[:120]})"
    first = text.splitlines()[0] if text else ""
    if len(first) > 240:
        first = first[:237] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@contextmanager
def reading(path: Path | str, what: str) -> Iterator[None]:
    """Context manager: re-raise any non-virtualcell failure as :class:`DataFormatError`."""
    try:
        yield
    except VirtualCellError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise DataFormatError(f"cannot read {path} as {what}: {describe_exception(exc)}") from exc


def check_hdf5(path: Path, what: str) -> None:
    """Raise :class:`DataFormatError` unless ``path`` is a regular file that starts like
    an HDF5 file."""
    from ._paths import check_input_path, check_regular_file

    check_regular_file(check_input_path(path), folder_ok=False)
    with reading(path, what):
        with open(path, "rb") as fh:
            head = fh.read(8)
    if not head:
        raise DataFormatError(f"cannot read {path} as {what}: the file is empty (0 bytes)")
    if head != HDF5_SIGNATURE:
        raise DataFormatError(
            f"cannot read {path} as {what}: not an HDF5 file (it does not start with the "
            "HDF5 signature; wrong format or damaged header)"
        )
    check_hdf5_metadata(path, what)


# Walks every group, dataset and attribute of an HDF5 file (metadata only, no data).
_METADATA_WALK = """
import sys, h5py
def visit(name, obj):
    for key in obj.attrs.keys():
        obj.attrs[key]
with h5py.File(sys.argv[1], "r") as f:
    for key in f.attrs.keys():
        f.attrs[key]
    f.visititems(visit)
"""


def check_hdf5_metadata(path: Path | str, what: str) -> None:
    """Refuse an HDF5 file whose metadata the HDF5 library cannot read in bounded time.

    A few corrupted bytes in an HDF5 object header can make the C library loop forever
    (or crash) while reading an attribute, which no Python-level timeout can interrupt.
    The metadata (every group, dataset and attribute; never the data) is therefore
    walked once in a child process first, with ``settings.hdf5_check_timeout_s``
    (default 30 s; about 0.5 s in practice, most of it the child's start; ``0`` turns
    the check off). A timeout or a crash is a :class:`DataFormatError`; any ordinary
    error is left to the reader, whose message is more precise.
    """
    import subprocess
    import sys

    from .._settings import settings

    limit = float(settings.hdf5_check_timeout_s)
    if limit <= 0:
        return
    try:
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return  # the reader reports it
    if key in _METADATA_OK:
        return
    try:
        done = subprocess.run(
            [sys.executable, "-c", _METADATA_WALK, str(path)],
            capture_output=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DataFormatError(
            f"cannot read {path} as {what}: its HDF5 metadata is corrupt (reading it did "
            f"not finish in {limit:g} s)"
        ) from None
    except OSError:  # pragma: no cover - cannot start a child: read in-process
        return
    if done.returncode < 0:
        raise DataFormatError(
            f"cannot read {path} as {what}: reading its HDF5 metadata crashed "
            f"(signal {-done.returncode}); the file is corrupt"
        )
    if done.returncode == 0:
        if len(_METADATA_OK) > 256:
            _METADATA_OK.clear()
        _METADATA_OK.add(key)


#: Files (path, size, mtime) whose metadata walk finished cleanly in this process.
_METADATA_OK: set[tuple[str, int, int]] = set()


def check_gzip(path: Path, what: str) -> None:
    """Stream through a ``.gz`` file once so a broken or cut stream fails clearly, early."""
    with reading(path, what):
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 22):
                pass


def numeric_values(
    df: pd.DataFrame,
    path: Path | str,
    *,
    dtype: np.dtype | str = "float64",
    columns: list[str] | None = None,
    first_line: int = 2,
    what: str = "a numeric table",
) -> np.ndarray:
    """``df`` as a numeric array, or :class:`DataFormatError` naming the file, the line,
    the row label (when the rows have labels) and the column of the first non-numeric
    cell (``abc``, a decimal comma ``0,878`` ...).

    ``columns`` are the column names to report (default ``df.columns``); ``first_line``
    is the file line of the first data row (2 after a one-line header).
    """
    try:
        return df.to_numpy(dtype=dtype)
    except (ValueError, TypeError):
        pass
    names = list(df.columns) if columns is None else list(columns)
    labelled = not isinstance(df.index, pd.RangeIndex)
    for position, column in enumerate(df.columns):
        series = df[column]
        values = pd.to_numeric(series, errors="coerce")
        bad = values.isna() & series.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            row = f", row {df.index[i]!r}" if labelled else ""
            raise DataFormatError(
                f"cannot read {path} as {what}: non-numeric value {series.iloc[i]!r} at line "
                f"{first_line + i}{row}, column {names[position]!r} "
                f"({int(bad.sum())} such values in that column)"
            )
    return df.apply(pd.to_numeric).to_numpy(dtype=dtype)
