"""Naming a gene set: can the local model pick, among the top-k terms GO enrichment
returns, the one the checker accepts — better than the enrichment's own order, and
better than the same model with random weights?

For every naming task (``naming_go``, ``naming_hallmark``) of the given seeds (use DESIGN
seeds only) the reference plan's call is made (``enrich`` of the question's genes, the
default GO library), the first ``k`` terms are the candidates, and each is judged by the
task's checker. Each candidate is scored by :func:`virtualcell.agent._pmi.pmi_scores`
(log p(term | question) - log p(term | question with its genes masked)) with the trained
model and with the same architecture with random weights. Rules (per task, the chosen
term passes or not), for k = 3, 5, 10:

* ``rank``: the first term (the benchmark's answer: ``answer_choice="rank"``);
* ``oracle``: any of the k passes (the bound of any rule over these candidates);
* ``pmi``: the largest PMI;
* ``pmi+rank``: z(PMI) + z(-rank) (what ``answer_choice="pmi+rank"`` computes);
* ``pmi+zipf``: PMI (nats) + log(1 / (rank + 1)): the enrichment order as a prior, the
  model's PMI as a likelihood ratio.

Usage (heavy: two local models; 1 torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/agent_naming_pmi.py --seeds 100 101 102 103 104 \\
        --out results/agent_naming_pmi.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict


def _z(xs):
    n = len(xs)
    m = sum(xs) / n
    sd = (sum((x - m) ** 2 for x in xs) / n) ** 0.5
    return [0.0] * n if sd == 0 else [(x - m) / sd for x in xs]


def pick(pmi: list[float], rule: str) -> int:
    n = len(pmi)
    if rule == "rank" or n == 1:
        return 0
    if rule == "pmi":
        tot = list(pmi)
    elif rule == "pmi+rank":
        tot = [a + b for a, b in zip(_z(pmi), _z([-float(i) for i in range(n)]), strict=True)]
    elif rule == "pmi+zipf":
        tot = [p - math.log(i + 1) for i, p in enumerate(pmi)]
    else:
        raise ValueError(rule)
    return max(range(n), key=lambda i: (tot[i], -i))


RULES = ("rank", "pmi", "pmi+rank", "pmi+zipf")
KS = (3, 5, 10)


def analyse(rows):
    out: dict = defaultdict(lambda: defaultdict(int))
    for r in rows:
        for fam in (r["family"], "all"):
            for k in KS:
                f = out[f"{fam} k={k}"]
                passes = r["passes"][:k]
                if not passes:
                    continue
                f["tasks"] += 1
                f["oracle"] += int(any(passes))
                for m in ("trained", "random"):
                    pmi = r[m]["pmi"][:k]
                    for rule in RULES:
                        f[f"{rule}_{m}"] += int(passes[pick(pmi, rule)])
    return {k: dict(v) for k, v in sorted(out.items())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[100])
    ap.add_argument("--kb", default=None)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--k", type=int, default=max(KS))
    ap.add_argument("--out", default="results/agent_naming_pmi.json")
    ap.add_argument("--analyse", default=None, help="only summarise a saved --out file")
    args = ap.parse_args(argv)
    if args.analyse:
        print(json.dumps(analyse(json.loads(open(args.analyse).read())), indent=1))
        return 0

    import tempfile
    from pathlib import Path

    from virtualcell._utils import write_json
    from virtualcell.agent import Toolbox, Workspace, make_backend, open_kb
    from virtualcell.agent._pmi import pmi_scores
    from virtualcell.agent._tasks import check, make_tasks

    store = open_kb(args.kb)
    trained = make_backend("local", model=args.model)
    rand = make_backend("local", model=args.model, random_weights=True)
    trained.load()
    rand.load()
    folder = Path(tempfile.mkdtemp(prefix="naming-pmi-"))
    tb = Toolbox(Workspace(folder / "ws"), kb=store)
    rows = []
    for seed in args.seeds:
        tasks = make_tasks(store, folder=folder / f"seed-{seed}", seed=seed, counts=None)
        for task in tasks:
            if task.family not in ("naming_go", "naming_hallmark"):
                continue
            t0 = time.perf_counter()
            genes = [g.strip() for g in task.question.split(":", 1)[1].rstrip("?").split(",")]
            res = tb.call("enrich", {"genes": genes})
            if not res.ok or res.result is None:
                print(f"{task.id}: enrich failed: {res.error}", file=sys.stderr)
                continue
            df = res.result.value
            cands = [str(v) for v in df.iloc[: args.k, 0]]
            if not cands:
                continue
            rec = {"seed": seed, "task": task.id, "family": task.family, "values": cands,
                   "passes": [bool(check(task, v)) for v in cands]}  # fmt: skip
            for name, be in (("trained", trained), ("random", rand)):
                s = pmi_scores(be, task.question, cands, genes)
                rec[name] = {k: [round(x, 3) for x in v] for k, v in s.items()}
            rows.append(rec)
            print(f"{seed} {task.id}: passes={''.join('1' if p else '0' for p in rec['passes'])} "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
            write_json(Path(args.out), rows)
    print(json.dumps(analyse(rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
