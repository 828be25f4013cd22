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

from .._errors import DataFormatError, VirtualCellError

__all__ = ["HDF5_SIGNATURE", "check_gzip", "check_hdf5", "describe_exception", "reading"]

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
    """Raise :class:`DataFormatError` unless ``path`` starts like an HDF5 file."""
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


def check_gzip(path: Path, what: str) -> None:
    """Stream through a ``.gz`` file once so a broken or cut stream fails clearly, early."""
    with reading(path, what):
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 22):
                pass
