"""The numba rank kernel gives bit-identical output to the pure-numpy path."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import scipy.sparse as sp

from virtualcell._errors import ValidationError
from virtualcell.tokenize import RankTokenizer, _fast

pytestmark = pytest.mark.usefixtures("warm_jit")

pytest.importorskip("numba")

FIELDS = ("input_ids", "values", "attention_mask")


def _spy(monkeypatch) -> dict[str, int]:
    """Count calls of the numba entry points (so a test knows which path ran)."""
    calls = {"rank_encode": 0, "topk_sorted": 0}
    for name in calls:
        real = getattr(_fast, name)

        def wrapped(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(_fast, name, wrapped)
    return calls


def _both(tk, X, genes, monkeypatch, **kw):
    """Encode with the numba kernels and with numpy; identical outputs, and the numba
    path really ran for every dtype it supports (no silent fallback)."""
    calls = _spy(monkeypatch)
    monkeypatch.setattr(_fast, "ENABLED", True)
    fast = tk.encode(X, genes=genes, **kw)
    ran = sum(calls.values())
    if _fast.kernel_dtype(np.dtype(X.dtype)) is not None:
        assert ran > 0, f"numba kernel not used for {X.dtype}"
    monkeypatch.setattr(_fast, "ENABLED", False)
    slow = tk.encode(X, genes=genes, **kw)
    assert sum(calls.values()) == ran, "numba kernel used although disabled"
    monkeypatch.setattr(_fast, "ENABLED", True)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(fast, f), getattr(slow, f), err_msg=f)
        assert getattr(fast, f).dtype == getattr(slow, f).dtype
    return fast


def _matrix(rng, n, g):
    X = rng.integers(0, 4, size=(n, g)).astype(np.float32)  # small counts: many ties
    X[rng.random((n, g)) < 0.5] = 0
    X[0] = 0  # an empty cell
    X = sp.csr_matrix(X)
    X.data[rng.random(X.nnz) < 0.1] = 0  # explicit zeros are dropped, not ranked
    return X


@pytest.mark.parametrize("trial", range(8))
def test_rank_fast_matches_numpy(trial, monkeypatch):
    rng = np.random.default_rng(trial)
    n, g = int(rng.integers(2, 30)), int(rng.integers(2, 120))
    X = _matrix(rng, n, g)
    genes = [f"g{i}" for i in range(g)]
    # odd trials: vocabulary in another order than the columns, with genes missing
    vocab = list(rng.permutation(genes)[: max(1, int(0.8 * g))]) if trial % 2 else genes
    tk = RankTokenizer(
        vocab,
        max_len=int(rng.integers(1, 40)),
        add_cls=trial % 3 != 0,
        min_coverage_warn=0.0,
        min_coverage_error=0.0,
    ).fit(X[n // 2 :], genes=genes)  # some genes unseen in the corpus: NaN median, dropped
    _both(tk, X, genes, monkeypatch)
    _both(tk, X, genes, monkeypatch, padding="longest", batch_size=3)
    _both(tk, X.astype(np.float64) / 3.0, genes, monkeypatch)  # float64 division
    _both(tk, X.astype(np.int32), genes, monkeypatch)  # int32 / float32 divides in float64
    _both(tk, X.astype(np.int16), genes, monkeypatch)  # int16 / float32 divides in float32


@pytest.mark.parametrize("wide", [False, True])
def test_rank_fast_long_rows(wide, monkeypatch):
    """Rows of ~1000 genes take the 9-bit radix path (narrow key range) or the 8-bit one."""
    rng = np.random.default_rng(5)
    X = rng.integers(0, 30, size=(4, 2500)).astype(np.float32)
    X[rng.random(X.shape) < 0.6] = 0
    Y = X.copy()
    if wide:
        Y[:, :5] = 1e9  # scores (keys) more than 2**27 apart
    X, Y = sp.csr_matrix(X), sp.csr_matrix(Y)
    genes = [f"g{i}" for i in range(2500)]
    for vocab in (genes, list(rng.permutation(genes))):
        tk = RankTokenizer(vocab, max_len=800).fit(X, genes=genes)
        r = _both(tk, Y, genes, monkeypatch)
        assert r.attention_mask[:, 1:].sum(axis=1).min() == 800  # truncated


def test_rank_fast_hand_computed_ties_and_batches(monkeypatch):
    # equal scores: ties by token id whatever the column order
    X = sp.csr_matrix(np.array([[1, 1, 1, 0, 2], [3, 0, 3, 3, 0]], dtype=np.float32))
    genes = list("ABCDE")
    tk = RankTokenizer(list("ECBAD"), max_len=4, add_cls=False).fit(np.ones((1, 5)), genes=genes)
    r = _both(tk, X, genes, monkeypatch)
    assert tk.decode(r) == [["E", "C", "B", "A"], ["C", "A", "D"]]
    np.testing.assert_array_equal(r.values, [[1, 2, 3, 4], [1, 2, 3, 0]])
    big = sp.vstack([X] * 200).tocsr()  # several parallel tasks
    whole = tk.encode(big, genes=genes)
    np.testing.assert_array_equal(whole.input_ids[:2], r.input_ids)
    np.testing.assert_array_equal(whole.input_ids[-2:], r.input_ids)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_rank_fast_bad_values_same_error(bad, monkeypatch):
    rng = np.random.default_rng(0)
    X = _matrix(rng, 20, 10)
    genes = [f"g{i}" for i in range(10)]
    tk = RankTokenizer(max_len=5).fit(X, genes=genes)
    X.data[X.indptr[13]] = bad  # row 13: the error names the chunk starting at row 12
    msgs = []
    for enabled in (True, False):
        monkeypatch.setattr(_fast, "ENABLED", enabled)
        with pytest.raises(ValidationError, match="starting at row 12") as e:
            tk.encode(X, genes=genes, batch_size=4)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_kernel_dtype_follows_numpy_promotion():
    assert _fast.kernel_dtype(np.dtype(np.float32)) == np.float32
    assert _fast.kernel_dtype(np.dtype(np.int16)) == np.float32
    assert _fast.kernel_dtype(np.dtype(np.int32)) == np.float64
    assert _fast.kernel_dtype(np.dtype(np.float64)) == np.float64


@pytest.mark.parametrize("trial", range(4))
def test_topk_users_fast_matches_numpy(trial, monkeypatch):
    """SentenceTokenizer and GeneTextTokenizer rank through the same kernel."""
    import pandas as pd

    from virtualcell.tokenize import GeneTextTokenizer, SentenceTokenizer

    rng = np.random.default_rng(10 + trial)
    n, g = int(rng.integers(2, 30)), int(rng.integers(2, 80))
    X = _matrix(rng, n, g)
    genes = [f"g{i}" for i in range(g)]
    vocab = list(rng.permutation(genes)) if trial % 2 else genes
    emb = pd.DataFrame(rng.normal(size=(g, 3)), index=vocab)
    k = int(rng.integers(2, 30))
    toks = [
        SentenceTokenizer(max_len=k).fit(X, genes=genes),
        GeneTextTokenizer(emb, weighting="rank", max_len=k),
        GeneTextTokenizer(emb, weighting="expression", max_len=k),
    ]
    for tk in toks:
        r = _both(tk, X, genes, monkeypatch, batch_size=4)
        if r.texts is not None:
            monkeypatch.setattr(_fast, "ENABLED", False)
            assert tk.encode(X, genes=genes).texts == r.texts
        if "embedding" in r.extra:
            monkeypatch.setattr(_fast, "ENABLED", False)
            np.testing.assert_array_equal(
                tk.encode(X, genes=genes).extra["embedding"], r.extra["embedding"]
            )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_rank_fast_in_forked_child():
    """A forked worker (e.g. a DataLoader) must not reuse the parent's dead thread pool."""
    X = sp.csr_matrix(np.tile(np.arange(1, 9, dtype=np.float32), (300, 1)))
    genes = list("ABCDEFGH")
    tk = RankTokenizer(max_len=3).fit(X, genes=genes)
    want = tk.encode(X, genes=genes).input_ids  # starts the pool in the parent
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: encode, report, exit without running pytest teardown
        try:
            ok = np.array_equal(tk.encode(X, genes=genes).input_ids, want)
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("encode hung in a forked child")
    assert os.read(r, 1) == b"1"
