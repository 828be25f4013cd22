"""Config dataclasses refuse bad values at construction (one rule for API, CLI and checkpoints)."""

from __future__ import annotations

import pytest

import virtualcell as vc
from virtualcell.models import (
    ARCHITECTURES,
    MAX_PARAMETERS,
    CellEncoder,
    CellEncoderConfig,
    CellGPT,
    CellGPTConfig,
    CellPredictor,
    CellPredictorConfig,
    build_network,
)
from virtualcell.train import TrainConfig


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"d_model": 32, "n_heads": 3}, r"d_model=32 is not divisible by n_heads=3"),
        ({"d_model": "abc"}, r"CellEncoderConfig\.d_model must be an integer, got 'abc'"),
        ({"d_model": 8.0}, r"d_model must be an integer"),
        ({"n_layers": True}, r"n_layers must be an integer, got True"),
        ({"n_layers": 0}, r"n_layers must be >= 1, got 0"),
        ({"dropout": 1.0}, r"dropout must be >= 0 and < 1"),
        ({"value_mode": "log"}, r"value_mode must be one of 'rank', 'bin'"),
        ({"heads": ("mlm", "xyz")}, r"unknown head\(s\) \['xyz'\]"),
        (
            {"d_model": 2**36},
            r"about 2\.31e\+23 parameters, above the limit of 2e\+09 \(d_model=68719476736",
        ),
        ({"value_mode": "bin", "n_bins": 1}, r"n_bins must be >= 2"),
    ],
)
def test_encoder_config_refuses(kwargs, message):
    with pytest.raises(vc.ValidationError, match=message):
        CellEncoderConfig(vocab_size=40, **kwargs)


def test_gpt_and_predictor_configs_refuse():
    with pytest.raises(vc.ValidationError, match=r"eos_id must be >= 0 and < 10"):
        CellGPTConfig(vocab_size=10, eos_id=12)
    base = CellEncoderConfig(vocab_size=40, d_model=8, n_layers=1, n_heads=2).to_dict()
    with pytest.raises(vc.ValidationError, match=r"base_architecture must be one of"):
        CellPredictorConfig("resnet", base)
    with pytest.raises(vc.ValidationError, match=r"n_outputs must be >= 1"):
        CellPredictorConfig("cell_encoder", base, n_outputs=0)
    with pytest.raises(vc.ValidationError, match=r"unknown CellEncoderConfig field\(s\) \['x'\]"):
        CellPredictorConfig("cell_encoder", {**base, "x": 1})


def test_from_dict_refuses_unknown_and_missing_fields():
    with pytest.raises(vc.ValidationError, match=r"unknown CellGPTConfig field\(s\) \['foo'\]"):
        CellGPTConfig.from_dict({"vocab_size": 10, "foo": 1})
    with pytest.raises(vc.ValidationError, match=r"missing required field\(s\) \['vocab_size'\]"):
        CellEncoderConfig.from_dict({})
    with pytest.raises(vc.ValidationError, match="must be a JSON object"):
        CellEncoderConfig.from_dict([1, 2])
    cfg = CellEncoderConfig.from_dict({"vocab_size": 12, "heads": ["mae"]})
    assert cfg.heads == ("mae",) and CellEncoderConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "config",
    [
        CellEncoderConfig(vocab_size=50, d_model=16, n_layers=2, n_heads=2, max_len=20),
        CellEncoderConfig(vocab_size=50, d_model=8, n_layers=1, n_heads=2, heads=("mlm", "mae")),
        CellEncoderConfig(vocab_size=50, d_model=8, n_heads=2, heads=("mlm", "mvc")),
        CellEncoderConfig(vocab_size=50, d_model=8, value_mode="bin", n_bins=7, heads=("mae",)),
        CellEncoderConfig(vocab_size=50, d_model=8, value_mode="continuous", d_ff=12, heads=()),
        CellEncoderConfig(vocab_size=50, d_model=8, value_mode="none", n_heads=1),
        CellGPTConfig(vocab_size=30, d_model=8, n_layers=2, n_heads=2, max_len=12),
    ],
    ids=lambda c: type(c).__name__,
)
def test_parameter_estimate_is_exact(config):
    """The size cap is checked on this estimate before allocating: it must be the real count."""
    cls = CellEncoder if isinstance(config, CellEncoderConfig) else CellGPT
    net = cls(config)
    assert config.n_parameters() == sum(p.numel() for p in net.parameters())


