"""Kill test: SIGKILL ``vcell pretrain`` and ``vcell embed`` at seeded moments.

After every kill the final files are either absent or complete (a checkpoint folder loads
and verifies; an ``.h5ad`` reads and holds the whole embedding), and a re-run succeeds:
pretraining resumes from the last checkpoint and ends with exactly the weights of an
uninterrupted run; no temporary file survives the re-run.

Kill moments: pretraining saves a checkpoint every step; each kill waits until the newest
checkpoint reaches a seeded step, then a seeded 0-0.3 s more (most of a tiny model's step
is spent saving, so kills land inside saves). Embedding rewrites a complete output and is
killed alternately while writing (a seeded 0-50 ms after its temporary file appears) and
a seeded fraction (0.5-1) of an uninterrupted run's duration after its start.

Only the killed commands run as separate processes; the reference and the re-runs call
the same entry point (``virtualcell.cli.main``) in this process, with one torch thread
like the subprocesses. A separate process and this one differ in the last bits of float
arithmetic (measured: an uninterrupted run differs by 5e-8 at most), so weights are
compared to 1e-6; a resume from a wrong data position, optimizer or generator state is
off by 1e-4 or more (in-process resume is bit-exact: tests/train/test_resume.py). The
default suite kills each command once; ``--runslow`` kills each three times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

SEED = 0
STEPS = 10
ARGS = [
    "--max-steps", str(STEPS), "--checkpoint-every", "1", "--batch-size", "16",
    "--d-model", "8", "--n-heads", "2", "--n-layers", "1", "--max-len", "8",
]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "VIRTUALCELL_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _spawn(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "virtualcell.cli", *args]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".vctmp-" in p.name]


def _latest_step(out: Path) -> int:
    try:
        return int((out / "checkpoints" / "latest").read_text().strip().split("-")[1])
    except (OSError, IndexError, ValueError):
        return 0


def _check_run_folder(out: Path) -> str:
    """Final model absent or complete; the newest checkpoint readable. Returns a summary."""
    from safetensors.torch import load_file

    import virtualcell as vc
    from virtualcell.train import _state

    final = "absent"
    if (out / "config.json").exists():
        vc.models.load(out)  # verifies schema, sizes, sha256, shapes
        final = "complete"
    latest = _state.latest_checkpoint(out) if out.exists() else None
    if latest is not None:
        _state.read_state_json(latest)
        for name in ("model", "optimizer", "rng-rank0"):
            load_file(str(latest / f"{name}.safetensors"))
    return f"final model {final}, latest checkpoint {latest.name if latest else None}"


@pytest.fixture
def one_thread(monkeypatch, tmp_path):
    from virtualcell import settings

    monkeypatch.setattr(settings, "verbosity", 1)  # "resumed from step N" is a log line
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cells_file(tmp_path, cell_factory) -> Path:
    path = tmp_path / "cells.h5ad"
    cell_factory(1500, 30).write_h5ad(path)
    return path


def _kill_pretrain(cells_file: Path, tmp_path: Path, n_kills: int, capsys) -> list:
    from safetensors.torch import load_file

    from virtualcell.cli import main

    rng = np.random.default_rng(SEED)
    tmp_path.mkdir(exist_ok=True)
    ref, out = tmp_path / "ref", tmp_path / "run"
    assert main(["pretrain", str(cells_file), "--out", str(ref), *ARGS]) == 0
    outcomes = []
    targets = sorted(rng.choice(np.arange(2, STEPS - 1), size=n_kills, replace=False))
    for target in targets:
        proc = _spawn("pretrain", str(cells_file), "--out", str(out), *ARGS)
        deadline = time.monotonic() + 300
        while _latest_step(out) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0, 0.3)))
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert not finished, "the run ended before the kill; raise STEPS"
        outcomes.append((int(target), _check_run_folder(out)))
    capsys.readouterr()
    assert main(["pretrain", str(cells_file), "--out", str(out), *ARGS]) == 0
    assert "resumed from step" in capsys.readouterr().err
    assert _check_run_folder(out).startswith("final model complete")
    assert not _temps(out), _temps(out)
    got, want = load_file(str(out / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], atol=1e-6, rtol=0, msg=k)
    return outcomes


def _kill_embed(cells_file: Path, tmp_path: Path, n_kills: int) -> list:
    import anndata as ad

    from virtualcell.cli import main
    from virtualcell.models import CellEncoder, CellEncoderConfig, CellModel
    from virtualcell.tokenize import RankTokenizer

    tmp_path.mkdir(exist_ok=True)
    adata = ad.read_h5ad(cells_file)
    tok = RankTokenizer(max_len=8).fit(adata)
    cfg = CellEncoderConfig(vocab_size=len(tok.vocab), d_model=8, n_layers=1, n_heads=2, max_len=16)
    CellModel(CellEncoder(cfg), tok).save_pretrained(tmp_path / "m")
    out = tmp_path / "e.h5ad"
    args = ["embed", str(cells_file), "--model", str(tmp_path / "m"), "--out", str(out),
            "--overwrite"]  # fmt: skip
    assert main(args) == 0
    reference = ad.read_h5ad(out).obsm["X_vc"]
    t0 = time.monotonic()
    proc = _spawn(*args)
    proc.communicate()  # an uninterrupted run in a process: how long it takes
    duration = time.monotonic() - t0
    assert proc.returncode == 0
    inode = out.stat().st_ino  # an atomic replace gives the output a new inode
    rng = np.random.default_rng(SEED)
    outcomes = []
    for i in range(n_kills):
        proc = _spawn(*args)
        if i % 2 == 0:  # while writing the output
            deadline = time.monotonic() + 300
            while not _temps(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            delay = float(rng.uniform(0, 0.05))
            moment = f"{1000 * delay:.0f} ms into the write"
        else:
            delay = float(rng.uniform(0.5, 1.0)) * duration
            moment = f"{delay / duration:.2f} of a run"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        # the output is the previous complete file or the new complete one, never partial
        np.testing.assert_array_equal(ad.read_h5ad(out).obsm["X_vc"], reference)
        state = "old file intact" if out.stat().st_ino == inode else "replaced, complete"
        inode = out.stat().st_ino
        outcomes.append((moment, state, f"{len(_temps(tmp_path))} temp file(s) left"))
    assert main(args) == 0  # the re-run cleans the temporary files of killed writers
    assert not _temps(tmp_path), _temps(tmp_path)
    np.testing.assert_array_equal(ad.read_h5ad(out).obsm["X_vc"], reference)
    return outcomes


def test_kill_pretrain_once_then_resume_exactly(cells_file, tmp_path, capsys, one_thread):
    outcomes = _kill_pretrain(cells_file, tmp_path, 1, capsys)
    print("pretrain kill (checkpoint step reached -> state after SIGKILL):", outcomes)


def test_kill_embed_once_leaves_nothing_partial(cells_file, tmp_path, one_thread):
    outcomes = _kill_embed(cells_file, tmp_path, 1)
    print("embed kill (moment, state of the output, temp files):", outcomes)


@pytest.mark.slow
def test_kill_pretrain_and_embed_repeatedly(cells_file, tmp_path, capsys, one_thread):
    pre = _kill_pretrain(cells_file, tmp_path / "p", 3, capsys)
    emb = _kill_embed(cells_file, tmp_path / "e", 3)
    with capsys.disabled():
        print("\npretrain kills:", pre, "\nembed kills:", emb)
