from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import torch

from virtualcell._errors import DataFormatError, ValidationError
from virtualcell.data import CellSource
from virtualcell.train import CellBatches, DataPosition


def cls_rows(batches, tok, cells):
    """Identify each batch row by its token sequence -> cell index."""
    full = tok.encode(cells)
    key = {
        tuple(r[m].tolist()): i
        for i, (r, m) in enumerate(zip(full.input_ids, full.attention_mask, strict=True))
    }
    out = []
    for b in batches:
        for r, m in zip(b["input_ids"], b["attention_mask"], strict=True):
            out.append(key[tuple(r[m].tolist())])
    return out


def test_each_cell_once_per_epoch_and_epochs_differ(cells, rank_tok):
    data = CellBatches(cells, rank_tok, batch_size=16, chunk_size=32, seed=3)
    e0 = [b for _, b in data.iterate(DataPosition(0, 0))]
    e1 = [b for _, b in data.iterate(DataPosition(1, 0))]
    assert len(e0) == data.batches_per_epoch() == 8
    r0, r1 = cls_rows(e0, rank_tok, cells), cls_rows(e1, rank_tok, cells)
    assert sorted(r0) == list(range(cells.n_obs)) and sorted(r1) == sorted(r0)
    assert r0 != r1 and r0 != list(range(cells.n_obs))


def test_resume_position_skips_exactly(cells, rank_tok):
    data = CellBatches(cells, rank_tok, batch_size=16, chunk_size=32, seed=1)
    full = list(data.iterate(DataPosition(0, 0)))
    tail = list(data.iterate(DataPosition(0, 5)))
    assert len(tail) == len(full) - 5
    for (pa, ba), (pb, bb) in zip(full[5:], tail, strict=True):
        assert pa == pb
        for k in ba:
            assert torch.equal(ba[k], bb[k])


def test_ranks_split_each_global_batch(cells, rank_tok):
    shards = [
        CellBatches(cells, rank_tok, batch_size=8, chunk_size=32, seed=0, rank=r, world_size=2)
        for r in (0, 1)
    ]
    assert shards[0].batches_per_epoch() == shards[1].batches_per_epoch()
    rows = [cls_rows([b for _, b in s.iterate()], rank_tok, cells) for s in shards]
    assert not set(rows[0]) & set(rows[1])
    assert sorted(rows[0] + rows[1]) == list(range(cells.n_obs))


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
def test_streaming_from_disk_matches_memory(cells, rank_tok, tmp_path, fmt):
    path = tmp_path / f"c.{fmt}"
    cells.write_h5ad(path) if fmt == "h5ad" else cells.write_zarr(path)
    with CellSource.open(path) as src:
        assert src.n_obs == cells.n_obs and list(src.var_names) == list(cells.var_names)
        np.testing.assert_array_equal(src.read(10, 20).toarray(), cells.X[10:20].toarray())
        mem = list(CellBatches(cells, rank_tok, batch_size=16, chunk_size=32, seed=2))
        disk = list(CellBatches(src, rank_tok, batch_size=16, chunk_size=32, seed=2))
        for a, b in zip(mem, disk, strict=True):
            assert torch.equal(a["input_ids"], b["input_ids"])
    dense = ad.AnnData(cells.X.toarray(), obs=cells.obs, var=cells.var)
    dense.write_h5ad(tmp_path / "dense.h5ad")
    with CellSource.open(tmp_path / "dense.h5ad") as src:
        np.testing.assert_array_equal(src.read(0, 5).toarray(), dense.X[:5])


def test_source_errors(cells, tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        CellSource.open(tmp_path / "missing.h5ad")
    (tmp_path / "bad.h5ad").write_text("not hdf5")
    with pytest.raises(DataFormatError, match=r"bad\.h5ad"):
        CellSource.open(tmp_path / "bad.h5ad")
    with pytest.raises(ValidationError, match="raw"):
        CellSource.open(cells, layer="raw")
    with pytest.raises(ValidationError, match="targets"):
        CellBatches(cells, None, targets=np.zeros(3))
