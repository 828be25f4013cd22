"""Reference plans of the agent benchmark: per task family, the hand-written policy the
``scripted`` backend follows (the ``reference_solver``): it calls the right tools and
writes the answer from their results. An upper bound of what the tools, the loop and the
verifier allow, not a model and not the agent. Each plan is ``plan(task, workspace,
messages) -> reply`` and is the ``plan`` of its family (:mod:`._family_kb`,
:mod:`._family_data`)."""

from __future__ import annotations

import json
import re
from typing import Any

from ._workspace import Workspace

__all__ = [
    "plan_claims",
    "plan_data_celltypes",
    "plan_data_edges",
    "plan_data_marker",
    "plan_data_perturbation",
    "plan_multistep",
    "plan_naming",
    "plan_qa_process",
    "plan_qa_targets",
    "plan_step",
    "top_term",
]


def _results(ws: Workspace, tool: str):
    return [r for r in ws.results.values() if r.tool == tool]


def _call(tool: str, **args: Any) -> str:
    return json.dumps({"tool": tool, "args": args})


def _answer(text: str) -> str:
    return json.dumps({"answer": text})


def top_term(df) -> str:
    """The first term of an enrichment table (empty when none)."""
    return str(df.iloc[0]["term"]) if len(df) else ""


def plan_qa_process(task, ws: Workspace, messages) -> str:
    q = task.question
    gene = re.search(r"the gene (\S+) is", q).group(1)
    r = _results(ws, "go_annotations")
    if not r:
        return _call("go_annotations", gene=gene)
    df = r[-1].value
    bp = df[(df["namespace"] == "BP") & (df["via"] == "")]
    row = (bp if len(bp) else df).iloc[0]
    return _answer(f"{gene} is involved in {row['name']} ({row['go_id']}).")


def plan_qa_targets(task, ws: Workspace, messages) -> str:
    q = task.question
    tf = re.search(r"transcription factor (\S+?)\.?$", q).group(1)
    r = _results(ws, "tf_targets")
    if not r:
        return _call("tf_targets", tf=tf)
    df = r[-1].value
    return _answer(
        f"{tf} regulates {df.iloc[0]['target']}." if len(df) else f"No target of {tf} is known."
    )


def plan_naming(task, ws: Workspace, messages) -> str:
    q = task.question
    genes = [g.strip() for g in q.split(":", 1)[1].rstrip("?").split(",")]
    r = _results(ws, "enrich")
    if not r:
        return _call("enrich", genes=genes)
    return _answer(f"The genes share the process {top_term(r[-1].value)}.")


def plan_claims(task, ws: Workspace, messages) -> str:
    q = task.question
    claim = re.search(r"'(.+)'", q).group(1)
    r = _results(ws, "verify_claim")
    if not r:
        return _call("verify_claim", claim=claim)
    return _answer(f"Verdict: {r[-1].value.label}.")


def plan_data_perturbation(task, ws: Workspace, messages) -> str:
    q = task.question
    gene = re.search(r"expression of (\S+) the most", q).group(1)
    r = _results(ws, "perturbation_effects")
    if not r:
        return _call("perturbation_effects", adata="data", gene=gene)
    top = r[-1].value.iloc[0]
    return _answer(f"{top['perturbation']} changes {gene} the most (z = {top['z']:.2f}).")


def plan_data_celltypes(task, ws: Workspace, messages) -> str:
    r = _results(ws, "count_cell_types")
    if not r:
        return _call("count_cell_types", adata="data")
    return _answer(f"The data holds {r[-1].value['n_clusters']} cell types.")


def plan_data_marker(task, ws: Workspace, messages) -> str:
    q = task.question
    gene = re.search(r"expresses (\S+) the most", q).group(1)
    r = _results(ws, "expression_by_group")
    if not r:
        return _call("expression_by_group", adata="data", gene=gene, groupby="cluster")
    return _answer(f"Cluster {r[-1].value.iloc[0]['group']} expresses {gene} the most.")


def plan_data_edges(task, ws: Workspace, messages) -> str:
    edges = task.truth["candidates"]
    r = _results(ws, "knockout_support")
    if not r:
        return _call("knockout_support", adata="data", edges=edges)
    df = r[-1].value
    sup = df.loc[df["supported"], "edge"].tolist()
    return _answer(
        "Supported by the knockouts: " + ", ".join(sup) + "."
        if sup
        else "None of the edges is supported."
    )


def plan_multistep(task, ws: Workspace, messages) -> str:
    q = task.question
    gene = re.search(r"changes (\S+) the", q).group(1)
    pe, tt, en = (_results(ws, t) for t in ("perturbation_effects", "tf_targets", "enrich"))
    if not pe:
        return _call("perturbation_effects", adata="data", gene=gene)
    top = str(pe[-1].value.iloc[0]["perturbation"])
    if not tt:
        return _call("tf_targets", tf=top)
    targets = sorted(set(tt[-1].value["target"]))
    if not en:
        return _call("enrich", genes=targets)
    return _answer(
        f"{top} changes {gene} the most. Known targets of {top}: {', '.join(targets[:8])}. "
        f"Enriched process: {top_term(en[-1].value)}."
    )


def plan_step(plan, task, ws: Workspace, messages) -> str:
    """One reply of a reference plan: the plan message first, then the plan's step."""
    last = str(messages[-1]["content"]) if messages else ""
    if last.startswith("Question:"):
        return "1. call the tool for this question\n2. read its result\n3. answer with citations"
    return plan(task, ws, messages)
