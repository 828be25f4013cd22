from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from virtualcell._errors import DataFormatError
from virtualcell.models import CellEncoder, CellEncoderConfig, CellModel, load


@pytest.fixture
def saved(tmp_path, rank_tok):
    cfg = CellEncoderConfig(
        vocab_size=len(rank_tok.vocab), d_model=16, n_layers=1, n_heads=2, max_len=32
    )
    model = CellModel(CellEncoder(cfg, seed=1), rank_tok, training={"note": "test"})
    folder = model.save_pretrained(tmp_path / "ckpt")
    return model, folder


def test_roundtrip_is_exact(saved, cells):
    model, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors",
        "vocab.json",
    ]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["format_version"] == 1 and cfg["architecture"] == "cell_encoder"
    assert cfg["tokenizer"]["kind"] == "rank" and cfg["training"] == {"note": "test"}
    again = load(folder)
    for k, v in model.network.state_dict().items():
        assert torch.equal(v, again.network.state_dict()[k]), k
    assert again.tokenizer.vocab == model.tokenizer.vocab
    np.testing.assert_array_equal(again.embed(cells), model.embed(cells))


def test_tampered_weights(saved):
    _, folder = saved
    path = folder / "model.safetensors"
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match=r"model\.safetensors.*sha256"):
        CellModel.from_pretrained(folder)


def test_truncated_weights(saved):
    _, folder = saved
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataFormatError, match=r"model\.safetensors.*truncated"):
        CellModel.from_pretrained(folder)


def test_config_weights_mismatch(saved):
    _, folder = saved
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model"]["d_model"] = 32
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        DataFormatError,
        match=r"model\.safetensors: tensor .* has shape .*config and weights do not match",
    ):
        CellModel.from_pretrained(folder)


def test_missing_and_corrupt_config(saved, tmp_path):
    _, folder = saved
    with pytest.raises(DataFormatError, match="not found"):
        load(tmp_path / "nope")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(DataFormatError, match=r"config\.json: not valid JSON"):
        load(folder)
    (folder / "config.json").unlink()
    with pytest.raises(DataFormatError, match=r"config\.json: missing"):
        load(folder)


def test_missing_vocab(saved):
    _, folder = saved
    (folder / "vocab.json").unlink()
    with pytest.raises(DataFormatError, match=r"vocab\.json: listed in config\.json but missing"):
        load(folder)


def test_unknown_format_version(saved):
    _, folder = saved
    cfg = json.loads((folder / "config.json").read_text())
    cfg["format_version"] = 99
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DataFormatError, match="format_version 99"):
        load(folder)
