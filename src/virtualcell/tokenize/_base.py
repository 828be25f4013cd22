"""Shared tokenizer protocol: gene vocabulary, tokenized output, coverage, save/load.

Every tokenizer in :mod:`virtualcell.tokenize` derives from :class:`Tokenizer` and returns
:class:`TokenizedCells` from ``encode``. The vocabulary (:class:`GeneVocab`) always starts
with the same five special tokens so that models can rely on their ids.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from .._errors import DataFormatError, ValidationError
from .._utils import check_output, write_text
from ._input import CellsInput, as_csr, check_chunk_values, gene_columns
from ._vocab import FORMAT_VERSION, SPECIAL_TOKENS, GeneVocab

__all__ = [
    "SPECIAL_TOKENS",
    "CoverageReport",
    "CoverageWarning",
    "GeneVocab",
    "TokenizedCells",
    "Tokenizer",
    "TokenizerKind",
    "load_tokenizer",
]

TokenizerKind = Literal["rank", "bin", "continuous", "sentence", "gene_text"]


class CoverageWarning(UserWarning):
    """Too few of the input genes are in the tokenizer's vocabulary."""


# --------------------------------------------------------------------------- vocabulary
# --------------------------------------------------------------------------- outputs
@dataclass(frozen=True)
class TokenizedCells:
    """Tokenized cells, padded to a common length.

    Attributes
    ----------
    input_ids
        int64 ``(n_cells, max_len)`` token ids, ``pad_id`` (0) at padding.
    values
        float32 ``(n_cells, max_len)`` value channel (rank position, bin index, or
        continuous value depending on the tokenizer), 0 at padding; None if the tokenizer
        has no value channel.
    attention_mask
        bool ``(n_cells, max_len)``, True at real tokens (including special tokens).
    cell_ids
        Cell names (``obs_names``), length ``n_cells``.
    texts
        Cell sentences (:class:`SentenceTokenizer`), else None.
    extra
        Additional per-cell arrays documented by each tokenizer (e.g. total counts).
    """

    input_ids: np.ndarray
    values: np.ndarray | None
    attention_mask: np.ndarray
    cell_ids: np.ndarray
    texts: list[str] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """Number of real tokens per cell."""
        return self.attention_mask.sum(axis=1)

    def to_torch(self, device: str | None = None) -> dict[str, Any]:
        """Dict of torch tensors: ``input_ids`` (long), ``values`` (float32, if any),
        ``attention_mask`` (bool), plus numeric ``extra`` arrays."""
        import torch

        out: dict[str, Any] = {
            "input_ids": torch.as_tensor(self.input_ids, dtype=torch.long, device=device),
            "attention_mask": torch.as_tensor(self.attention_mask, dtype=torch.bool, device=device),
        }
        if self.values is not None:
            out["values"] = torch.as_tensor(self.values, dtype=torch.float32, device=device)
        for k, v in self.extra.items():
            if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
                out[k] = torch.as_tensor(v, device=device)
        return out

    def subset(self, index: np.ndarray | slice | Sequence[int]) -> TokenizedCells:
        """Rows ``index`` of every field."""
        idx = index if isinstance(index, slice) else np.asarray(index)
        texts = None
        if self.texts is not None:
            texts = list(np.asarray(self.texts, dtype=object)[idx])
        return TokenizedCells(
            input_ids=self.input_ids[idx],
            values=None if self.values is None else self.values[idx],
            attention_mask=self.attention_mask[idx],
            cell_ids=self.cell_ids[idx],
            texts=texts,
            extra={k: v[idx] for k, v in self.extra.items()},
        )


@dataclass(frozen=True)
class CoverageReport:
    """How many input genes map to the vocabulary.

    Attributes
    ----------
    n_input
        Number of input genes.
    n_in_vocab
        Number of input genes present in the vocabulary.
    fraction
        ``n_in_vocab / n_input`` (0 when there are no input genes).
    unmapped
        Input genes absent from the vocabulary, in input order.
    """

    n_input: int
    n_in_vocab: int
    fraction: float
    unmapped: list[str]

    def __str__(self) -> str:
        ex = ", ".join(self.unmapped[:5])
        more = f" (e.g. {ex})" if self.unmapped else ""
        return (
            f"{self.n_in_vocab}/{self.n_input} genes ({100 * self.fraction:.1f}%) in the "
            f"vocabulary; {len(self.unmapped)} unmapped{more}"
        )


