"""``vc.datasets.read``: one reader for paths *and* registry dataset names.

The data layer (:func:`virtualcell.data.read`) reads files and folders only and never
imports the registry; this function sits one step above it, resolves a registry name
with :func:`~virtualcell.datasets.load` and hands everything else to the data reader.
Every command line that takes a data argument reads it through here.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import anndata as ad

from .._errors import DatasetNotAvailableError
from ..data import Format, Orientation, looks_like_path, set_source
from ..data import read as read_path
from ._registry import load, names

__all__ = ["is_dataset_name", "read"]


def is_dataset_name(source: object) -> bool:
    """True when ``source`` is a string that names no existing path and does not look like
    one (no separator, no data extension): it is then looked up in the registry.

    Parameters
    ----------
    source
        What a user passed as data: a path or a registry name (anything else is not a
        name).

    Returns
    -------
    bool
        ``True``: read it with :func:`read` as a registry name; ``False``: a path.
    """
    return (
        isinstance(source, str)
        and bool(source.strip())
        and not Path(source).expanduser().exists()
        and not looks_like_path(source)
    )


def read(
    source: str | os.PathLike[str],
    *,
    format: Format | None = None,
    orientation: Orientation = "auto",
    **kwargs: Any,
) -> ad.AnnData:
    """Read a file, a folder or a registry dataset into AnnData (cells x genes).

    Parameters
    ----------
    source
        A path (any format :func:`virtualcell.data.read` understands) or the name of a
        registry dataset (``vc.datasets.names()``), e.g. ``"pbmc68k_reduced"``. A string
        that is no existing path and does not look like one is a name.
    format, orientation, **kwargs
        Passed to :func:`virtualcell.data.read` for paths (a name takes none).

    Returns
    -------
    AnnData
        ``uns["vc"]["source"]`` holds ``{"path": ..., "format": ...}`` for a path or
        ``{"name": ..., "format": "registry", ...}`` for a registry dataset.

    Raises
    ------
    DatasetNotAvailableError
        Neither an existing path nor a registered dataset (close names are suggested).
    DataFormatError
        The file cannot be read (see :func:`virtualcell.data.read`).
    """
    if not is_dataset_name(source):
        return read_path(source, format=format, orientation=orientation, **kwargs)
    name = str(source)
    known = names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise DatasetNotAvailableError(
            f"{name!r} is neither an existing file or folder nor a registered dataset.{hint}"
            f" Registered datasets: {', '.join(sorted(known))}."
        )
    adata = load(name)
    record = dict(adata.uns.get("vc", {}).get("source", {}) or {})
    record.update(name=name, format="registry")
    return set_source(adata, **record)
