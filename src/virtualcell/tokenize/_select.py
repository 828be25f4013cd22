"""Shared gene selection for the value tokenizers (bin, continuous): per chunk, the sorted
key block of the candidate genes of each cell, either its expressed vocabulary genes
(sparse) or a fixed gene panel with zeros included (dense)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from ._input import check_chunk_values, iter_chunks
from ._kernels import Workspace, dense_as_csr_parts, row_totals, sorted_row_keys

__all__ = ["ChunkKeys", "chunk_keys", "chunk_totals", "decode_keys", "selected_chunks"]

_S31 = np.uint64(0x7FFFFFFF)


class ChunkKeys:
    """Sorted keys of one chunk plus what is needed to decode them."""

    def __init__(self, block: np.ndarray, t: int) -> None:
        self.block, self.t = block, t

    def tokens(self, k: int) -> np.ndarray:
        top = self.block[:, :k]
        return (top & np.uint64((1 << self.t) - 1)).astype(np.int64)

    def scores(self, k: int | None = None) -> np.ndarray:
        top = self.block if k is None else self.block[:, :k]
        inv = (top >> np.uint64(self.t)).astype(np.uint32)
        return (np.invert(inv) & np.uint32(0x7FFFFFFF)).view(np.float32)

    def valid(self, k: int | None = None) -> np.ndarray:
        top = self.block if k is None else self.block[:, :k]
        return top < (np.uint64(0xFFFFFFFF) << np.uint64(self.t))


def chunk_keys(
    X: sp.csr_matrix,
    s: int,
    e: int,
    *,
    score: np.ndarray | None,
    col_table: np.ndarray,
    panel_cols: np.ndarray | None,
    panel_table: np.ndarray | None,
    t: int,
    ws: Workspace,
) -> ChunkKeys:
    """Sorted keys (score = raw value unless ``score`` given) for rows ``s:e``.

    With ``panel_cols`` the candidate genes are those columns (zeros kept); otherwise the
    cell's non-zero vocabulary genes.
    """
    if panel_cols is not None:
        assert panel_table is not None
        dense = X[s:e][:, panel_cols].toarray()
        indptr, indices, data = dense_as_csr_parts(dense)
        block = sorted_row_keys(indptr, indices, data, panel_table, t, ws, keep_zeros=True)
    else:
        a, b = X.indptr[s], X.indptr[e]
        data = X.data[a:b] if score is None else score
        block = sorted_row_keys(
            X.indptr[s : e + 1], X.indices[a:b], np.asarray(data, np.float32), col_table, t, ws
        )
    return ChunkKeys(block, t)


def decode_keys(keys: ChunkKeys, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tokens, raw scores, valid)`` of the first ``k`` keys per row, zero at padding."""
    valid = keys.valid(k)
    tokens = keys.tokens(k)
    scores = keys.scores(k).copy()
    tokens[~valid] = 0
    scores[~valid] = 0.0
    return tokens, scores, valid


def selected_chunks(
    X: sp.csr_matrix,
    cell_ids: np.ndarray,
    *,
    col_table: np.ndarray,
    panel_cols: np.ndarray | None,
    panel_table: np.ndarray | None,
    t: int,
    max_len: int,
    batch_size: int,
) -> Iterator[tuple[int, int, ChunkKeys, np.ndarray, np.ndarray, np.ndarray]]:
    """Rows of ``X`` chunk by chunk, values checked: ``(start, stop, keys, tokens, raw,
    valid)``, the last three for the first ``min(max_len, candidates)`` keys per row
    (:func:`decode_keys`); candidates as in :func:`chunk_keys` (score = raw value)."""
    ws = Workspace()
    for s, e in iter_chunks(X.shape[0], batch_size):
        check_chunk_values(X.data[X.indptr[s] : X.indptr[e]], s, cell_ids)
        keys = chunk_keys(
            X, s, e, score=None, col_table=col_table, panel_cols=panel_cols,
            panel_table=panel_table, t=t, ws=ws,
        )  # fmt: skip
        tokens, raw, valid = decode_keys(keys, min(max_len, keys.block.shape[1]))
        yield s, e, keys, tokens, raw, valid


def chunk_totals(X: sp.csr_matrix, s: int, e: int) -> np.ndarray:
    """Total of each row ``s:e`` of ``X`` (float64)."""
    return row_totals(X.indptr[s : e + 1], X.data[X.indptr[s] : X.indptr[e]])
