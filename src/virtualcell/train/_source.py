"""Row-chunked reading of cells from AnnData in memory, a backed ``.h5ad`` or a ``.zarr`` store.

Files are opened with h5py / zarr and the expression matrix is read ``chunk`` rows at a
time (anndata's ``sparse_dataset`` for CSR groups, plain slicing for dense arrays), so a
corpus larger than RAM is streamed with flat memory: only ``obs``, ``var`` and one chunk
are ever in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import DataFormatError, ValidationError

__all__ = ["CellSource"]


class CellSource:
    """Uniform row-range reader over cells.

    Use :meth:`open` to build one. ``layer="raw"`` reads ``raw.X`` (and ``raw.var``);
    any other layer name reads ``layers[layer]``; ``None`` reads ``X``.

    Attributes
    ----------
    n_obs
        Number of cells.
    var_names
        Gene names (numpy object array) of the matrix columns.
    obs
        Cell annotations (``pandas.DataFrame``, loaded in memory).
    """

    def __init__(self, matrix: Any, var_names: np.ndarray, obs: pd.DataFrame, handle: Any = None):
        self._matrix = matrix
        self.var_names = np.asarray(var_names, dtype=object)
        self.obs = obs
        self.n_obs = int(obs.shape[0])
        self._handle = handle
        if int(matrix.shape[0]) != self.n_obs or int(matrix.shape[1]) != len(self.var_names):
            raise DataFormatError(
                f"matrix shape {tuple(matrix.shape)} does not match {self.n_obs} cells x "
                f"{len(self.var_names)} genes"
            )

    @classmethod
    def open(cls, data: Any, *, layer: str | None = None) -> CellSource:
        """Open ``data``: an AnnData (in memory or backed), or a path to ``.h5ad`` / ``.zarr``."""
        if isinstance(data, str | Path):
            return cls._open_path(Path(data), layer)
        if hasattr(data, "obs_names") and hasattr(data, "var_names"):
            if getattr(data, "isbacked", False) and data.filename is not None and layer is None:
                return cls._open_path(Path(data.filename), layer)
            if layer == "raw":
                if data.raw is None:
                    raise ValidationError("layer='raw' but adata.raw is None")
                return cls(data.raw.X, np.asarray(data.raw.var_names), data.obs)
            if layer is not None:
                if layer not in data.layers:
                    raise ValidationError(
                        f"layer {layer!r} not in adata.layers {list(data.layers)}"
                    )
                return cls(data.layers[layer], np.asarray(data.var_names), data.obs)
            if data.X is None:
                raise ValidationError("adata.X is None; pass layer=")
            return cls(data.X, np.asarray(data.var_names), data.obs)
        raise ValidationError(
            f"expected AnnData or a path to .h5ad/.zarr, got {type(data).__name__}"
        )

    @classmethod
    def _open_path(cls, path: Path, layer: str | None) -> CellSource:
        import anndata as ad

        if not path.exists():
            raise DataFormatError(f"{path}: no such file or folder")
        try:
            if path.suffix == ".zarr" or path.is_dir():
                import zarr

                handle = zarr.open(str(path), mode="r")
            else:
                import h5py

                handle = h5py.File(path, "r")
        except Exception as e:
            raise DataFormatError(f"{path}: cannot be opened as h5ad/zarr ({e})") from None
        try:
            if layer == "raw":
                group, var_key = handle["raw"]["X"], handle["raw"]["var"]
            elif layer is not None:
                group, var_key = handle["layers"][layer], handle["var"]
            else:
                group, var_key = handle["X"], handle["var"]
            var = ad.io.read_elem(var_key)
            obs = ad.io.read_elem(handle["obs"])
        except KeyError as e:
            raise DataFormatError(f"{path}: missing element {e} (layer={layer!r})") from None
        enc = dict(group.attrs).get("encoding-type", "array")
        matrix = ad.io.sparse_dataset(group) if "csr" in enc or "csc" in enc else group
        return cls(matrix, np.asarray(var.index), obs, handle=handle)

    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows ``start:stop`` as a CSR matrix (float32)."""
        block = self._matrix[start:stop]
        if hasattr(block, "to_memory"):
            block = block.to_memory()
        if sp.issparse(block):
            return sp.csr_matrix(block, dtype=np.float32)
        return sp.csr_matrix(np.asarray(block, dtype=np.float32))

    def close(self) -> None:
        """Close the underlying file, if any."""
        if self._handle is not None and hasattr(self._handle, "close"):
            self._handle.close()
        self._handle = None

    def __enter__(self) -> CellSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
