"""The benchmark's systems on one task instance: the reference solver's scripted replies,
the agent's options, one result row per system and task, the summaries of rows and the
results table.

A row is ``{task, family, success, n_actions, n_valid_calls, tokens, seconds, answer, ...}``
(the agent's rows add token counts, the stop reason, verification and whether the run was
stored in memory); :func:`summarize_rows` turns rows into the report's per-family numbers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .._utils import markdown_table, write_text
from ._backends import ScriptedBackend
from ._choose import memory_effect
from ._loop import Agent
from ._plans import plan_step
from ._provenance import transcript_from_log
from ._tasks import TASK_FAMILIES, Task, check, family_order, make_tasks
from ._workspace import Workspace

__all__ = [
    "SMALL_MODEL_OPTIONS",
    "SYSTEM_KINDS",
    "agent_row",
    "base_row",
    "default_agent_options",
    "expert_replies",
    "nanmean",
    "results_table",
    "select_tasks",
    "summarize_rows",
    "system_name",
    "tasks_for",
]

#: Kind of each system of the benchmark (the agent rows are the LLM backends).
SYSTEM_KINDS = {
    "reference_solver": "reference_solver",
    "keyword_router": "baseline",
    "top_enrichment": "baseline",
    "majority": "baseline",
}


def system_name(backend: str) -> str:
    """The benchmark's name of a backend's system: ``scripted`` follows the expert plan,
    so it is listed as ``reference_solver``; an LLM backend keeps its name."""
    return "reference_solver" if backend == "scripted" else backend


# -- the reference solver (the expert plan of each family, in ._plans) ---------------------------
def _expert_step(task: Task, ws: Workspace, messages) -> str:
    return plan_step(TASK_FAMILIES.get(task.family).plan, task, ws, messages)


def expert_replies(task: Task, ws: Workspace, n: int = 12) -> list:
    """Scripted replies that follow the expert plan of ``task`` (functions of the
    workspace, so the answer is written from the actual tool results)."""
    return [lambda messages, t=task, w=ws: _expert_step(t, w, messages)] * n


# -- runner ----------------------------------------------------------------------------------
def select_tasks(tasks: list[Task], n: int | None) -> list[Task]:
    """The first ``n`` tasks taken round-robin over families (all when ``n`` is None)."""
    if n is None or n >= len(tasks):
        return list(tasks)
    by: dict[str, list[Task]] = {}
    for t in tasks:
        by.setdefault(t.family, []).append(t)
    out: list[Task] = []
    while len(out) < n:
        for fam in family_order():
            if by.get(fam) and len(out) < n:
                out.append(by[fam].pop(0))
    return out


def nanmean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(sum(xs) / len(xs)) if xs else None


def summarize_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    acts = sum(r["n_actions"] for r in rows)
    return {
        "n": n,
        "success_rate": sum(r["success"] for r in rows) / n if n else None,
        "valid_call_rate": sum(r["n_valid_calls"] for r in rows) / acts if acts else None,
        "mean_steps": nanmean([r["n_actions"] for r in rows]),
        "mean_tokens": nanmean([r["tokens"] for r in rows]),
        "mean_seconds": nanmean([r["seconds"] for r in rows]),
    }


#: The rules that make a small model useful (the local backend's defaults; any backend
#: with ``vcell agent bench --small-model``, e.g. a small model behind an OpenAI-compatible
#: server): 5 offered tools, no separate plan, arguments filled from what exists, the
#: channel rule for the call, the asked kinds guiding chaining and answering, ranked answers.
SMALL_MODEL_OPTIONS: dict[str, Any] = {
    "max_tools": 5, "plan": False, "ground_arguments": True, "choice": "channel",
    "guide": True, "answer_choice": "rank",
}  # fmt: skip


def default_agent_options(backend: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """Agent options of the benchmark: replies constrained to the offered tools' schemas;
    a local model sees the 5 tools BM25 ranks first among those whose required arguments
    can be filled (:mod:`._fill`), writes no separate plan, and its calls and answers are
    filled from what exists (``ground_arguments``); its calls are chosen by the channel
    rule (``choice="channel"``, :mod:`._choose`) among the tools that give the kind of
    answer the question asks for next, it answers once every asked kind is covered
    (``guide=True``) and its answer names the first value of each result of an asked
    kind (``answer_choice="rank"``, :mod:`._guide`); ``given`` overrides."""
    opts: dict[str, Any] = {"constrain": True}
    if backend == "local":
        opts.update(SMALL_MODEL_OPTIONS)
    opts.update(given or {})
    return opts


def agent_row(
    task: Task,
    llm: Any,
    store: Any,
    runs: Path,
    preload: Any,
    agent_opts: dict[str, Any],
    memory: Any = None,
) -> dict[str, Any]:
    """Run the agent (``llm``; ``None``: the expert plan) on one task; its result row."""
    ws = Workspace(runs / task.id)
    preload(ws, task)
    engine = ScriptedBackend(expert_replies(task, ws)) if llm is None else llm
    agent = Agent(engine, kb=store, workspace=ws, memory=memory,
                  log_path=ws.root / "provenance.jsonl", **agent_opts)  # fmt: skip
    ans = agent.run(task.question)
    ok = check(task, ans.answer)
    effects = [memory_effect(mc.choices) for mc in agent.steps.model_calls()]
    write_text(ws.root / "transcript.txt", transcript_from_log(ws.root / "provenance.jsonl") + "\n")
    return {
        "task": task.id,
        "family": task.family,
        "success": bool(ok),
        "n_actions": ans.n_actions,
        "n_valid_calls": ans.n_valid_calls,
        "tokens": ans.prompt_tokens + ans.completion_tokens,
        "prompt_tokens": ans.prompt_tokens,
        "completion_tokens": ans.completion_tokens,
        "seconds": ans.seconds,
        "stopped": ans.stopped,
        "answer": ans.answer,
        "removed_claims": len(ans.removed),
        "verification": ans.verification,
        "remembered": ans.remembered,
        "evidence": ans.evidence,
        "tools": [c["tool"] for c in ans.calls],
        "memory_choices": sum(a for a, _ in effects),
        "memory_flips": sum(f for _, f in effects),
    }


def base_row(task: Task, text: str, n_calls: int, seconds: float) -> dict[str, Any]:
    return {
        "task": task.id,
        "family": task.family,
        "success": bool(check(task, text)),
        "n_actions": n_calls,
        "n_valid_calls": n_calls,
        "tokens": 0,
        "seconds": seconds,
        "answer": text,
    }


def results_table(result: dict[str, Any]) -> str:
    """Markdown table: success rate per family for the backend and each baseline."""
    name = result.get("system", result["backend"])
    rows = []
    for fam, s in result["by_family"].items():
        row = {
            "family": fam,
            "n": s["n"],
            name: s["success_rate"],
            "valid calls": s["valid_call_rate"],
            "steps": s["mean_steps"],
            "tokens": s["mean_tokens"],
            "s/task": s["mean_seconds"],
        }
        for b, fams in result.get("baselines_by_family", {}).items():
            row[b] = fams.get(fam)
        rows.append(row)
    total = {
        "family": "all",
        "n": result["tasks"],
        name: result["success_rate"],
        "valid calls": result["valid_call_rate"],
        "steps": result["mean_steps"],
        "tokens": result["mean_tokens"],
        "s/task": result.get("seconds_per_task"),
    }
    for b, v in result.get("baselines", {}).items():
        total[b] = v["success_rate"] if isinstance(v, dict) else v
    rows.append(total)
    cols = [
        "family",
        "n",
        name,
        *result.get("baselines", {}),
        "valid calls",
        "steps",
        "tokens",
        "s/task",
    ]
    return markdown_table(rows, columns=cols)


def tasks_for(
    store: Any, folder: Path, seed: int, counts: dict[str, int] | None, n: int | None
) -> list[Task]:
    return select_tasks(
        make_tasks(store, folder=folder / "tasks" / f"seed-{seed}", seed=seed, counts=counts), n
    )
