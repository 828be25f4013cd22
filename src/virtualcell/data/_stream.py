"""Row-chunked reading of cells from AnnData in memory, a backed ``.h5ad`` or a ``.zarr`` store.

Files are opened with h5py / zarr and the expression matrix is read ``chunk`` rows at a
time (anndata's ``sparse_dataset`` for CSR groups, plain slicing for dense arrays), so a
corpus larger than RAM is streamed with flat memory: only ``obs``, ``var`` and one chunk
are ever in memory.

Which matrix is read is chosen by ``layer``: ``None`` reads ``X``, ``"raw"`` reads
``adata.raw.X`` (with ``raw.var_names``), any other name reads ``adata.layers[name]``.
:meth:`CellSource.check_nonnegative` refuses a matrix that is not expression (scaled or
centred values, NaN) with one line naming the matrices that would work (``layer='raw'``,
a counts layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import DataFormatError, ValidationError
from ._errors_io import check_hdf5, reading

__all__ = ["CellSource"]


def _describe(layer: str | None) -> str:
    if layer is None:
        return "X"
    return "adata.raw.X" if layer == "raw" else f"layers[{layer!r}]"


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
    var
        Gene annotations of the matrix columns (``pandas.DataFrame``; only the names
        where the source gave none).
    layer
        The matrix read (``None`` = ``X``, ``"raw"`` = ``adata.raw.X``, else a layer).
    alternatives
        The other matrices of the same data (``"raw"`` and layer names), for messages.
    """

    def __init__(
        self,
        matrix: Any,
        var_names: np.ndarray,
        obs: pd.DataFrame,
        handle: Any = None,
        *,
        layer: str | None = None,
        alternatives: tuple[str, ...] = (),
        var: pd.DataFrame | None = None,
        uns: Any = None,
        path: Path | None = None,
    ):
        self._matrix = matrix
        self.var_names = np.asarray(var_names, dtype=object)
        self.var = var if var is not None else pd.DataFrame(index=pd.Index(self.var_names))
        self.obs = obs
        self._uns = uns
        self._path = path
        self.n_obs = int(obs.shape[0])
        self._handle = handle
        self.layer = layer
        self.alternatives = tuple(alternatives)
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
            others = (("raw",) if data.raw is not None else ()) + tuple(data.layers.keys())
            alternatives = tuple(a for a in others if a != layer)
            if layer == "raw":
                if data.raw is None:
                    raise ValidationError(
                        "layer='raw' but adata.raw is None"
                        + (f"; layers are {list(data.layers)}" if len(data.layers) else "")
                    )
                return cls(
                    data.raw.X, np.asarray(data.raw.var_names), data.obs,
                    layer=layer, alternatives=alternatives, var=data.raw.var, uns=data.uns,
                )  # fmt: skip
            if layer is not None:
                if layer not in data.layers:
                    raise ValidationError(
                        f"layer {layer!r} not in adata.layers {list(data.layers)}"
                        + ("; 'raw' reads adata.raw" if data.raw is not None else "")
                    )
                return cls(
                    data.layers[layer], np.asarray(data.var_names), data.obs,
                    layer=layer, alternatives=alternatives, var=data.var, uns=data.uns,
                )  # fmt: skip
            if data.X is None:
                raise ValidationError(
                    "adata.X is None; pass layer= one of "
                    f"{list(alternatives) or 'nothing: the data has no matrix'}"
                )
            return cls(data.X, np.asarray(data.var_names), data.obs,
                       alternatives=alternatives, var=data.var, uns=data.uns)  # fmt: skip
        raise ValidationError(
            f"expected AnnData or a path to .h5ad/.zarr, got {type(data).__name__}"
        )

    @classmethod
    def _open_path(cls, path: Path, layer: str | None) -> CellSource:
        import anndata as ad

        if not path.exists():
            raise DataFormatError(f"{path}: no such file or folder")
        if path.is_dir():
            from ._io import detect_format, read

            if detect_format(path) != "zarr":  # a SpatialData store, a Visium folder, ...
                return cls.open(read(path), layer=layer)  # read whole: no row-chunked layout
        is_zarr = path.suffix == ".zarr" or path.is_dir()
        if not is_zarr:
            if not path.is_file():
                raise DataFormatError(f"{path}: not a regular file")
            check_hdf5(path, "h5ad")
        with reading(path, "zarr" if is_zarr else "h5ad"):
            if is_zarr:
                import zarr

                handle = zarr.open(str(path), mode="r")
            else:
                import h5py

                handle = h5py.File(path, "r")
        try:
            others = (("raw",) if "raw" in handle else ()) + tuple(
                handle["layers"].keys() if "layers" in handle else ()
            )
            if layer == "raw":
                if "raw" not in handle:
                    raise ValidationError(
                        f"{path}: layer='raw' but the file has no raw matrix"
                        + (f"; layers are {list(others)}" if others else "")
                    )
                group, var_key = handle["raw"]["X"], handle["raw"]["var"]
            elif layer is not None:
                if layer not in others:
                    raise ValidationError(
                        f"{path}: layer {layer!r} not found; the file has "
                        f"{', '.join(repr(o) for o in others) or 'only X'}"
                    )
                group, var_key = handle["layers"][layer], handle["var"]
            else:
                group, var_key = handle["X"], handle["var"]
            var = ad.io.read_elem(var_key)
            obs = ad.io.read_elem(handle["obs"])
            enc = dict(group.attrs).get("encoding-type", "array")
            matrix = ad.io.sparse_dataset(group) if "csr" in enc or "csc" in enc else group
            return cls(
                matrix, np.asarray(var.index), obs, handle=handle,
                layer=layer, alternatives=tuple(o for o in others if o != layer),
                var=var, uns=handle["uns"] if "uns" in handle else {}, path=path,
            )  # fmt: skip
        except ValidationError:
            handle.close()
            raise
        except Exception as e:
            handle.close()
            what = f"missing element {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
            raise DataFormatError(f"{path}: {what} (layer={layer!r})") from None

    @property
    def matrix(self) -> Any:
        """The matrix object itself (in-memory array, sparse matrix or backed dataset)."""
        return self._matrix

    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows ``start:stop`` as a CSR matrix (float32)."""
        block = self._matrix[start:stop]
        if hasattr(block, "to_memory"):
            block = block.to_memory()
        if sp.issparse(block):
            return sp.csr_matrix(block, dtype=np.float32)
        return sp.csr_matrix(np.asarray(block, dtype=np.float32))

    def check_nonnegative(self, rows: int = 2048) -> None:
        """Refuse a matrix that is not (non-negative, finite) expression, judged on its
        first ``rows`` cells, naming the matrices to use instead.

        Tokenizers read counts or normalised expression; a scaled ``X`` (as in scanpy's
        ``pbmc68k_reduced``) holds negative values. The message says which ``layer`` to
        pass (``'raw'`` for ``adata.raw``, or a layer name).
        """
        block = self.read(0, min(rows, self.n_obs))
        values = block.data
        if values.size == 0 or (values.min() >= 0 and np.isfinite(values).all()):
            return
        bad = (
            f"negative values (min {values.min():.3g}; it looks scaled or centred)"
            if values.min() < 0
            else "NaN or infinite values"
        )
        hint = (
            "pass layer="
            + " or layer=".join(repr(a) for a in self.alternatives)
            + " (CLI: --layer "
            + " or --layer ".join(self.alternatives)
            + ")"
            if self.alternatives
            else "give raw counts or non-negative normalised expression"
        )
        raise ValidationError(
            f"{_describe(self.layer)} holds {bad}, but models read counts or non-negative "
            f"expression; {hint}"
        )

    @property
    def matrix_bytes(self) -> int:
        """Bytes the whole matrix takes once in memory (as stored: CSR or dense, with its
        dtypes), read from the file's layout without reading the values."""
        m = self._matrix
        if sp.issparse(m):
            return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)
        group = getattr(m, "group", None)  # a backed CSR / CSC dataset
        if group is not None:
            return int(sum(group[k].size * group[k].dtype.itemsize
                           for k in ("data", "indices", "indptr")))  # fmt: skip
        return int(np.prod(m.shape)) * int(np.dtype(m.dtype).itemsize)

    def take(self, rows: Any, *, chunk: int = 20_000) -> Any:
        """The cells ``rows`` as an AnnData in memory, the matrix read ``chunk`` rows at a
        time: only one chunk and the cells taken are ever in memory, so a few cells of a
        file larger than RAM can be read.

        ``rows``: positions (any order, repeats dropped; the cells come in file order) or
        a boolean mask over the cells. The AnnData has those cells' ``obs`` (categories
        without a cell dropped, as in an anndata subset), the source's
        ``var`` and ``uns`` (read from the file) and the matrix rows with their type and
        dtype (CSR for sparse storage, a dense array for dense); a file's path is recorded
        in ``uns["vc"]["source"]`` as :func:`vc.data.read` does.
        """
        import anndata as ad

        idx = np.asarray(rows)
        if idx.dtype == bool:
            if idx.shape != (self.n_obs,):
                raise ValidationError(f"take: a mask of {idx.size} values for {self.n_obs} cells")
            idx = np.flatnonzero(idx)
        idx = np.unique(idx.astype(np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= self.n_obs):
            raise ValidationError(f"take: row positions outside 0..{self.n_obs - 1}")
        if int(chunk) < 1:
            raise ValidationError(f"take: chunk must be >= 1, got {chunk}")
        blocks = []
        for start in range(0, self.n_obs, int(chunk)):
            stop = min(start + int(chunk), self.n_obs)
            lo, hi = np.searchsorted(idx, [start, stop])
            if lo == hi:
                continue
            block = self._matrix[start:stop]
            if hasattr(block, "to_memory"):
                block = block.to_memory()
            if sp.issparse(block):
                blocks.append(sp.csr_matrix(block)[idx[lo:hi] - start])
            else:
                blocks.append(np.asarray(block)[idx[lo:hi] - start])
        n_vars = len(self.var_names)
        if not blocks:
            dtype = getattr(self._matrix, "dtype", np.float32)
            x: Any = sp.csr_matrix((0, n_vars), dtype=dtype)
        elif sp.issparse(blocks[0]):
            x = sp.vstack(blocks, format="csr")
        else:
            x = np.concatenate(blocks, axis=0)
        del blocks
        uns = self._uns
        if uns is not None and not isinstance(uns, dict):  # a file's group
            uns = ad.io.read_elem(uns)
        obs = self.obs.iloc[idx].copy()
        for col in obs.columns:  # as anndata's subsets: no category without a cell
            if isinstance(obs[col].dtype, pd.CategoricalDtype):
                obs[col] = obs[col].cat.remove_unused_categories()
        adata = ad.AnnData(X=x, obs=obs, var=self.var.copy(), uns=dict(uns or {}))
        if self._path is not None:
            from ._io import set_source

            fmt = "zarr" if self._path.suffix == ".zarr" or self._path.is_dir() else "h5ad"
            set_source(adata, path=str(self._path), format=fmt)
        return adata

    def close(self) -> None:
        """Close the underlying file, if any."""
        if self._handle is not None and hasattr(self._handle, "close"):
            self._handle.close()
        self._handle = None

    def __enter__(self) -> CellSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
