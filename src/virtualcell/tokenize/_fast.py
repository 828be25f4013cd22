"""Optional numba kernels: one pass per row, radix-sorted in place, written straight out.

The numpy kernels of :mod:`._kernels` sort a padded ``rows x widest-row`` block of 64-bit
keys with ``np.sort`` (a comparison sort). The kernels here give bit-identical output with,
for each row (blocks of rows run on ``numba.get_num_threads()`` threads, GIL released):

1. one pass over the row's non-zeros that checks the values (negative / NaN / inf),
   computes the score, drops genes outside the vocabulary and zero scores, and packs
   ``(~float32_bits(score) << 32) | token`` into a uint64 (the order of the numpy key:
   score descending, then token ascending);
2. a stable least-significant-digit radix sort on the score half: four 8-bit digits, or
   three 9-bit digits for long rows whose keys lie within ``2**27`` of each other; all
   histograms come from one pass and digits equal across the row are skipped. Tokens are
   sorted first only when the column -> token map is not increasing; otherwise the stable
   sort keeps the column (= token) order of ties for free;
3. the first ``max_len`` entries written directly into the preallocated, zeroed outputs
   (only the valid prefix is touched).

numba is imported lazily (first encode) and each kernel compiles once per process and
argument types (``cache=False``; about 1-3 s). Set the environment variable
``VIRTUALCELL_NUMBA=0`` (or :data:`ENABLED` to False) to force the pure-numpy path.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["ENABLED", "available", "rank_encode", "topk_sorted"]

#: Use the numba kernels when numba can be imported (module-level switch, for tests).
ENABLED: bool = os.environ.get("VIRTUALCELL_NUMBA", "1").strip().lower() not in {"0", "false", "no"}

_KERNELS: dict[str, Any] = {}
_MIN_ROWS = 64  # smallest block of rows handed to a thread
_POOL: dict[tuple[int, int], ThreadPoolExecutor] = {}  # (pid, threads): fork-safe


def available() -> bool:
    """True when the numba kernels are enabled and numba imports."""
    if not ENABLED:
        return False
    if "rank" not in _KERNELS:
        try:
            _build()
        except ImportError:
            return False
    return True


def kernel_dtype(dtype: np.dtype) -> np.dtype | None:
    """Dtype the data must be cast to so that ``data / float32`` rounds as numpy does.

    numpy computes ``d / m`` (``m`` float32) in ``result_type(d, float32)``; the kernel
    takes float32 or float64 data and divides in that precision. None: not supported
    (callers fall back to numpy).
    """
    res = np.result_type(dtype, np.float32)
    if res == np.float32:
        return np.dtype(np.float32)
    if res == np.float64:
        return np.dtype(np.float64)
    return None


def _build() -> None:
    import numba
    from numba import njit

    u64, u32 = np.uint64, np.uint32
    m32 = np.uint64(0xFFFFFFFF)
    del numba

    @njit(cache=False, nogil=True)
    def _lsd(src, dst, m, shift, hist):
        """Stable LSD radix sort of ``src[:m]`` by the 32-bit field ``x >> shift``: 8-bit
        digits, all four histograms from one pass, digits equal across the row skipped.
        Returns the number of passes made (odd: the result is in ``dst``)."""
        hist[:, :] = 0
        for i in range(m):
            f = (src[i] >> shift) & m32
            hist[0, f & u64(0xFF)] += 1
            hist[1, (f >> u64(8)) & u64(0xFF)] += 1
            hist[2, (f >> u64(16)) & u64(0xFF)] += 1
            hist[3, f >> u64(24)] += 1
        f0 = (src[0] >> shift) & m32
        npass = 0
        for d in range(4):
            sh = shift + u64(8 * d)
            if hist[d, (f0 >> u64(8 * d)) & u64(0xFF)] == m:
                continue  # every entry has this digit
            npass += 1
            acc = 0
            for b in range(256):
                c = hist[d, b]
                hist[d, b] = acc
                acc += c
            for i in range(m):
                x = src[i]
                b = (x >> sh) & u64(0xFF)
                dst[hist[d, b]] = x
                hist[d, b] += 1
            src, dst = dst, src
        return npass

    @njit(cache=False, nogil=True)
    def _lsd9(src, dst, m, shift, base, hist9):
        """As :func:`_lsd` for fields with ``field - base < 2**27``: three 9-bit digits."""
        hist9[:, :] = 0
        for i in range(m):
            f = ((src[i] >> shift) & m32) - base
            hist9[0, f & u64(0x1FF)] += 1
            hist9[1, (f >> u64(9)) & u64(0x1FF)] += 1
            hist9[2, (f >> u64(18)) & u64(0x1FF)] += 1
        f0 = ((src[0] >> shift) & m32) - base
        npass = 0
        for d in range(3):
            sh = u64(9 * d)
            if hist9[d, (f0 >> sh) & u64(0x1FF)] == m:
                continue
            npass += 1
            acc = 0
            for b in range(512):
                c = hist9[d, b]
                hist9[d, b] = acc
                acc += c
            for i in range(m):
                x = src[i]
                b = ((((x >> shift) & m32) - base) >> sh) & u64(0x1FF)
                dst[hist9[d, b]] = x
                hist9[d, b] += 1
            src, dst = dst, src
        return npass

    @njit(cache=False, nogil=True)
    def _rank_rows(
        r0, r1, indptr, indices, data, dbits, dlim, med, tok, sort_tok, max_len, cls_id, ids, vals,
        mask, bad,
    ):  # fmt: skip
        """Rank-encode rows ``r0:r1`` (see the module docs)."""
        off = 1 if cls_id >= 0 else 0
        w = 1
        for r in range(r0, r1):
            w = max(w, indptr[r + 1] - indptr[r])
        a = np.empty(w, dtype=np.uint64)
        tmp = np.empty(w, dtype=np.uint64)
        hist = np.empty((4, 256), dtype=np.int64)
        hist9 = np.empty((3, 512), dtype=np.int64)
        sc = np.empty(1, dtype=np.float32)
        scu = sc.view(np.uint32)
        for r in range(r0, r1):
            lo, hi = indptr[r], indptr[r + 1]
            if off:
                ids[r, 0] = cls_id
                mask[r, 0] = True
            m = 0
            kmax = u32(0)
            kmin = u32(0xFFFFFFFF)
            for j in range(lo, hi):
                if dbits[j] >= dlim:  # sign or all-ones exponent: check exactly (rare)
                    v = data[j]
                    if not (v >= 0) or v == np.inf:
                        bad[r] = 1
                c = indices[j]
                t = tok[c]
                if t < 0:
                    continue
                sc[0] = data[j] / med[c]
                k = ~scu[0]
                if k == u32(0xFFFFFFFF):
                    continue  # zero score: dropped
                a[m] = (u64(k) << u64(32)) | u64(t)
                kmax = max(kmax, k)
                kmin = min(kmin, k)
                m += 1
            if m == 0:
                continue
            flips = 0
            if sort_tok:  # else the input (column) order is the token order
                flips = _lsd(a, tmp, m, u64(0), hist)
            src, dst = (tmp, a) if flips % 2 else (a, tmp)
            if m >= 384 and kmax - kmin < u32(1 << 27):
                # long row, keys within 2**27 of each other: 3 passes of 9 bits, not 4 of 8
                flips += _lsd9(src, dst, m, u64(32), u64(kmin), hist9)
            else:
                flips += _lsd(src, dst, m, u64(32), hist)
            res = tmp if flips % 2 else a
            kk = min(m, max_len)
            for i in range(kk):  # three simple loops (vectorised) beat one fused loop
                ids[r, off + i] = np.int64(res[i] & m32)
            for i in range(kk):
                vals[r, off + i] = np.float32(i + 1)
            mask[r, off : off + kk] = True

    @njit(cache=False, nogil=True)
    def _topk_rows(r0, r1, indptr, indices, sbits, tok, sort_tok, k, tokens, scores, valid):
        base = indptr[0]
        w = 1
        for r in range(r0, r1):
            w = max(w, indptr[r + 1] - indptr[r])
        a = np.empty(w, dtype=np.uint64)
        tmp = np.empty(w, dtype=np.uint64)
        hist = np.empty((4, 256), dtype=np.int64)
        for r in range(r0, r1):
            m = 0
            for j in range(indptr[r] - base, indptr[r + 1] - base):
                t = tok[indices[j]]
                kb = ~sbits[j]
                if t < 0 or kb == u32(0xFFFFFFFF):
                    continue  # not in the vocabulary, or a zero score
                a[m] = (u64(kb) << u64(32)) | u64(t)
                m += 1
            if m == 0:
                continue
            flips = 0
            if sort_tok:
                flips = _lsd(a, tmp, m, u64(0), hist)
            src, dst = (tmp, a) if flips % 2 else (a, tmp)
            flips += _lsd(src, dst, m, u64(32), hist)
            res = tmp if flips % 2 else a
            kk = min(m, k)
            for i in range(kk):
                tokens[r, i] = np.int64(res[i] & m32)
            for i in range(kk):
                scores[r, i] = u32(~(res[i] >> u64(32))) & u32(0x7FFFFFFF)
            valid[r, :kk] = True

    _KERNELS["rank"] = _rank_rows
    _KERNELS["topk"] = _topk_rows


def rank_encode(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    med: np.ndarray,
    tok: np.ndarray,
    max_len: int,
    cls_id: int,
    ids: np.ndarray,
    vals: np.ndarray,
    mask: np.ndarray,
) -> int:
    """Rank-encode a whole CSR matrix into ``ids``/``vals``/``mask`` (zero-initialised).

    ``med`` float32 per column (``inf`` drops the gene), ``tok`` int64 per column (-1:
    not in the vocabulary), ``cls_id`` < 0 for no ``<cls>`` column. Returns the first row
    with a negative or non-finite value, or -1.
    """
    if not available():  # pragma: no cover - guarded by callers
        raise RuntimeError("numba kernels unavailable")
    sort_tok = _sort_tok(tok)
    tok32 = tok.astype(np.int32)
    bad = np.zeros(indptr.shape[0] - 1, dtype=np.uint8)
    # integer view of the data: values >= dlim are negative (or -0.0), inf or NaN
    if data.dtype == np.float32:
        dbits, dlim = data.view(np.uint32), np.uint32(0x7F800000)
    else:
        dbits, dlim = data.view(np.uint64), np.uint64(0x7FF0000000000000)
    _run_rows(
        _KERNELS["rank"],
        indptr.shape[0] - 1,
        indptr, indices, data, dbits, dlim, med, tok32, sort_tok, int(max_len), int(cls_id),
        ids, vals, mask, bad,
    )  # fmt: skip
    hits = np.flatnonzero(bad)
    return int(hits[0]) if hits.size else -1


def _run_rows(fn: Any, n: int, *args: Any) -> None:
    """Call ``fn(r0, r1, *args)`` over blocks of rows ``0..n`` on ``numba.get_num_threads()``
    threads (the kernels release the GIL). Blocks are handed out dynamically (about 8 per
    thread), so a thread slowed down by other processes does not hold the others up."""
    import numba

    nt = max(1, int(numba.get_num_threads()))
    if nt == 1 or n < 2 * _MIN_ROWS:
        fn(0, n, *args)
        return
    key = (os.getpid(), nt)  # a forked child (e.g. a DataLoader worker) gets its own pool
    pool = _POOL.get(key)
    if pool is None:
        pool = _POOL[key] = ThreadPoolExecutor(nt, thread_name_prefix="vc-tokenize")
    step = max(_MIN_ROWS, -(-n // (8 * nt)))
    futures = [pool.submit(fn, s, min(n, s + step), *args) for s in range(0, n, step)]
    for f in futures:
        f.result()


def _sort_tok(tok: np.ndarray) -> bool:
    """True unless the column -> token map is strictly increasing over mapped columns."""
    present = tok[tok >= 0]
    return bool(present.size > 1 and np.any(np.diff(present) <= 0))


def topk_sorted(
    indptr: np.ndarray, indices: np.ndarray, score: np.ndarray, tok: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``k`` entries of each CSR row by score descending, ties by token ascending.

    ``indptr`` may start at any offset; ``score`` float32 (non-negative) per non-zero;
    ``tok`` int64 per column (-1: dropped). Zero scores are dropped. Returns ``tokens``
    int64, ``scores`` float32 and ``valid`` bool, each ``(n_rows, min(k, widest row))``
    (at least one column), zero / False at padding: the same as
    :func:`._kernels.topk_rows` with ``order="score"``.
    """
    n = indptr.shape[0] - 1
    widest = int((indptr[1:] - indptr[:-1]).max()) if n else 0
    w = min(int(k), max(widest, 1))
    tokens = np.zeros((n, w), dtype=np.int64)
    scores = np.zeros((n, w), dtype=np.float32)
    valid = np.zeros((n, w), dtype=bool)
    sbits = np.ascontiguousarray(score, dtype=np.float32).view(np.uint32)
    _run_rows(
        _KERNELS["topk"],
        n,
        indptr, indices, sbits, tok.astype(np.int32), _sort_tok(tok), w, tokens,
        scores.view(np.uint32), valid,
    )  # fmt: skip
    return tokens, scores, valid
