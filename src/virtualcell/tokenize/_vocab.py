"""Gene vocabulary shared by every tokenizer: special tokens first, then genes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .._errors import DataFormatError, ValidationError

__all__ = ["FORMAT_VERSION", "SPECIAL_TOKENS", "GeneVocab"]

#: Special tokens, always the first ids of every vocabulary, in this order.
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<cls>", "<mask>", "<eos>", "<unk>")

#: Version of the on-disk JSON format of vocabularies and tokenizers.
FORMAT_VERSION = 1


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
