from __future__ import annotations

import json

import numpy as np
import pytest

from virtualcell._errors import ValidationError
from virtualcell.models import CellModel
from virtualcell.train import TrainConfig, make_tokenizer, pretrain

TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2}


@pytest.mark.parametrize(
    ("kind", "objective", "arch", "mode"),
    [
        ("bin", "mae", "cell_encoder", "bin"),
        ("continuous", "mae", "cell_encoder", "continuous"),
        ("bin", "mlm", "cell_encoder", "bin"),
        ("sentence", "ntp", "cell_gpt", None),
    ],
)
def test_pretrain_every_tokenizer_and_objective(cells, tmp_path, kind, objective, arch, mode):
    tc = TrainConfig(max_steps=3, batch_size=16, warmup_steps=1, chunk_size=64)
    model, res = pretrain(
        cells,
        tokenizer=make_tokenizer(kind, max_len=16),
        objective=objective,
        model_config=TINY,
        train_config=tc,
        out_dir=tmp_path / "m",
    )
    assert res.steps == 3 and all(np.isfinite(h["loss"]) for h in res.history)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["architecture"] == arch and cfg["tokenizer"]["kind"] == kind
    if mode is not None:
        assert cfg["model"]["value_mode"] == mode and cfg["model"]["heads"] == [objective]
    again = CellModel.from_pretrained(tmp_path / "m")
    np.testing.assert_allclose(again.embed(cells), model.embed(cells), atol=1e-5)


def test_value_mode_is_declared_by_each_tokenizer(cells):
    """The CellEncoder's value input follows the tokenizer's own declaration (no table
    beside vc.tokenize.TOKENIZERS): rank positions for rank and sentence tokens."""
    from virtualcell.tokenize import TOKENIZERS
    from virtualcell.train import default_model_config

    modes = {k: TOKENIZERS.get(k).value_mode for k in TOKENIZERS.names(tag="pretrain")}
    assert modes == {"bin": "bin", "continuous": "continuous", "rank": "rank", "sentence": "rank"}
    for kind, mode in modes.items():
        tok = make_tokenizer(kind, max_len=16).fit(cells)
        arch, cfg = default_model_config(tok, "mlm")
        assert (arch, cfg["value_mode"]) == ("cell_encoder", mode)


def test_mae_needs_values(cells):
    with pytest.raises(ValidationError, match="regresses values"):
        pretrain(
            cells,
            tokenizer="rank",
            objective="mae",
            model_config=TINY,
            train_config=TrainConfig(max_steps=1, batch_size=8),
        )
