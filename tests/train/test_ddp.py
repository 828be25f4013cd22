"""Distributed data parallel: 2 CPU processes on gloo (127.0.0.1) end with identical weights,
and a checkpointed run (every rank's generator state saved by rank 0) resumes on both.

Marked ``slow`` (about 20 s: two spawned processes each import torch); run with --runslow.
"""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest
import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    import anndata as ad
    import scipy.sparse as sp
    import torch.distributed as dist
    from safetensors.torch import save_file

    import virtualcell.tokenize as tk
    from virtualcell.models import CellEncoder, CellEncoderConfig
    from virtualcell.train import CellBatches, MaskedTokenObjective, TrainConfig, train

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        rng = np.random.default_rng(0)
        cells = ad.AnnData(sp.csr_matrix(rng.poisson(2.0, (64, 30)).astype(np.float32)))
        cells.var_names = [f"G{i}" for i in range(30)]
        tok = tk.RankTokenizer(max_len=16).fit(cells)
        net = CellEncoder(
            CellEncoderConfig(
                vocab_size=len(tok.vocab), d_model=8, n_layers=1, n_heads=2, max_len=24
            ),
            seed=rank,  # different initial weights per rank: DDP must broadcast rank 0's
        )
        data = CellBatches(
            cells, tok, batch_size=8, chunk_size=32, seed=0, rank=rank, world_size=world
        )
        cfg = TrainConfig(max_steps=4, batch_size=8, lr=1e-2, warmup_steps=1, chunk_size=32)
        res = train(net, data, MaskedTokenObjective(), cfg)
        # checkpointed: a checkpoint every 2 steps, stopped at step 3, resumed on both ranks
        ck = os.path.join(out, "run")
        net2 = CellEncoder(net.config, seed=rank)
        part = cfg.replace(checkpoint_every=2)

        def stop(step, _):
            if step == 3:
                raise InterruptedError

        try:
            train(net2, data, MaskedTokenObjective(), part, out_dir=ck, callback=stop)
        except InterruptedError:
            pass
        net3 = CellEncoder(net.config, seed=rank)
        again = train(net3, data, MaskedTokenObjective(), part, out_dir=ck)
        with open(os.path.join(out, f"rank{rank}.resumed"), "w") as fh:
            fh.write(str(again.resumed_from))
        save_file(dict(net3.state_dict()), os.path.join(out, f"rank{rank}.resumed.safetensors"))
        save_file(dict(net.state_dict()), os.path.join(out, f"rank{rank}.safetensors"))
        with open(os.path.join(out, f"rank{rank}.cells"), "w") as fh:
            fh.write(str(res.cells))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_end_identical(tmp_path):
    from safetensors.torch import load_file

    ctx = torch.multiprocessing.start_processes(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.time() + 120
    while not ctx.join(timeout=1):
        if time.time() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("DDP workers did not finish within 120 s")
    w0 = load_file(str(tmp_path / "rank0.safetensors"))
    w1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # each rank saw its own half of every global batch (4 steps x 8 cells)
    assert (tmp_path / "rank0.cells").read_text() == "32"
    # the checkpointed run (stopped at 3, resumed from 2) ends where the plain run ended
    assert (
        (tmp_path / "rank0.resumed").read_text() == (tmp_path / "rank1.resumed").read_text() == "2"
    )
    assert sorted(p.name for p in (tmp_path / "run/checkpoints/step-00000004").iterdir()) == [
        "model.safetensors", "optimizer.safetensors", "rng-rank0.safetensors",
        "rng-rank1.safetensors", "state.json",
    ]  # fmt: skip
    for r in (0, 1):
        resumed = load_file(str(tmp_path / f"rank{r}.resumed.safetensors"))
        for k in w0:
            assert torch.equal(w0[k], resumed[k]), (r, k)
    init = {}
    from virtualcell.models import CellEncoder, CellEncoderConfig

    cfg = CellEncoderConfig(
        vocab_size=w0["gene_embedding.weight"].shape[0],
        d_model=8,
        n_layers=1,
        n_heads=2,
        max_len=24,
    )
    init = CellEncoder(cfg, seed=0).state_dict()
    assert not torch.equal(
        init["encoder.blocks.0.mlp.0.weight"], w0["encoder.blocks.0.mlp.0.weight"]
    )
