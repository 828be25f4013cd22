"""Evaluating a screen larger than memory: at most so many cells per condition, read
from the file in row chunks (``max_cells`` / ``max_control_cells``)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import virtualcell as vc
from conftest import linear_cells
from virtualcell import ValidationError
from virtualcell.cli import main
from virtualcell.data import CellSource

FAST = ["train_mean", "additive", "linear"]


def _screen(tmp_path, *, dense: bool = False, name: str = "screen.h5ad") -> tuple[str, ad.AnnData]:
    """A scPerturb-style file: labels in ``condition``, controls called ``ctrl``, a few
    cells without a guide, conditions of different sizes."""
    adata = linear_cells(n_genes=14, n_singles=8, n_cells=30, doubles=False)
    rng = np.random.default_rng(1)
    drop = rng.random(adata.n_obs) < 0.2  # conditions of different sizes
    adata = adata[~drop].copy()
    labels = adata.obs.pop("perturbation").astype(str).replace({"control": "ctrl"})
    labels.iloc[:5] = "unassigned"
    adata.obs["condition"] = labels.to_numpy()
    adata.obs.pop("perturbation_type")
    adata.X = adata.X if dense else sparse.csr_matrix(adata.X)
    path = tmp_path / name
    adata.write_h5ad(path)
    return str(path), adata


@pytest.mark.parametrize("kind", ["h5ad_sparse", "h5ad_dense", "zarr", "memory"])
def test_take_reads_the_rows_asked_in_chunks(tmp_path, kind):
    path, adata = _screen(tmp_path, dense=kind == "h5ad_dense")
    adata.uns["note"] = {"k": 1}
    if kind == "zarr":
        path = str(tmp_path / "screen.zarr")
        adata.write_zarr(path)
    elif kind.startswith("h5ad"):
        adata.write_h5ad(path)
    rows = [40, 3, 3, 17, 0, adata.n_obs - 1]
    with CellSource.open(adata if kind == "memory" else path) as src:
        got = src.take(rows, chunk=7)
        x = adata.X
        whole = (
            (x.data.nbytes + x.indices.nbytes + x.indptr.nbytes) if sparse.issparse(x) else x.nbytes
        )
        assert src.matrix_bytes == whole  # from the layout, nothing read
        by_mask = src.take(np.isin(np.arange(adata.n_obs), rows), chunk=1000)
        with pytest.raises(ValidationError, match="outside"):
            src.take([adata.n_obs])
        with pytest.raises(ValidationError, match="chunk"):
            src.take(rows, chunk=0)
    want = adata[sorted(set(rows))]
    dense = lambda m: m.toarray() if sparse.issparse(m) else np.asarray(m)  # noqa: E731
    assert np.array_equal(dense(got.X), dense(want.X))
    assert got.X.dtype == adata.X.dtype and sparse.issparse(got.X) == sparse.issparse(adata.X)
    assert got.obs_names.tolist() == want.obs_names.tolist()
    pd.testing.assert_frame_equal(got.obs, want.obs, check_frame_type=False)
    assert got.var_names.tolist() == adata.var_names.tolist()
    assert int(got.uns["note"]["k"]) == 1
    assert np.array_equal(dense(by_mask.X), dense(got.X))
    if kind != "memory":
        assert got.uns["vc"]["source"]["path"] == path


def test_capped_read_draws_per_condition_and_never_reads_the_whole_file(tmp_path, monkeypatch):
    path, adata = _screen(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("the whole file was read")

    monkeypatch.setattr(ad, "read_h5ad", refuse)
    monkeypatch.setattr(ad.io, "read_h5ad", refuse)
    monkeypatch.setattr(ad, "read_zarr", refuse)
    monkeypatch.setattr(ad.io, "read_zarr", refuse)
    out, name, info = vc.perturb.read_capped(path, max_cells=10, max_control_cells=25, chunk=16)
    labels = out.obs["perturbation"].astype(str)
    sizes = labels.value_counts()
    assert name == "screen.h5ad" and info["column"] == "condition"
    assert sizes["control"] == 25 and (sizes.drop("control") <= 10).all()
    # conditions within the cap keep every cell; no unassigned cell is read
    given = adata.obs["condition"].astype(str)
    for cond, n in given[given != "unassigned"].replace({"ctrl": "control"}).value_counts().items():
        assert sizes[cond] == min(n, 25 if cond == "control" else 10)
    assert "unassigned" not in set(out.obs["condition"])
    assert info["cells"] == {"in_data": int((given != "unassigned").sum()), "read": out.n_obs,
                             "max_cells": 10, "max_control_cells": 25, "seed": 0}  # fmt: skip
    # the rows are the file's: values and names of the same cells
    ref = adata[out.obs_names]
    assert np.array_equal(out.X.toarray(), ref.X.toarray())
    # the draw is fixed: the same cells again, and a cap on one side only
    again, _, _ = vc.perturb.read_capped(path, max_cells=10, max_control_cells=25)
    assert again.obs_names.tolist() == out.obs_names.tolist()
    store = tmp_path / "screen.zarr"  # a zarr store: the same cells, read in chunks too
    adata.write_zarr(store)
    from_zarr, name, _ = vc.perturb.read_capped(store, max_cells=10, max_control_cells=25)
    assert name == "screen.zarr" and from_zarr.obs_names.tolist() == out.obs_names.tolist()
    assert np.array_equal(from_zarr.X.toarray(), out.X.toarray())
    only, _, _ = vc.perturb.read_capped(path, max_cells=None, max_control_cells=25)
    assert (only.obs["perturbation"] == "control").sum() == 25
    assert (only.obs["perturbation"] != "control").sum() == (
        (given != "unassigned") & (given != "ctrl")
    ).sum()


def test_caps_above_every_condition_give_the_numbers_of_the_whole_file(tmp_path):
    path, _ = _screen(tmp_path)
    whole = vc.perturb.evaluate(path, task="unseen_singles", seed=1, methods=FAST, folds=2)
    capped = vc.perturb.evaluate(path, task="unseen_singles", seed=1, methods=FAST, folds=2,
                                 max_cells=10**6, max_control_cells=10**6)  # fmt: skip
    pd.testing.assert_frame_equal(whole.table, capped.table)
    assert capped.report["labels"]["cells"]["read"] == capped.report["labels"]["cells"]["in_data"]
    assert "cells" not in whole.report["labels"]
    small = vc.perturb.evaluate(path, task="unseen_singles", seed=1, methods=FAST,
                                max_cells=8, max_control_cells=20)  # fmt: skip
    assert small.report["labels"]["cells"]["read"] < capped.report["labels"]["cells"]["read"]
    assert not small.table.empty


def test_caps_refuse_a_dream4_folder(shared_data):
    dream4 = shared_data / "grn" / "dream4" / "DREAM4_InSilico_Size10" / "insilico_size10_1"
    with pytest.raises(ValidationError, match="DREAM4 folder has one profile per condition"):
        vc.perturb.read_capped(dream4, max_cells=3)
    with pytest.raises(ValidationError, match="DREAM4 folder has one profile per condition"):
        vc.perturb.evaluate(dream4, task="unseen_singles", baselines_only=True, max_cells=3)


def test_caps_are_checked_and_keyed(tmp_path, capsys):
    path, adata = _screen(tmp_path)
    with pytest.raises(ValidationError, match="max_cells must be a whole number >= 1"):
        vc.perturb.evaluate(path, task="unseen_singles", baselines_only=True, max_cells=0)
    assert main(["perturb", "evaluate", path, "--task", "unseen_singles", "--baselines-only",
                 "--max-control-cells", "0"]) == 2  # fmt: skip
    assert "--max-control-cells" in capsys.readouterr().err
    # an AnnData in memory is drawn from the same way
    mem, _, info = vc.perturb.read_capped(adata, max_cells=5)
    assert info["cells"]["read"] == mem.n_obs < adata.n_obs
    # a run with caps is another evaluation: not resumed from a run without them
    out = tmp_path / "eval"
    args = ["perturb", "evaluate", path, "--task", "unseen_singles", "--baselines-only",
            "--out", str(out), "--json"]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--max-cells", "6"]) != 0
    assert "not empty" in capsys.readouterr().err
    assert main([*args, "--max-cells", "6", "--overwrite"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labels"]["cells"]["max_cells"] == 6
    assert json.loads((out / "run.json").read_text())["max_cells"] == 6
    assert main([*args, "--max-cells", "6"]) == 0  # the same evaluation: resumed
    report = json.loads(capsys.readouterr().out)
    assert all(r.get("resumed") for r in report["results"])


def test_predict_reads_the_capped_cells(tmp_path):
    path, _ = _screen(tmp_path)
    out = tmp_path / "pred.h5ad"
    args = ["perturb", "predict", path, "-p", "g1,g2", "-m", "train_mean", "--out", str(out)]
    assert main([*args, "--max-cells", "4", "--max-control-cells", "10"]) == 0
    capped = ad.read_h5ad(out)
    assert main([*args, "--overwrite"]) == 0
    whole = ad.read_h5ad(out)
    assert capped.obs_names.tolist() == whole.obs_names.tolist() == ["g1", "g2"]
    # train_mean of fewer cells per condition: another mean
    assert not np.allclose(np.asarray(capped.X), np.asarray(whole.X))


def test_a_control_cap_is_named_with_what_it_does(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(vc.settings, "verbosity", 1)  # the tests run quiet
    path, _ = _screen(tmp_path)
    vc.perturb.read_capped(path, max_cells=5, max_control_cells=10_000)  # above: no note
    err = capsys.readouterr().err
    assert "kept" in err and "note" not in err
    vc.perturb.read_capped(path, max_cells=5, max_control_cells=20)
    err = capsys.readouterr().err
    assert "note: 20 control cells of" in err and "Pearson-delta" in err


def test_a_file_larger_than_memory_is_refused_naming_the_cells_that_fit(
    tmp_path, monkeypatch, capsys
):
    import virtualcell._utils as utils

    monkeypatch.setattr(vc.settings, "verbosity", 1)  # the tests run quiet
    path, _ = _screen(tmp_path)
    with CellSource.open(path) as src:
        size, n = src.matrix_bytes, src.n_obs
    assert size > 0
    monkeypatch.setattr(utils, "available_memory", lambda: size // 2)
    with pytest.raises(ValidationError, match=r"screen.h5ad: its matrix takes .* more than"):
        vc.perturb.evaluate(path, task="unseen_singles", baselines_only=True)
    args = ["perturb", "evaluate", path, "--task", "unseen_singles", "--baselines-only"]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "--max-cells N" in err and f"of its {n:,} cells" in err and "Traceback" not in err
    # capped, the file is read in chunks: not refused
    res = vc.perturb.evaluate(path, task="unseen_singles", methods=FAST, max_cells=5)
    assert res.report["labels"]["cells"]["max_cells"] == 5
    # the matrix fits but an evaluation may not: a warning, and the run goes on
    monkeypatch.setattr(utils, "available_memory", lambda: size * 2)
    capsys.readouterr()
    vc.perturb.evaluate(path, task="unseen_singles", methods=FAST)
    assert "warning: screen.h5ad takes" in capsys.readouterr().err
    monkeypatch.setattr(utils, "available_memory", lambda: size * 100)
    vc.perturb.evaluate(path, task="unseen_singles", methods=FAST)
    assert "warning" not in capsys.readouterr().err
