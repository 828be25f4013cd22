"""``Tokenizer.save`` follows the output rule (``overwrite=``) and writes atomically."""

from __future__ import annotations

import os

import numpy as np
import pytest

from virtualcell import ValidationError
from virtualcell.tokenize import BinTokenizer, RankTokenizer, Tokenizer

X = np.array([[4, 0, 2, 2, 0], [0, 1, 0, 3, 6], [5, 5, 0, 0, 1]], dtype=np.float32)
GENES = list("ABCDE")


def test_existing_file_needs_overwrite(tmp_path):
    path = RankTokenizer().fit(X, genes=GENES).save(tmp_path / "tok.json")
    old = path.read_text()
    other = BinTokenizer(n_bins=5).fit(X, genes=GENES)
    with pytest.raises(ValidationError, match=r"^path .*tok\.json exists; pass overwrite=True"):
        other.save(path)
    assert path.read_text() == old
    assert other.save(path, overwrite=True) == path
    assert type(Tokenizer.load(path)) is BinTokenizer


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = RankTokenizer().fit(X, genes=GENES).save(tmp_path / "tok.json")
    old = path.read_text()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # after the text is written, before the rename
    with pytest.raises(OSError, match="No space left"):
        BinTokenizer(n_bins=5).fit(X, genes=GENES).save(path, overwrite=True)
    monkeypatch.undo()
    assert path.read_text() == old
    assert sorted(os.listdir(tmp_path)) == ["tok.json"]
    assert type(Tokenizer.load(path)) is RankTokenizer
