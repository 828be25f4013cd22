"""Exception hierarchy.

Every error virtualcell raises on purpose derives from :class:`VirtualCellError`, so the
CLI can print one clear line instead of a traceback, and callers can catch one type.
"""

from __future__ import annotations

__all__ = [
    "ChecksumError",
    "DataFormatError",
    "DatasetNotAvailableError",
    "ValidationError",
    "VirtualCellError",
]


class VirtualCellError(Exception):
    """Base class of all errors raised on purpose by virtualcell."""


class DataFormatError(VirtualCellError, ValueError):
    """A file or object is not in the expected format (or is corrupt / truncated)."""


class ValidationError(VirtualCellError, ValueError):
    """Data failed validation; the message names the problem and where it is."""


class DatasetNotAvailableError(VirtualCellError, FileNotFoundError):
    """A registry dataset is not cached and cannot be downloaded (e.g. offline mode)."""


class ChecksumError(VirtualCellError):
    """A downloaded or cached file does not match its registered sha256."""