def test_predictor_bases_registry_matches_the_config():
    """The base networks of a predictor are one registry (issue 25), the same names the
    config accepts; each builds the class its entry names."""
    import typing

    from virtualcell.models._predictor import BASES

    allowed = typing.get_args(typing.get_type_hints(CellPredictorConfig)["base_architecture"])
    assert BASES.names() == sorted(allowed) == ["cell_encoder", "cell_gpt"]
    bases = {
        "cell_encoder": CellEncoderConfig(vocab_size=40, d_model=8, n_layers=1, n_heads=2),
        "cell_gpt": CellGPTConfig(vocab_size=40, d_model=8, n_layers=1, n_heads=2),
    }
    for name, base in bases.items():
        net = CellPredictor(CellPredictorConfig(name, base.to_dict(), n_outputs=2, hidden=0))
        assert type(net.base) is BASES.get(name) and net.base.config == base
    with pytest.raises(vc.ValidationError, match=r"unknown predictor base network 'resnet'"):
        BASES.get("resnet")


@pytest.mark.parametrize("hidden", [0, 6])
def test_predictor_parameter_estimate_is_exact(hidden):
    base = CellEncoderConfig(vocab_size=40, d_model=8, n_layers=1, n_heads=2, heads=()).to_dict()
    cfg = CellPredictorConfig("cell_encoder", base, "classification", 3, hidden)
    assert cfg.n_parameters() == sum(p.numel() for p in CellPredictor(cfg).parameters())


def test_size_cap_is_checked_before_allocation(monkeypatch):
    import torch

    calls = []
    monkeypatch.setattr(torch.nn.Embedding, "__init__", lambda *a, **k: calls.append(a))
    with pytest.raises(vc.ValidationError, match="above the limit"):
        build_network("cell_encoder", {"vocab_size": 1000, "d_model": 2**20, "n_heads": 1})
    assert calls == []
    assert MAX_PARAMETERS == 2_000_000_000


def test_architecture_table():
    names = ["cell_encoder", "cell_gpt", "cell_predictor", "cell_text", "pca"]
    assert ARCHITECTURES.names() == names
    assert ARCHITECTURES.get("cell_gpt") is CellGPT
    with pytest.raises(vc.ValidationError, match=r"unknown model architecture 'resnet'"):
        build_network("resnet", {})
    with pytest.raises(vc.ValidationError, match=r"'pca' is not a network"):
        build_network("pca", {})
    # every entry says which class loads its folders (vc.models.load goes through it)
    for name in names:
        loader = getattr(vc.models, ARCHITECTURES.get(name).loader)
        assert callable(loader.from_pretrained), name


def test_load_goes_through_the_architecture_table(tmp_path, monkeypatch, cell_factory):
    """vc.models.load has no if-chain of its own: a user's architecture registered in
    ARCHITECTURES loads through its loader."""
    import json

    class Mine:
        architecture = "mine_test"
        loader = "PCAEncoder"

    folder = (
        vc.models.PCAEncoder(vc.models.PCAConfig(n_hvg=20, n_comps=3))
        .fit(cell_factory(n_cells=40, n_genes=20))
        .save_pretrained(tmp_path / "m")
    )
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architecture": "mine_test"}))
    calls = []
    monkeypatch.setattr(
        vc.models.PCAEncoder, "from_pretrained", classmethod(lambda cls, f: calls.append(f))
    )
    ARCHITECTURES.add("mine_test", Mine)
    try:
        vc.models.load(folder)
        assert calls == [folder]
    finally:
        ARCHITECTURES.remove("mine_test")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_steps": -1, "batch_size": 0}, r"TrainConfig\.max_steps must be >= 1, got -1"),
        ({"batch_size": 0}, r"TrainConfig\.batch_size must be >= 1, got 0"),
        ({"lr": -1.0}, r"TrainConfig\.lr must be > 0, got -1\.0"),
        ({"lr": float("nan")}, r"TrainConfig\.lr must be a finite number, got nan"),
        ({"seed": -1}, r"TrainConfig\.seed must be >= 0"),
        ({"beta2": 1.0}, r"beta2 must be >= 0 and < 1"),
        ({"device": "gpu"}, r"TrainConfig\.device must be auto, cpu, cuda"),
        ({"max_steps": "10"}, r"TrainConfig\.max_steps must be an integer, got '10'"),
        ({"keep_checkpoints": 0}, r"keep_checkpoints must be >= 1"),
        ({"checkpoint_minutes": -5.0}, r"checkpoint_minutes must be >= 0"),
    ],
)
def test_train_config_refuses(kwargs, message):
    with pytest.raises(vc.ValidationError, match=message):
        TrainConfig(**kwargs)


def test_train_config_dict_roundtrip_and_defaults():
    tc = TrainConfig(max_steps=7, lr=0.01)
    assert TrainConfig.from_dict(tc.to_dict()) == tc
    with pytest.raises(vc.ValidationError, match=r"unknown TrainConfig field\(s\) \['lrr'\]"):
        TrainConfig.from_dict({"lrr": 1})
    # checkpoints are on by default (every 500 steps and every 10 minutes)
    assert (TrainConfig().checkpoint_every, TrainConfig().checkpoint_minutes) == (500, 10.0)
    assert "seed" in tc.run_settings() and "device" not in tc.run_settings()
