"""The one sha256 helper."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["sha256_bytes", "sha256_file"]

_BLOCK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed in 1 MiB blocks.

    Parameters
    ----------
    path
        The file to hash (read in binary, never loaded whole).

    Returns
    -------
    The 64-character lower-case hex digest.
    """
    digest = hashlib.sha256()
    with open(Path(path), "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes | str) -> str:
    """Hex sha256 of bytes (``str`` is UTF-8 encoded first)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()
