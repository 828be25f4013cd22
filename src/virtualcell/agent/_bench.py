"""The agent benchmark runner: tasks (:mod:`._tasks`) x backend, plus non-LLM baselines.

Per task the agent gets a fresh workspace (the task's data preloaded as ``data``), the
same knowledge base and the same budgets; the checker reads the *verified* answer.

Systems reported (their *kind* in brackets):

``reference_solver`` (the ``scripted`` backend; kind ``reference_solver``)
    An **expert plan**, not a model and not the virtualcell agent: a hand-written policy
    per family that calls the right tools and writes the answer from their results. An
    upper bound of what the tools, the loop and the verifier allow (tool errors and
    verifier removals still count against it).
``local`` / ``openai`` (backends; kind ``agent``)
    The LLM plans, calls tools and answers: the agent rows. The loopback test server is
    scripted and does not count as a real model.
``keyword_router`` (baseline)
    No LLM and no loop: regular expressions on the question pick one tool and the first
    row of its result is the answer (one call; so it cannot solve multi-step tasks).
``top_enrichment`` (baseline, naming families)
    The top term of hypergeometric enrichment against the store's GO library.
``majority`` (baseline, claims and cell-type counts)
    The most frequent true answer of the family in this task set (an optimistic prior).

Metrics per system and family: success rate; valid-tool-call rate (calls that validated
and ran / non-answer replies); mean steps (tool-call turns); mean tokens (prompt +
completion); mean wall seconds per task. :func:`evaluate` returns them as a
:class:`~virtualcell.metrics.EvalResult` (unit = task instance: ``success_rate`` 0/1 and,
for systems that call tools in a loop, ``valid_call_rate`` of that task); the historic
dict of :func:`run_benchmark` is its ``report``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from .._errors import ValidationError
from .._utils import log, markdown_table, write_json, write_text
from ._backends import ScriptedBackend, get_backend
from ._baselines import keyword_router, majority_answers, top_enrichment
from ._loop import Agent
from ._plans import plan_step
from ._provenance import transcript_from_log
from ._tasks import TASK_FAMILIES, Task, check, family_order, make_tasks
from ._tools import Toolbox
from ._workspace import Workspace

__all__ = [
    "SYSTEM_KINDS",
    "evaluate",
    "expert_replies",
    "keyword_router",
    "run_benchmark",
    "select_tasks",
    "system_name",
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


def _nanmean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(sum(xs) / len(xs)) if xs else None


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    acts = sum(r["n_actions"] for r in rows)
    return {
        "n": n,
        "success_rate": sum(r["success"] for r in rows) / n if n else None,
        "valid_call_rate": sum(r["n_valid_calls"] for r in rows) / acts if acts else None,
        "mean_steps": _nanmean([r["n_actions"] for r in rows]),
        "mean_tokens": _nanmean([r["tokens"] for r in rows]),
        "mean_seconds": _nanmean([r["seconds"] for r in rows]),
    }


def _loadavg() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _model_name(backend: str, llm: Any) -> str | None:
    if llm is None:
        return None
    return getattr(llm, "model_name", None) or getattr(llm, "model", None)


def _agent_options(backend: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """Agent options of the benchmark: replies constrained to the offered tools' schemas;
    a local model sees the 5 tools BM25 ranks first among those whose required arguments
    can be filled (:mod:`._fill`), writes no separate plan, and its calls and answers are
    filled from what exists (``ground_arguments``); ``given`` overrides."""
    opts: dict[str, Any] = {"constrain": True}
    if backend == "local":
        opts.update(max_tools=5, plan=False, ground_arguments=True)
    opts.update(given or {})
    return opts


def _agent_row(
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
    }


def _memory_rounds(
    backend: str,
    llm: Any,
    store: Any,
    folder: Path,
    *,
    seed: int,
    n_tasks: int | None,
    counts: dict[str, int] | None,
    rounds: int,
    memory: str | Path | bool | None,
    first: list[dict[str, Any]],
    first_tasks: list[Task],
    preload: Any,
    agent_opts: dict[str, Any],
) -> list[dict[str, Any]]:
    """Success over ``rounds`` rounds of fresh task instances (seeds ``seed``,
    ``seed + 1``, ...), memory off vs on, on the same instances in each round.

    The memory starts empty (a new file in ``folder``) unless ``memory`` is a path; it
    stores only runs that passed the agent's own verification (:class:`Memory`) and never
    returns a run with the same question, so round r can only use what earlier instances
    taught. Round 0's memory-off arm is the main run (``first``)."""
    from ._memory import Memory

    if isinstance(memory, (str, Path)):
        mem = Memory(memory)
    else:
        path = folder / "memory.json"
        if path.exists():
            path.unlink()
        mem = Memory(path)
    out = []
    for r in range(rounds):
        s = seed + r
        if r == 0:
            tasks_r, off = first_tasks, first
        else:
            tasks_r = _tasks_for(store, folder, s, counts, n_tasks)
            off = [
                _agent_row(
                    t,
                    llm,
                    store,
                    folder / "rounds" / f"{r}-off",
                    preload,
                    {**agent_opts, "seed": s},
                )
                for t in tasks_r
            ]
        size = len(mem)
        on = []
        for t in tasks_r:
            on.append(
                _agent_row(
                    t,
                    llm,
                    store,
                    folder / "rounds" / f"{r}-on",
                    preload,
                    {**agent_opts, "seed": s},
                    memory=mem,
                )
            )
            log(f"round {r} memory on {t.id}: {'ok' if on[-1]['success'] else 'fail'}")
        out.append(
            {
                "round": r,
                "seed": s,
                "tasks": len(tasks_r),
                "memory_off": _summary(off)["success_rate"],
                "memory_on": _summary(on)["success_rate"],
                "valid_call_rate_on": _summary(on)["valid_call_rate"],
                "memory_size_before": size,
                "stored": sum(bool(x["remembered"]) for x in on),
            }
        )
        write_json(folder / f"rounds-{backend}.json", out)
    return out


