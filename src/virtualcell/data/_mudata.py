"""MuData ``.h5mu`` files: several modalities of the same cells (RNA + protein, RNA + ATAC).

``read_h5mu(path, modalities=...)`` returns a :class:`mudata.MuData` (the scverse
multi-modal container; each modality an AnnData in ``mdata.mod``); ``write_h5mu`` writes
one atomically. Failures are one-line :class:`DataFormatError` / :class:`ValidationError`
messages: not an HDF5 file, an HDF5 file that is not a MuData (an ``.h5ad`` has no
``mod`` group), a requested modality missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import DataFormatError, ValidationError, VirtualCellError
from ._errors_io import reading
from ._paths import check_input_path, check_regular_file

if TYPE_CHECKING:  # pragma: no cover
    import mudata as md

__all__ = ["read_h5mu", "write_h5mu"]


def _mudata() -> Any:
    try:
        import mudata
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise VirtualCellError("reading .h5mu files needs the package mudata") from exc
    return mudata


def read_h5mu(path: str | Path, *, modalities: Sequence[str] | None = None) -> md.MuData:
    """Read a MuData ``.h5mu`` file.

    Parameters
    ----------
    path
        The ``.h5mu`` file.
    modalities
        Modality names that must be present (a clear error names a missing one).

    Returns
    -------
    MuData
        With ``uns["vc"]["source"]`` = ``{"path": ..., "format": "h5mu"}``.
    """
    import h5py

    mudata = _mudata()
    path = Path(path)
    check_regular_file(check_input_path(path), folder_ok=False)
    with reading(path, "h5mu"):
        is_hdf5 = h5py.is_hdf5(path)  # .h5mu files start with a 512-byte MuData userblock
    if not is_hdf5:
        raise DataFormatError(
            f"cannot read {path} as h5mu: not an HDF5 file (wrong format or damaged file)"
        )
    with reading(path, "h5mu"), h5py.File(path, "r") as f:
        present = list(f["mod"].keys()) if "mod" in f else None
    if present is None:
        raise DataFormatError(
            f"{path} is not a MuData file (no 'mod' group); an AnnData .h5ad is read with "
            "vc.data.read"
        )
    missing = [m for m in modalities or () if m not in present]
    if missing:
        raise ValidationError(
            f"{path} has no modality {missing[0]!r}; it has: {', '.join(present) or '(none)'}"
        )
    with reading(path, "h5mu"), mudata.set_options(pull_on_update=False):
        mdata = mudata.read_h5mu(path)
    uns_vc = mdata.uns.get("vc")
    uns_vc = dict(uns_vc) if isinstance(uns_vc, dict) else {}
    uns_vc["source"] = {"path": str(path), "format": "h5mu"}
    mdata.uns["vc"] = uns_vc
    return mdata


def write_h5mu(mdata: md.MuData, path: str | Path) -> Path:
    """Write ``mdata`` to ``path`` (``.h5mu``) atomically.

    Parameters
    ----------
    mdata
        The MuData to write.
    path
        Target file; its folder must exist; the name must end in ``.h5mu``.

    Returns
    -------
    The path written.
    """
    from .._utils import atomic_path

    mudata = _mudata()
    path = Path(path)
    if not isinstance(mdata, mudata.MuData):
        raise ValidationError(f"write_h5mu needs a MuData, got {type(mdata).__name__}")
    if path.suffix.lower() != ".h5mu":
        raise ValidationError(f"a MuData file name must end in .h5mu, got {path.name}")
    with atomic_path(path) as tmp, mudata.set_options(pull_on_update=False):
        mdata.write_h5mu(tmp)
    return path
