"""Explicit settings object (no hidden global state beyond this one instance).

Values are read from environment variables when the :class:`Settings` object is created
and can be changed at run time (``vc.settings.offline = True``).

Environment variables
---------------------
``VIRTUALCELL_DATA``
    A mirror folder checked first for registry datasets, and the root of the reference
    data (``grn/``, ``knowledge/`` ...) used by loaders and tests.
``VIRTUALCELL_CACHE``
    Where downloads and built artefacts are cached (default ``~/.cache/virtualcell``).
``VIRTUALCELL_OFFLINE``
    ``1`` forbids any download; missing datasets raise a clear error naming what to fetch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "settings"]


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "virtualcell"


@dataclass
class Settings:
    """Run-time settings of virtualcell.

    Attributes
    ----------
    data_dir
        Mirror / reference-data folder (``VIRTUALCELL_DATA``), or ``None``.
    cache_dir
        Download cache folder (``VIRTUALCELL_CACHE``).
    offline
        Forbid network downloads (``VIRTUALCELL_OFFLINE``).
    verbosity
        0 = quiet, 1 = progress bars and summaries, 2 = debug.
    progress_interval_s
        When stderr is not a terminal, seconds between plain progress lines.
    hdf5_check_timeout_s
        Seconds allowed for walking an HDF5 file's metadata in a child process before it
        is read (a corrupt object header can make the HDF5 library loop forever); ``0``
        skips the check.
    """

    data_dir: Path | None = field(default_factory=lambda: _env_path("VIRTUALCELL_DATA"))
    cache_dir: Path = field(
        default_factory=lambda: _env_path("VIRTUALCELL_CACHE") or _default_cache()
    )
    offline: bool = field(default_factory=lambda: _env_flag("VIRTUALCELL_OFFLINE"))
    verbosity: int = 1
    progress_interval_s: float = 10.0
    hdf5_check_timeout_s: float = 30.0

    def reference_data(self, *parts: str) -> Path | None:
        """Path below the reference-data folder, or ``None`` when it is not configured
        or does not exist."""
        if self.data_dir is None:
            return None
        path = self.data_dir.joinpath(*parts)
        return path if path.exists() else None


settings = Settings()
