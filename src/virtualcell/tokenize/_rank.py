"""Rank-value tokenizer (Geneformer-style)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from . import _fast
from ._base import TokenizedCells, Tokenizer
from ._input import CellsInput, check_chunk_values, expressed_genes, iter_chunks
from ._kernels import (
    OutputBuffer,
    Workspace,
    column_token_table,
    nonzero_column_medians,
    normalized_data,
    sorted_row_keys,
    token_bits,
)
from ._vocab import GeneVocab

__all__ = ["RankTokenizer"]


class RankTokenizer(Tokenizer):
    """Rank-value encoding: genes ordered by normalised expression, top ``max_len`` kept.

    ``fit`` computes, per gene, the *non-zero median* over the corpus of library-size
    normalised expression ``x / total * target_sum``. ``encode`` divides each cell's
    normalised expression by those factors and orders its expressed genes descending
    (ties broken by ascending token id), keeping the first ``max_len``. Because ranks
    within a cell do not change when the cell is scaled, the per-cell total is not needed
    at encode time: the score is ``x / median_gene``.

    Output: ``input_ids`` = ``[<cls>]`` (if ``add_cls``) then gene tokens, best first;
    ``values`` = rank position (1 = highest), 0 at ``<cls>`` and padding.

    Parameters
    ----------
    vocab
        Fixed vocabulary; when None, ``fit`` uses the corpus genes with at least
        ``min_cells`` expressing cells.
    max_len
        Maximum number of gene tokens per cell (``<cls>`` not counted).
    add_cls
        Prepend ``<cls>``.
    target_sum
        Library size used for normalisation in ``fit``.
    min_cells
        Minimum number of expressing cells for a gene to enter a fitted vocabulary.
    """

    kind = "rank"
    value_mode = "rank"

    def __init__(
        self,
        vocab: GeneVocab | Sequence[str] | None = None,
        *,
        max_len: int = 2048,
        add_cls: bool = True,
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
        self.add_cls = bool(add_cls)
        self.target_sum = float(target_sum)
        self.min_cells = int(min_cells)
        #: Non-zero median per vocabulary gene (NaN: never expressed in the corpus).
        self.gene_medians: np.ndarray | None = None

    def _params(self) -> dict[str, Any]:
        return {
            **super()._params(),
            "add_cls": self.add_cls,
            "target_sum": self.target_sum,
            "min_cells": self.min_cells,
        }

    def _state(self) -> dict[str, Any]:
        if self.gene_medians is None:
            return {}
        return {"gene_medians": [None if np.isnan(v) else float(v) for v in self.gene_medians]}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        if "gene_medians" in state:
            self.gene_medians = np.array(
                [np.nan if v is None else v for v in state["gene_medians"]], dtype=np.float64
            )

    @property
    def is_fitted(self) -> bool:
        return self.vocab is not None and self.gene_medians is not None

    def fit(
        self, data: CellsInput, *, genes: Sequence[str] | None = None, layer: str | None = None
    ) -> RankTokenizer:
        """Compute the per-gene non-zero medians on a corpus (raw counts expected).

        Returns ``self``. Uses one exact sort over all non-zeros of the corpus.
        """
        X, gnames, _ = self._read_corpus(data, genes, layer)
        norm = normalized_data(X.indptr, X.data, self.target_sum)
        med, counts = nonzero_column_medians(X.indices, norm, X.shape[1])
        if self.vocab is None:
            keep = expressed_genes(X, self.min_cells, counts=counts)
            self.vocab = GeneVocab(gnames[keep])
            self.gene_medians = med[keep]
        else:
            self.coverage(gnames, check=True)
            col_ids = self.vocab.lookup(gnames)
            medians = np.full(len(self.vocab.genes), np.nan)
            ok = col_ids >= 0
            medians[col_ids[ok] - self.vocab.n_special] = med[ok]
            self.gene_medians = medians
        return self

    def encode(
        self,
        data: CellsInput,
        *,
        genes: Sequence[str] | None = None,
        layer: str | None = None,
        batch_size: int = 512,
        padding: Literal["max_length", "longest"] = "max_length",
    ) -> TokenizedCells:
        """Rank-encode cells (AnnData or a cells x genes matrix with ``genes=``).

        ``padding="max_length"`` pads to ``max_len (+1 for <cls>)``; ``"longest"`` to the
        longest cell of this call. Genes not in the vocabulary are dropped.
        """
        vocab = self._require_fitted()
        assert self.gene_medians is not None
        X, _, cell_ids, col_ids = self._read_input(data, genes, layer)
        ok = col_ids >= 0
        med = np.full(X.shape[1], np.inf, dtype=np.float32)
        m = self.gene_medians[col_ids[ok] - vocab.n_special]
        med[ok] = np.where(np.isnan(m) | (m <= 0), np.inf, m)
        off = int(self.add_cls)
        out = OutputBuffer(X.shape[0], self.max_len + off, values=True)
        kdt = _fast.kernel_dtype(X.data.dtype)
        if kdt is not None and _fast.available():
            list(iter_chunks(0, batch_size))  # validates batch_size
            bad = _fast.rank_encode(
                X.indptr, X.indices, X.data.astype(kdt, copy=False), med, col_ids,
                self.max_len, vocab.cls_id if off else -1, out.ids, out.vals, out.mask,
            )  # fmt: skip
            if bad >= 0:  # same error as the numpy path: first bad chunk
                s = bad - bad % batch_size
                e = min(s + batch_size, X.shape[0])
                check_chunk_values(X.data[X.indptr[s] : X.indptr[e]], s, cell_ids)
        else:
            self._encode_numpy(X, cell_ids, med, col_ids, out, batch_size)
        ids, vals, mask = out.finish(padding)
        return TokenizedCells(input_ids=ids, values=vals, attention_mask=mask, cell_ids=cell_ids)

    def _encode_numpy(
        self,
        X: Any,
        cell_ids: np.ndarray,
        med: np.ndarray,
        col_ids: np.ndarray,
        out: OutputBuffer,
        batch_size: int,
    ) -> None:
        """Pure-numpy encoder (padded row blocks of uint64 keys, ``np.sort``)."""
        assert self.vocab is not None and out.vals is not None
        t = token_bits(len(self.vocab))
        table = column_token_table(col_ids, t)
        off = int(self.add_cls)
        if off:
            out.ids[:, 0] = self.vocab.cls_id
            out.mask[:, 0] = True
        thresh = np.uint64(0xFFFFFFFF) << np.uint64(t)
        tmask = np.uint64((1 << t) - 1)
        positions = np.arange(1, self.max_len + 1, dtype=np.float32)
        ws = Workspace()
        indptr, indices, xdata = X.indptr, X.indices, X.data
        for s, e in iter_chunks(X.shape[0], batch_size):
            a, b = indptr[s], indptr[e]
            d = xdata[a:b]
            check_chunk_values(d, s, cell_ids)
            idx = indices[a:b]
            score = np.take(med, idx, out=ws.get("score", b - a, np.float32))
            np.divide(d, score, out=score, casting="unsafe")
            block = sorted_row_keys(indptr[s : e + 1], idx, score, table, t, ws)
            kk = min(self.max_len, block.shape[1])
            top = block[:, :kk]
            mask = out.mask[s:e, off : off + kk]
            np.less(top, thresh, out=mask)
            ids = out.ids[s:e, off : off + kk]
            np.bitwise_and(top, tmask, out=ids.view(np.uint64))
            np.multiply(ids, mask, out=ids)
            np.multiply(mask, positions[:kk], out=out.vals[s:e, off : off + kk])

    def decode(self, tokens: TokenizedCells | np.ndarray) -> list[list[str]]:
        """Gene symbols of each cell, in rank order (special tokens and padding removed)."""
        vocab = self._require_fitted()
        ids = tokens.input_ids if isinstance(tokens, TokenizedCells) else np.asarray(tokens)
        toks = np.asarray(vocab.tokens, dtype=object)
        return [list(toks[row[row >= vocab.n_special]]) for row in ids]
