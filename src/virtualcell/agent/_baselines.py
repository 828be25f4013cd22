"""The benchmark's baselines without an LLM: the keyword router (regexes pick one tool, the
first row is the answer), top-term enrichment (gene-set naming) and the majority answer
(families that define one, ``Family.majority``)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ._plans import top_term
from ._tasks import TASK_FAMILIES, Task, family_order
from ._tools import Toolbox

__all__ = ["keyword_router", "majority_answers", "top_enrichment"]


_STOP = {"GO", "TF", "KB", "DNA", "RNA", "I", "A"}


def _genes_in_question(q: str) -> list[str]:
    return [
        t
        for t in re.findall(r"\b[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9]\b", q)
        if (t.isupper() or re.search(r"\d", t)) and t not in _STOP and not t.isdigit()
    ]


def keyword_router(question: str, toolbox: Toolbox) -> tuple[str, int]:
    """The keyword-router baseline: ``(answer, tool calls made)``."""
    q, ql = question, question.lower()

    def first(tool: str, **args: Any):
        res = toolbox.call(tool, args)
        return res.result.value if res.ok else None

    genes = _genes_in_question(q)
    quoted = re.search(r"claim '(.+)'", q)  # not "(handle 'data')" of a data question
    if quoted and "supported" in ql:
        v = first("verify_claim", claim=quoted.group(1))
        return (f"Verdict: {v.label}." if v is not None else ""), 1
    if "how many" in ql and "cell type" in ql:
        v = first("count_cell_types", adata="data")
        return (str(v["n_clusters"]) if v else ""), 1
    if "cluster" in ql and "express" in ql and genes:
        v = first("expression_by_group", adata="data", gene=genes[-1], groupby="cluster")
        return (str(v.iloc[0]["group"]) if v is not None and len(v) else ""), 1
    edges = re.findall(r"[A-Za-z0-9_.\-]+->[A-Za-z0-9_.\-]+", q)
    if edges:
        v = first("knockout_support", adata="data", edges=edges)
        if v is None:
            return "", 1
        return (", ".join(v.loc[v["supported"], "edge"]) or "none"), 1
    if "perturbation" in ql and genes:
        v = first("perturbation_effects", adata="data", gene=genes[0])
        return (str(v.iloc[0]["perturbation"]) if v is not None and len(v) else ""), 1
    if "target" in ql and genes:
        v = first("tf_targets", tf=genes[-1])
        return (str(v.iloc[0]["target"]) if v is not None and len(v) else ""), 1
    if len(genes) >= 3:
        v = first("enrich", genes=genes)
        return (top_term(v) if v is not None else ""), 1
    if "process" in ql and genes:
        v = first("go_annotations", gene=genes[-1])
        if v is not None and len(v):
            bp = v[v["namespace"] == "BP"]
            row = (bp if len(bp) else v).iloc[0]
            return f"{row['name']} ({row['go_id']})", 1
        return "", 1
    hits = first("kb_search", query=q, k=1)
    return (hits[0].title if hits else ""), 1


def majority_answers(tasks: list[Task]) -> dict[str, str]:
    """The ``majority`` baseline: per family that defines it (``Family.majority``), the
    most frequent truth value of ``tasks`` written with the family's template."""
    out = {}
    for fam in family_order():
        spec = TASK_FAMILIES.get(fam).majority
        if spec is None:
            continue
        key, template = spec
        vals = [t.truth[key] for t in tasks if t.family == fam]
        if vals:
            out[fam] = template.format(Counter(vals).most_common(1)[0][0])
    return out


def top_enrichment(question: str, toolbox: Toolbox) -> str:
    """The ``top_enrichment`` baseline: the top term of enrichment of the genes the
    question lists after its colon."""
    genes = [g.strip() for g in question.split(":", 1)[1].rstrip("?").split(",")]
    res = toolbox.call("enrich", {"genes": genes})
    return top_term(res.result.value) if res.ok else ""
