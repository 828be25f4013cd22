"""Does describing ``enrich``'s ``genes`` argument in its tool card send gene-list
questions to ``enrich`` (the reference plan's first tool) rather than ``go_annotations``?

Before issue 24's fifth pass the card of ``enrich`` left out its one required argument
(``genes`` takes a list of symbols *or* a handle, and every argument that could be a
handle was left out as "the data"); the channel rule then chose between
``enrich: Gene-set enrichment of a gene list (ORA) or ...`` and
``go annotations: GO annotations of a gene (gene: Gene symbol or alias)`` for "What
biological process or pathway do these genes share: <20 genes>?". For the naming tasks
of the seeds given (use seeds you do NOT report) this scores both tools with the channel
rule (z(log p(question | card)) + z(BM25), as the agent does at its first call, where the
offered tools are these two) with the old and the new ``enrich`` card, and counts how
often ``enrich`` wins. The reference (``enrich``) is read on the evaluation side only.

Usage (one local model; 1 torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/agent_enrich_card.py --seeds 100 101 102 103 104 \\
        --out results/agent_enrich_card.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from _agent_args import agent_parser  # benchmarks/ is sys.path[0]


def main(argv: list[str] | None = None) -> int:
    ap = agent_parser(__doc__, "results/agent_enrich_card.json", model=False, folder=False)
    args = ap.parse_args(argv)

    from virtualcell._utils import write_json
    from virtualcell.agent import Toolbox, make_backend, open_kb
    from virtualcell.agent._bench_rows import select_tasks
    from virtualcell.agent._choose import channel_scores, tool_card
    from virtualcell.agent._tasks import make_tasks

    store = open_kb(args.kb)
    llm = make_backend("local")
    tools = Toolbox(None).tools
    en, go = tools["enrich"], tools["go_annotations"]
    go_card = tool_card("go_annotations", go.description, go.schema)
    cards = {
        "old": tool_card("enrich", en.description),  # no argument described
        "new": tool_card("enrich", en.description, en.schema),
    }
    folder = Path(tempfile.mkdtemp(prefix="enrich-card-"))
    rows = []
    for seed in args.seeds:
        tasks = make_tasks(store, folder=folder / f"seed-{seed}", seed=seed, counts=None)
        for task in select_tasks(tasks, args.tasks):
            if not task.family.startswith("naming"):
                continue
            row = {"seed": seed, "task": task.id}
            for name, card in cards.items():
                s = channel_scores(llm, task.question, {"enrich": card, "go_annotations": go_card})
                row[name] = max(s, key=lambda t: s[t]["score"])
                row[f"{name}_scores"] = s
            rows.append(row)
            print(f"{task.id}: old {row['old']}, new {row['new']}", file=sys.stderr)
    out = {
        "seeds": args.seeds,
        "cards": {**cards, "go_annotations": go_card},
        "n": len(rows),
        "enrich_old": sum(r["old"] == "enrich" for r in rows),
        "enrich_new": sum(r["new"] == "enrich" for r in rows),
        "rows": rows,
    }
    write_json(args.out, out)
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