def _tasks_for(
    store: Any, folder: Path, seed: int, counts: dict[str, int] | None, n: int | None
) -> list[Task]:
    return select_tasks(
        make_tasks(store, folder=folder / "tasks" / f"seed-{seed}", seed=seed, counts=counts), n
    )


def _run(
    backend: str = "scripted",
    *,
    n_tasks: int | None = None,
    seed: int = 0,
    kb: Any = None,
    folder: str | Path | None = None,
    baselines: bool = True,
    max_steps: int = 6,
    counts: dict[str, int] | None = None,
    rounds: int = 1,
    memory: str | Path | bool | None = None,
    agent_options: dict[str, Any] | None = None,
    **backend_options: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The benchmark run behind :func:`run_benchmark` and :func:`evaluate`."""
    if rounds < 1:
        raise ValidationError(f"rounds must be >= 1, got {rounds}")
    if (rounds > 1 or memory) and backend == "scripted":
        raise ValidationError(
            "memory rounds need an LLM backend (local or openai): the scripted expert plan "
            "does not read worked examples"
        )
    load_start = _loadavg()
    from .._settings import settings
    from ..data import read_h5ad
    from . import open_kb

    store = open_kb(kb)
    if store is None:
        raise ValidationError(
            "the agent benchmark needs a knowledge store: build one with `vcell kb build` "
            "(or pass --kb PATH)"
        )
    folder = (
        Path(folder) if folder else Path(settings.cache_dir) / "agent" / "bench" / f"seed-{seed}"
    )
    t_start = time.perf_counter()
    tasks = select_tasks(
        make_tasks(store, folder=folder / "tasks", seed=seed, counts=counts), n_tasks
    )
    llm = None
    load_s = None
    if backend != "scripted":
        llm = get_backend(backend, **backend_options)
        if hasattr(llm, "load"):
            llm.load()
            load_s = llm.load_seconds
    rows: list[dict[str, Any]] = []
    base_rows: dict[str, list[dict[str, Any]]] = {
        "keyword_router": [],
        "top_enrichment": [],
        "majority": [],
    }
    majority = majority_answers(tasks)
    data_cache: dict[str, Any] = {}

    def preload(ws: Workspace, task: Task) -> None:
        if task.data:
            if task.data not in data_cache:
                data_cache[task.data] = read_h5ad(task.data)
            ws.put(data_cache[task.data].copy(), name="data")

    agent_opts = {"max_steps": max_steps, "seed": seed, **_agent_options(backend, agent_options)}
    t_agent = time.perf_counter()
    for i, task in enumerate(tasks, 1):
        row = _agent_row(task, llm, store, folder / "runs" / backend, preload, agent_opts)
        rows.append(row)
        log(f"[{i}/{len(tasks)}] {task.id}: {'ok' if row['success'] else 'fail'} "
            f"({row['seconds']:.1f} s)")  # fmt: skip
        write_json(folder / f"rows-{backend}.json", rows)  # progress survives an interrupted run
        if baselines:
            if llm is not None:  # the expert plan on the same instances, beside the LLM
                ref = _agent_row(task, None, store, folder / "runs" / "reference_solver",
                                 preload, {"max_steps": max_steps, "seed": seed})  # fmt: skip
                base_rows.setdefault("reference_solver", []).append(ref)
            bws = Workspace(folder / "runs" / "baselines" / task.id)
            preload(bws, task)
            tb = Toolbox(bws, kb=store)
            t0 = time.perf_counter()
            text, n_calls = keyword_router(task.question, tb)
            base_rows["keyword_router"].append(
                _base_row(task, text, n_calls, time.perf_counter() - t0)
            )
            fam = TASK_FAMILIES.get(task.family)
            if "top_enrichment" in fam.baselines:
                t0 = time.perf_counter()
                text = top_enrichment(task.question, tb)
                base_rows["top_enrichment"].append(
                    _base_row(task, text, 1, time.perf_counter() - t0)
                )
            if "majority" in fam.baselines and task.family in majority:
                base_rows["majority"].append(_base_row(task, majority[task.family], 0, 0.0))
    agent_wall = time.perf_counter() - t_agent
    rounds_report = None
    if rounds > 1 or memory:
        rounds_report = _memory_rounds(
            backend,
            llm,
            store,
            folder,
            seed=seed,
            n_tasks=n_tasks,
            counts=counts,
            rounds=rounds,
            memory=memory,
            first=rows,
            first_tasks=tasks,
            preload=preload,
            agent_opts=agent_opts,
        )
    wall = time.perf_counter() - t_start
    by_family = {}
    for fam in family_order():
        fr = [r for r in rows if r["family"] == fam]
        if fr:
            by_family[fam] = _summary(fr)
    total = _summary(rows)
    base_summary = {
        k: {"success_rate": _summary(v)["success_rate"], "n": len(v)}
        for k, v in base_rows.items()
        if v
    }
    base_by_family = {
        k: {
            fam: _summary([r for r in v if r["family"] == fam])["success_rate"]
            for fam in family_order()
            if any(r["family"] == fam for r in v)
        }
        for k, v in base_rows.items()
        if v
    }
    tps = None
    if llm is not None and getattr(llm, "tokens_per_second", None):
        tps = llm.tokens_per_second
    secs = sorted(r["seconds"] for r in rows)
    out = {
        "backend": backend,
        "system": system_name(backend),
        "kind": SYSTEM_KINDS.get(system_name(backend), "agent"),
        "model": _model_name(backend, llm),
        "tasks": len(rows),
        "success_rate": total["success_rate"],
        "by_family": by_family,
        "baselines": base_summary,
        "baselines_by_family": base_by_family,
        "valid_call_rate": total["valid_call_rate"],
        "seconds_per_task": round(agent_wall / len(rows), 2) if rows else None,
        "median_seconds_per_task": round(secs[len(secs) // 2], 2) if secs else None,
        "tokens_per_task": total["mean_tokens"],
        "prompt_tokens_per_task": _nanmean([r["prompt_tokens"] for r in rows]),
        "mean_steps": total["mean_steps"],
        "mean_tokens": total["mean_tokens"],
        "reused_prompt_tokens": getattr(llm, "reused_tokens", None),
        "constrained": bool(agent_opts.get("constrain", True)),
        "rounds": rounds_report,
        "wall_s": round(wall, 2),
        "load_s": round(load_s, 2) if load_s is not None else None,
        "tokens_per_s": round(tps, 2) if tps else None,
        "load_average": {"start": load_start, "end": _loadavg()},
        "seed": seed,
        "kb": str(store.path),
        "note": (
            "scripted = reference_solver: the hand-written expert plan per family (an upper "
            "bound, not a model and not the agent)"
            if backend == "scripted"
            else f"{backend} backend (the agent); tasks run in order on this machine"
        ),
    }
    write_json(
        folder / f"results-{backend}.json", {**out, "rows": rows, "baseline_rows": base_rows}
    )
    write_text(folder / f"results-{backend}.md", results_table(out))
    out["folder"] = str(folder)
    if store is not kb:
        store.close()
    return out, rows, base_rows


def run_benchmark(
    backend: str = "scripted",
    *,
    n_tasks: int | None = None,
    seed: int = 0,
    kb: Any = None,
    folder: str | Path | None = None,
    baselines: bool = True,
    max_steps: int = 6,
    counts: dict[str, int] | None = None,
    rounds: int = 1,
    memory: str | Path | bool | None = None,
    agent_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    **backend_options: Any,
) -> dict[str, Any]:
    """Run the agent benchmark for one backend and the non-LLM baselines (the report of
    :func:`evaluate`; the parameters are :func:`evaluate`'s, documented there, and
    ``overwrite``: a given ``folder`` that is not empty is refused unless ``overwrite``
    (the output rule; the default cache folder is reused).

    Returns
    -------
    dict
        ``backend, system, kind, model, tasks, success_rate, by_family, baselines``
        (``{name: {"success_rate", "n"}}``; with an LLM backend ``reference_solver`` runs
        the expert plan on the same instances), ``baselines_by_family, valid_call_rate,
        seconds_per_task`` (agent wall time / tasks), ``median_seconds_per_task,
        tokens_per_task, prompt_tokens_per_task, mean_steps, mean_tokens,
        reused_prompt_tokens, constrained, rounds, wall_s, load_s, tokens_per_s,
        load_average`` (``{"start", "end"}``: 1/5/15-min), ``seed, kb, note, folder``.
    """
    if folder is not None:
        from .._utils import check_output

        check_output(folder, overwrite=overwrite, kind="folder", name="folder")
    return _run(backend, n_tasks=n_tasks, seed=seed, kb=kb, folder=folder,
                baselines=baselines, max_steps=max_steps, counts=counts, rounds=rounds,
                memory=memory, agent_options=agent_options, **backend_options)[0]  # fmt: skip


def evaluate(
    backend: str = "scripted",
    *,
    n_tasks: int | None = None,
    seed: int = 0,
    kb: Any = None,
    folder: str | Path | None = None,
    baselines: bool = True,
    max_steps: int = 6,
    counts: dict[str, int] | None = None,
    rounds: int = 1,
    memory: str | Path | bool | None = None,
    agent_options: dict[str, Any] | None = None,
    **backend_options: Any,
):
    """The agent benchmark as a :class:`~virtualcell.metrics.EvalResult`.

    One row per system, task instance (``unit``) and metric: ``success_rate`` (1.0 when
    the checker accepts the verified answer, else 0.0) for every system, and
    ``valid_call_rate`` (valid tool calls / non-answer replies of that task) for the
    system run in the loop. ``split`` is the task family, ``dataset`` ``"agent_tasks"``,
    ``method`` the system (``reference_solver`` for the scripted expert plan, the backend
    name for an LLM, the baselines flagged ``baseline``); ``meta["kinds"]`` gives each
    system's kind. ``report`` is :func:`run_benchmark`'s dict (what
    ``vcell agent bench --json`` prints).

    Parameters
    ----------
    backend
        ``"scripted"`` (the expert plan: ``reference_solver``), ``"local"`` or ``"openai"``.
    n_tasks
        Run only this many tasks (round-robin over families; see :func:`select_tasks`).
    seed
        Seed of the task generation (and of decoding).
    kb
        Knowledge store path or opened store (default: the built default store).
    folder
        Output folder (tasks, data, per-task logs, ``results.json``, ``results.md``);
        default ``settings.cache_dir/agent/bench/seed-S``.
    baselines
        Also run the keyword router, top-enrichment and majority baselines.
    max_steps
        Tool-call turns per task.
    counts
        Tasks per family (default: ``vc.agent.DEFAULT_TASK_COUNTS``).
    rounds, memory
        With ``rounds > 1`` or ``memory``: success over ``rounds`` rounds of fresh task
        instances (seeds ``seed .. seed + rounds - 1``), memory of verified runs off vs on
        on the same instances (report key ``rounds``). ``memory`` may be the path of a
        store to use and grow; otherwise the rounds start from an empty store.
    agent_options
        Options of :class:`~virtualcell.agent.Agent` (override the benchmark's:
        ``constrain=True``; for ``local`` also ``max_tools=5, plan=False, ground_arguments=True``).
    **backend_options
        Passed to the backend (e.g. ``base_url=``, ``model=`` for ``openai``).

    Returns
    -------
    EvalResult
        Tidy per-task rows, ``meta`` (system kinds, seed, store, wall time) and the report.
    """
    from ..metrics import EvalResult

    report, rows, base_rows = _run(backend, n_tasks=n_tasks, seed=seed, kb=kb, folder=folder,
                                   baselines=baselines, max_steps=max_steps, counts=counts,
                                   rounds=rounds, memory=memory, agent_options=agent_options,
                                   **backend_options)  # fmt: skip
    system = system_name(backend)
    table: list[dict[str, Any]] = []

    def add(method: str, baseline: bool, r: dict[str, Any], loop: bool) -> None:
        key = {"method": method, "baseline": baseline, "dataset": "agent_tasks",
               "split": r["family"], "seed": seed, "unit": r["task"]}  # fmt: skip
        table.append({**key, "metric": "success_rate", "value": float(bool(r["success"]))})
        if loop and r["n_actions"]:
            table.append({**key, "metric": "valid_call_rate",
                          "value": r["n_valid_calls"] / r["n_actions"]})  # fmt: skip

    for r in rows:
        add(system, False, r, True)
    for name, brs in base_rows.items():
        for r in brs:
            add(name, True, r, False)
    kinds = {system: SYSTEM_KINDS.get(system, "agent")}
    kinds.update({b: SYSTEM_KINDS.get(b, "baseline") for b, brs in base_rows.items() if brs})
    meta = {"backend": backend, "kinds": kinds, "seed": seed, "kb": report["kb"],
            "wall_s": report["wall_s"], "folder": report["folder"]}  # fmt: skip
    return EvalResult.from_rows("agent", table, meta=meta, report=report)


def _base_row(task: Task, text: str, n_calls: int, seconds: float) -> dict[str, Any]:
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
