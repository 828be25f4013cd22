"""Okapi BM25, vectorised with a sparse document x term weight matrix.

score(d, q) = sum_{t in q} idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
with idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)) (the non-negative Lucene variant).
The per-(document, term) factor does not depend on the query, so it is precomputed once;
a query is then a sum of a few matrix columns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["BM25", "tokenize"]

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_STOP = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the their "
    "this to was were which with via any genes what which who how does do involved "
    "annotated".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric tokens without stop words; hyphenated words also yield parts
    (``"t-cell"`` -> ``t-cell, t, cell``)."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        if tok in _STOP:
            continue
        out.append(tok)
        if "-" in tok:
            out.extend(p for p in tok.split("-") if p and p not in _STOP)
    return out


class BM25:
    """BM25 index over a list of documents.

    Parameters
    ----------
    k1, b
        The usual BM25 saturation and length-normalisation parameters.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        self.weights: sp.csc_matrix | None = None
        self.idf: np.ndarray | None = None

    def fit(self, docs: Sequence[str]) -> BM25:
        vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, doc in enumerate(docs):
            for tok in tokenize(doc):
                cols.append(vocab.setdefault(tok, len(vocab)))
                rows.append(i)
        n = len(docs)
        tf = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (np.asarray(rows), np.asarray(cols))),
            shape=(n, max(len(vocab), 1)),
        )
        tf.sum_duplicates()
        self.vocab = vocab
        self.weights, self.idf = self._weigh(tf)
        return self

    def _weigh(self, tf: sp.csr_matrix) -> tuple[sp.csc_matrix, np.ndarray]:
        n = tf.shape[0]
        dl = np.asarray(tf.sum(axis=1)).ravel()
        avgdl = float(dl.mean()) if n and dl.mean() > 0 else 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        w = tf.copy().astype(np.float64)
        norm = self.k1 * (1 - self.b + self.b * dl / avgdl)
        row_norm = np.repeat(norm, np.diff(w.indptr))
        w.data = w.data * (self.k1 + 1) / (w.data + row_norm) * idf[w.indices]
        return w.astype(np.float32).tocsc(), idf

    @property
    def n_docs(self) -> int:
        return 0 if self.weights is None else self.weights.shape[0]

    def scores(self, query: str, rows: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every document (or of ``rows``) for ``query``."""
        if self.weights is None:
            raise RuntimeError("BM25 index is empty: call fit() first")
        ids = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not ids:
            return np.zeros(self.n_docs if rows is None else len(rows), dtype=np.float32)
        # repeated query terms count once per occurrence, as in the textbook sum over q
        uniq, mult = np.unique(np.asarray(ids), return_counts=True)
        sub = self.weights[:, uniq]
        if rows is not None:
            sub = sub[rows]
        return np.asarray(sub @ mult.astype(np.float32)).ravel()

    def save(self, path: Path) -> None:
        w = self.weights.tocsr() if self.weights is not None else sp.csr_matrix((0, 0))
        vocab = np.array(sorted(self.vocab, key=self.vocab.get), dtype=str)
        np.savez(
            path,
            data=w.data,
            indices=w.indices,
            indptr=w.indptr,
            shape=np.array(w.shape),
            vocab=vocab,
            params=np.array([self.k1, self.b]),
        )

    @classmethod
    def load(cls, path: Path) -> BM25:
        z = np.load(path, allow_pickle=False)
        k1, b = (float(x) for x in z["params"])
        self = cls(k1, b)
        shape = tuple(int(x) for x in z["shape"])
        self.weights = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape).tocsc()
        self.vocab = {str(t): i for i, t in enumerate(z["vocab"])}
        return self
