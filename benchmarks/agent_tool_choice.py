"""Which first tool does a small local model choose, and which scoring rule chooses best?

For each task of the agent benchmark (seeds given; use seeds you do NOT report), the
agent's first turn is built exactly as in the benchmark (local options: 5 tools shown
among the fillable ones, filled calls), the backend's branch scores are recorded and the
run stops there. Each rule below then picks a branch; the table counts how often it is the
tool the reference plan calls first (the target, read from the expert plan: evaluation
side only, never given to a rule):

* ``raw``: log p(branch opening | prompt) (the loop's rule before this script);
* ``norm``: ``raw`` / tokens of the branch opening (length normalisation);
* ``pmi``: ``raw`` - log p(branch | the same prompt with an empty question): the model's
  prior for a tool name removed (contrastive);
* ``channel``: log p(question | the tool's one-line description) (noisy-channel scoring:
  how well the tool explains the question);
* ``embed``: cosine of the question and the tool's name + description with the bundled
  sentence embedder; ``bm25``: the BM25 score the tool selection uses;
* sums of z-scored rules (``channel+embed`` ...).

Usage (heavy: one local model; 1 torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/agent_tool_choice.py --seeds 100 101 --tasks 20 \
        --out results/tool_choice.json
"""

from __future__ import annotations

import json
import math
import sys
import time

from _agent_args import agent_parser  # benchmarks/ is sys.path[0]


class _Stop(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    ap = agent_parser(__doc__, "results/agent_tool_choice.json")
    args = ap.parse_args(argv)

    import tempfile
    from pathlib import Path

    import numpy as np

    import virtualcell as vc
    from virtualcell._utils import write_json
    from virtualcell.agent import Agent, Workspace, make_backend, open_kb
    from virtualcell.agent._bench_rows import default_agent_options, select_tasks
    from virtualcell.agent._choose import channel_scores, tool_card
    from virtualcell.agent._parse import parse_action
    from virtualcell.agent._plans import plan_step
    from virtualcell.agent._tasks import TASK_FAMILIES, make_tasks

    store = open_kb(args.kb)
    llm = make_backend("local", model=args.model)
    t0 = time.perf_counter()
    llm.load()
    print(f"model load {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    _model, tok = llm.load()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="tool-choice-"))
    # the first choice is recorded before any rule applies: score with the opening rule
    opts = {**default_agent_options("local", None), "max_steps": 1, "choice": "opening"}

    class Probe:
        """Records the first branch choice's prompt and opening scores, then stops."""

        name = "local"

        def __init__(self) -> None:
            self.seen: dict = {}

        def score(self, messages, conts):
            self.seen.update(messages=messages, conts=conts, raw=llm.score(messages, conts))
            raise _Stop

        def chat(self, *a, **k):  # never reached: the first choice stops the run
            raise _Stop

    probe = Probe()
    rows = []
    for seed in args.seeds:
        tasks = select_tasks(
            make_tasks(store, folder=folder / f"seed-{seed}", seed=seed, counts=None), args.tasks
        )
        for task in tasks:
            ws = Workspace(folder / "runs" / f"{seed}-{task.id}")
            if task.data:
                ws.put(vc.data.read_h5ad(task.data), name="data")
            target = parse_action(plan_step(TASK_FAMILIES.get(task.family).plan, task, ws, [])).tool
            probe.seen = seen = {}
            agent = Agent(probe, kb=store, workspace=ws, **{**opts, "seed": seed})
            t1 = time.perf_counter()
            try:
                agent.run(task.question)
            except _Stop:
                pass
            if "conts" not in seen:
                print(f"{task.id}: no choice (one branch)", file=sys.stderr)
                continue
            conts = seen["conts"]
            tools = [
                c.split('"tool":"')[1].split('"')[0] if '"tool"' in c else "ANSWER" for c in conts
            ]
            msgs = seen["messages"]
            empty = [
                {**m, "content": m["content"].replace(task.question, "")}
                if m["role"] == "user"
                else m
                for m in msgs
            ]
            prior = llm.score(empty, conts)
            lens = [len(tok(c, add_special_tokens=False)["input_ids"]) for c in conts]
            names = [n for n in tools if n != "ANSWER"]
            cards = {n: tool_card(n, agent.toolbox.tools[n].description) for n in names}
            scored = channel_scores(llm, task.question, cards)  # the loop's channel rule
            from virtualcell.knowledge import embed

            docs = [f"{n.replace('_', ' ')} {n.replace('_', ' ')} {cards[n]}" for n in names]
            q = embed([task.question], description="question")[0]
            dv = embed(docs, description="tools")
            sims = {n: float(v @ q) for n, v in zip(names, dv, strict=True)}
            nan = float("nan")
            channel = [scored[n]["channel"] if n in scored else nan for n in tools]
            rows.append(
                {
                    "seed": seed,
                    "task": task.id,
                    "family": task.family,
                    "target": target,
                    "tools": tools,
                    "raw": seen["raw"],
                    "prior": prior,
                    "lens": lens,
                    "channel": channel,
                    "embed": [sims.get(n, float("nan")) for n in tools],
                    "bm25": [scored[n]["bm25"] if n in scored else nan for n in tools],
                    "seconds": round(time.perf_counter() - t1, 2),
                }
            )
            print(
                f"{task.id}: target {target}; shown {tools}; {rows[-1]['seconds']} s",
                file=sys.stderr,
            )
            write_json(Path(args.out), rows)
    print(json.dumps(table(rows, np), indent=1))
    return 0


def _z(xs, np):
    a = np.array([x if x is not None and not math.isnan(x) else np.nan for x in xs], float)
    ok = ~np.isnan(a)
    if ok.sum() < 2 or np.nanstd(a) == 0:
        return np.where(ok, 0.0, np.nan)
    return (a - np.nanmean(a)) / np.nanstd(a)


def rules(r, np):
    """Score vectors of each rule (tool branches only: the first turn has no result, so
    the answer branch offers only "I could not find the answer")."""
    raw = np.array(r["raw"], float)
    out = {
        "raw": raw,
        "norm": raw / np.array(r["lens"], float),
        "pmi": raw - np.array(r["prior"], float),
        "channel": np.array(r["channel"], float),
        "embed": np.array(r["embed"], float),
        "bm25": np.array(r["bm25"], float),
    }
    z = {k: _z(v, np) for k, v in out.items()}
    out["channel+bm25"] = z["channel"] + z["bm25"]  # the loop's "channel" rule
    out["channel+embed"] = z["channel"] + z["embed"]
    out["pmi+embed"] = z["pmi"] + z["embed"]
    out["raw+embed"] = z["raw"] + z["embed"]
    out["channel+pmi"] = z["channel"] + z["pmi"]
    out["channel+pmi+embed"] = z["channel"] + z["pmi"] + z["embed"]
    return out


def table(rows, np):
    res: dict = {}
    for r in rows:
        tools = r["tools"]
        for name, s in rules(r, np).items():
            s = np.where(np.array([t == "ANSWER" for t in tools]), np.nan, s)
            pick = tools[int(np.nanargmax(s))] if not np.all(np.isnan(s)) else None
            d = res.setdefault(name, {"hit": 0, "n": 0, "by_family": {}})
            d["n"] += 1
            d["hit"] += int(pick == r["target"])
            f = d["by_family"].setdefault(r["family"], [0, 0])
            f[0] += int(pick == r["target"])
            f[1] += 1
    reachable = sum(r["target"] in r["tools"] for r in rows)
    return {"tasks": len(rows), "target_shown": reachable, "rules": res}


if __name__ == "__main__":
    raise SystemExit(main())
