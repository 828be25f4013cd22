"""The pretrain / finetune / embed / grn commands: choices and defaults come from the library."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing

import anndata as ad
import numpy as np
import pytest

import virtualcell as vc
from virtualcell.cli import main
from virtualcell.train import FINETUNE_CONFIG, OBJECTIVES, TrainConfig
from virtualcell.train import _cli as train_cli


def _option_default(command, name):
    return inspect.signature(command).parameters[name].default.default


def test_choices_match_the_registries():
    assert list(typing.get_args(train_cli.PRETRAIN_OBJECTIVES)) == OBJECTIVES.names(
        tag="pretraining"
    )
    assert list(typing.get_args(train_cli.FINETUNE_TASKS)) == OBJECTIVES.names(tag="finetuning")
    for kind in typing.get_args(train_cli.TOKENIZER_KINDS):
        assert vc.train.make_tokenizer(kind).kind == kind
    with pytest.raises(vc.ValidationError):
        vc.train.make_tokenizer("nope")


def test_defaults_are_read_from_the_configs():
    for name in ("max_steps", "seed", "batch_size", "grad_accum", "lr", "checkpoint_every"):
        assert _option_default(train_cli.pretrain_command, name) == getattr(TrainConfig(), name)
    for name in ("max_steps", "batch_size", "lr", "seed"):
        assert _option_default(train_cli.finetune_command, name) == getattr(FINETUNE_CONFIG, name)
    assert _option_default(train_cli.pretrain_command, "device_name") == TrainConfig().device


def test_cli_start_does_not_import_torch():
    code = "import sys, virtualcell.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_scaled_x_error_names_the_layer_to_pass(cells, tmp_path, capsys):
    scaled = cells.copy()
    scaled.raw = cells.copy()
    scaled.X = scaled.X.toarray() - 1.0  # centred: negative values
    path = tmp_path / "scaled.h5ad"
    scaled.write_h5ad(path)
    argv = ["pretrain", str(path), "--out", str(tmp_path / "ck"), "--max-steps", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "X holds negative values" in err and "--layer raw" in err
    small = ["--d-model", "8", "--n-heads", "2", "--n-layers", "1", "--max-len", "8"]
    assert main([*argv, "--layer", "raw", "--batch-size", "16", *small]) == 0
    out = tmp_path / "e.h5ad"
    assert main(["embed", str(path), "--model", str(tmp_path / "ck"), "--out", str(out)]) == 2
    assert "--layer raw" in capsys.readouterr().err
    assert not out.exists()
    emb = ["embed", str(path), "--model", str(tmp_path / "ck"), "--out", str(out), "--layer", "raw"]
    assert main(emb) == 0
    assert ad.read_h5ad(out).obsm["X_vc"].shape == (cells.n_obs, 8)


def test_embed_writes_zarr_by_suffix(cells, tmp_path):
    from virtualcell.models import CellEncoder, CellEncoderConfig, CellModel
    from virtualcell.tokenize import RankTokenizer

    tok = RankTokenizer(max_len=8).fit(cells)
    cfg = CellEncoderConfig(vocab_size=len(tok.vocab), d_model=8, n_layers=1, n_heads=2, max_len=16)
    CellModel(CellEncoder(cfg), tok).save_pretrained(tmp_path / "m")
    cells.write_h5ad(tmp_path / "c.h5ad")
    out = tmp_path / "e.zarr"
    argv = ["embed", str(tmp_path / "c.h5ad"), "--model", str(tmp_path / "m"), "--out", str(out)]
    assert main([*argv, "--key-added", "X_test"]) == 0
    back = ad.read_zarr(out)
    assert back.obsm["X_test"].shape == (cells.n_obs, 8)
    np.testing.assert_array_equal(back.X.toarray(), cells.X.toarray())
