"""After a tool result: which rules choose the answer value, the decision to chain, and
the first tool (tool cards) as the reference plan does?

For each task of the agent benchmark (seeds given; use seeds you do NOT report) the local
agent runs as in the benchmark with ``--guide`` on or off and ``answer_choice="model"``;
every filled reply's prompt and schema are recorded (a wrapper around
``choose_reply``), and then, on the evaluation side only:

* **answer value**: at the answer turn, each candidate value of each group is scored by
  the model (log p), contrastively (log p minus the same with observations hidden) and by
  the result's order; each rule's answer is judged by the benchmark's checker;
* **chain or answer**: at every turn after a result where the (unguided) schema offers
  both a call and the answer, the opening rule's decision (log p of the branch
  openings: the loop's rule before) and the asked-kinds rule's decision
  (``guide_branches``) are compared with the reference plan's (another call iff it makes
  more calls than the results so far);
* **first tool**: the channel rule (z(log p(question | card)) + z(BM25)) over the offered
  tools with the old cards (name + first sentence) and the new ones (column lists
  dropped, required arguments described), with and without the asked-kinds filter,
  against the reference plan's first tool.

Usage (heavy: one local model; 1 torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/agent_after_call.py --seeds 100 101 --tasks 20 \\
        --out results/agent_after_call.json
"""

from __future__ import annotations

import json
import sys
import time

from _agent_args import agent_parser, data_preloader  # benchmarks/ is sys.path[0]


