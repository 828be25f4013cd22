"""Shared tokenizer protocol: gene vocabulary, tokenized output, coverage, save/load.

Every tokenizer in :mod:`virtualcell.tokenize` derives from :class:`Tokenizer` and returns
:class:`TokenizedCells` from ``encode``. The vocabulary (:class:`GeneVocab`) always starts
with the same five special tokens so that models can rely on their ids.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from .._errors import DataFormatError, ValidationError

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

#: Special tokens, always the first ids of every vocabulary, in this order.
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<cls>", "<mask>", "<eos>", "<unk>")

#: Version of the on-disk JSON format of vocabularies and tokenizers.
FORMAT_VERSION = 1

TokenizerKind = Literal["rank", "bin", "continuous", "sentence", "gene_text"]


class CoverageWarning(UserWarning):
    """Too few of the input genes are in the tokenizer's vocabulary."""


# --------------------------------------------------------------------------- vocabulary
class GeneVocab:
    """Ordered map gene symbol -> token id, special tokens first.

    Ids ``0..4`` are ``<pad>, <cls>, <mask>, <eos>, <unk>``; optional extra special tokens
    (e.g. total-count tokens of :class:`ContinuousTokenizer`) follow; genes come after, in
    the given order.

    Parameters
    ----------
    genes
        Gene symbols, unique, none equal to a special token.
    extra_special
        Additional special tokens placed right after the five standard ones.
    """

    def __init__(self, genes: Iterable[str], *, extra_special: Sequence[str] = ()) -> None:
        genes = [str(g) for g in genes]
        specials = list(SPECIAL_TOKENS) + [str(t) for t in extra_special]
        if len(set(specials)) != len(specials):
            raise ValidationError(f"duplicate special tokens: {specials}")
        seen: dict[str, int] = {}
        dups: list[str] = []
        for g in genes:
            if g in seen:
                dups.append(g)
            seen[g] = 1
        if dups:
            raise ValidationError(
                f"{len(dups)} duplicated gene symbols in the vocabulary, e.g. {dups[:5]}; "
                "make var_names unique first (e.g. adata.var_names_make_unique())"
            )
        clash = sorted(set(genes) & set(specials))
        if clash:
            raise ValidationError(f"gene symbols equal to special tokens: {clash}")
        self._special = tuple(specials)
        self._genes = tuple(genes)
        self._tokens = self._special + self._genes
        self._index = {t: i for i, t in enumerate(self._tokens)}

    # special ids (fixed)
    pad_id: ClassVar[int] = 0
    cls_id: ClassVar[int] = 1
    mask_id: ClassVar[int] = 2
    eos_id: ClassVar[int] = 3
    unk_id: ClassVar[int] = 4

    @property
    def genes(self) -> list[str]:
        """Gene symbols in id order (without special tokens)."""
        return list(self._genes)

    @property
    def special_tokens(self) -> list[str]:
        """All special tokens in id order."""
        return list(self._special)

    @property
    def tokens(self) -> list[str]:
        """All tokens (special then genes) in id order."""
        return list(self._tokens)

    @property
    def n_special(self) -> int:
        """Number of special tokens; the first gene has this id."""
        return len(self._special)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __getitem__(self, token: str) -> int:
        try:
            return self._index[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the vocabulary") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeneVocab) and self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(self._tokens)

    def __repr__(self) -> str:
        return f"GeneVocab(n_genes={len(self._genes)}, n_special={len(self._special)})"

    def get(self, token: str, default: int | None = None) -> int:
        """Id of ``token``, or ``default`` (``unk_id`` when None) if absent."""
        return self._index.get(token, self.unk_id if default is None else default)

    def lookup(self, genes: Iterable[str], *, missing: int = -1) -> np.ndarray:
        """Vectorised id lookup; absent genes get ``missing`` (default -1). int64 array."""
        idx = self._index
        return np.fromiter((idx.get(str(g), missing) for g in genes), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Token strings of ``ids``."""
        toks = self._tokens
        return [toks[int(i)] for i in ids]

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (with ``format_version``)."""
        return {
            "format_version": FORMAT_VERSION,
            "special_tokens": list(self._special),
            "genes": list(self._genes),
        }

    def to_json(self) -> str:
        """JSON string of :meth:`to_dict`."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GeneVocab:
        """Inverse of :meth:`to_dict`; checks the format version and special tokens."""
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise DataFormatError(
                f"unsupported vocabulary format_version {version!r} (expected {FORMAT_VERSION})"
            )
        specials = list(d["special_tokens"])
        if tuple(specials[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise DataFormatError(f"vocabulary special tokens {specials[:5]} != {SPECIAL_TOKENS}")
        return cls(d["genes"], extra_special=specials[len(SPECIAL_TOKENS) :])

    @classmethod
    def from_json(cls, s: str | Mapping[str, Any]) -> GeneVocab:
        """Build from a JSON string (or an already parsed dict)."""
        if isinstance(s, str):
            try:
                s = json.loads(s)
            except json.JSONDecodeError as e:
                raise DataFormatError(f"vocabulary is not valid JSON: {e}") from None
        return cls.from_dict(s)  # type: ignore[arg-type]


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
    statistics, JSON-serialisable).
    """

    kind: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[Tokenizer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Tokenizer._registry[cls.kind] = cls

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
        self, data: Any, genes: Sequence[str] | None, layer: str | None
    ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """``fit`` input: ``(X, gene names, cell ids)``, all values checked finite, >= 0."""
        X, gnames, cell_ids = as_csr(data, genes=genes, layer=layer)
        check_chunk_values(X.data, 0, cell_ids)
        return X, gnames, cell_ids

    def _read_input(
        self, data: Any, genes: Sequence[str] | None, layer: str | None
    ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray]:
        """``encode`` input: ``(X, gene names, cell ids, token id per column)``.

        Needs a fitted tokenizer and checks the vocabulary coverage; columns that are not
        vocabulary genes get token id -1 (see :func:`gene_columns`).
        """
        vocab = self._require_fitted()
        X, gnames, cell_ids = as_csr(data, genes=genes, layer=layer)
        self.coverage(gnames, check=True)
        return X, gnames, cell_ids, gene_columns(vocab, gnames)

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

    def _check_coverage(self, rep: CoverageReport) -> None:
        if rep.fraction < self.min_coverage_error or rep.n_in_vocab == 0:
            raise ValidationError(
                f"{type(self).__name__}: only {rep}; below min_coverage_error="
                f"{self.min_coverage_error}. Are the gene identifiers of the same kind "
                "(symbols vs Ensembl ids) as the vocabulary?"
            )
        if rep.fraction < self.min_coverage_warn:
            warnings.warn(
                f"{type(self).__name__}: only {rep}; below min_coverage_warn="
                f"{self.min_coverage_warn}; unmapped genes are dropped",
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

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (atomically); returns the path."""
        path = Path(path)
        text = json.dumps(self.to_dict())
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tokenizer:
        """Inverse of :meth:`to_dict`. On the base class, dispatches on ``kind``."""
        if d.get("format_version") != FORMAT_VERSION:
            raise DataFormatError(
                f"unsupported tokenizer format_version {d.get('format_version')!r} "
                f"(expected {FORMAT_VERSION})"
            )
        kind = d.get("kind")
        target = Tokenizer._registry.get(str(kind))
        if target is None:
            raise DataFormatError(f"unknown tokenizer kind {kind!r}")
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
    """Load any tokenizer saved with ``save`` (dispatches on its ``kind``)."""
    return Tokenizer.load(path)


# --------------------------------------------------------------------------- input handling
def as_csr(
    data: Any, *, genes: Sequence[str] | None = None, layer: str | None = None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Return ``(X as CSR, gene names, cell ids)`` from AnnData or a matrix.

    Dense input is converted to CSR (zeros dropped); the input object is never modified.
    """
    cell_ids: np.ndarray | None = None
    if hasattr(data, "obs_names") and hasattr(data, "var_names"):
        if layer is not None:
            if layer not in data.layers:
                raise ValidationError(
                    f"layer {layer!r} not in adata.layers ({list(data.layers.keys())})"
                )
            X = data.layers[layer]
        else:
            X = data.X
        if X is None:
            raise ValidationError("adata.X is None; pass layer=")
        if genes is None:
            genes = list(data.var_names)
        cell_ids = np.asarray(data.obs_names, dtype=object)
    else:
        if layer is not None:
            raise ValidationError("layer= is only valid with AnnData input")
        X = data
    if hasattr(X, "to_memory"):  # backed / lazy arrays
        X = X.to_memory()
    if sp.issparse(X):
        X = X.tocsr() if not isinstance(X, sp.csr_matrix | sp.csr_array) else X
        X = sp.csr_matrix(X)
    else:
        try:
            arr = np.asarray(X)
        except Exception as e:  # pragma: no cover - exotic inputs
            raise DataFormatError(f"cannot read expression matrix of type {type(X)}: {e}") from e
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise DataFormatError(
                f"expression matrix must be 2-D numeric, got shape {arr.shape} dtype {arr.dtype}"
            )
        X = sp.csr_matrix(arr)
    if not X.has_sorted_indices:
        X = X.sorted_indices()
    n_cells, n_genes = X.shape
    if genes is None:
        raise ValidationError("genes= is required with a plain matrix (one name per column)")
    genes_arr = np.asarray([str(g) for g in genes], dtype=object)
    if genes_arr.shape[0] != n_genes:
        raise ValidationError(
            f"genes= has {genes_arr.shape[0]} names but the matrix has {n_genes} columns"
        )
    uniq, counts = np.unique(genes_arr.astype(str), return_counts=True)
    if (counts > 1).any():
        dups = [str(g) for g in uniq[counts > 1]]
        raise ValidationError(
            f"{len(dups)} gene name(s) name more than one column, e.g. {dups[:5]}; each gene "
            "would be tokenized twice: make them unique (adata.var_names_make_unique()) or "
            "sum the duplicated columns first"
        )
    if cell_ids is None:
        cell_ids = np.asarray([str(i) for i in range(n_cells)], dtype=object)
    return X, genes_arr, cell_ids


def gene_columns(vocab: GeneVocab, genes: Iterable[str]) -> np.ndarray:
    """Token id of each input column; -1 where it is no vocabulary gene (absent, or
    named like a special token)."""
    col_ids = vocab.lookup(genes)
    col_ids[col_ids < vocab.n_special] = -1
    return col_ids


def token_columns(col_ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Inverse of :func:`gene_columns`: input column of each token id, -1 if none."""
    t2c = np.full(vocab_size, -1, dtype=np.int64)
    ok = col_ids >= 0
    t2c[col_ids[ok]] = np.flatnonzero(ok)
    return t2c


def expressed_genes(
    X: sp.csr_matrix, min_cells: int, *, counts: np.ndarray | None = None
) -> np.ndarray:
    """Mask of the corpus genes expressed (> 0) in >= ``min_cells`` cells (``counts``:
    expressing cells per column, computed from ``X`` when None); raises if there is none."""
    if counts is None:
        counts = np.bincount(X.indices[X.data > 0], minlength=X.shape[1])
    keep = counts >= min_cells
    if not keep.any():
        raise ValidationError(f"no gene is expressed in >= {min_cells} cells of the corpus")
    return keep


def check_chunk_values(data: np.ndarray, start_row: int, cell_ids: np.ndarray) -> None:
    """Raise :class:`ValidationError` if a chunk's non-zeros are negative or not finite."""
    if data.size == 0:
        return
    lo = data.min()
    hi = data.max()
    if not (lo >= 0) or not np.isfinite(hi):
        bad = "negative" if lo < 0 else "NaN or infinite"
        raise ValidationError(
            f"expression values must be finite and >= 0; found {bad} values in cells "
            f"starting at row {start_row} ({cell_ids[start_row]!r}); tokenizers expect "
            "raw counts or non-negative normalised expression"
        )


def iter_chunks(n_rows: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` row ranges of at most ``batch_size`` rows."""
    if batch_size < 1:
        raise ValidationError(f"batch_size must be >= 1, got {batch_size}")
    for s in range(0, n_rows, batch_size):
        yield s, min(s + batch_size, n_rows)
