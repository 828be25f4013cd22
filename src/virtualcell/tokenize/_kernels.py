"""Vectorised per-row kernels on CSR chunks (no per-cell Python loops).

The core trick: every non-zero becomes one unsigned 64-bit sort key
``(~float32_bits(score) << t) | token`` where ``t`` is the number of bits needed for a token
id. For non-negative float32 scores the bit pattern is monotone, so sorting keys in
ascending order sorts by score *descending* and breaks ties by token id *ascending* —
deterministically, with no argsort and no secondary lexsort. The score is recoverable
from the key, so callers that rank by raw expression need no gather afterwards.
Entries that must be dropped (explicit zeros: score bits ``0xFFFFFFFF``; genes not in the
vocabulary: key set to all ones) sort after every real entry.

Each row is handled on its own (a padded ``rows x widest-row`` block sorted along axis 1),
so the output of a cell never depends on the other cells of the chunk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from . import _fast

__all__ = [
    "OutputBuffer",
    "TopK",
    "Workspace",
    "column_token_table",
    "sorted_row_keys",
    "token_bits",
    "topk_rows",
]

_U32 = np.uint64(0xFFFFFFFF)
_S31 = np.uint64(0x7FFFFFFF)


def token_bits(vocab_size: int) -> int:
    """Bits needed for token ids ``0..vocab_size`` (one spare value marks dropped genes)."""
    return max(1, int(vocab_size).bit_length())


def column_token_table(col_ids: np.ndarray, t: int) -> np.ndarray:
    """uint64 per input column: its token id, or all ones for columns not in the vocab.

    OR-ing all ones into a key turns it into the padding key, so such entries sort last
    and are dropped whatever their score.
    """
    table = col_ids.astype(np.int64, copy=True)
    missing = table < 0
    table[missing] = 0
    out = table.astype(np.uint64)
    out[missing] = np.uint64(0xFFFFFFFFFFFFFFFF)
    return out


@dataclass(frozen=True)
class TopK:
    """Top entries of each row, sorted by score descending (ties: token ascending).

    ``tokens`` int64 and ``scores`` float32 are ``(n_rows, width)``; ``valid`` marks real
    entries (False at padding); ``n_valid`` counts them per row (before truncation).
    """

    tokens: np.ndarray
    scores: np.ndarray
    valid: np.ndarray
    n_valid: np.ndarray


class Workspace:
    """Reusable scratch buffers, so that chunk after chunk reuses the same (cache-warm,
    already faulted-in) memory instead of allocating fresh temporaries."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, n: int, dtype: type) -> np.ndarray:
        buf = self._bufs.get(name)
        if buf is None or buf.size < n or buf.dtype != dtype:
            buf = np.empty(max(n, 1), dtype=dtype)
            self._bufs[name] = buf
        return buf[:n]


def sorted_row_keys(
    indptr: np.ndarray,
    indices: np.ndarray,
    score: np.ndarray,
    col_table: np.ndarray,
    t: int,
    ws: Workspace | None = None,
    *,
    keep_zeros: bool = False,
) -> np.ndarray:
    """``(n_rows, widest row)`` uint64 keys of a CSR chunk, each row sorted ascending.

    See the module docstring for the key layout; padding keys are all ones. With
    ``keep_zeros`` a score of 0 stays a valid (last-ranked) entry instead of being dropped.
    """
    ws = ws or Workspace()
    n_rows = indptr.shape[0] - 1
    lengths = np.diff(indptr)
    width = max(int(lengths.max()) if n_rows else 0, 1)
    nnz = score.shape[0]
    bits = np.ascontiguousarray(score, dtype=np.float32).view(np.uint32)
    inv = np.invert(bits, out=ws.get("inv", nnz, np.uint32))
    if keep_zeros:
        np.bitwise_and(inv, np.uint32(0x7FFFFFFF), out=inv)
    key = ws.get("key", nnz, np.uint64)
    np.copyto(key, inv, casting="unsafe")
    np.left_shift(key, np.uint64(t), out=key)
    tok = np.take(col_table, indices, out=ws.get("tok", nnz, np.uint64))
    np.bitwise_or(key, tok, out=key)
    block = ws.get("block", n_rows * width, np.uint64).reshape(n_rows, width)
    block.fill(np.uint64(0xFFFFFFFFFFFFFFFF))
    if nnz:
        fill = ws.get("fill", n_rows * width, np.bool_).reshape(n_rows, width)
        np.less(ws_arange(ws, width), lengths[:, None], out=fill)
        block[fill] = key
    block.sort(axis=1)
    return block


