"""Tokenizer throughput and peak memory on synthetic sparse counts.

Usage: python benchmarks/tokenizer_throughput.py [--cells 100000] [--genes 20000] [--density 0.05]
                                       [--repeats 3] [--only rank,sentence]

Prints cells/s, ns per non-zero and peak traced memory (tracemalloc, numpy allocations)
of ``encode`` for each tokenizer, and its throughput as a fraction of the machine's
memory-bandwidth bound: bytes of non-zeros (data float32 + indices int32 = 8 B each) read
per second / measured read bandwidth (numpy sum over a 1 GiB array). On a shared machine
the bandwidth is measured right before each timed encode (back to back) and the best of
``--repeats`` (throughput, bandwidth) pairs is kept. The first encode of each tokenizer
is an untimed warm-up (JIT compilation of the numba kernels, page faults). ``cpu ns/nnz``
is process CPU time (all threads) per non-zero: less sensitive to other processes than
wall time. ``--numpy-baseline`` adds rows with the numba kernels disabled.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd
import scipy.sparse as sp

from virtualcell.tokenize import (
    BinTokenizer,
    ContinuousTokenizer,
    GeneTextTokenizer,
    RankTokenizer,
    SentenceTokenizer,
    _fast,
)


def synthetic(n: int, g: int, density: float, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    per = max(1, int(g * density))
    rows = np.repeat(np.arange(n, dtype=np.int64), per)
    cols = rng.integers(0, g, n * per)
    vals = rng.geometric(0.3, n * per).astype(np.float32)
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, g))
    X.sum_duplicates()
    X.indices = X.indices.astype(np.int32)
    return X


def read_bandwidth(nbytes: int = 1 << 30, repeats: int = 5) -> float:
    a = np.ones(nbytes // 8)
    a.sum()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--fit-cells", type=int, default=5_000)
    ap.add_argument("--max-len", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated name prefixes to run")
    ap.add_argument(
        "--numpy-baseline",
        action="store_true",
        help="also time the rank and sentence tokenizers with the numba kernels disabled",
    )
    args = ap.parse_args()
    X = synthetic(args.cells, args.genes, args.density)
    genes = [f"G{i}" for i in range(args.genes)]
    corpus = X[: args.fit_cells]
    emb = pd.DataFrame(np.random.default_rng(1).normal(size=(args.genes, 64)), index=genes)
    L = args.max_len
    toks = {
        "rank": RankTokenizer(max_len=L),
        "bin (quantile, nonzero)": BinTokenizer(max_len=L),
        "continuous": ContinuousTokenizer(max_len=L),
        "continuous + downsample": ContinuousTokenizer(max_len=L, downsample=0.5),
        "sentence (top 256)": SentenceTokenizer(max_len=256),
        "gene_text (64-d)": GeneTextTokenizer(emb),
    }
    if args.numpy_baseline:
        toks["rank [numpy path]"] = RankTokenizer(max_len=L)
        toks["sentence (top 256) [numpy path]"] = SentenceTokenizer(max_len=256)
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    if only:
        toks = {k: v for k, v in toks.items() if any(k.startswith(o) for o in only)}
    print(f"cells={args.cells} genes={args.genes} nnz={X.nnz} ({X.nnz / X.shape[0]:.0f}/cell)")
    hdr = f"{'tokenizer':32s} {'cells/s':>9s} {'ns/nnz':>7s} {'cpu ns/nnz':>10s} {'peak MB':>8s}"
    print(f"{hdr} {'GB/s bw':>8s} {'% bw bound':>10s}")
    for name, tk in toks.items():
        _fast.ENABLED = "[numpy path]" not in name
        tk.fit(corpus, genes=genes)
        tk.encode(X[:1000], genes=genes)  # warm-up (JIT compile)
        dt, cpu, bw = np.inf, np.inf, 0.0
        for _ in range(max(args.repeats, 1)):
            bw = max(bw, read_bandwidth())  # best bandwidth: the conservative choice
            c, t = time.process_time(), time.perf_counter()
            tk.encode(X, genes=genes)
            dt = min(dt, time.perf_counter() - t)
            cpu = min(cpu, time.process_time() - c)  # CPU seconds of all threads
        tracemalloc.start()
        tk.encode(X, genes=genes)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        frac = X.nnz * 8 / dt / bw
        print(
            f"{name:32s} {args.cells / dt:9.0f} {dt / X.nnz * 1e9:7.2f} {cpu / X.nnz * 1e9:10.2f} "
            f"{peak / 2**20:8.0f} {bw / 1e9:8.1f} {100 * frac:9.2f}%"
        )
    _fast.ENABLED = True


if __name__ == "__main__":
    main()
