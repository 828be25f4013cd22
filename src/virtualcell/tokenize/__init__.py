"""Tokenizers: turn cells into model inputs (``vc.tokenize``).

One protocol (:class:`Tokenizer`): ``fit`` on a corpus where needed, ``encode`` AnnData or
a sparse matrix in batches into :class:`TokenizedCells`, ``decode`` where meaningful,
``save``/``load`` of a versioned JSON file, and ``coverage`` of the gene vocabulary.
``TOKENIZERS`` is the table of every tokenizer by ``kind`` (``rank``, ``bin``,
``continuous``, ``sentence``, ``gene_text``).
"""

from ._base import CoverageReport, CoverageWarning, TokenizedCells, Tokenizer, load_tokenizer
from ._bin import BinTokenizer
from ._continuous import ContinuousTokenizer
from ._gene_text import GeneTextTokenizer
from ._rank import RankTokenizer
from ._registry import TOKENIZERS
from ._sentence import SentenceTokenizer
from ._vocab import SPECIAL_TOKENS, GeneVocab

__all__ = [
    "SPECIAL_TOKENS",
    "TOKENIZERS",
    "BinTokenizer",
    "ContinuousTokenizer",
    "CoverageReport",
    "CoverageWarning",
    "GeneTextTokenizer",
    "GeneVocab",
    "RankTokenizer",
    "SentenceTokenizer",
    "TokenizedCells",
    "Tokenizer",
    "load_tokenizer",
]