def ws_arange(ws: Workspace, n: int) -> np.ndarray:
    """Cached ``arange(n)`` (int64)."""
    a = ws._bufs.get("arange")
    if a is None or a.size < n:
        a = np.arange(max(n, 1024), dtype=np.int64)
        ws._bufs["arange"] = a
    return a[:n]


def topk_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    score: np.ndarray,
    col_table: np.ndarray,
    t: int,
    k: int,
    *,
    order: str = "score",
    ws: Workspace | None = None,
    keep_zeros: bool = False,
) -> TopK:
    """Top ``k`` entries of every row of a CSR chunk.

    Parameters
    ----------
    indptr
        Row pointers of the chunk, starting at any offset (``indptr[0]`` is subtracted).
    indices, score
        Column indices and non-negative float32 scores of the chunk's non-zeros.
    col_table
        Output of :func:`column_token_table`.
    t
        Token bits (:func:`token_bits`).
    k
        Maximum number of entries kept per row.
    order
        ``"score"`` (descending score, ties by token) or ``"token"`` (the same top-``k``
        set, re-ordered by token id).

    With numba, ``order="score"`` without ``keep_zeros`` runs the per-row radix-sort
    kernel of :mod:`._fast` (identical output).
    """
    if order == "score" and not keep_zeros and _fast.available():
        tok = col_table.astype(np.int64)  # all-ones (not in the vocabulary) becomes -1
        tokens, scores, valid = _fast.topk_sorted(indptr, indices, score, tok, k)
        return TopK(tokens=tokens, scores=scores, valid=valid, n_valid=valid.sum(axis=1))
    block = sorted_row_keys(indptr, indices, score, col_table, t, ws, keep_zeros=keep_zeros)
    pad = np.uint64(0xFFFFFFFFFFFFFFFF)
    top = block[:, : min(k, block.shape[1])]
    valid = top < (_U32 << np.uint64(t))
    n_valid = valid.sum(axis=1)
    if order == "token":
        # re-sort the kept set by token id; invalid entries go last
        tmask = np.uint64((1 << t) - 1)
        tok_major = ((top & tmask) << np.uint64(32)) | (np.invert(top >> np.uint64(t)) & _S31)
        tok_major[~valid] = pad
        tok_major.sort(axis=1)
        valid = tok_major != pad
        tokens = (tok_major >> np.uint64(32)).astype(np.int64)
        sbits = (tok_major & _S31).astype(np.uint32)
    else:
        tokens = (top & np.uint64((1 << t) - 1)).astype(np.int64)
        sbits = np.invert((top >> np.uint64(t)).astype(np.uint32)) & np.uint32(0x7FFFFFFF)
    scores = sbits.view(np.float32)
    tokens[~valid] = 0
    scores[~valid] = 0.0
    return TopK(tokens=tokens, scores=scores, valid=valid, n_valid=n_valid)


