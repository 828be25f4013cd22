"""Where does the local model's score decide? Choice points of the agent, counterfactuals.

For each task of the agent benchmark (seeds given; use DESIGN seeds only, never the
report seeds) the local agent runs as in the benchmark three times on the same instance:

* ``trained``: the trained model (SmolLM2-135M by default);
* ``random``: the same architecture with random weights (``random_weights=True``);
* ``rules``: the model's term removed from every *scored* choice (its ``score`` returns
  0 for every continuation: the channel rule becomes BM25 alone, the opening rule the
  first branch, the model answer rules the result's order); the arguments are still
  decoded by the trained model (constrained decoding has no score-free form).

In the trained run every choice point is logged with what it would have been:

* **branch** (which call, or the answer, by :func:`~virtualcell.agent._choose.choose_branch`
  among the branches the guide keeps, > 1): the decision without the model's term (BM25
  z-score + memory for the channel rule; the first branch for the opening rule) and with
  the random-weights model's scores in its place;
* **argument** (a required argument with > 1 allowed value, decoded by the model): the
  value the random-weights model decodes on the same prompt and schema, and the first
  allowed value (no model);
* **answer value** (a result's answer values, > 1, at the answer turn): whether each
  candidate passes the task's checker (an oracle bound: the best any rule could do),
  and the choice of the rules ``rank`` (the default), ``pmi`` and ``pmi+rank``
  (:mod:`virtualcell.agent._pmi`) with the trained and the random-weights model.

Prints per family: choice points of each kind, how many the model's term flips (vs rules
alone, vs random weights), success of trained / random / rules, and the answer rules'
success on the answer choice points.

Usage (heavy: two local models; 1 torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/agent_model_influence.py --seeds 100 101 102 103 104 \\
        --tasks 20 --out results/agent_model_influence.json
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict

from _agent_args import agent_parser, data_preloader  # benchmarks/ is sys.path[0]


def _z(xs):
    n = len(xs)
    m = sum(xs) / n
    sd = (sum((x - m) ** 2 for x in xs) / n) ** 0.5
    return [0.0] * n if sd == 0 else [(x - m) / sd for x in xs]


def _pick(parts: dict[str, list[float]], rule: str) -> int:
    """Index chosen by an answer rule over one group's score parts (the agent's rule)."""
    from virtualcell.agent._guide import pick_by_rule

    return pick_by_rule(parts, rule)


ANSWER_RULES = ("rank", "pmi", "pmi+rank")


def main(argv: list[str] | None = None) -> int:
    ap = agent_parser(__doc__, "results/agent_model_influence.json")
    ap.add_argument("--analyse", default=None, help="only summarise a saved --out file")
    args = ap.parse_args(argv)
    if args.analyse:
        rows = json.loads(open(args.analyse).read())
        print(json.dumps({"choice_points": summary(rows),
                          "answer_rules_all": answer_table(rows),
                          "answer_rules_go_terms": answer_table(rows, "process")},
                         indent=1))  # fmt: skip
        return 0

    import tempfile
    from pathlib import Path

    import virtualcell.agent._guide as guide_mod
    from virtualcell._utils import write_json
    from virtualcell.agent import make_backend, open_kb
    from virtualcell.agent._bench_rows import agent_row, default_agent_options, select_tasks
    from virtualcell.agent._choose import branch_openings, channel_scores, tool_card
    from virtualcell.agent._parse import parse_action
    from virtualcell.agent._pmi import pmi_scores, question_genes
    from virtualcell.agent._tasks import check, make_tasks

    store = open_kb(args.kb)
    trained = make_backend("local", model=args.model)
    rand = make_backend("local", model=args.model, random_weights=True)
    t0 = time.perf_counter()
    trained.load()
    rand.load()
    print(f"models loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    class Rules:
        """The trained model's decoding, every score 0 (the model's term removed)."""

        name = "local"

        def __init__(self, inner):
            self.inner = inner

        def chat(self, messages, **kw):
            return self.inner.chat(messages, **kw)

        def score(self, messages, continuations):
            return [0.0] * len(continuations)

    rules = Rules(trained)
    ctx: dict = {"system": None, "task": None, "points": []}

    real_branch = guide_mod.choose_branch

    def spy_branch(backend, messages, schema, **kw):
        out_schema, scored = real_branch(backend, messages, schema, **kw)
        if ctx["system"] != "trained" or scored is None:
            return out_schema, scored
        branches = schema["anyOf"]
        conts = branch_openings(branches)
        chosen = conts[branches.index(out_schema)] if out_schema in branches else None
        if scored.get("rule") == "channel":
            tools = [b["properties"]["tool"]["const"] for b in branches]
            parts = [scored[c] for c in conts]
            mem = [p.get("memory", 0.0) for p in parts]
            bm = _z([p["bm25"] for p in parts])
            no_model = conts[max(range(len(conts)), key=lambda i: bm[i] + mem[i])]
            cards = {
                t: tool_card(t, kw["descriptions"].get(t, ""), kw["parameters"].get(t))
                for t in tools
            }
            rs = channel_scores(rand, kw["question"], cards)
            rnd = conts[max(range(len(conts)), key=lambda i: rs[tools[i]]["score"] + mem[i])]
            rule = "channel"
        else:
            no_model = conts[0]
            lp = rand.score(messages, conts)
            rnd = conts[max(range(len(conts)), key=lambda i: lp[i])]
            rule = "opening"
        ctx["points"].append({"kind": "branch", "rule": rule, "options": conts,
                              "chosen": chosen, "no_model": no_model, "random": rnd})  # fmt: skip
        return out_schema, scored

    guide_mod.choose_branch = spy_branch

    real_answer = guide_mod.choose_answer

    def spy_answer(backend, messages, groups, **kw):
        out = real_answer(backend, messages, groups, **kw)
        if ctx["system"] != "trained" or ctx.get("in_chain"):
            return out
        task = ctx["task"]
        fill = ctx.get("fill")
        firsts = [next(iter(g)) for g in groups]
        for j, g in enumerate(groups):
            g = list(g)
            if len(g) < 2:
                continue
            # the answer with this group's candidate, the other groups' first values
            texts = [", ".join([*firsts[:j], v, *firsts[j + 1 :]]) for v in g]
            rec = {"kind": "answer", "values": g,
                   "passes": [bool(check(task, t)) for t in texts]}  # fmt: skip
            for name, be in (("trained", trained), ("random", rand)):
                pm = pmi_scores(be, task.question, g, question_genes(fill))
                parts = {"rank": [-float(i) for i in range(len(g))], "pmi": pm["pmi"]}
                rec[name] = {r: _pick(parts, r) for r in ANSWER_RULES}
                rec[name + "_scores"] = {k: [round(x, 3) for x in v] for k, v in pm.items()}
            ctx["points"].append(rec)
        return out

    guide_mod.choose_answer = spy_answer

    real_reply = guide_mod.choose_reply
    real_chain = guide_mod.chain_arguments
    import virtualcell.agent._loop as loop_mod

    def spy_reply(backend, messages, schema, **kw):
        ctx["fill"] = kw.get("fill")
        return real_reply(backend, messages, schema, **kw)

    def spy_chain(*a, **kw):
        ctx["in_chain"] = True
        try:
            return real_chain(*a, **kw)
        finally:
            ctx["in_chain"] = False

    loop_mod.choose_reply = spy_reply
    guide_mod.chain_arguments = spy_chain

    class Logged:
        """The trained backend, logging its argument choice points."""

        name = "local"

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, k):
            return getattr(self.inner, k)

        def chat(self, messages, **kw):
            reply = self.inner.chat(messages, **kw)
            schema = kw.get("schema")
            props = (((schema or {}).get("properties") or {}).get("args") or {}).get("properties")
            if ctx["system"] == "trained" and props:
                multi = {k: p["enum"] for k, p in props.items()
                         if isinstance(p, dict) and len(p.get("enum", [])) > 1}  # fmt: skip
                if multi:
                    got = parse_action(reply.text)
                    other = parse_action(rand.chat(messages, **kw).text)
                    for k, enum in multi.items():
                        mine = (got.arguments or {}).get(k)
                        theirs = (other.arguments or {}).get(k)
                        ctx["points"].append({"kind": "argument", "name": k, "n": len(enum),
                                              "chosen": mine, "random": theirs,
                                              "no_model": enum[0]})  # fmt: skip
            return reply

        def score(self, messages, continuations):
            return self.inner.score(messages, continuations)

    folder = Path(args.folder or tempfile.mkdtemp(prefix="model-influence-"))
    preload = data_preloader()

    systems = {"trained": Logged(trained), "random": rand, "rules": rules}
    rows = []
    for seed in args.seeds:
        opts = {**default_agent_options("local", None), "seed": seed, "max_steps": 6}
        tasks = select_tasks(
            make_tasks(store, folder=folder / f"seed-{seed}", seed=seed, counts=None), args.tasks
        )
        for task in tasks:
            rec = {"seed": seed, "task": task.id, "family": task.family}
            for name, be in systems.items():
                ctx.update(system=name, task=task, points=[], in_chain=False)
                t1 = time.perf_counter()
                row = agent_row(task, be, store, folder / name / str(seed), preload, opts)
                rec[name] = {"success": row["success"], "tools": row["tools"],
                             "answer": row["answer"],
                             "seconds": round(time.perf_counter() - t1, 2)}  # fmt: skip
                if name == "trained":
                    rec["points"] = ctx["points"]
            rows.append(rec)
            print(f"{seed} {task.id}: " + " ".join(
                f"{n}={'ok' if rec[n]['success'] else '-'}" for n in systems)
                + f" points={len(rec['points'])}", file=sys.stderr)  # fmt: skip
            write_json(Path(args.out), rows)
    summ = summary(rows)
    write_json(Path(args.out), rows)
    print(json.dumps(summ, indent=1))
    return 0


def _rule_pick(scores: dict[str, list[float]], rule: str) -> int:
    """An answer rule's choice from stored PMI scores (offline): ``rank``, ``pmi``,
    ``pmi+rank`` (z-scored sum) or ``pmi+zipf`` (PMI in nats plus the log of a rank prior
    1/(i+1), a Bayes posterior with the tool's order as the prior)."""
    import math

    n = len(scores["pmi"])
    parts = {"rank": [-float(i) for i in range(n)], "pmi": scores["pmi"]}
    if rule == "pmi+zipf":
        tot = [p - math.log(i + 1) for i, p in enumerate(scores["pmi"])]
        return max(range(n), key=lambda i: (tot[i], -i))
    return _pick(parts, rule)


OFFLINE_RULES = ("rank", "pmi", "pmi+rank", "pmi+zipf")


def answer_table(rows, kinds=None):
    """Answer choice points by family: the oracle and each offline rule (trained and
    random-weights model); ``kinds``: only points whose values look like GO terms
    (``"process"``) or all (``None``)."""
    import re

    out: dict = defaultdict(lambda: defaultdict(int))
    for r in rows:
        for p in r["points"]:
            if p["kind"] != "answer":
                continue
            is_process = all(re.search(r"GO:\d{7}", v) for v in p["values"])
            if kinds == "process" and not is_process:
                continue
            for key in (r["family"], "all"):
                f = out[key]
                f["points"] += 1
                f["oracle"] += int(any(p["passes"]))
                for m in ("trained", "random"):
                    for rule in OFFLINE_RULES:
                        i = _rule_pick(p[m + "_scores"], rule)
                        f[f"{rule}_{m}"] += int(p["passes"][i])
    return {k: dict(v) for k, v in out.items()}


def summary(rows):
    fams: dict = defaultdict(lambda: defaultdict(int))
    for r in rows:
        for key in (r["family"], "all"):
            f = fams[key]
            f["tasks"] += 1
            for s in ("trained", "random", "rules"):
                f[f"success_{s}"] += int(r[s]["success"])
            for p in r["points"]:
                k = p["kind"]
                f[f"{k}_points"] += 1
                if k in ("branch", "argument"):
                    f[f"{k}_flip_no_model"] += int(p["chosen"] != p["no_model"])
                    f[f"{k}_flip_random"] += int(p["chosen"] != p["random"])
                else:
                    f["answer_oracle"] += int(any(p["passes"]))
                    for m in ("trained", "random"):
                        for rule in ANSWER_RULES:
                            f[f"answer_{rule}_{m}"] += int(p["passes"][p[m][rule]])
    return {k: dict(v) for k, v in fams.items()}


if __name__ == "__main__":
    sys.exit(main())