def main(argv: list[str] | None = None) -> int:
    ap = agent_parser(__doc__, "results/agent_after_call.json")
    ap.add_argument("--no-guide", action="store_true")
    args = ap.parse_args(argv)

    import tempfile
    from pathlib import Path

    import virtualcell as vc
    import virtualcell.agent._loop as loop_mod
    from virtualcell._utils import write_json
    from virtualcell.agent import make_backend, open_kb
    from virtualcell.agent._bench_rows import agent_row, default_agent_options, select_tasks
    from virtualcell.agent._choose import branch_openings, channel_scores, tool_card
    from virtualcell.agent._guide import _tool_of, choose_answer, guide_branches
    from virtualcell.agent._tasks import check, make_tasks

    store = open_kb(args.kb)
    llm = make_backend("local", model=args.model)
    t0 = time.perf_counter()
    llm.load()
    print(f"model load {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="after-call-"))
    opts = {
        **default_agent_options("local", None),
        "guide": not args.no_guide,
        "answer_choice": "model",
    }
    seen: list[dict] = []
    real = loop_mod.choose_reply

    def spy(backend, messages, schema, **kw):
        seen.append({"messages": messages, "schema": schema, "results": list(kw["results"]),
                     "fill": kw["fill"]})  # fmt: skip
        return real(backend, messages, schema, **kw)

    loop_mod.choose_reply = spy
    rows = []
    tools_all = vc.agent.Toolbox(None).tools
    kinds = {n: t.spec.answer_kind for n, t in tools_all.items()}
    preload = data_preloader()

    for seed in args.seeds:
        tasks = select_tasks(
            make_tasks(store, folder=folder / f"seed-{seed}", seed=seed, counts=None), args.tasks
        )
        for task in tasks:
            t1 = time.perf_counter()
            ref_root = folder / "ref" / str(seed)
            ref = agent_row(task, None, store, ref_root, preload, {"seed": seed})
            seen.clear()
            row = agent_row(task, llm, store, folder / "runs" / str(seed), preload,
                            {**opts, "seed": seed})  # fmt: skip
            runs_ws = folder / "runs" / str(seed) / task.id
            log = [
                json.loads(x)
                for x in (runs_ws / "provenance.jsonl").read_text().splitlines()
                if x.strip()
            ]
            calls = [e["tool"] for e in log if e.get("event") == "call" and e.get("ok")]
            rec = {"seed": seed, "task": task.id, "family": task.family, "success": row["success"],
                   "ref_success": ref["success"], "ref_first": None, "calls": calls,
                   "answer": row["answer"], "decisions": [], "answer_rules": {}}  # fmt: skip
            # the reference plan's first tool: its first call
            ref_log = [
                json.loads(x)
                for x in (ref_root / task.id / "provenance.jsonl").read_text().splitlines()
                if x.strip()
            ]
            ref_calls = [e["tool"] for e in ref_log if e.get("event") == "call" and e.get("ok")]
            rec["ref_first"] = ref_calls[0] if ref_calls else None
            rec["ref_calls"] = ref_calls
            for s in seen:
                br = s["schema"].get("anyOf", [s["schema"]])
                names = [_tool_of(b) for b in br]
                if not s["results"]:
                    offered = [n for n in names if n]
                    if len(offered) > 1 and "first" not in rec:
                        old = {n: tool_card(n, tools_all[n].description) for n in offered}
                        new = {n: tool_card(n, tools_all[n].description, tools_all[n].schema)
                               for n in offered}  # fmt: skip
                        so = channel_scores(llm, task.question, old)
                        sn = channel_scores(llm, task.question, new)
                        kept, _ = guide_branches(br, task.question, [], kinds)
                        kept_names = {_tool_of(b) for b in kept}
                        rec["first"] = {
                            "offered": offered,
                            "old": so,
                            "new": sn,
                            "kept": sorted(n for n in kept_names if n),
                        }
                    continue
                if any(names) and None in names:
                    conts = branch_openings(br)
                    lp = llm.score(s["messages"], conts)
                    best = max(range(len(br)), key=lambda i: lp[i])
                    kept, why = guide_branches(br, task.question, s["results"], kinds)
                    rec["decisions"].append(
                        {
                            "n_results": len(s["results"]),
                            "reference": "call" if len(ref_calls) > len(s["results"]) else "answer",
                            "opening": "call" if names[best] else "answer",
                            "kinds": "answer" if all(_tool_of(b) is None for b in kept) else "call",
                            "opening_scores": dict(
                                zip(conts, [round(x, 3) for x in lp], strict=True)
                            ),
                            "why": why,
                        }
                    )
            last = seen[-1] if seen else None
            if last is not None and last["fill"] is not None and last["fill"].answer_groups:
                from virtualcell.agent._guide import answer_candidates

                groups = answer_candidates(last["fill"].answer_groups, last["fill"].group_tools,
                                           task.question, kinds)  # fmt: skip
                _, scored = choose_answer(llm, last["messages"], groups, rule="model",
                                          also=("contrastive",))  # fmt: skip
                rec["answer_scores"] = scored
                for rule in ("model", "contrastive", "rank", "model+rank", "contrastive+rank",
                             "first_group_rank"):  # fmt: skip
                    if rule == "first_group_rank":
                        vals = [g[0] for g in last["fill"].answer_groups]
                    else:
                        vals = []
                        for gscores in scored["groups"]:
                            vs = list(gscores)
                            parts = {k: [gscores[v].get(k, 0.0) for v in vs]
                                     for k in ("rank", "model", "contrastive")}  # fmt: skip
                            if rule == "rank" or len(vs) == 1:
                                tot = parts["rank"]
                            elif "+" in rule:
                                a, b = rule.split("+")
                                tot = [
                                    x + y for x, y in zip(_z(parts[a]), _z(parts[b]), strict=True)
                                ]
                            else:
                                tot = parts[rule]
                            vals.append(vs[max(range(len(vs)), key=lambda i: (tot[i], -i))])
                    rec["answer_rules"][rule] = {
                        "answer": vals,
                        "ok": bool(check(task, ", ".join(vals))),
                    }
            rec["seconds"] = round(time.perf_counter() - t1, 1)
            rows.append(rec)
            print(f"{task.id}: ok={row['success']} calls={calls} ref={ref_calls} "
                  f"rules={ {k: v['ok'] for k, v in rec['answer_rules'].items()} } "
                  f"{rec['seconds']} s", file=sys.stderr)  # fmt: skip
            write_json(Path(args.out), rows)
    print(json.dumps(summary(rows), indent=1))
    return 0


def _z(xs):
    n = len(xs)
    m = sum(xs) / n
    sd = (sum((x - m) ** 2 for x in xs) / n) ** 0.5
    return [0.0] * n if sd == 0 else [(x - m) / sd for x in xs]


def summary(rows):
    out: dict = {"tasks": len(rows), "success": sum(r["success"] for r in rows),
                 "reference": sum(r["ref_success"] for r in rows)}  # fmt: skip
    rules: dict = {}
    for r in rows:
        for k, v in r["answer_rules"].items():
            d = rules.setdefault(k, [0, 0])
            d[0] += v["ok"]
            d[1] += 1
    out["answer_rules"] = rules
    dec = {"opening": [0, 0], "kinds": [0, 0]}
    for r in rows:
        for d in r["decisions"]:
            for k in dec:
                dec[k][0] += d[k] == d["reference"]
                dec[k][1] += 1
    out["decisions"] = dec
    first: dict = {}
    for r in rows:
        f = r.get("first")
        if not f or r["ref_first"] not in f["offered"]:
            continue
        for name in ("old", "new"):
            sc = f[name]
            pick = max(sc, key=lambda n: sc[n]["score"])
            kept = [n for n in sc if n in f["kept"]] or list(sc)
            pick_k = max(kept, key=lambda n: sc[n]["score"])
            for label, p in ((name, pick), (name + "+kinds", pick_k)):
                d = first.setdefault(label, [0, 0])
                d[0] += p == r["ref_first"]
                d[1] += 1
    out["first_tool"] = first
    return out


if __name__ == "__main__":
    sys.exit(main())
