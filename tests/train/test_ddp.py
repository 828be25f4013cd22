"""Distributed data parallel: 2 CPU processes on gloo (127.0.0.1) end with identical weights."""

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
        save_file(dict(net.state_dict()), os.path.join(out, f"rank{rank}.safetensors"))
        with open(os.path.join(out, f"rank{rank}.cells"), "w") as fh:
            fh.write(str(res.cells))
    finally:
        dist.destroy_process_group()


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
