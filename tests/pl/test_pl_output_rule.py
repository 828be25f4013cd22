"""``vc.pl`` writers follow the output rule: an existing file is replaced only with
``overwrite=True``, and a failed save leaves the old file as it was (atomic write)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell import ValidationError


def _table() -> pd.DataFrame:
    return pd.DataFrame(np.array([[0.5, 0.2], [0.3, 0.4]]), index=["a", "b"], columns=["d1", "d2"])


def test_existing_figure_needs_overwrite(tmp_path):
    path = tmp_path / "h.png"
    vc.pl.grn_heatmap(_table(), path=path)
    old = path.read_bytes()
    with pytest.raises(ValidationError, match=r"^path .*h\.png exists; pass overwrite=True"):
        vc.pl.grn_heatmap(_table(), path=path, title="second")
    assert path.read_bytes() == old
    vc.pl.grn_heatmap(_table(), path=path, title="second", overwrite=True)
    assert path.read_bytes() != old
    folder = tmp_path / "d.png"
    folder.mkdir()
    with pytest.raises(ValidationError, match="is a folder; give a file name"):
        vc.pl.grn_heatmap(_table(), path=folder, overwrite=True)


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    path = tmp_path / "h.svg"
    vc.pl.grn_heatmap(_table(), path=path)
    old = path.read_bytes()

    def dies_mid_write(self, fname, **kwargs):
        with open(fname, "wb") as handle:
            handle.write(b"<svg half written")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", dies_mid_write)
    with pytest.raises(OSError, match="No space left"):
        vc.pl.grn_heatmap(_table(), path=path, overwrite=True)
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["h.svg"]  # no temporary file left


def test_every_plot_function_takes_overwrite():
    import inspect

    for name in vc.pl.__all__:
        params = inspect.signature(getattr(vc.pl, name)).parameters
        if "path" in params:
            assert params["overwrite"].default is False, name
            assert params["overwrite"].kind is inspect.Parameter.KEYWORD_ONLY, name
