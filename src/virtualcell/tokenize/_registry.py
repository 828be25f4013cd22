"""The tokenizer table (``vc.tokenize.TOKENIZERS``): ``kind`` -> tokenizer class.

One explicit, lazily filled :class:`~virtualcell._utils.Registry`, the same style as
every other namespace's table. Tag ``"pretrain"`` marks the tokenizers a model can be
pretrained on (``vcell pretrain --tokenizer``); :func:`~virtualcell.tokenize.load_tokenizer`
dispatches a saved file's ``kind`` through this table. Register your own with
``TOKENIZERS.add("name", MyTokenizer, tags=("pretrain",))``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .._utils import Entry, Registry

if TYPE_CHECKING:  # pragma: no cover
    from ._base import Tokenizer

__all__ = ["TOKENIZERS"]


def _builtins() -> Iterator[Entry[type[Tokenizer]]]:
    from ._bin import BinTokenizer
    from ._continuous import ContinuousTokenizer
    from ._gene_text import GeneTextTokenizer
    from ._rank import RankTokenizer
    from ._sentence import SentenceTokenizer

    pretrain = ("pretrain",)
    yield Entry("rank", RankTokenizer, "Rank-value tokens (Geneformer).", tags=pretrain)
    yield Entry("bin", BinTokenizer, "Gene tokens + binned values (scBERT / scGPT).", tags=pretrain)
    yield Entry(
        "continuous", ContinuousTokenizer, "Gene tokens + continuous values (scFoundation).",
        tags=pretrain,
    )  # fmt: skip
    yield Entry("sentence", SentenceTokenizer, "Cell sentences of top-k gene names (C2S).",
                tags=pretrain)  # fmt: skip
    yield Entry("gene_text", GeneTextTokenizer, "Weighted gene text embeddings (GenePT).")


#: ``kind`` -> tokenizer class.
TOKENIZERS: Registry[type[Tokenizer]] = Registry("tokenizer", _builtins)
