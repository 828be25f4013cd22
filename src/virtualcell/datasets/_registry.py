"""Registry look-ups: names, info, load (the table itself is in ``_entries.py``)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd

from .._errors import DatasetNotAvailableError
from .._settings import settings
from ._download import cache_folder, read_lock
from ._entries import ENTRIES, DatasetEntry

__all__ = ["entry", "info", "load", "names", "table"]

_BY_NAME: dict[str, DatasetEntry] = {e.name: e for e in ENTRIES}


def names() -> list[str]:
    """Names of all registry datasets (bundled first, then downloadable)."""
    return [e.name for e in ENTRIES]


def entry(name: str) -> DatasetEntry:
    """Registry entry of ``name``.

    Raises
    ------
    DatasetNotAvailableError
        ``name`` is not a registry dataset (the message lists the known names).
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise DatasetNotAvailableError(
            f"unknown dataset {name!r}; registry datasets are: {', '.join(names())}"
        ) from None


def _local_status(e: DatasetEntry) -> str:
    if e.kind == "bundled":
        return "bundled"
    if not e.files:
        return "missing"
    filename = e.files[0].filename
    roots = [cache_folder()]
    if settings.data_dir is not None:
        roots = [Path(settings.data_dir), Path(settings.data_dir) / "datasets", *roots]
    return "local" if any((r / filename).is_file() for r in roots) else "not downloaded"


def info(name: str) -> dict:
    """Everything the registry knows about ``name`` (JSON-serialisable dict).

    Parameters
    ----------
    name
        A registry dataset name (:func:`names`); an unknown name is a
        :class:`~virtualcell.DatasetNotAvailableError` listing the known ones.

    Returns
    -------
    dict
        Keys: ``name``, ``title``, ``kind``, ``description``, ``citation``, ``species``,
        ``shape``, ``approx_size``, ``status`` (``bundled`` / ``local`` / ``not
        downloaded``) and ``files`` (url, filename, sha256, size_bytes, recorded_sha256
        from the lock file).
    """
    e = entry(name)
    lock = read_lock()
    return {
        "name": e.name,
        "title": e.title,
        "kind": e.kind,
        "description": e.description,
        "citation": e.citation,
        "species": e.species,
        "shape": list(e.shape) if e.shape else None,
        "approx_size": e.approx_size,
        "status": _local_status(e),
        "files": [
            {
                "url": f.url,
                "filename": f.filename,
                "sha256": f.sha256,
                "size_bytes": f.size_bytes,
                "recorded_sha256": lock.get(f.filename, {}).get("sha256"),
            }
            for f in e.files
        ],
    }


def table() -> pd.DataFrame:
    """One row per registry dataset: name, kind, approx. size, shape, status, title."""
    rows = []
    for e in ENTRIES:
        rows.append(
            {
                "name": e.name,
                "kind": e.kind,
                "approx_size": e.approx_size,
                "shape": "x".join(map(str, e.shape)) if e.shape else "",
                "sha256": "yes"
                if all(f.sha256 for f in e.files) and e.files
                else ("bundled" if e.kind == "bundled" else "on first download"),
                "status": _local_status(e),
                "title": e.title,
            }
        )
    return pd.DataFrame(rows)


def load(name: str) -> ad.AnnData:
    """Load registry dataset ``name`` as AnnData (bundled, mirror, cache or download).

    Parameters
    ----------
    name
        One of :func:`names`.

    Returns
    -------
    AnnData
        With ``uns["vc"]["source"]`` naming the registry entry and files.

    Raises
    ------
    DatasetNotAvailableError
        Unknown name, package not installed, or offline without a local copy.
    ChecksumError
        A local or downloaded file does not match its sha256.
    """
    from ._loaders import LOADERS

    e = entry(name)
    return LOADERS.get(e.loader)(e)
