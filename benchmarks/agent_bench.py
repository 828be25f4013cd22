"""Agent benchmark: every backend and baseline on the same generated tasks, side by side.

Run (builds nothing itself: point it at a built knowledge store)::

    vcell kb build --source <reference data>/knowledge --out kb.sqlite --no-defaults
    python benchmarks/agent_bench.py --kb kb.sqlite --seed 0 --local-tasks 10

Prints one markdown table per system: success rate per task family next to the
keyword-router, top-enrichment and majority baselines (computed on the same tasks), the
valid-tool-call rate, mean steps, mean tokens and seconds per task; then the local
model's load time and generated tokens/s. ``scripted`` is the ``reference_solver``: the
expert plan per family (an upper bound of the tools + loop + verifier, not a model and not
the agent). The local model runs on ``--local-tasks``
tasks (round-robin over families) because it needs minutes per task on 2 busy CPU cores;
``--openai`` adds a run against the server named by ``VIRTUALCELL_LLM_BASE_URL`` /
``VIRTUALCELL_LLM_MODEL``. Task families and checkers: ``vc.agent.TASK_FAMILIES`` (``agent/_tasks.py``,
``agent/_checks.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", required=True, help="built knowledge store")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--local-tasks", type=int, default=10, help="tasks for the local model (0: skip)"
    )
    ap.add_argument("--openai", action="store_true", help="also run the openai backend")
    ap.add_argument("--out", default="results/agent_bench")
    args = ap.parse_args(argv)

    from virtualcell._utils import write_json
    from virtualcell.agent import run_benchmark
    from virtualcell.agent._bench import results_table

    out = Path(args.out)
    runs = [("scripted", None)]
    if args.local_tasks:
        runs.append(("local", args.local_tasks))
    if args.openai or os.environ.get("VIRTUALCELL_LLM_BASE_URL"):
        runs.append(("openai", None))
    summary = {}
    for backend, n in runs:
        res = run_benchmark(backend, n_tasks=n, seed=args.seed, kb=args.kb, folder=out / backend)
        summary[backend] = res
        print(f"\n## {backend} ({res['tasks']} tasks, seed {args.seed})\n")
        print(results_table(res))
        extra = [f"wall {res['wall_s']:.0f} s"]
        if res.get("load_s") is not None:
            extra.append(f"model load {res['load_s']:.1f} s")
        if res.get("tokens_per_s"):
            extra.append(f"{res['tokens_per_s']:.2f} generated tokens/s")
        print(f"{res['note']}; " + "; ".join(extra))
        sys.stdout.flush()
    write_json(out / "summary.json", json.loads(json.dumps(summary, default=str)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
