"""``Split.save`` follows the output rule (``overwrite=``) and writes atomically."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from virtualcell import ValidationError
from virtualcell.data import splits as sp


def _split(test: str) -> sp.Split:
    labels = pd.Series(["control", "A", "B", "A+B"], index=list("wxyz"), dtype=object)
    names = {"x": "train", "y": "train", "z": "train", "w": "train"}
    names[{"A+B": "z", "B": "y"}[test]] = "test"
    assign = pd.Series(names, dtype=object)[labels.index]
    groups = {s: sorted(set(labels[assign == s])) for s in ("train", "val", "test")}
    return sp.Split(assign, "perturbation", 0, "perturbation", labels, groups)


def test_existing_file_needs_overwrite(tmp_path):
    path = _split("A+B").save(tmp_path / "sub" / "split.json")  # folders are created
    old = path.read_text()
    with pytest.raises(ValidationError, match=r"^path .*split\.json exists; pass overwrite=True"):
        _split("B").save(path)
    assert path.read_text() == old
    _split("B").save(path, overwrite=True)
    assert sp.Split.load(path).assignment["y"] == "test"


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = _split("A+B").save(tmp_path / "split.json")
    old = path.read_text()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # after the text is written, before the rename
    with pytest.raises(OSError, match="No space left"):
        _split("B").save(path, overwrite=True)
    monkeypatch.undo()
    assert path.read_text() == old
    assert sorted(os.listdir(tmp_path)) == ["split.json"]
    assert sp.Split.load(path).assignment["z"] == "test"
