"""Reading tokenizer input: AnnData / matrices to CSR, gene-column maps, value checks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Union

import numpy as np
import scipy.sparse as sp

from .._errors import DataFormatError, ValidationError
from ._vocab import GeneVocab

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

#: What a tokenizer reads: an AnnData (``X``, a layer or ``.raw``) or a cells x genes
#: matrix (dense or sparse; then ``genes=`` names the columns).
CellsInput = Union["AnnData", sp.spmatrix, sp.sparray, np.ndarray]

__all__ = [
    "CellsInput",
    "as_csr",
    "check_chunk_values",
    "expressed_genes",
    "gene_columns",
    "iter_chunks",
    "token_columns",
]


def as_csr(
    data: CellsInput, *, genes: Sequence[str] | None = None, layer: str | None = None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Return ``(X as CSR, gene names, cell ids)`` from AnnData or a matrix.

    ``layer`` selects ``adata.layers[layer]`` (``"raw"``: ``adata.raw.X`` with its own
    genes), as everywhere (:func:`virtualcell.data.select_matrix`). Dense input is
    converted to CSR (zeros dropped); the input object is never modified.
    """
    cell_ids: np.ndarray | None = None
    if hasattr(data, "obs_names") and hasattr(data, "var_names"):
        from ..data import select_matrix

        X, var_names = select_matrix(data, layer=layer)  # layer="raw": adata.raw.X
        if X is None:
            raise ValidationError("adata.X is None; pass layer=")
        if genes is None:
            genes = list(var_names)
        cell_ids = np.asarray(data.obs_names, dtype=object)
    else:
        if layer is not None:
            raise ValidationError("layer= is only valid with AnnData input")
        X = data
    if hasattr(X, "to_memory"):  # backed / lazy arrays
        X = X.to_memory()
    if sp.issparse(X):
        X = X.tocsr() if not isinstance(X, sp.csr_matrix | sp.csr_array) else X
        X = sp.csr_matrix(X)
    else:
        try:
            arr = np.asarray(X)
        except Exception as e:  # pragma: no cover - exotic inputs
            raise DataFormatError(f"cannot read expression matrix of type {type(X)}: {e}") from e
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise DataFormatError(
                f"expression matrix must be 2-D numeric, got shape {arr.shape} dtype {arr.dtype}"
            )
        X = sp.csr_matrix(arr)
    if not X.has_sorted_indices:
        X = X.sorted_indices()
    n_cells, n_genes = X.shape
    if genes is None:
        raise ValidationError("genes= is required with a plain matrix (one name per column)")
    genes_arr = np.asarray([str(g) for g in genes], dtype=object)
    if genes_arr.shape[0] != n_genes:
        raise ValidationError(
            f"genes= has {genes_arr.shape[0]} names but the matrix has {n_genes} columns"
        )
    uniq, counts = np.unique(genes_arr.astype(str), return_counts=True)
    if (counts > 1).any():
        dups = [str(g) for g in uniq[counts > 1]]
        raise ValidationError(
            f"{len(dups)} gene name(s) name more than one column, e.g. {dups[:5]}; each gene "
            "would be tokenized twice: make them unique (adata.var_names_make_unique()) or "
            "sum the duplicated columns first"
        )
    if cell_ids is None:
        cell_ids = np.asarray([str(i) for i in range(n_cells)], dtype=object)
    return X, genes_arr, cell_ids


def gene_columns(vocab: GeneVocab, genes: Iterable[str]) -> np.ndarray:
    """Token id of each input column; -1 where it is no vocabulary gene (absent, or
    named like a special token)."""
    col_ids = vocab.lookup(genes)
    col_ids[col_ids < vocab.n_special] = -1
    return col_ids


def token_columns(col_ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Inverse of :func:`gene_columns`: input column of each token id, -1 if none."""
    t2c = np.full(vocab_size, -1, dtype=np.int64)
    ok = col_ids >= 0
    t2c[col_ids[ok]] = np.flatnonzero(ok)
    return t2c


def expressed_genes(
    X: sp.csr_matrix, min_cells: int, *, counts: np.ndarray | None = None
) -> np.ndarray:
    """Mask of the corpus genes expressed (> 0) in >= ``min_cells`` cells (``counts``:
    expressing cells per column, computed from ``X`` when None); raises if there is none."""
    if counts is None:
        counts = np.bincount(X.indices[X.data > 0], minlength=X.shape[1])
    keep = counts >= min_cells
    if not keep.any():
        raise ValidationError(f"no gene is expressed in >= {min_cells} cells of the corpus")
    return keep


def check_chunk_values(data: np.ndarray, start_row: int, cell_ids: np.ndarray) -> None:
    """Raise :class:`ValidationError` if a chunk's non-zeros are negative or not finite."""
    if data.size == 0:
        return
    lo = data.min()
    hi = data.max()
    if not (lo >= 0) or not np.isfinite(hi):
        bad = "negative" if lo < 0 else "NaN or infinite"
        raise ValidationError(
            f"expression values must be finite and >= 0; found {bad} values in cells "
            f"starting at row {start_row} ({cell_ids[start_row]!r}); tokenizers expect "
            "raw counts or non-negative normalised expression"
        )


def iter_chunks(n_rows: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` row ranges of at most ``batch_size`` rows."""
    if batch_size < 1:
        raise ValidationError(f"batch_size must be >= 1, got {batch_size}")
    for s in range(0, n_rows, batch_size):
        yield s, min(s + batch_size, n_rows)
