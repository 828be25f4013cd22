"""Why did ``vcell pretrain`` run 5x slower than ``benchmarks/represent_pretrain.py``?

Runs the same pretraining (same corpus, tokenizer, objective, model, steps, one torch
thread) in fresh subprocesses that differ in one thing each, back to back so that load
from other processes affects them alike:

* ``bench``: what ``represent_pretrain.py`` does (``vc.train.pretrain``, no checkpoints
  during the run, glibc's default *dynamic* mmap threshold);
* ``mmap=N``: the same after fixing glibc's mmap threshold at ``N`` bytes
  (``mallopt(M_MMAP_THRESHOLD, N)``); the CLI used ``N = 131072`` (128 KiB), which makes
  every allocation above it a fresh ``mmap`` + page faults + ``munmap``;
* ``cli``: the ``vcell pretrain`` command itself (a subprocess), with the same options;
  ``cli_old``: the same command from another source tree (``--old-src``, e.g. an export
  of the commit before a change: ``git archive COMMIT src | tar -x -C /tmp/old``).

Reports seconds per step for each (from ``TrainResult.cells_per_s``), the whole process'
wall time, its minor page faults and peak resident set (``VmHWM``). Usage::

    OMP_NUM_THREADS=1 python benchmarks/pretrain_cli_speed.py --corpus results/oracle/corpus.h5ad
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import ctypes, json, sys, time
import torch
torch.set_num_threads(1)
corpus, out, steps, mmap, objective, max_len = sys.argv[1:7]
if int(mmap):
    ctypes.CDLL("libc.so.6").mallopt(-3, int(mmap))  # M_MMAP_THRESHOLD
from virtualcell.train import TrainConfig, make_tokenizer, pretrain
t = time.perf_counter()
model, res = pretrain(
    corpus,
    tokenizer=make_tokenizer("rank", max_len=int(max_len)),
    objective=objective,
    model_config={"d_model": 128, "n_layers": 2, "n_heads": 4, "pooling": "mean"},
    train_config=TrainConfig(max_steps=int(steps), batch_size=32, lr=1e-3, warmup_steps=2,
                             seed=0, checkpoint_every=0, device="cpu"),
    out_dir=out, resume=False,
)
import resource
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"cells_per_s": res.cells_per_s, "seconds": time.perf_counter() - t,
                  "loss": res.history[-1]["loss"], "peak_mb": hwm,
                  "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt}))
"""


def _child(corpus: str, steps: int, mmap: int, objective: str, max_len: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, corpus, tmp + "/run", str(steps), str(mmap),
             objective, str(max_len)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        rec["process_s"] = time.perf_counter() - t
        return rec


def _cli(corpus: str, steps: int, objective: str, max_len: int, src: str | None = None) -> dict:
    vcell = Path(sys.executable).with_name("vcell")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        out = subprocess.run(
            [str(vcell), "pretrain", corpus, "--tokenizer", "rank", "--max-len", str(max_len),
             "--objective", objective, "--pooling", "mean", "--d-model", "128",
             "--n-layers", "2", "--n-heads", "4", "--max-steps", str(steps),
             "--warmup-steps", "2", "--batch-size", "32", "--lr", "1e-3", "--seed", "0",
             "--device", "cpu", "--out", tmp + "/run"],
            capture_output=True, text=True, check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1", **({"PYTHONPATH": src} if src else {})},
        )  # fmt: skip
        wall = time.perf_counter() - t
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = re.search(r"final loss ([0-9.]+), ([0-9.]+) cells/s", out.stdout)
    return {"cells_per_s": float(m.group(2)), "loss": float(m.group(1)), "process_s": wall,
            "children_max_rss_mb": usage.ru_maxrss / 1024,
            "minor_faults": usage.ru_minflt - before}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--objective", default="mlm+mvc+views")
    p.add_argument("--max-len", type=int, default=32)
    p.add_argument("--modes", nargs="+", default=["bench", "mmap=131072", "mmap=4194304", "cli"])
    p.add_argument("--old-src", default=None, help="source tree for the cli_old mode")
    args = p.parse_args()
    rows = {}
    for i, mode in enumerate(args.modes):
        if mode in ("cli", "cli_old"):
            src = args.old_src + "/src" if mode == "cli_old" else None
            rec = _cli(args.corpus, args.steps, args.objective, args.max_len, src)
        else:
            mmap = int(mode.split("=")[1]) if mode.startswith("mmap=") else 0
            rec = _child(args.corpus, args.steps, mmap, args.objective, args.max_len)
        rec["s_per_step"] = 32 / rec["cells_per_s"]
        rows[f"{i}:{mode}"] = {k: round(v, 4) for k, v in rec.items()}
        print(mode, json.dumps(rows[f"{i}:{mode}"]), file=sys.stderr, flush=True)
    print(json.dumps({"args": vars(args), "load": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
