"""Value-binning tokenizer (scBERT / scGPT style)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError
from ._base import TokenizedCells, Tokenizer
from ._input import CellsInput, expressed_genes
from ._kernels import OutputBuffer, column_token_table, log_normalized, token_bits
from ._select import chunk_totals, selected_chunks
from ._vocab import GeneVocab

__all__ = ["BinTokenizer"]


def _log_norm(X: Any, target_sum: float) -> Any:
    tot = np.asarray(X.sum(axis=1)).ravel()
    scale = np.divide(target_sum, tot, out=np.zeros_like(tot, dtype=float), where=tot > 0)
    Y = X.multiply(scale[:, None]).tocsr().astype(np.float32)
    Y.data = np.log1p(Y.data)
    return Y


class BinTokenizer(Tokenizer):
    """Gene tokens plus a per-cell expression bin (scBERT / scGPT).

    Bin 0 means "not expressed"; expressed genes get bins ``1 .. n_bins - 1``:

    * ``binning="quantile"`` (scGPT): per cell, over the ``m`` expressed candidate genes,
      ``bin = ceil((n_bins - 1) * r / m)`` with ``r`` the number of expressed candidates
      whose value is <= the gene's value (ties share a bin; the top gene gets
      ``n_bins - 1``).
    * ``binning="fixed"``: on ``v = log1p(x / total * target_sum)`` with edges
      ``linspace(0, max_value, n_bins)``: ``bin = clip(searchsorted(edges, v, "right"), 1,
      n_bins - 1)``; ``max_value`` is the corpus maximum of ``v`` (``fit``) unless given.

    Candidate genes per cell (``gene_subset``): ``"nonzero"`` its expressed vocabulary
    genes; ``"hvg"`` the ``n_hvg`` highly variable genes chosen in ``fit`` (scanpy,
    flavour "seurat" on log-normalised counts), zeros included; ``"all"`` every vocabulary
    gene, zeros included. If there are more than ``max_len`` candidates, the most
    expressed are kept (ties: lower token id). Output order: expression descending, ties
    by token id; ``values`` = bin index (float), 0 at ``<cls>`` and padding.
    """

    kind = "bin"
    value_mode = "bin"

    def __init__(
        self,
        vocab: GeneVocab | Sequence[str] | None = None,
        *,
        n_bins: int = 51,
        binning: Literal["quantile", "fixed"] = "quantile",
        gene_subset: Literal["nonzero", "hvg", "all"] = "nonzero",
        n_hvg: int = 2000,
        max_len: int = 2048,
        add_cls: bool = True,
        target_sum: float = 1e4,
        max_value: float | None = None,
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
        if n_bins < 2:
            raise ValidationError(f"n_bins must be >= 2, got {n_bins}")
        if binning not in ("quantile", "fixed"):
            raise ValidationError(f"binning must be 'quantile' or 'fixed', got {binning!r}")
        if gene_subset not in ("nonzero", "hvg", "all"):
            raise ValidationError(f"gene_subset must be nonzero/hvg/all, got {gene_subset!r}")
        self.n_bins, self.binning, self.gene_subset = int(n_bins), binning, gene_subset
        self.n_hvg, self.add_cls, self.target_sum = int(n_hvg), bool(add_cls), float(target_sum)
        self.max_value = None if max_value is None else float(max_value)
        self.min_cells = int(min_cells)
        #: Highly variable genes (``gene_subset="hvg"``), set by ``fit``.
        self.hvg: list[str] | None = None

    def _params(self) -> dict[str, Any]:
        return {
            **super()._params(),
            "n_bins": self.n_bins,
            "binning": self.binning,
            "gene_subset": self.gene_subset,
            "n_hvg": self.n_hvg,
            "add_cls": self.add_cls,
            "target_sum": self.target_sum,
            "max_value": self.max_value,
            "min_cells": self.min_cells,
        }

    def _state(self) -> dict[str, Any]:
        return {"hvg": self.hvg}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self.hvg = state.get("hvg")

    @property
    def is_fitted(self) -> bool:
        if self.vocab is None:
            return False
        if self.gene_subset == "hvg" and self.hvg is None:
            return False
        return not (self.binning == "fixed" and self.max_value is None)

    @property
    def bin_edges(self) -> np.ndarray | None:
        """Fixed-binning edges (``linspace(0, max_value, n_bins)``), else None."""
        if self.binning != "fixed" or self.max_value is None:
            return None
        return np.linspace(0.0, self.max_value, self.n_bins)

    def fit(
        self, data: CellsInput, *, genes: Sequence[str] | None = None, layer: str | None = None
    ) -> BinTokenizer:
        """Fit the vocabulary (if none), HVGs (``gene_subset="hvg"``) and ``max_value``."""
        X, gnames, _ = self._read_corpus(data, genes, layer)
        if self.vocab is None:
            self.vocab = GeneVocab(gnames[expressed_genes(X, self.min_cells)])
        else:
            self.coverage(gnames, check=True)
        Y = _log_norm(X, self.target_sum)
        if self.binning == "fixed" and self.max_value is None:
            self.max_value = float(Y.data.max()) if Y.nnz else 1.0
        if self.gene_subset == "hvg":
            from ..pp import variable_gene_mask

            in_vocab = np.isin(gnames, np.asarray(self.vocab.genes, dtype=object))
            keep = variable_gene_mask(Y[:, in_vocab], self.n_hvg)
            self.hvg = [str(g) for g in np.asarray(gnames[in_vocab])[keep]]
        return self

    def encode(
        self,
        data: CellsInput,
        *,
        genes: Sequence[str] | None = None,
        layer: str | None = None,
        batch_size: int = 256,
        padding: Literal["max_length", "longest"] = "max_length",
    ) -> TokenizedCells:
        """Encode cells into gene tokens with bin values (see the class docs)."""
        vocab = self._require_fitted()
        X, gnames, cell_ids, col_ids = self._read_input(data, genes, layer)
        t = token_bits(len(vocab))
        table = column_token_table(col_ids, t)
        panel_cols = panel_table = None
        if self.gene_subset != "nonzero":
            ok = col_ids >= 0
            if self.gene_subset == "hvg":
                ok &= np.isin(gnames, np.asarray(self.hvg, dtype=object))
            panel_cols = np.flatnonzero(ok)
            if panel_cols.size == 0:
                raise ValidationError("none of the tokenizer's HVGs are among the input genes")
            panel_table = table[panel_cols]
        off = int(self.add_cls)
        out = OutputBuffer(X.shape[0], self.max_len + off, values=True)
        if off:
            out.ids[:, 0], out.mask[:, 0] = vocab.cls_id, True
        edges = self.bin_edges
        chunks = selected_chunks(
            X, cell_ids, col_table=table, panel_cols=panel_cols, panel_table=panel_table, t=t,
            max_len=self.max_len, batch_size=batch_size,
        )  # fmt: skip
        for s, e, keys, tokens, raw, valid in chunks:
            if self.binning == "quantile":
                bins = self._quantile_bins(keys)[:, : tokens.shape[1]]
            else:
                assert edges is not None
                v = log_normalized(raw, chunk_totals(X, s, e), self.target_sum)
                bins = np.clip(np.searchsorted(edges, v, side="right"), 1, self.n_bins - 1)
                bins = bins.astype(np.float32)
            bins[raw <= 0] = 0.0
            out.put(s, tokens, np.where(valid, bins, 0.0), valid, col=off)
        ids, vals, mask = out.finish(padding)
        return TokenizedCells(input_ids=ids, values=vals, attention_mask=mask, cell_ids=cell_ids)

    def _quantile_bins(self, keys: Any) -> np.ndarray:
        """Per-row quantile bins over the whole sorted candidate block."""
        block = keys.block
        scores = keys.scores()
        expressed = keys.valid() & (scores > 0)
        m = expressed.sum(axis=1, keepdims=True)
        inv = block >> np.uint64(keys.t)
        n, w = block.shape
        start = np.ones((n, w), dtype=bool)
        start[:, 1:] = inv[:, 1:] != inv[:, :-1]
        first = np.where(start, np.arange(w), 0)
        np.maximum.accumulate(first, axis=1, out=first)
        r = m - first  # number of expressed values <= this one
        q = np.ceil((self.n_bins - 1) * r / np.maximum(m, 1) - 1e-9)
        return np.where(expressed, q, 0.0).astype(np.float32)

    def decode(self, tokens: TokenizedCells) -> list[dict[str, int]]:
        """Per cell, ``{gene: bin}`` for its gene tokens."""
        vocab = self._require_fitted()
        toks = np.asarray(vocab.tokens, dtype=object)
        vals = tokens.values if tokens.values is not None else np.zeros(tokens.input_ids.shape)
        res = []
        for ids, v in zip(tokens.input_ids, vals, strict=True):
            keep = ids >= vocab.n_special
            res.append(dict(zip(toks[ids[keep]], v[keep].astype(int).tolist(), strict=True)))
        return res
