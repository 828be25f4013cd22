"""Continuous-value tokenizer (scFoundation / xTrimoGene style)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from ..data import is_integer_valued
from ._base import TokenizedCells, Tokenizer
from ._input import CellsInput, expressed_genes, token_columns
from ._kernels import (
    OutputBuffer,
    column_token_table,
    log_normalized,
    row_totals,
    splitmix64,
    token_bits,
    uniform_from_hash,
)
from ._select import chunk_totals, selected_chunks
from ._vocab import GeneVocab

__all__ = ["ContinuousTokenizer"]

TOTAL_TOKENS = ("<tgt_total>", "<src_total>")


class ContinuousTokenizer(Tokenizer):
    """Gene ids plus continuous log-normalised values, for a learned value projection.

    ``values = log1p(x / total * target_sum)`` of the cell's expressed vocabulary genes
    (``gene_subset="nonzero"``) or of every vocabulary gene (``"all"``, zeros included),
    ordered by token id; more than ``max_len`` candidates keep the most expressed.

    **Down-sampling** (``downsample`` = a probability ``p`` or a range ``(lo, hi)``):
    integer counts of each cell whose total is >= ``downsample_min_total`` are binomially
    thinned, ``x' ~ Binomial(x, p)``; with a range, ``p`` is drawn per cell uniformly in
    it. Random numbers come from a counter-based hash of (``seed``, cell id, gene column
    of the gene symbol), so a cell's result does not depend on the other cells of the
    call or the batch size. Genes are chosen from the *original* cell, so genes thinned
    to zero stay with value 0. ``extra`` then holds ``target_values`` (the log-normalised
    original values at the same positions), ``source_total`` (total counts of the thinned
    input) and ``target_total`` (original total).

    With ``total_tokens=True`` the vocabulary has two extra special tokens
    ``<tgt_total>`` and ``<src_total>`` placed right after ``<cls>`` with values
    ``log10(target_total)`` and ``log10(source_total)`` (as scFoundation's T and S).
    """

    kind = "continuous"
    value_mode = "continuous"

    def __init__(
        self,
        vocab: GeneVocab | Sequence[str] | None = None,
        *,
        max_len: int = 2048,
        add_cls: bool = True,
        target_sum: float = 1e4,
        gene_subset: Literal["nonzero", "all"] = "nonzero",
        downsample: float | tuple[float, float] | None = None,
        downsample_min_total: float = 0.0,
        total_tokens: bool = False,
        seed: int = 0,
        min_cells: int = 1,
        min_coverage_warn: float = 0.5,
        min_coverage_error: float = 0.1,
    ) -> None:
        if vocab is not None and not isinstance(vocab, GeneVocab):
            vocab = GeneVocab(vocab, extra_special=TOTAL_TOKENS if total_tokens else ())
        super().__init__(
            vocab,
            max_len=max_len,
            min_coverage_warn=min_coverage_warn,
            min_coverage_error=min_coverage_error,
        )
        if gene_subset not in ("nonzero", "all"):
            raise ValidationError(f"gene_subset must be 'nonzero' or 'all', got {gene_subset!r}")
        if downsample is not None:
            lo, hi = (downsample, downsample) if np.isscalar(downsample) else downsample  # type: ignore[misc]
            if not 0.0 < float(lo) <= float(hi) <= 1.0:
                raise ValidationError(f"downsample must lie in (0, 1], got {downsample!r}")
            downsample = (float(lo), float(hi)) if lo != hi else float(lo)
        if total_tokens and vocab is not None and vocab.special_tokens[5:7] != list(TOTAL_TOKENS):
            raise ValidationError("total_tokens=True needs a vocabulary with total-count tokens")
        self.add_cls, self.target_sum, self.gene_subset = (
            bool(add_cls),
            float(target_sum),
            gene_subset,
        )
        self.downsample, self.downsample_min_total = downsample, float(downsample_min_total)
        self.total_tokens, self.seed, self.min_cells = bool(total_tokens), int(seed), int(min_cells)

    def _params(self) -> dict[str, Any]:
        ds = list(self.downsample) if isinstance(self.downsample, tuple) else self.downsample
        return {
            **super()._params(),
            "add_cls": self.add_cls,
            "target_sum": self.target_sum,
            "gene_subset": self.gene_subset,
            "downsample": ds,
            "downsample_min_total": self.downsample_min_total,
            "total_tokens": self.total_tokens,
            "seed": self.seed,
            "min_cells": self.min_cells,
        }

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> ContinuousTokenizer:
        if isinstance(params.get("downsample"), list):
            params["downsample"] = tuple(params["downsample"])
        return cls(**params)

    def fit(
        self, data: CellsInput, *, genes: Sequence[str] | None = None, layer: str | None = None
    ) -> ContinuousTokenizer:
        """Build the vocabulary from the corpus genes expressed in >= ``min_cells`` cells."""
        X, gnames, _ = self._read_corpus(data, genes, layer)
        keep = expressed_genes(X, self.min_cells)
        self.vocab = GeneVocab(
            gnames[keep], extra_special=TOTAL_TOKENS if self.total_tokens else ()
        )
        return self

    def _thin(self, X: sp.csr_matrix, cell_hash: np.ndarray, gene_hash: np.ndarray) -> np.ndarray:
        """Binomially thinned non-zeros of a CSR chunk (deterministic per cell and gene)."""
        from scipy.stats import binom

        data = X.data
        if not is_integer_valued(X, sample=data.size):  # every stored value, not a sample
            raise ValidationError("down-sampling needs integer counts (found non-integer values)")
        n = X.shape[0]
        if isinstance(self.downsample, tuple):
            lo, hi = self.downsample
            p_cell = lo + (hi - lo) * uniform_from_hash(splitmix64(cell_hash ^ np.uint64(1)))
        else:
            p_cell = np.full(n, float(self.downsample))  # type: ignore[arg-type]
        totals = row_totals(X.indptr, data)
        p_cell[totals < self.downsample_min_total] = 1.0
        lengths = np.diff(X.indptr)
        rows = np.repeat(np.arange(n), lengths)
        u = uniform_from_hash(splitmix64(cell_hash[rows] ^ gene_hash[X.indices]))
        p = p_cell[rows]
        out = binom.ppf(u, data, p)
        out[p >= 1.0] = data[p >= 1.0]
        return np.nan_to_num(out, nan=0.0).astype(np.float32)

    def encode(
        self,
        data: CellsInput,
        *,
        genes: Sequence[str] | None = None,
        layer: str | None = None,
        batch_size: int = 256,
        padding: Literal["max_length", "longest"] = "max_length",
    ) -> TokenizedCells:
        """Encode cells into gene ids with continuous values (see the class docs)."""
        vocab = self._require_fitted()
        X, gnames, cell_ids, col_ids = self._read_input(data, genes, layer)
        t = token_bits(len(vocab))
        table = column_token_table(col_ids, t)
        panel_cols = panel_table = None
        if self.gene_subset == "all":
            panel_cols = np.flatnonzero(col_ids >= 0)
            panel_table = table[panel_cols]
        n_pre = int(self.add_cls) + 2 * int(self.total_tokens)
        n = X.shape[0]
        out = OutputBuffer(n, self.max_len + n_pre, values=True)
        tgt_vals = np.zeros(out.ids.shape, np.float32) if self.downsample is not None else None
        if self.add_cls:
            out.ids[:, 0], out.mask[:, 0] = vocab.cls_id, True
        thin = self.downsample is not None
        cell_hash = gene_hash = None
        if thin:
            cell_hash = pd.util.hash_array(cell_ids.astype(str).astype(object)) ^ np.uint64(
                self.seed
            )
            gene_hash = splitmix64(pd.util.hash_array(gnames.astype(object)))
        tok_to_col = token_columns(col_ids, len(vocab)) if thin else None
        src_total = np.zeros(n)
        tgt_total = np.zeros(n)
        chunks = selected_chunks(
            X, cell_ids, col_table=table, panel_cols=panel_cols, panel_table=panel_table, t=t,
            max_len=self.max_len, batch_size=batch_size,
        )  # fmt: skip
        for s, e, _, tokens, raw, valid in chunks:
            kk = tokens.shape[1]
            order = np.argsort(
                np.where(valid, tokens, np.iinfo(np.int64).max), axis=1, kind="stable"
            )
            tokens = np.take_along_axis(tokens, order, 1)
            raw = np.take_along_axis(raw, order, 1)
            valid = np.take_along_axis(valid, order, 1)
            tot = chunk_totals(X, s, e)
            tgt_total[s:e] = tot
            if thin:
                assert cell_hash is not None and gene_hash is not None and tok_to_col is not None
                sub = X[s:e].copy()
                sub.data = self._thin(sub, cell_hash[s:e], gene_hash)
                src = row_totals(sub.indptr, sub.data)
                # thinned value at each selected position: look it up via the column index
                cols = np.full(tokens.shape, -1, np.int64)
                cols[valid] = tok_to_col[tokens[valid]]
                dense_vals = np.zeros(tokens.shape, np.float32)
                r_idx = np.nonzero(valid)[0]
                dense_vals[valid] = np.asarray(sub[r_idx, cols[valid]]).ravel()
                tv = self._lognorm(raw, tot)
                tgt_vals[s:e, n_pre : n_pre + kk] = np.where(valid, tv, 0.0)
                vals = self._lognorm(dense_vals, src)
            else:
                src = tot
                vals = self._lognorm(raw, tot)
            src_total[s:e] = src
            out.put(s, tokens, np.where(valid, vals, 0.0), valid, col=n_pre)
        if self.total_tokens:
            c = int(self.add_cls)
            out.ids[:, c], out.ids[:, c + 1] = vocab[TOTAL_TOKENS[0]], vocab[TOTAL_TOKENS[1]]
            out.mask[:, c : c + 2] = True
            out.vals[:, c] = np.log10(np.maximum(tgt_total, 1.0))  # type: ignore[index]
            out.vals[:, c + 1] = np.log10(np.maximum(src_total, 1.0))  # type: ignore[index]
        longest = padding == "longest"
        w = int(out.mask.sum(axis=1).max()) if longest and n else out.ids.shape[1]
        ids, vals, mask = out.finish(padding)
        extra = {"source_total": src_total, "target_total": tgt_total}
        if tgt_vals is not None:
            extra["target_values"] = tgt_vals[:, :w].copy()
        return TokenizedCells(ids, vals, mask, cell_ids, extra=extra)

    def _lognorm(self, x: np.ndarray, totals: np.ndarray) -> np.ndarray:
        return log_normalized(x, totals, self.target_sum).astype(np.float32)
