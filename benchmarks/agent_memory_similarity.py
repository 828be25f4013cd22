"""Does the memory's question similarity separate instances of one question template from
questions of other templates? (issue 24, memory; docs/agent.md "Memory of verified runs")

Two sources of labelled questions (the label is the task family: one template per family):

* the benchmark's own task instances of seeds the report does not use (``--seeds``,
  default 100, 101, 102; generated with ``vc.agent.make_tasks`` on the built store), and
* stored verified runs (``--memory FILE``: a bench folder's ``memory.json``), labelled by
  the family of the same question in the ``tasks.json`` files beside them.

For every pair of questions it computes the old similarity (Jaccard of the raw word sets)
and the new one (the same with entities masked, ``_memory.question_similarity``), and with
``--embedder`` the cosine similarity of the bundled sentence embedder on the masked text;
it prints, per measure, the distribution over same-template and other-template pairs and
how many pairs fall on the wrong side of the prior's floor (0.5).

Run: ``PYTHONPATH=src python benchmarks/agent_memory_similarity.py [--memory F ...]
[--embedder] [--json]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from virtualcell.agent._memory import MIN_SIMILARITY, mask_entities, question_similarity

_WORD = re.compile(r"[a-z][a-z0-9_\-]+")


def raw_similarity(a: str, b: str) -> float:
    """The memory's similarity before masking (word-set Jaccard of the raw questions)."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / len(wa | wb) if wa | wb else 0.0


def generated(seeds: list[int]) -> list[tuple[str, str]]:
    import virtualcell as vc
    from virtualcell.agent._tasks import make_tasks

    store = vc.agent.open_kb(None)
    if store is None:
        sys.exit("no knowledge store: build one with `vcell kb build`")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in seeds:
            tasks = make_tasks(store, folder=Path(tmp) / str(s), seed=s)
            out += [(t.family, t.question) for t in tasks]
    return out


def stored(path: Path) -> list[tuple[str, str]]:
    family = {}
    for f in path.parent.rglob("tasks.json"):
        for t in json.loads(f.read_text()):
            family[t["question"].strip()] = t["family"]
    runs = json.loads(path.read_text())["runs"]
    return [(family.get(r["question"].strip(), "?"), r["question"]) for r in runs]


def summary(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    if not len(v):
        return {"n": 0}
    q = np.quantile(v, [0.0, 0.1, 0.5, 0.9, 1.0])
    return {"n": len(v), "min": q[0], "p10": q[1], "median": q[2], "p90": q[3], "max": q[4],
            "at_least_floor": float((v >= MIN_SIMILARITY).mean())}  # fmt: skip


def measure(questions: list[tuple[str, str]], embedder: bool) -> dict[str, dict]:
    questions = [(f, q) for f, q in dict.fromkeys(questions) if f != "?"]
    measures = {"raw": raw_similarity, "masked": question_similarity}
    if embedder:
        from virtualcell.knowledge import embed

        vecs = embed([mask_entities(q) for _, q in questions])
        vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        index = {q: i for i, (_, q) in enumerate(questions)}
        measures["embedder_masked"] = lambda a, b: float(vecs[index[a]] @ vecs[index[b]])
    out = {}
    for name, fn in measures.items():
        same, other = [], []
        per_family: dict[str, list[float]] = {}
        for (fa, qa), (fb, qb) in itertools.combinations(questions, 2):
            s = fn(qa, qb)
            (same if fa == fb else other).append(s)
            if fa == fb:
                per_family.setdefault(fa, []).append(s)
        out[name] = {
            "same_template": summary(same),
            "other_template": summary(other),
            "same_min_by_family": {f: round(min(v), 3) for f, v in sorted(per_family.items())},
            "other_max": round(max(other), 3) if other else None,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[100, 101, 102])
    ap.add_argument("--memory", type=Path, nargs="*", default=[])
    ap.add_argument("--embedder", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    report = {}
    if a.seeds:
        report[f"tasks of seeds {a.seeds}"] = measure(generated(a.seeds), a.embedder)
    if a.memory:
        runs = [x for p in a.memory for x in stored(p)]
        report[f"stored runs of {len(a.memory)} memories"] = measure(runs, a.embedder)
    if a.json:
        print(json.dumps(report, indent=1, default=float))
        return
    for src, by in report.items():
        print(f"## {src}")
        for name, r in by.items():
            for side in ("same_template", "other_template"):
                s = r[side]
                if not s["n"]:
                    continue
                print(f"{name:16s} {side:15s} n={s['n']:5d} min={s['min']:.2f} p10={s['p10']:.2f} "
                      f"median={s['median']:.2f} p90={s['p90']:.2f} max={s['max']:.2f} "
                      f">=floor {s['at_least_floor']:.0%}")  # fmt: skip
            print(f"{name:16s} lowest same-template by family: {r['same_min_by_family']}")


if __name__ == "__main__":
    main()
