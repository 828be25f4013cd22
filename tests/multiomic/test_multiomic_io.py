"""``vc.data.read_h5mu`` / ``write_h5mu``: round trip, atomic write, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell._utils import TEMP_MARKER


def test_round_trip(mdata, tmp_path):
    path = vc.data.write_h5mu(mdata, tmp_path / "cells.h5mu")
    assert [p.name for p in tmp_path.iterdir()] == ["cells.h5mu"]  # no temp file left
    back = vc.data.read_h5mu(path, modalities=["rna", "protein"])
    assert set(back.mod) == {"rna", "protein", "atac"}
    assert (back.obs["cell_type"].to_numpy() == mdata.obs["cell_type"].to_numpy()).all()
    assert np.array_equal(back["protein"].X.toarray(), mdata["protein"].X.toarray())
    assert list(back["atac"].var["regulator"]) == list(mdata["atac"].var["regulator"])
    assert back.uns["truth"]["cell_types"].equals(mdata.uns["truth"]["cell_types"])
    assert back.uns["vc"]["source"] == {"path": str(path), "format": "h5mu"}


def test_errors(mdata, tmp_path):
    path = vc.data.write_h5mu(mdata, tmp_path / "cells.h5mu")
    with pytest.raises(vc.DataFormatError, match="is a MuData file: read it with"):
        vc.data.read(path)
    with pytest.raises(vc.ValidationError, match=r"has no modality 'adt'; it has: "):
        vc.data.read_h5mu(path, modalities=["adt"])
    h5ad = tmp_path / "rna.h5ad"
    mdata["rna"].write_h5ad(h5ad)
    with pytest.raises(vc.DataFormatError, match="is not a MuData file"):
        vc.data.read_h5mu(h5ad)
    text = tmp_path / "x.h5mu"
    text.write_text("hello")
    with pytest.raises(vc.DataFormatError, match="not an HDF5 file"):
        vc.data.read_h5mu(text)
    with pytest.raises(vc.ValidationError, match=r"end in \.h5mu"):
        vc.data.write_h5mu(mdata, tmp_path / "x.h5ad")
    with pytest.raises(vc.ValidationError, match="needs a MuData"):
        vc.data.write_h5mu(mdata["rna"], tmp_path / "y.h5mu")
    with pytest.raises(vc.ValidationError, match="does not exist"):
        vc.data.write_h5mu(mdata, tmp_path / "missing" / "y.h5mu")
    assert not [p for p in tmp_path.iterdir() if TEMP_MARKER in p.name]
