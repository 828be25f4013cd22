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

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._utils import log, write_json, write_text
from ._backends import make_backend
from ._baselines import keyword_router, majority_answers, top_enrichment
from ._bench_rounds import memory_rounds
from ._bench_rows import (
    SYSTEM_KINDS,
    agent_row,
    base_row,
    default_agent_options,
    expert_replies,
    nanmean,
    results_table,
    select_tasks,
    summarize_rows,
    system_name,
)
from ._tasks import TASK_FAMILIES, Task, family_order, make_tasks
from ._tools import Toolbox
from ._workspace import Workspace

if TYPE_CHECKING:
    from ..metrics import EvalResult

__all__ = [
    "SYSTEM_KINDS",
    "evaluate",
    "expert_replies",
    "keyword_router",
    "results_table",
    "run_benchmark",
    "select_tasks",
    "system_name",
]


#: The ``Parameters`` section :func:`run_benchmark` and :func:`evaluate` share.
_PARAMETERS = """Parameters
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
    ``constrain=True``; for ``local`` also ``max_tools=5, plan=False, ground_arguments=True,
    choice="channel"``).
**backend_options
    Passed to the backend (e.g. ``base_url=``, ``model=`` for ``openai``)."""


def _with_parameters(func):
    """Write :data:`_PARAMETERS` where ``func``'s docstring says ``%(parameters)s``."""
    if func.__doc__:  # None under python -OO
        func.__doc__ = func.__doc__.replace("%(parameters)s", _PARAMETERS.replace("\n", "\n    "))
    return func


def _loadavg() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _schema_stats(llm: Any) -> dict[str, Any] | None:
    """The structured-output counts of a backend that keeps them (``openai``: requests by
    ``response_format`` form, replies checked against the schema, violations, replies
    cut by the token limit, refused forms, the first violation) and the form in use at
    the end; ``None`` for a backend that constrains its own decoding (``local``) or has
    no model."""
    stats = getattr(llm, "schema_stats", None)
    if not isinstance(stats, dict):
        return None
    return {**stats, "requests": dict(stats.get("requests", {})),
            "level": getattr(llm, "structured", None)}  # fmt: skip


def _model_name(backend: str, llm: Any) -> str | None:
    if llm is None:
        return None
    name = getattr(llm, "model_name", None) or getattr(llm, "model", None)
    if name and getattr(llm, "random_weights", False):
        return f"{name} (random weights)"
    return name


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
        llm = make_backend(backend, **backend_options)
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

    agent_opts = {
        "max_steps": max_steps,
        "seed": seed,
        **default_agent_options(backend, agent_options),
    }
    t_agent = time.perf_counter()
    for i, task in enumerate(tasks, 1):
        row = agent_row(task, llm, store, folder / "runs" / backend, preload, agent_opts)
        rows.append(row)
        log(f"[{i}/{len(tasks)}] {task.id}: {'ok' if row['success'] else 'fail'} "
            f"({row['seconds']:.1f} s)")  # fmt: skip
        write_json(folder / f"rows-{backend}.json", rows)  # progress survives an interrupted run
        if baselines:
            if llm is not None:  # the expert plan on the same instances, beside the LLM
                ref = agent_row(task, None, store, folder / "runs" / "reference_solver",
                                 preload, {"max_steps": max_steps, "seed": seed})  # fmt: skip
                base_rows.setdefault("reference_solver", []).append(ref)
            bws = Workspace(folder / "runs" / "baselines" / task.id)
            preload(bws, task)
            tb = Toolbox(bws, kb=store)
            t0 = time.perf_counter()
            text, n_calls = keyword_router(task.question, tb)
            base_rows["keyword_router"].append(
                base_row(task, text, n_calls, time.perf_counter() - t0)
            )
            fam = TASK_FAMILIES.get(task.family)
            if "top_enrichment" in fam.baselines:
                t0 = time.perf_counter()
                text = top_enrichment(task.question, tb)
                base_rows["top_enrichment"].append(
                    base_row(task, text, 1, time.perf_counter() - t0)
                )
            if "majority" in fam.baselines and task.family in majority:
                base_rows["majority"].append(base_row(task, majority[task.family], 0, 0.0))
    agent_wall = time.perf_counter() - t_agent
    rounds_report = None
    if rounds > 1 or memory:
        rounds_report = memory_rounds(
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
            by_family[fam] = summarize_rows(fr)
    total = summarize_rows(rows)
    base_summary = {
        k: {"success_rate": summarize_rows(v)["success_rate"], "n": len(v)}
        for k, v in base_rows.items()
        if v
    }
    base_by_family = {
        k: {
            fam: summarize_rows([r for r in v if r["family"] == fam])["success_rate"]
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
        "prompt_tokens_per_task": nanmean([r["prompt_tokens"] for r in rows]),
        "mean_steps": total["mean_steps"],
        "mean_tokens": total["mean_tokens"],
        "reused_prompt_tokens": getattr(llm, "reused_tokens", None),
        "schema_stats": _schema_stats(llm),
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


@_with_parameters
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
    :func:`evaluate`).

    %(parameters)s
    overwrite
        A given ``folder`` that is not empty is refused unless ``overwrite`` (the output
        rule; the default cache folder is reused).

    Returns
    -------
    dict
        ``backend, system, kind, model, tasks, success_rate, by_family, baselines``
        (``{name: {"success_rate", "n"}}``; with an LLM backend ``reference_solver`` runs
        the expert plan on the same instances), ``baselines_by_family, valid_call_rate,
        seconds_per_task`` (agent wall time / tasks), ``median_seconds_per_task,
        tokens_per_task, prompt_tokens_per_task, mean_steps, mean_tokens,
        reused_prompt_tokens, schema_stats`` (``openai``: structured-output requests by
        form, replies that violated the schema; ``None`` otherwise), ``constrained,
        rounds`` (memory rounds: success off / on per round and ``by_task``), ``wall_s,
        load_s, tokens_per_s, load_average`` (``{"start", "end"}``: 1/5/15-min), ``seed,
        kb, note, folder``.
    """
    if folder is not None:
        from .._utils import check_output

        check_output(folder, overwrite=overwrite, kind="folder", name="folder")
    return _run(backend, n_tasks=n_tasks, seed=seed, kb=kb, folder=folder,
                baselines=baselines, max_steps=max_steps, counts=counts, rounds=rounds,
                memory=memory, agent_options=agent_options, **backend_options)[0]  # fmt: skip


@_with_parameters
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
) -> EvalResult:
    """The agent benchmark as a :class:`~virtualcell.metrics.EvalResult`.

    One row per system, task instance (``unit``) and metric: ``success_rate`` (1.0 when
    the checker accepts the verified answer, else 0.0) for every system, and
    ``valid_call_rate`` (valid tool calls / non-answer replies of that task) for the
    system run in the loop. ``split`` is the task family, ``dataset`` ``"agent_tasks"``,
    ``method`` the system (``reference_solver`` for the scripted expert plan, the backend
    name for an LLM, the baselines flagged ``baseline``); ``meta["kinds"]`` gives each
    system's kind. ``report`` is :func:`run_benchmark`'s dict (what
    ``vcell agent bench --json`` prints).

    %(parameters)s
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
