"""Agent benchmark checkers, before and after issue 20: wrong answers that the old checkers
accepted and the new ones reject, per family, on the same generated tasks.

Run from the repository root (needs git: the old checkers are read from commit 5d5e32e)::

    vcell kb build --source <reference data>/knowledge --out kb.sqlite --no-defaults
    python benchmarks/agent_checkers_old_vs_new.py --kb kb.sqlite --seed 0

The tasks are generated twice from the same seed, by the old module (its truth keys) and
by the new one (same task ids); each wrong answer is written from the new truth and judged
by both checkers. Prints a markdown table: per family, one wrong answer the old checker
accepted and the new one rejects (when any exists), how many of the family's wrong
answers each checker accepted, and whether the reference answer passes each checker.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

OLD_COMMIT = "5d5e32e"


def _old_module():
    src = subprocess.run(
        ["git", "show", f"{OLD_COMMIT}:src/virtualcell/agent/_tasks.py"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    import virtualcell.agent as pkg

    path = Path(tempfile.mkdtemp()) / "_tasks_old.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(
        "virtualcell.agent._tasks_old", path, submodule_search_locations=None
    )
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = pkg.__name__
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _foreign_terms(task, tasks, kb):
    ok = set(task.truth["go_ids"])
    ids = [
        i
        for o in tasks
        if o.family in ("qa_process", "naming_go") and o.id != task.id
        for i in o.truth["go_ids"]
        if i not in ok
    ]
    return [(i, kb.go_term(i)["name"]) for i in dict.fromkeys(ids)]


def _far_ancestor(task, kb):
    """An ancestor with >= 4 ancestors that the old rule accepted and the new one does not
    (more than one step above every directly annotated term / two above the sampled one)."""
    from virtualcell.agent._tasks import _MIN_ANCESTORS

    ok = set(task.truth["go_ids"])
    base = [task.truth["term"]] if "term" in task.truth else sorted(ok)
    far = set()
    for b in base:
        far |= kb.ancestors(b)
    for a in sorted(far - ok):
        if len(kb.ancestors(a)) >= _MIN_ANCESTORS:
            return a, kb.go_term(a)["name"]
    return None


def wrong_answers(task, tasks, kb) -> list[str]:
    """Wrong answers of the shape of the task's reference answer (new truth)."""
    t, fam = task.truth, task.family
    if fam in ("qa_process", "naming_go"):
        out = []
        far = _far_ancestor(task, kb)
        if far:
            out.append(f"{far[1]} ({far[0]}).")
        foreign = _foreign_terms(task, tasks, kb)
        if foreign:
            out.append(f"{foreign[0][1]} ({foreign[0][0]}).")
            pad = ", ".join(f"{n} ({i})" for i, n in foreign[:3])
            out.append(f"{pad} and {t['reference']}")
        return out
    if fam == "qa_targets":
        genes = sorted(g for g in task.info["genes"] - set(t["targets"]) - {t["tf"]}
                       if g.isalnum() and g.isupper())  # fmt: skip
        return [
            f"{t['tf']} regulates {genes[0]}.",
            f"{t['tf']} regulates {genes[0]}, {genes[1]}, {genes[2]} and {t['targets'][0]}.",
        ]
    if fam == "naming_hallmark":
        from virtualcell.agent._checks import HALLMARK_KEYWORDS, HALLMARK_SIBLINGS, hallmark_words

        def sib(a, b):
            return any(a in g and b in g for g in HALLMARK_SIBLINGS)

        own = set(hallmark_words(t["set"]))
        others = [s for s in HALLMARK_KEYWORDS if s != t["set"] and not sib(s, t["set"])]
        sharing = [s for s in others if own & set(hallmark_words(s))]
        out = [" ".join(hallmark_words(s)) for s in sharing[:2]]
        out.append(" ".join(hallmark_words(others[0])))
        out.append(f"{' '.join(hallmark_words(others[0]))}, {t['reference']}")
        return out
    if fam == "claims":
        labels = ("supported", "contradicted", "unknown")
        return [f"Verdict: {lab}." for lab in labels if lab != t["label"]] + [
            f"The claim is not {t['label']}."
        ]
    if fam == "data_perturbation":
        wrong = [p for p in t["perturbations"] if p != t["answer"]]
        return [f"{wrong[0]} changes it the most.", ", ".join([t["answer"], *wrong])]
    if fam == "data_celltypes":
        k = t["answer"]
        return [f"{k + 1} cell types.", f"{k} or {k + 1} cell types."]
    if fam == "data_marker":
        wrong = [c for c in t["clusters"] if c != t["answer"]]
        return [f"Cluster {wrong[0]}.", f"Clusters {', '.join([t['answer'], *wrong])}."]
    if fam == "data_edges":
        sup = set(t["supported"])
        rest = [c for c in t["candidates"] if c not in sup]
        out = [", ".join(t["candidates"]) + ".", (", ".join(rest) + ".") if rest else "none"]
        if not sup:
            out += ["I could not tell from the data.", ""]
        return out
    if fam == "multistep":
        wrong_p = next(p for p in t["perturbations"] if p != t["perturbation"])
        proc = t["reference"].split(" are enriched in ")[-1]
        return [
            f"{wrong_p} changes it the most; enriched: {proc}",
            f"{wrong_p} or {t['perturbation']} changes it the most; enriched: {proc}",
        ]
    raise ValueError(fam)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", required=True, help="built knowledge store")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="folder for the generated tasks")
    args = ap.parse_args(argv)

    from virtualcell._utils import markdown_table
    from virtualcell.agent._tasks import DEFAULT_COUNTS, check, make_tasks, reference_answer
    from virtualcell.knowledge import load

    old = _old_module()
    out = Path(args.out or tempfile.mkdtemp())
    with load(args.kb) as kb:
        new_tasks = make_tasks(kb, folder=out / "new", seed=args.seed)
        old_tasks = {t.id: t for t in old.make_tasks(kb, folder=out / "old", seed=args.seed)}
        rows = []
        for fam in DEFAULT_COUNTS:
            tasks = [t for t in new_tasks if t.family == fam]
            n_wrong = old_ok = new_ok = ref_old = ref_new = 0
            example = None
            for task in tasks:
                ot = old_tasks[task.id]
                ref = reference_answer(task)
                ref_old += old.check(ot, ref)
                ref_new += check(task, ref)
                for kind, bad in enumerate(wrong_answers(task, new_tasks, kb)):
                    o, n = old.check(ot, bad), check(task, bad)
                    n_wrong += 1
                    old_ok += o
                    new_ok += n
                    if o and not n and (example is None or kind < example[0]):
                        example = (kind, task.id, bad)  # the simplest kind of wrong answer
            rows.append({
                "family": fam,
                "tasks": len(tasks),
                "wrong answer accepted before, rejected now": (
                    f"{example[1]}: `{example[2][:110]}`" if example else "— (none found)"),
                "wrong passed (old)": f"{old_ok}/{n_wrong}",
                "wrong passed (new)": f"{new_ok}/{n_wrong}",
                "reference passes (old)": f"{ref_old}/{len(tasks)}",
                "reference passes (new)": f"{ref_new}/{len(tasks)}",
            })  # fmt: skip
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
