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


# ----------------------------------------------------------------- schema attacks


def _tamper(folder, edit, target="config.json"):
    """Edit a JSON file of the folder; keep config.json's checksums consistent (an attacker
    who rewrites vocab.json also rewrites its recorded sha256 and size)."""
    from virtualcell._utils import sha256_file

    path = folder / target
    doc = json.loads(path.read_text())
    edit(doc, folder)
    path.write_text(json.dumps(doc))
    if target != "config.json":
        cfg = json.loads((folder / "config.json").read_text())
        cfg["files"][target] = {"sha256": sha256_file(path), "size": path.stat().st_size}
        (folder / "config.json").write_text(json.dumps(cfg))


def _symlink_vocab(cfg, folder):
    (folder / "vocab.json").unlink()
    (folder / "vocab.json").symlink_to("/etc/hostname")


CONFIG_ATTACKS = {
    "files_entry_not_object": (
        lambda c, f: c["files"].__setitem__("model.safetensors", "abc"),
        r"files\['model\.safetensors'\]: must be an object with exactly 'sha256' and 'size'",
    ),
    "path_traversal": (
        lambda c, f: c["files"].__setitem__(
            "../../../../etc/hostname", {"sha256": "0" * 64, "size": 1}
        ),
        r"'\.\./\.\./\.\./\.\./etc/hostname' points outside the checkpoint folder",
    ),
    "absolute_path": (
        lambda c, f: c["files"].__setitem__("/etc/hostname", {"sha256": "0" * 64, "size": 1}),
        r"points outside the checkpoint folder",
    ),
    "symlinked_file": (_symlink_vocab, r"'vocab\.json' is a symbolic link"),
    "unlisted_file_name": (
        lambda c, f: c["files"].__setitem__("notes.txt", {"sha256": "0" * 64, "size": 1}),
        r"files\['notes\.txt'\]: unexpected file",
    ),
    "huge_d_model": (
        lambda c, f: c["model"].__setitem__("d_model", 2**36),
        r"config\.json: CellEncoderConfig describes a network of about .* above the limit",
    ),
    "d_model_wrong_type": (
        lambda c, f: c["model"].__setitem__("d_model", "abc"),
        r"CellEncoderConfig\.d_model must be an integer, got 'abc'",
    ),
    "unknown_model_field": (
        lambda c, f: c["model"].__setitem__("foo", 1),
        r"unknown CellEncoderConfig field\(s\) \['foo'\]",
    ),
    "unknown_top_level_key": (
        lambda c, f: c.__setitem__("evil", 1),
        r"config\.json: unknown key\(s\) \['evil'\]",
    ),
    "model_not_object": (
        lambda c, f: c.__setitem__("model", [1, 2]),
        r"'model' must be an object, got \[1, 2\]",
    ),
    "unknown_architecture": (
        lambda c, f: c.__setitem__("architecture", "resnet"),
        r"unknown model architecture 'resnet'",
    ),
    "negative_size": (
        lambda c, f: c["files"]["model.safetensors"].__setitem__("size", -1),
        r"\.size must be a non-negative integer, got -1",
    ),
    "bad_sha256": (
        lambda c, f: c["files"]["model.safetensors"].__setitem__("sha256", "xyz"),
        r"\.sha256 must be 64 lower-case hex digits",
    ),
}

VOCAB_ATTACKS = {
    "unknown_key": (
        lambda c, f: c.__setitem__("evil", 1),
        r"vocab\.json: unknown key\(s\) \['evil'\]",
    ),
    "unknown_param": (
        lambda c, f: c["params"].__setitem__("evil", 1),
        r"params\.evil is not a RankTokenizer parameter",
    ),
    "param_wrong_type": (
        lambda c, f: c["params"].__setitem__("max_len", "abc"),
        r"params\.max_len must be a number \(default 2048\), got \"abc\"",
    ),
    "genes_not_list": (
        lambda c, f: c["vocab"].__setitem__("genes", 5),
        r"vocab\.genes must be a list of strings",
    ),
    "unknown_kind": (lambda c, f: c.__setitem__("kind", "evil"), r"unknown tokenizer kind 'evil'"),
}


@pytest.mark.parametrize("attack", sorted(CONFIG_ATTACKS))
def test_config_attacks_are_refused_naming_the_field(saved, attack):
    _, folder = saved
    edit, message = CONFIG_ATTACKS[attack]
    _tamper(folder, edit)
    with pytest.raises(DataFormatError, match=message) as err:
        load(folder)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("attack", sorted(VOCAB_ATTACKS))
def test_vocab_attacks_are_refused_naming_the_field(saved, attack):
    _, folder = saved
    edit, message = VOCAB_ATTACKS[attack]
    _tamper(folder, edit, target="vocab.json")
    with pytest.raises(DataFormatError, match=message):
        load(folder)


def test_interrupted_save_leaves_no_loadable_half_folder(saved, tmp_path, monkeypatch):
    """config.json is the commit marker: removed first, written last; no temp file stays."""
    import safetensors.torch

    model, folder = saved

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save_pretrained(folder, overwrite=True)
    assert not (folder / "config.json").exists()
    assert not [p for p in folder.iterdir() if ".vctmp-" in p.name]
    with pytest.raises(DataFormatError, match=r"config\.json: missing"):
        load(folder)
    monkeypatch.undo()
    model.save_pretrained(folder, overwrite=True)
    load(folder)


def test_stale_temp_of_a_killed_writer_is_removed(saved):
    model, folder = saved
    stale = folder / ".model.safetensors.vctmp-999999999-abcd.safetensors"
    stale.write_bytes(b"x" * 100)
    model.save_pretrained(folder, overwrite=True)
    assert not stale.exists()