def row_totals(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Per-row sums of a CSR chunk's values (float64), zero for empty rows."""
    csum = np.concatenate(([0.0], np.cumsum(data, dtype=np.float64)))
    base = indptr - indptr[0]
    return csum[base[1:]] - csum[base[:-1]]


try:  # numpy >= 2
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # pragma: no cover - numpy 1.x
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:
        _set_madvise_hugepage = None
_THP_LOCK = threading.Lock()


def zeros_small_pages(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """``np.zeros`` without transparent huge pages.

    Padded outputs are mostly padding that is never written; the OS maps those pages
    lazily. numpy asks for 2 MiB huge pages on big arrays, and then the first write
    anywhere in 2 MiB zeroes all of it: measured 2-4x more system time per encode.
    """
    if _set_madvise_hugepage is None:  # pragma: no cover
        return np.zeros(shape, dtype=dtype)
    with _THP_LOCK:
        prev = _set_madvise_hugepage(False)
        try:
            return np.zeros(shape, dtype=dtype)
        finally:
            _set_madvise_hugepage(prev)


class OutputBuffer:
    """Padded output arrays ``ids`` (int64), ``vals`` (float32 or None), ``mask`` (bool).

    Chunks write into row slices; :meth:`finish` returns them, trimmed to the longest
    cell when ``padding="longest"`` (each cell's content is the same either way).
    """

    def __init__(self, n: int, width: int, *, values: bool) -> None:
        self.ids = zeros_small_pages((n, width), np.int64)
        self.vals = zeros_small_pages((n, width), np.float32) if values else None
        self.mask = zeros_small_pages((n, width), np.bool_)
        self.longest = 0

    def put(
        self,
        start: int,
        ids: np.ndarray,
        vals: np.ndarray | None,
        mask: np.ndarray,
        col: int = 0,
    ) -> None:
        """Write a block at rows ``start:`` and columns ``col:``."""
        stop, w = start + ids.shape[0], min(ids.shape[1], self.ids.shape[1] - col)
        self.ids[start:stop, col : col + w] = ids[:, :w]
        self.mask[start:stop, col : col + w] = mask[:, :w]
        if self.vals is not None and vals is not None:
            self.vals[start:stop, col : col + w] = vals[:, :w]

    def finish(self, padding: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        if padding == "max_length":
            return self.ids, self.vals, self.mask
        if padding != "longest":
            raise ValueError(f"padding must be 'max_length' or 'longest', got {padding!r}")
        w = max(int(self.mask.sum(axis=1).max()) if self.mask.size else 0, 1)
        vals = None if self.vals is None else self.vals[:, :w].copy()
        return self.ids[:, :w].copy(), vals, self.mask[:, :w].copy()


def row_scale(totals: np.ndarray, target_sum: float) -> np.ndarray:
    """``target_sum / totals`` per row, 0 for rows with no counts."""
    return np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)


def log_normalized(x: np.ndarray, totals: np.ndarray, target_sum: float) -> np.ndarray:
    """``log1p(x / total * target_sum)`` of a ``(rows, width)`` block, row totals given."""
    return np.log1p(x * row_scale(totals, target_sum)[:, None])


def normalized_data(indptr: np.ndarray, data: np.ndarray, target_sum: float) -> np.ndarray:
    """Non-zeros of a CSR chunk scaled to ``target_sum`` per row (float32)."""
    totals = row_totals(indptr, data)
    scale = row_scale(totals, target_sum)
    lengths = np.diff(indptr)
    return (data * np.repeat(scale, lengths)).astype(np.float32)


def nonzero_column_medians(
    indices: np.ndarray, values: np.ndarray, n_cols: int
) -> tuple[np.ndarray, np.ndarray]:
    """Median of the non-zero values of each column, and the non-zero count per column.

    ``indices``/``values`` are the column indices and (non-negative float32) values of all
    non-zeros of a matrix. Columns without non-zeros get NaN. Exact (one uint64 sort).
    """
    keep = values > 0
    idx = indices[keep].astype(np.uint64)
    bits = np.ascontiguousarray(values[keep], dtype=np.float32).view(np.uint32)
    key = (idx << np.uint64(32)) | bits.astype(np.uint64)
    key.sort()
    counts = np.bincount(indices[keep], minlength=n_cols)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    med = np.full(n_cols, np.nan)
    has = counts > 0
    sorted_vals = (key & _U32).astype(np.uint32).view(np.float32).astype(np.float64)
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    med[has] = 0.5 * (sorted_vals[lo] + sorted_vals[hi])
    return med, counts


def dense_as_csr_parts(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, data)`` of a dense block with every entry explicit."""
    n, p = block.shape
    indptr = np.arange(0, n * p + 1, p, dtype=np.int64)
    indices = np.tile(np.arange(p, dtype=np.int64), n)
    return indptr, indices, np.ascontiguousarray(block, dtype=np.float32).ravel()


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (vectorised, uint64 in and out): a counter-based hash."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform_from_hash(h: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1) from uint64 hashes (53 high bits)."""
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
