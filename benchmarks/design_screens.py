"""The closed-loop screen results of ``docs/design.md`` (run on demand, not a test).

Every policy runs on every environment and seed, each environment built once per seed
and shared by the policies (they face the same hidden truth and the same measurement
noise per round). Each run's ``ScreenResult`` is saved as JSON under ``--out`` (runs that
are there already are loaded, so the script resumes); the table (mean ± sd over seeds)
is printed as markdown and the discovery curves are drawn with
``vc.pl.discovery_curves``::

    python benchmarks/design_screens.py --out results/design
    python benchmarks/design_screens.py --envs dream4 --seeds 0 1 --policies random prior
    # the local LLM (SmolLM2-135M), small budget:
    python benchmarks/design_screens.py --envs dream4 --policies agent_llm --seeds 0 1 2 \\
        --rounds 2 --batch 6 --out results/design_llm

Policy names are those of ``vc.design.POLICIES`` plus ``agent_scripted`` (the agent loop
with the deterministic scripted backend ``expert``: no LLM) and ``agent_llm`` (the agent
loop with the local SmolLM2-135M backend), and ``active_ucb_novc`` (the ablation of
``active_ucb`` without the virtual cell: ``predictor=None``). Wall seconds are measured in the same run
(on a shared 2-core machine, under load: compare policies within one run only).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

POLICIES = ("random", "prior", "active_ucb", "active_thompson", "active_ei", "agent_scripted")
ENVS = ("sim_knockout", "sim_program", "sim_pairs", "dream4")


def _policy(name: str, seed: int):
    import virtualcell as vc
    import virtualcell.agent

    if name == "agent_scripted":
        pol = vc.agent.AgentPolicy(backend="expert", seed=seed, kb=None)
    elif name == "agent_llm":
        pol = vc.agent.AgentPolicy(
            backend="local", seed=seed, kb=None, max_steps=2, max_seconds=300
        )
    elif name == "active_ucb_novc":
        pol = vc.design.ActivePolicy(acquisition="ucb", predictor=None, seed=seed)
    else:
        return vc.design.make_policy(name, seed=seed)
    pol.name = name
    return pol


def main() -> None:
    import virtualcell as vc
    from virtualcell._utils import markdown_table, write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="+", default=list(ENVS))
    ap.add_argument("--policies", nargs="+", default=list(POLICIES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("results/design"))
    ap.add_argument("--figures", type=Path, default=None, help="folder for the curve figures")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for env_name in args.envs:
        for seed in args.seeds:
            env = None
            for pol_name in args.policies:
                path = args.out / f"{env_name}_{pol_name}_seed{seed}.json"
                if path.exists():
                    results.append(json.loads(path.read_text()))
                    continue
                if env is None:
                    t0 = time.perf_counter()
                    env = vc.design.make_env(env_name, seed=seed)
                    print(f"# {env!r} built in {time.perf_counter() - t0:.0f} s", flush=True)
                t0 = time.perf_counter()
                res = vc.design.run_screen(env, _policy(pol_name, seed), rounds=args.rounds,
                                           batch=args.batch, seed=seed)  # fmt: skip
                d = res.to_dict()
                d["wall_seconds"] = time.perf_counter() - t0
                write_json(path, d)
                results.append(d)
                print(f"# {env_name} {pol_name} seed {seed}: hit rate {res.hit_rate:.2f} "
                      f"({d['wall_seconds']:.0f} s)", flush=True)  # fmt: skip
    rows = []
    for env_name in args.envs:
        sub = [r for r in results if r["env"] == env_name]
        base = [r["hit_rate"] for r in sub if r["policy"] == "random"]
        for pol_name in args.policies:
            rs = [r for r in sub if r["policy"] == pol_name]
            if not rs:
                continue
            hr = np.array([r["hit_rate"] for r in rs])
            auc = np.array([r["auc"] for r in rs])
            sec = np.mean([np.mean(r["seconds_per_round"]) for r in rs])
            tok = np.mean([np.mean(np.add(r["prompt_tokens_per_round"],
                                          r["completion_tokens_per_round"])) for r in rs])  # fmt: skip
            ratio = hr.mean() / np.mean(base) if base and np.mean(base) > 0 else float("nan")
            sd = hr.std(ddof=1) if len(rs) > 1 else 0.0
            auc_sd = auc.std(ddof=1) if len(rs) > 1 else 0.0
            rows.append({
                "env": env_name, "policy": pol_name, "seeds": len(rs),
                "hit rate": f"{hr.mean():.3f} ± {sd:.3f}",
                "hits": f"{np.mean([r['hits'] for r in rs]):.1f} / {rs[0]['n_true_hits']}",
                "AUC": f"{auc.mean():.3f} ± {auc_sd:.3f}",
                "x random": f"{ratio:.2f}", "s/round": f"{sec:.2f}", "tokens/round": f"{tok:.0f}",
            })  # fmt: skip
    print(markdown_table(rows))
    if args.figures is not None:
        args.figures.mkdir(parents=True, exist_ok=True)
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.0 * len(args.envs), 4.0), layout="constrained")
        axes = fig.subplots(1, len(args.envs), squeeze=False)[0]
        for ax, env_name in zip(axes, args.envs, strict=True):
            vc.pl.discovery_curves(results, env=env_name, ax=ax)
        from virtualcell.pl._base import finish

        finish(fig, args.figures / "design_discovery_curves.png", overwrite=True)


if __name__ == "__main__":
    main()
