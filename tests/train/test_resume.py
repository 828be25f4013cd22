"""Checkpoints by default, SIGINT/SIGTERM saving, and the rules for re-using a run folder."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

import virtualcell as vc
from virtualcell import settings
from virtualcell.models import CellEncoder, CellEncoderConfig
from virtualcell.train import CellBatches, MaskedTokenObjective, TrainConfig, train


def _net(tok):
    cfg = CellEncoderConfig(vocab_size=len(tok.vocab), d_model=8, n_layers=1, n_heads=2, max_len=32)
    return CellEncoder(cfg, seed=0)


def _run(tok, cells, out, *, steps=6, seed=0, resume=None, callback=None, **config):
    net = _net(tok)
    data = CellBatches(cells, tok, batch_size=16, chunk_size=32, seed=seed)
    tc = TrainConfig(
        max_steps=steps, batch_size=16, chunk_size=32, lr=3e-3, warmup_steps=1, seed=seed, **config
    )
    res = train(
        net, data, MaskedTokenObjective(), tc, out_dir=out, resume=resume, callback=callback
    )
    return net, res


def _steps(out):
    return sorted(p.name for p in (out / "checkpoints").glob("step-*"))


def test_checkpoints_by_default_and_by_time(cells, rank_tok, tmp_path):
    _run(rank_tok, cells, tmp_path / "a", steps=3)  # defaults: 500 steps / 10 min / the end
    assert _steps(tmp_path / "a") == ["step-00000003"]
    _run(
        rank_tok, cells, tmp_path / "b", steps=4,
        checkpoint_every=0, checkpoint_minutes=1e-9, keep_checkpoints=10,
    )  # fmt: skip
    assert _steps(tmp_path / "b") == [f"step-0000000{i}" for i in range(1, 5)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_says_how_to_resume_and_resume_is_exact(
    cells, rank_tok, tmp_path, capsys, monkeypatch, signum
):
    monkeypatch.setattr(settings, "verbosity", 1)
    ref, _ = _run(rank_tok, cells, None, steps=7)

    def interrupt(step, _):
        if step == 3:
            os.kill(os.getpid(), signum)

    previous = signal.getsignal(signum)
    with pytest.raises(KeyboardInterrupt):
        _run(rank_tok, cells, tmp_path, steps=7, callback=interrupt)
    assert signal.getsignal(signum) == previous  # handlers restored
    err = capsys.readouterr().err
    name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
    assert f"interrupted ({name}) at step 4 of 7" in err  # the signal lands in step 3's
    assert "To resume, run the same command again" in err  # callback; step 4 completes
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step-00000004"
    resumed, res = _run(rank_tok, cells, tmp_path, steps=7)
    assert res.resumed_from == 4
    assert "resumed from step 4 of 7" in capsys.readouterr().err
    for k, v in ref.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_changed_settings_are_refused_listing_them(cells, rank_tok, tmp_path):
    _run(rank_tok, cells, tmp_path, steps=3)
    with pytest.raises(vc.ValidationError, match=r"other settings \(seed 0 -> 1\); pass --resume"):
        _run(rank_tok, cells, tmp_path, steps=3, seed=1)
    with pytest.raises(vc.ValidationError, match=r"max_steps 3 -> 5; seed 0 -> 2"):
        _run(rank_tok, cells, tmp_path, steps=5, seed=2)
    # bookkeeping fields may change freely
    _, res = _run(rank_tok, cells, tmp_path, steps=3, checkpoint_every=1, device="cpu")
    assert res.resumed_from == 3 and res.steps == 3
    # resume=True continues with the new settings; resume=False starts over
    _, res = _run(rank_tok, cells, tmp_path, steps=5, resume=True)
    assert res.resumed_from == 3 and res.steps == 5
    _, res = _run(rank_tok, cells, tmp_path, steps=2, seed=1, resume=False)
    assert res.resumed_from is None and _steps(tmp_path) == ["step-00000002"]


def test_max_steps_below_the_checkpoint_is_a_clear_error(cells, rank_tok, tmp_path):
    _run(rank_tok, cells, tmp_path, steps=4)
    with pytest.raises(
        vc.ValidationError, match=r"at step 4, past max_steps=2; give max_steps > 4"
    ):
        _run(rank_tok, cells, tmp_path, steps=2, resume=True)


def test_out_folder_with_other_files_or_a_file_is_refused(cells, rank_tok, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(vc.ValidationError, match=r"not part of a virtualcell run \('notes\.txt'\)"):
        _run(rank_tok, cells, tmp_path, steps=1)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(vc.ValidationError, match="is a file"):
        _run(rank_tok, cells, tmp_path / "notes.txt", steps=1)
    with pytest.raises(vc.ValidationError, match="nothing to resume"):
        _run(rank_tok, cells, tmp_path / "new", steps=1, resume=True)


def test_stale_temp_checkpoint_of_a_killed_run_is_removed(cells, rank_tok, tmp_path):
    _run(rank_tok, cells, tmp_path, steps=2)
    stale = tmp_path / "checkpoints" / ".step-00000003.vctmp-999999999-beef"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"x" * 1000)
    _, res = _run(rank_tok, cells, tmp_path, steps=3, resume=True)
    assert res.resumed_from == 2 and not stale.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda out: (out / "checkpoints/latest").write_text("../../../etc"), "not a step-"),
        (lambda out: (out / "checkpoints/latest").write_text("step-00000099"), "no state.json"),
        (
            lambda out: _edit_state(out, lambda s: s.__setitem__("step", "two")),
            "'step' must be a non-negative integer",
        ),
        (
            lambda out: _edit_state(out, lambda s: s.__setitem__("position", {"epoch": -1})),
            "'position' must be",
        ),
    ],
    ids=["latest_traversal", "latest_missing", "step_type", "position"],
)
def test_tampered_training_state_is_refused(cells, rank_tok, tmp_path, edit, message):
    _run(rank_tok, cells, tmp_path, steps=2)
    edit(tmp_path)
    with pytest.raises(vc.DataFormatError, match=message):
        _run(rank_tok, cells, tmp_path, steps=2)


def _edit_state(out, change):
    path = out / "checkpoints" / "step-00000002" / "state.json"
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))


def test_train_refuses_wrong_argument_types(cells, rank_tok):
    net = _net(rank_tok)
    data = CellBatches(cells, rank_tok, batch_size=8)
    with pytest.raises(vc.ValidationError, match="config must be a TrainConfig"):
        train(net, data, MaskedTokenObjective(), {"max_steps": 2})
    with pytest.raises(vc.ValidationError, match="objective must have a name and a loss"):
        train(net, data, "mlm", TrainConfig(max_steps=1))
    with pytest.raises(vc.ValidationError, match="data must be batches"):
        train(net, [1, 2], MaskedTokenObjective(), TrainConfig(max_steps=1))
