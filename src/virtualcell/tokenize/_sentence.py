"""Cell-sentence tokenizer (Cell2Sentence style) and its inverse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError
from ._base import TokenizedCells, Tokenizer
from ._input import (
    CellsInput,
    check_chunk_values,
    expressed_genes,
    gene_columns,
    iter_chunks,
    token_columns,
)
from ._kernels import (
    OutputBuffer,
    Workspace,
    column_token_table,
    normalized_data,
    token_bits,
    topk_rows,
)
from ._vocab import GeneVocab

__all__ = ["SentenceTokenizer"]


class SentenceTokenizer(Tokenizer):
    """Top-``max_len`` gene *names* by expression, space-separated (a "cell sentence").

    ``encode`` orders each cell's expressed vocabulary genes by expression, descending
    (ties: token id), and returns ``texts`` plus the same genes as ``input_ids`` with
    ``values`` = rank (1 = highest).

    ``fit`` learns the inverse as Cell2Sentence does: a least-squares line
    ``log1p(x / total * target_sum) = intercept + slope * log10(rank)`` over every
    expressed gene (rank <= ``max_len``) of the corpus. ``decode`` maps a sentence back to
    an expression vector: the gene at rank ``r`` gets
    ``max(0, intercept + slope * log10(r))``; absent genes get 0.
    """

    kind = "sentence"
    value_mode = "rank"

    def __init__(
        self,
        vocab: GeneVocab | Sequence[str] | None = None,
        *,
        max_len: int = 256,
        target_sum: float = 1e4,
        min_cells: int = 1,
        min_coverage_warn: float = 0.5,
        min_coverage_error: float = 0.1,
    ) -> None:
        super().__init__(
            vocab,
            max_len=max_len,
            min_coverage_warn=min_coverage_warn,
            min_coverage_error=min_coverage_error,
        )
        self.target_sum, self.min_cells = float(target_sum), int(min_cells)
        #: ``(intercept, slope, r)`` of the rank-expression fit.
        self.slope: float | None = None
        self.intercept: float | None = None
        self.fit_r: float | None = None

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "target_sum": self.target_sum, "min_cells": self.min_cells}

    def _state(self) -> dict[str, Any]:
        return {"slope": self.slope, "intercept": self.intercept, "fit_r": self.fit_r}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self.slope, self.intercept = state.get("slope"), state.get("intercept")
        self.fit_r = state.get("fit_r")

    def fit(
        self, data: CellsInput, *, genes: Sequence[str] | None = None, layer: str | None = None
    ) -> SentenceTokenizer:
        """Vocabulary (if none) and the log-expression vs log10-rank line."""
        X, gnames, cell_ids = self._read_corpus(data, genes, layer)
        if self.vocab is None:
            keep = expressed_genes(X, self.min_cells)
            bad = [g for g in gnames[keep] if " " in g or not g]
            if bad:
                raise ValidationError(f"gene names must not be empty or contain spaces: {bad[:5]}")
            self.vocab = GeneVocab(gnames[keep])
        vocab = self._require_fitted()
        col_ids = gene_columns(vocab, gnames)
        res = self._encode(X, col_ids, cell_ids, batch_size=512, padding="longest", texts=False)
        norm = normalized_data(X.indptr, X.data, self.target_sum)
        Xn = X.copy()
        Xn.data = np.log1p(norm)
        tok_to_col = token_columns(col_ids, len(vocab))
        ranks, ys = [], []
        m = res.attention_mask
        rows, pos = np.nonzero(m)
        cols = tok_to_col[res.input_ids[rows, pos]]
        ys = np.asarray(Xn[rows, cols]).ravel()
        ranks = res.values[rows, pos]
        xr = np.log10(ranks.astype(np.float64))
        if xr.size < 2 or np.ptp(xr) == 0:
            raise ValidationError("need cells with >= 2 expressed genes to fit the rank line")
        slope, intercept = np.polyfit(xr, ys, 1)
        self.slope, self.intercept = float(slope), float(intercept)
        self.fit_r = float(np.corrcoef(xr, ys)[0, 1])
        return self

    @property
    def is_fitted(self) -> bool:
        return self.vocab is not None

    def encode(
        self,
        data: CellsInput,
        *,
        genes: Sequence[str] | None = None,
        layer: str | None = None,
        batch_size: int = 512,
        padding: Literal["max_length", "longest"] = "max_length",
    ) -> TokenizedCells:
        """Cell sentences (``texts``) plus token ids and ranks."""
        X, _, cell_ids, col_ids = self._read_input(data, genes, layer)
        return self._encode(X, col_ids, cell_ids, batch_size=batch_size, padding=padding)

    def _encode(
        self, X: Any, col_ids: np.ndarray, cell_ids: np.ndarray, *, batch_size: int,
        padding: str, texts: bool = True,
    ) -> TokenizedCells:  # fmt: skip
        """Encode ``X`` whose columns have token ids ``col_ids`` (-1: not in the vocab)."""
        vocab = self._require_fitted()
        t = token_bits(len(vocab))
        table = column_token_table(col_ids, t)
        out = OutputBuffer(X.shape[0], self.max_len, values=True)
        positions = np.arange(1, self.max_len + 1, dtype=np.float32)
        ws = Workspace()
        for s, e in iter_chunks(X.shape[0], batch_size):
            a, b = X.indptr[s], X.indptr[e]
            d = np.asarray(X.data[a:b], dtype=np.float32)
            check_chunk_values(d, s, cell_ids)
            top = topk_rows(X.indptr[s : e + 1], X.indices[a:b], d, table, t, self.max_len, ws=ws)
            w = top.tokens.shape[1]
            out.put(s, top.tokens, top.valid * positions[:w], top.valid)
        ids, vals, mask = out.finish(padding)
        sent = None
        if texts:
            toks = np.asarray(vocab.tokens, dtype=object)
            sent = [" ".join(toks[row[m]]) for row, m in zip(ids, mask, strict=True)]
        return TokenizedCells(ids, vals, mask, cell_ids, texts=sent)

    def decode(
        self, texts: Sequence[str] | TokenizedCells, *, genes: Sequence[str] | None = None
    ) -> np.ndarray:
        """Expression matrix ``(n_cells, n_genes)`` (float32) from cell sentences.

        Columns are ``genes`` (default: the vocabulary genes). Words not in ``genes`` are
        ignored; a repeated gene keeps its first (best) rank.
        """
        if self.slope is None or self.intercept is None:
            raise ValidationError("SentenceTokenizer.decode needs fit() (rank-expression line)")
        if isinstance(texts, TokenizedCells):
            if texts.texts is None:
                raise ValidationError("TokenizedCells has no texts")
            texts = texts.texts
        genes = list(self._require_fitted().genes if genes is None else genes)
        index = {g: i for i, g in enumerate(genes)}
        words = [str(t).split() for t in texts]
        lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        flat = [w for ws_ in words for w in ws_]
        col = np.fromiter((index.get(w, -1) for w in flat), dtype=np.int64, count=len(flat))
        row = np.repeat(np.arange(len(words)), lengths)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        rank = np.arange(len(flat)) - np.repeat(starts, lengths) + 1
        pred = np.maximum(0.0, self.intercept + self.slope * np.log10(np.maximum(rank, 1)))
        out = np.zeros((len(words), len(genes)), dtype=np.float32)
        ok = col >= 0
        # reverse order so that the first occurrence (best rank) wins
        r, c, v = row[ok][::-1], col[ok][::-1], pred[ok][::-1]
        out[r, c] = v
        return out