# --------------------------------------------------------------------------- base class
class Tokenizer:
    """Base class of all tokenizers (see the module docs for the protocol).

    Subclasses set ``kind`` and implement ``fit`` (if needed), ``_encode_csr``,
    ``_params`` (constructor arguments) and ``_state`` / ``_set_state`` (fitted
    statistics, JSON-serialisable); they are listed in ``vc.tokenize.TOKENIZERS``.
    """

    kind: ClassVar[str] = ""
    #: How the value channel enters a CellEncoder (its ``value_mode``): ``rank``
    #: positions, ``bin`` indices, ``continuous`` values, or ``none``.
    value_mode: ClassVar[str] = "none"

    def __init__(
        self,
        vocab: GeneVocab | Sequence[str] | None = None,
        *,
        max_len: int = 2048,
        min_coverage_warn: float = 0.5,
        min_coverage_error: float = 0.1,
    ) -> None:
        if vocab is not None and not isinstance(vocab, GeneVocab):
            vocab = GeneVocab(vocab)
        if max_len < 1:
            raise ValidationError(f"max_len must be >= 1, got {max_len}")
        if not 0.0 <= min_coverage_error <= min_coverage_warn <= 1.0:
            raise ValidationError(
                "need 0 <= min_coverage_error <= min_coverage_warn <= 1, got "
                f"{min_coverage_error}, {min_coverage_warn}"
            )
        self.vocab: GeneVocab | None = vocab
        self.max_len = int(max_len)
        self.min_coverage_warn = float(min_coverage_warn)
        self.min_coverage_error = float(min_coverage_error)

    # ---- to override
    def _params(self) -> dict[str, Any]:
        """Constructor keyword arguments other than the vocabulary (JSON-serialisable)."""
        return {
            "max_len": self.max_len,
            "min_coverage_warn": self.min_coverage_warn,
            "min_coverage_error": self.min_coverage_error,
        }

    def _state(self) -> dict[str, Any]:
        """Fitted statistics (JSON-serialisable)."""
        return {}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`_state`."""

    @property
    def is_fitted(self) -> bool:
        """True when the tokenizer can encode (vocabulary and statistics present)."""
        return self.vocab is not None

    def _require_fitted(self) -> GeneVocab:
        if not self.is_fitted or self.vocab is None:
            raise ValidationError(
                f"{type(self).__name__} is not fitted: call .fit(corpus) or load() first"
            )
        return self.vocab

    def _read_corpus(
        self, data: CellsInput, genes: Sequence[str] | None, layer: str | None
    ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """``fit`` input: ``(X, gene names, cell ids)``, all values checked finite, >= 0."""
        X, gnames, cell_ids = as_csr(data, genes=genes, layer=layer)
        check_chunk_values(X.data, 0, cell_ids)
        return X, gnames, cell_ids

    def _read_input(
        self, data: CellsInput, genes: Sequence[str] | None, layer: str | None
    ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """``encode`` input: ``(X, gene names, cell ids, token id per column)``.

        Needs a fitted tokenizer and checks the vocabulary coverage; columns that are not
        vocabulary genes get token id -1 (see :func:`gene_columns`).
        """
        vocab = self._require_fitted()
        X, gnames, cell_ids = as_csr(data, genes=genes, layer=layer)
        col_ids = gene_columns(vocab, gnames)
        per_gene = np.bincount(X.indices, minlength=X.shape[1])  # non-zero values per gene
        total = int(per_gene.sum())
        share = float(per_gene[col_ids >= 0].sum() / total) if total else None
        self._check_coverage(self.coverage(gnames), value_share=share)
        return X, gnames, cell_ids, col_ids

    # ---- public protocol
    def config(self) -> dict[str, Any]:
        """JSON-serialisable description (kind, class, parameters, vocabulary size)."""
        return {
            "kind": self.kind,
            "class": type(self).__name__,
            "format_version": FORMAT_VERSION,
            "params": self._params(),
            "vocab_size": None if self.vocab is None else len(self.vocab),
        }

    def coverage(self, genes: Iterable[str], *, check: bool = False) -> CoverageReport:
        """Report how many ``genes`` are in the vocabulary.

        With ``check=True``, warn (:class:`CoverageWarning`) when the fraction is below
        ``min_coverage_warn`` and raise :class:`ValidationError` below
        ``min_coverage_error``.
        """
        if self.vocab is None:
            raise ValidationError(f"{type(self).__name__} has no vocabulary yet: call .fit()")
        vocab = self.vocab
        genes = [str(g) for g in genes]
        ids = vocab.lookup(genes)
        gene_ok = ids >= vocab.n_special
        n_in = int(gene_ok.sum())
        frac = n_in / len(genes) if genes else 0.0
        unmapped = [g for g, ok in zip(genes, gene_ok, strict=True) if not ok]
        rep = CoverageReport(len(genes), n_in, float(frac), unmapped)
        if check:
            self._check_coverage(rep)
        return rep

    def _check_coverage(self, rep: CoverageReport, *, value_share: float | None = None) -> None:
        """Raise below ``min_coverage_error`` (of the genes); warn below
        ``min_coverage_warn`` unless ``value_share`` (the share of the input's non-zero
        values on vocabulary genes, when known) reaches it: genes left out of a vocabulary
        because they are (almost) never expressed cost nothing and are not worth a warning
        (a tokenizer fitted on a dataset otherwise warned when encoding that dataset)."""
        if rep.fraction < self.min_coverage_error or rep.n_in_vocab == 0:
            raise ValidationError(
                f"{type(self).__name__}: only {rep}; below min_coverage_error="
                f"{self.min_coverage_error}. Are the gene identifiers of the same kind "
                "(symbols vs Ensembl ids) as the vocabulary?"
            )
        if rep.fraction < self.min_coverage_warn and (
            value_share is None or value_share < self.min_coverage_warn
        ):
            held = "" if value_share is None else f" (holding {1 - value_share:.0%} of the values)"
            warnings.warn(
                f"{type(self).__name__}: only {rep}; below min_coverage_warn="
                f"{self.min_coverage_warn}; unmapped genes are dropped{held}",
                CoverageWarning,
                stacklevel=3,
            )

    # ---- save / load
    def to_dict(self) -> dict[str, Any]:
        """Versioned JSON-serialisable dict: kind, parameters, vocabulary, fitted state."""
        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "class": type(self).__name__,
            "params": self._params(),
            "vocab": None if self.vocab is None else self.vocab.to_dict(),
            "state": self._state(),
        }

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (atomically: a killed or failed write
        leaves an existing file as it was); returns the path.

        Parameters
        ----------
        path
            The JSON file to write.
        overwrite
            Replace an existing file (refused otherwise: the output rule,
            :func:`virtualcell._utils.check_output`, checked before anything is written).

        Returns
        -------
        Path
            ``path``.
        """
        check_output(
            path, overwrite=overwrite, kind="file", name="path",
            hint="pass overwrite=True to replace it",
        )  # fmt: skip
        return write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tokenizer:
        """Inverse of :meth:`to_dict`. On the base class, dispatches on ``kind``."""
        if d.get("format_version") != FORMAT_VERSION:
            raise DataFormatError(
                f"unsupported tokenizer format_version {d.get('format_version')!r} "
                f"(expected {FORMAT_VERSION})"
            )
        from ._registry import TOKENIZERS

        kind = d.get("kind")
        if str(kind) not in TOKENIZERS:
            raise DataFormatError(
                f"unknown tokenizer kind {kind!r}; known: {', '.join(TOKENIZERS.names())}"
            )
        target = TOKENIZERS.get(str(kind))
        if cls is not Tokenizer and not issubclass(target, cls):
            raise DataFormatError(f"file holds a {target.__name__}, not a {cls.__name__}")
        if target.from_dict.__func__ is not Tokenizer.from_dict.__func__:  # type: ignore[attr-defined]
            return target.from_dict(d)
        obj = target._from_params(dict(d.get("params", {})))
        if d.get("vocab") is not None:
            obj.vocab = GeneVocab.from_dict(d["vocab"])
        obj._set_state(d.get("state", {}))
        return obj

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> Tokenizer:
        return cls(**params)

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a tokenizer written by :meth:`save`."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise DataFormatError(f"tokenizer file not found: {path}") from None
        except json.JSONDecodeError as e:
            raise DataFormatError(f"{path} is not valid JSON: {e}") from None
        return cls.from_dict(d)

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        n = "unfitted" if self.vocab is None else f"{len(self.vocab.genes)} genes"
        return f"{type(self).__name__}({n}, {p})"


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load any tokenizer saved with ``save`` (dispatches on its ``kind``).

    Parameters
    ----------
    path
        The tokenizer's JSON file, as written by :meth:`Tokenizer.save` (a model's
        checkpoint folder holds one); a missing or invalid file is a
        :class:`~virtualcell.DataFormatError`.

    Returns
    -------
    The tokenizer of the class ``vc.tokenize.TOKENIZERS`` registers for its ``kind``
    (``rank``, ``bin``, ``continuous``, ``sentence``, ``gene_text`` or a registered one),
    with its vocabulary and parameters.
    """
    return Tokenizer.load(path)
