"""Gene-text-embedding tokenizer (GenePT style)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import unit_rows
from ._base import TokenizedCells, Tokenizer
from ._input import CellsInput, check_chunk_values, iter_chunks
from ._kernels import Workspace, column_token_table, normalized_data, token_bits, topk_rows
from ._vocab import GeneVocab

__all__ = ["GeneTextTokenizer"]


class GeneTextTokenizer(Tokenizer):
    """Cell embedding = weighted mean of per-gene text embeddings (GenePT).

    For a cell with expressed table genes ``g`` and weights ``w_g``:
    ``e = sum_g w_g E[g] / sum_g w_g``, then divided by its L2 norm if ``normalize``.
    ``weighting="expression"``: ``w_g = x_g / total * target_sum`` (GenePT-w);
    ``weighting="rank"``: ``w_g = 1 / rank_g`` (rank 1 = most expressed, ties by token id).
    Cells with no expressed table gene get a zero vector.

    Parameters
    ----------
    embeddings
        ``pandas.DataFrame`` indexed by gene symbol with float columns (one row per gene).
    """

    kind = "gene_text"

    def __init__(
        self,
        embeddings: pd.DataFrame,
        *,
        weighting: Literal["expression", "rank"] = "expression",
        normalize: bool = True,
        target_sum: float = 1e4,
        max_len: int = 2048,
        min_coverage_warn: float = 0.5,
        min_coverage_error: float = 0.1,
    ) -> None:
        if not isinstance(embeddings, pd.DataFrame) or embeddings.shape[1] == 0:
            raise ValidationError("embeddings must be a non-empty pandas DataFrame (genes x dims)")
        try:
            table = embeddings.to_numpy(dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ValidationError(f"embeddings must hold float columns: {e}") from None
        if not np.isfinite(table).all():
            bad = embeddings.index[~np.isfinite(table).all(axis=1)][:5].tolist()
            raise ValidationError(f"embeddings contain NaN/inf for genes {bad}")
        if weighting not in ("expression", "rank"):
            raise ValidationError(f"weighting must be 'expression' or 'rank', got {weighting!r}")
        super().__init__(
            GeneVocab([str(g) for g in embeddings.index]),
            max_len=max_len,
            min_coverage_warn=min_coverage_warn,
            min_coverage_error=min_coverage_error,
        )
        self.embeddings = embeddings
        self._table = table
        self.weighting, self.normalize, self.target_sum = (
            weighting,
            bool(normalize),
            float(target_sum),
        )

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self._table.shape[1])

    def _params(self) -> dict[str, Any]:
        return {
            **super()._params(),
            "weighting": self.weighting,
            "normalize": self.normalize,
            "target_sum": self.target_sum,
        }

    def _state(self) -> dict[str, Any]:
        return {"columns": [str(c) for c in self.embeddings.columns], "table": self._table.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GeneTextTokenizer:  # type: ignore[override]
        vocab = GeneVocab.from_dict(d["vocab"])
        st = d["state"]
        df = pd.DataFrame(
            np.asarray(st["table"], np.float32), index=vocab.genes, columns=st["columns"]
        )
        return cls(df, **d["params"])

    def fit(self, data: CellsInput | None = None, **_: Any) -> GeneTextTokenizer:
        """No-op (the embedding table is the vocabulary); returns ``self``."""
        return self

    def _weights(
        self, data: CellsInput, genes: Sequence[str] | None, layer: str | None, batch_size: int
    ):
        X, _, cell_ids, col_ids = self._read_input(data, genes, layer)
        vocab = self.vocab
        assert vocab is not None
        ok = col_ids >= 0
        if self.weighting == "expression":
            check_chunk_values(X.data, 0, cell_ids)
            W = X.copy().astype(np.float32)
            W.data = normalized_data(X.indptr, X.data, self.target_sum)
            W = W[:, np.flatnonzero(ok)].tocsr()
            return W, col_ids[ok] - vocab.n_special, cell_ids
        t = token_bits(len(vocab))
        table = column_token_table(col_ids, t)
        parts, ws = [], Workspace()
        for s, e in iter_chunks(X.shape[0], batch_size):
            a, b = X.indptr[s], X.indptr[e]
            d = np.asarray(X.data[a:b], np.float32)
            check_chunk_values(d, s, cell_ids)
            width = int(np.diff(X.indptr[s : e + 1]).max()) if e > s else 1
            top = topk_rows(X.indptr[s : e + 1], X.indices[a:b], d, table, t, max(width, 1), ws=ws)
            ranks = np.arange(1, top.tokens.shape[1] + 1, dtype=np.float32)
            rows, pos = np.nonzero(top.valid)
            parts.append(
                sp.csr_matrix(
                    (1.0 / ranks[pos], (rows, top.tokens[rows, pos] - vocab.n_special)),
                    shape=(e - s, len(vocab.genes)),
                )
            )
        W = sp.vstack(parts).tocsr() if parts else sp.csr_matrix((0, len(vocab.genes)))
        return W, np.arange(len(vocab.genes)), cell_ids

    def embed(
        self,
        data: CellsInput,
        *,
        genes: Sequence[str] | None = None,
        layer: str | None = None,
        batch_size: int = 1024,
    ) -> np.ndarray:
        """``(n_cells, dim)`` float32 cell embeddings (see the class docs)."""
        W, rows_of_table, _ = self._weights(data, genes, layer, batch_size)
        E = self._table[rows_of_table]
        emb = np.asarray(W @ E, dtype=np.float64)
        wsum = np.asarray(W.sum(axis=1)).ravel()
        emb = np.divide(emb, wsum[:, None], out=np.zeros_like(emb), where=wsum[:, None] > 0)
        if self.normalize:
            emb = unit_rows(emb)
        return emb.astype(np.float32)

    def encode(
        self,
        data: CellsInput,
        *,
        genes: Sequence[str] | None = None,
        layer: str | None = None,
        batch_size: int = 1024,
    ) -> TokenizedCells:
        """TokenizedCells whose ``extra["embedding"]`` is :meth:`embed`; ``input_ids`` are
        the top ``max_len`` table genes by weight, ``values`` their normalised weights."""
        W, rows_of_table, cell_ids = self._weights(data, genes, layer, batch_size)
        emb = self.embed(data, genes=genes, layer=layer, batch_size=batch_size)
        vocab = self.vocab
        assert vocab is not None
        # top genes by weight (ties by token id), reusing the key kernel on W
        tok = rows_of_table + vocab.n_special
        t = token_bits(len(vocab))
        table = column_token_table(tok, t)
        wsum = np.asarray(W.sum(axis=1)).ravel()
        top = topk_rows(W.indptr, W.indices, W.data.astype(np.float32), table, t, self.max_len)
        vals = np.divide(
            top.scores, wsum[:, None], out=np.zeros_like(top.scores), where=wsum[:, None] > 0
        )
        return TokenizedCells(
            top.tokens, vals.astype(np.float32), top.valid, cell_ids, extra={"embedding": emb}
        )
