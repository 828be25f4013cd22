"""10x Genomics output: the ``matrix.mtx`` folder and the CellRanger ``.h5`` file.

Both become AnnData with cells as rows, ``X`` a CSR float32 matrix of counts,
``var_names`` the gene symbols (made unique by appending ``-1``, ``-2``, ... when
``make_unique``), ``var["gene_id"]`` the feature IDs (Ensembl) and
``var["feature_type"]`` when the file has it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import DataFormatError
from ._errors_io import check_hdf5, reading

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["find_10x_mtx", "read_10x", "read_10x_h5", "read_10x_mtx"]

_MATRIX_SUFFIXES = ("matrix.mtx.gz", "matrix.mtx")


def find_10x_mtx(folder: Path) -> tuple[Path, Path, Path] | None:
    """``(matrix, barcodes, features)`` files of a 10x mtx folder, or ``None``.

    File names may carry a common prefix (``GSM123_matrix.mtx.gz``); the feature file is
    ``features.tsv[.gz]`` (CellRanger >= 3) or ``genes.tsv[.gz]`` (CellRanger 2).
    """
    if not folder.is_dir():
        return None
    for entry in sorted(folder.iterdir()):
        name = entry.name
        suffix = next((s for s in _MATRIX_SUFFIXES if name.endswith(s)), None)
        if suffix is None:
            continue
        prefix = name[: -len(suffix)]

        def pick(*stems: str, prefix: str = prefix) -> Path | None:
            for stem in stems:
                for ext in (".tsv.gz", ".tsv"):
                    candidate = folder / f"{prefix}{stem}{ext}"
                    if candidate.exists():
                        return candidate
            return None

        barcodes, features = pick("barcodes"), pick("features", "genes")
        if barcodes is None or features is None:
            missing = (
                "barcodes.tsv[.gz]" if barcodes is None else "features.tsv[.gz] / genes.tsv[.gz]"
            )
            raise DataFormatError(f"10x folder {folder} has {name} but no {prefix}{missing}")
        return entry, barcodes, features
    return None


def _read_lines_table(path: Path) -> pd.DataFrame:
    with reading(path, "a 10x tsv file"):
        return pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)


def _var_frame(ids: np.ndarray, names: np.ndarray, types: np.ndarray | None, make_unique: bool):
    import anndata as ad

    var = pd.DataFrame({"gene_id": ids}, index=pd.Index(names, dtype=str))
    if types is not None:
        var["feature_type"] = pd.Categorical(types)
    if make_unique and not var.index.is_unique:
        var.index = ad.utils.make_index_unique(var.index)
    return var


def read_10x_mtx(
    path: str | Path, *, make_unique: bool = True, gex_only: bool = True
) -> ad.AnnData:
    """Read a 10x ``matrix.mtx`` folder (plain or gzipped files).

    Parameters
    ----------
    path
        The folder (or the ``matrix.mtx[.gz]`` file in it).
    make_unique
        Make duplicated gene symbols unique (``var["gene_id"]`` keeps the original IDs).
    gex_only
        Keep only ``Gene Expression`` features when the feature file has a type column.

    Returns
    -------
    AnnData
        Cells x genes, ``X`` CSR float32.
    """
    import anndata as ad
    from scipy.io import mmread

    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    files = find_10x_mtx(folder)
    if files is None:
        raise DataFormatError(f"{folder} is not a 10x folder: no matrix.mtx or matrix.mtx.gz in it")
    matrix_file, barcodes_file, features_file = files
    with reading(matrix_file, "a Matrix Market file"):
        matrix = sparse.csr_matrix(mmread(str(matrix_file)).T, dtype=np.float32)
    barcodes = _read_lines_table(barcodes_file)
    features = _read_lines_table(features_file)
    n_cells, n_genes = matrix.shape
    if len(barcodes) != n_cells:
        raise DataFormatError(
            f"10x folder {folder}: {matrix_file.name} has {n_cells} cells (columns) but "
            f"{barcodes_file.name} lists {len(barcodes)} barcodes"
        )
    if len(features) != n_genes:
        raise DataFormatError(
            f"10x folder {folder}: {matrix_file.name} has {n_genes} features (rows) but "
            f"{features_file.name} lists {len(features)}"
        )
    ids = features[0].to_numpy()
    names = features[1].to_numpy() if features.shape[1] > 1 else ids
    types = features[2].to_numpy() if features.shape[1] > 2 else None
    var = _var_frame(ids, names, types, make_unique)
    obs = pd.DataFrame(index=pd.Index(barcodes[0].to_numpy(), dtype=str))
    adata = ad.AnnData(X=matrix, obs=obs, var=var)
    if gex_only and types is not None:
        keep = np.asarray(types == "Gene Expression")
        if keep.any() and not keep.all():
            adata = adata[:, keep].copy()
    adata.uns["vc"] = {"source": {"path": str(folder), "format": "10x_mtx"}}
    return adata


def _decode(values: np.ndarray) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object)


def read_10x_h5(
    path: str | Path, *, genome: str | None = None, make_unique: bool = True, gex_only: bool = True
) -> ad.AnnData:
    """Read a CellRanger ``.h5`` matrix (v3 ``/matrix`` layout or v2 per-genome layout).

    Parameters
    ----------
    path
        ``filtered_feature_bc_matrix.h5`` or similar.
    genome
        Keep only features of this genome (v3) / read this genome group (v2).
    make_unique, gex_only
        As in :func:`read_10x_mtx`.

    Returns
    -------
    AnnData
        Cells x genes, ``X`` CSR float32.
    """
    import anndata as ad
    import h5py

    path = Path(path)
    check_hdf5(path, "a 10x h5 file")
    with reading(path, "a 10x h5 file"), h5py.File(path, "r") as f:
        if "matrix" in f:
            group = f["matrix"]
            feats = group["features"]
            ids, names = _decode(feats["id"][:]), _decode(feats["name"][:])
            types = _decode(feats["feature_type"][:]) if "feature_type" in feats else None
            genomes = _decode(feats["genome"][:]) if "genome" in feats else None
        else:
            groups = [k for k in f if isinstance(f[k], h5py.Group)]
            if not groups:
                raise DataFormatError(f"{path} has no 'matrix' group and no genome groups")
            if genome is None and len(groups) > 1:
                raise DataFormatError(f"{path} holds several genomes {groups}; pass genome=")
            group = f[genome or groups[0]]
            ids, names = _decode(group["genes"][:]), _decode(group["gene_names"][:])
            types, genomes = None, None
        n_genes, n_cells = (int(v) for v in group["shape"][:])
        matrix = sparse.csr_matrix(
            (group["data"][:], group["indices"][:], group["indptr"][:]),
            shape=(n_cells, n_genes),
            dtype=np.float32,
        )
        barcodes = _decode(group["barcodes"][:])
    if len(barcodes) != n_cells or len(ids) != n_genes:
        raise DataFormatError(
            f"{path}: matrix shape {n_genes} x {n_cells} does not match {len(ids)} features "
            f"and {len(barcodes)} barcodes"
        )
    adata = ad.AnnData(
        X=matrix,
        obs=pd.DataFrame(index=pd.Index(barcodes, dtype=str)),
        var=_var_frame(ids, names, types, make_unique),
    )
    if genomes is not None:
        adata.var["genome"] = pd.Categorical(genomes)
    keep = np.ones(adata.n_vars, dtype=bool)
    if gex_only and types is not None:
        keep &= types == "Gene Expression"
    if genome is not None and genomes is not None:
        keep &= genomes == genome
    if not keep.all():
        adata = adata[:, keep].copy()
    adata.uns["vc"] = {"source": {"path": str(path), "format": "10x_h5"}}
    return adata


def read_10x(path: str | Path, **kwargs) -> ad.AnnData:
    """Read 10x output: a ``.h5`` file or a ``matrix.mtx`` folder (see the two readers).

    Parameters
    ----------
    path
        A 10x ``.h5`` file or a ``matrix.mtx`` folder.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".h5":
        return read_10x_h5(path, **kwargs)
    return read_10x_mtx(path, **kwargs)
