"""The benchmark runner: reuse finished cells, run the rest in parallel, write the tidy
table, the manifest and the report.

:func:`run` is ``vcell bench``. The grid is every task x dataset x split x method x seed
of the preset (:mod:`._plan`); cells run through the package's one engine
(:mod:`virtualcell._utils._engine`: local processes by default, Dask with ``dask=``;
one cell: :mod:`._worker`); each finished cell is stored at once (:mod:`._store`), so an
interrupted run resumes where it stopped and a rerun of a finished one recomputes
nothing. Where it ran goes into the manifest (:mod:`._machine`).
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .._errors import ValidationError
from .._settings import settings
from .._utils import (
    available_cpus,
    check_output,
    clean_stale_temps,
    imap_tasks,
    log,
    n_workers,
    write_json,
)
from ._machine import environment, hardware, load_average
from ._plan import PresetName, plan
from ._store import Cell, Store, tidy, write_table
from ._task import RunContext, Task, UserData
from ._tasks import TASKS
from ._worker import check_user_data, run_cell

__all__ = ["BenchResult", "report", "run"]

#: ``figures(table, tasks) -> {name: Figure}``: the report's figures (``vc.pl.bench_figures``).
Figures = Callable[[pd.DataFrame, Sequence[Task]], Mapping[str, Any]]
#: ``{cell key: (cell, record)}`` of the finished cells of a run.
Records = dict[str, tuple[Cell, dict[str, Any]]]


@dataclass
class BenchResult:
    """What :func:`run` returns.

    Attributes
    ----------
    out
        Output folder.
    table
        The tidy results (also in ``results.parquet`` / ``results.csv``).
    manifest
        Run metadata (also ``manifest.json``): preset, seeds, versions, hardware, wall
        time, the grid and everything skipped or excluded with the reason.
    reused, computed, failed, not_applicable
        Cell counts of this run.
    report_html, report_md
        The reports (``None`` when ``report=False``).
    """

    out: Path
    table: pd.DataFrame
    manifest: dict[str, Any]
    reused: int = 0
    computed: int = 0
    failed: int = 0
    not_applicable: int = 0
    report_html: Path | None = None
    report_md: Path | None = None


def run(
    preset: PresetName = "quick",
    *,
    out: str | Path = "results/bench",
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    data: str | Path | None = None,
    user_options: Mapping[str, Any] | None = None,
    n_jobs: int = -1,
    dask: str | Any | None = None,
    device: str = "cpu",
    resume: bool = True,
    trace_memory: bool = False,
    report: bool = True,
    figures: Figures | None = None,
) -> BenchResult:
    """Run the benchmark (``vcell bench``).

    Parameters
    ----------
    preset
        ``quick``, ``demo`` or ``full`` (see ``vc.bench.PRESETS``).
    out
        Output folder: ``results.parquet``, ``results.csv``, ``report.html``,
        ``report.md``, ``manifest.json``, ``runs/`` (one record per finished cell, the
        resume state) and ``figures/``.
    tasks
        Task names (default: every registered task).
    methods
        Run only these methods (plus every baseline, always).
    exclude
        Methods to leave out; excluding a baseline is allowed but the report says so.
    datasets
        Only these datasets (names as listed in the report).
    seeds
        Seeds (default: the preset's).
    data
        The user's own dataset (replaces the preset's datasets); ``user_options`` holds
        the flags that describe it (``label_key``, ``truth``, ``regulators``, ``layer``
        ...) — each task declares the ones it reads.
    user_options
        See ``data``.
    n_jobs
        Local worker processes (``-1``: one per available CPU).
    dask
        A Dask scheduler address, ``"local"`` (a LocalCluster of ``n_jobs`` workers) or
        a ``distributed.Client``; default: local processes.
    device
        Torch device for the methods that train or run models (``cpu``, ``cuda``,
        ``auto``).
    resume
        Reuse the finished cells stored in ``out`` (``False``: recompute everything).
    trace_memory
        Also record ``py_peak_mb`` with ``tracemalloc`` (it slows allocation-heavy
        Python code 2-4x, so runtimes are then not comparable; off by default).
    report
        Write ``report.html`` and ``report.md``.
    figures
        ``figures(table, tasks) -> {name: matplotlib Figure}`` embedded in the report;
        ``vcell bench`` passes ``vc.pl.bench_figures`` (the figures live in ``vc.pl``,
        above this layer).

    Returns
    -------
    BenchResult
    """
    started = time.perf_counter()
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    # the output rule before any work: a folder (an existing run in it is continued, see
    # ``resume``), never the user's data
    check_output(
        out, overwrite=True, kind="folder", name="out",
        inputs=[("data", data)] if data is not None else [],
    )  # fmt: skip
    user = _user_data(data, user_options, tasks)
    the_plan = plan(
        preset,
        tasks=tasks,
        methods=methods,
        exclude=exclude,
        datasets=datasets,
        seeds=seeds,
        user=user,
    )
    if user is not None:  # read and check the user's data once, before the grid starts
        check_user_data(the_plan.cells, user)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out)
    if not resume:  # what cells shared in an earlier run (context.scratch) goes too
        shutil.rmtree(out / "scratch", ignore_errors=True)
    store = Store(out)
    records: Records = {}
    pending: list[Cell] = []
    for cell in the_plan.cells:
        rec = store.load(cell) if resume else None
        if rec is not None:
            records[cell.key] = (cell, rec)
        else:
            pending.append(cell)
    reused = len(records)
    workers = n_workers(n_jobs=n_jobs, dask=dask)
    log(
        f"bench {the_plan.preset}: {len(the_plan.cells)} cells "
        f"({len(the_plan.tasks)} tasks, seeds {list(the_plan.seeds)}); "
        f"reused {reused} finished, running {len(pending)} "
        f"on {workers} {'Dask' if dask is not None else 'local'} worker(s)"
    )
    context = RunContext(
        preset=the_plan.preset,
        device=device,
        threads=max(1, available_cpus() // max(1, min(workers, len(pending) or 1))),
        scratch=str((out / "scratch").resolve()),
    )
    load_start = load_average()
    failed = 0
    for cell, rec in _run_pending(
        pending, context=context, trace_memory=trace_memory, n_jobs=n_jobs, dask=dask
    ):
        store.save(cell, rec)
        records[cell.key] = (cell, rec)
        if rec["status"] == "failed":
            failed += 1
            log(f"  failed {cell.label()}: {rec['error']}")
    ordered = [records[c.key] for c in the_plan.cells if c.key in records]
    table = tidy(ordered)
    write_table(table, out)
    n_na = sum(1 for _, r in ordered if r["status"] == "n/a")
    manifest = {
        "format": "virtualcell.bench.manifest/1",
        "preset": the_plan.preset,
        "seeds": list(the_plan.seeds),
        "started_at": started_at,
        "wall_s": round(time.perf_counter() - started, 2),
        "cell_time_s": round(sum(float(r.get("runtime_s") or 0.0) for _, r in ordered), 2),
        "backend": {
            "n_jobs": n_jobs,
            "workers": workers,
            "dask": dask if isinstance(dask, str) or dask is None else "client",
            "device": device,
        },
        "cells": {
            "total": len(the_plan.cells),
            "reused": reused,
            "computed": len(pending),
            "failed": failed,
            "not_applicable": n_na,
        },
        "tasks": the_plan.tasks,
        "skipped": the_plan.skipped,
        "not_applicable": _not_applicable(ordered, the_plan.seeds[0]),
        "dataset_facts": _dataset_facts(ordered),
        "user_data": {"path": user.path, "options": dict(user.options)} if user else None,
        "environment": environment(),
        "hardware": hardware(device),
        "load_average": {"start": load_start, "end": load_average()},
    }
    write_json(out / "manifest.json", manifest)
    result = BenchResult(
        out=out,
        table=table,
        manifest=manifest,
        reused=reused,
        computed=len(pending),
        failed=failed,
        not_applicable=n_na,
    )
    if report:
        from ._report import write_report

        task_objs = the_plan.task_objects
        figs = figures(table, task_objs) if figures is not None else {}
        result.report_html, result.report_md = write_report(result, task_objs, figures=figs)
    log(
        f"bench done in {manifest['wall_s']:.0f} s: reused {reused}, computed {len(pending)} "
        f"({failed} failed, {n_na} not applicable); results in {out}"
    )
    return result


def _user_data(
    data: str | Path | None,
    user_options: Mapping[str, Any] | None,
    tasks: Sequence[str] | None,
) -> UserData | None:
    """The user's own dataset (``--data`` and the flags describing it), or ``None``."""
    if data is not None:
        if not tasks:
            raise ValidationError("--data needs --task (which task to run on the data)")
        return UserData(str(data), dict(user_options or {}))
    if user_options and any(v is not None for v in user_options.values()):
        given = [k for k, v in user_options.items() if v is not None]
        raise ValidationError(f"{given} describe user data: give the data with --data")
    return None


def _run_pending(
    pending: list[Cell],
    *,
    context: RunContext,
    trace_memory: bool,
    n_jobs: int,
    dask: str | Any | None,
) -> Iterator[tuple[Cell, dict[str, Any]]]:
    """Run the cells on the engine's workers; yields ``(cell, record)`` as each finishes
    (``pending`` is sorted in place into the order the workers take the cells)."""
    # cells of one dataset next to each other (workers reuse the loaded data), seeds
    # innermost (workers running side by side take different seeds, so work a task
    # shares per seed, such as the agent task's answers, is not waited for twice)
    pending.sort(key=lambda c: (c.task.name, c.dataset.name, c.split, c.method.name, c.seed))
    for index, rec in imap_tasks(
        run_cell,
        pending,
        shared={
            "context": context,
            "trace_memory": trace_memory,
            "settings_state": dataclasses.asdict(settings),  # workers see the same settings
        },
        n_jobs=n_jobs,
        dask=dask,
        description="bench cells",
    ):
        rec["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        yield pending[index], rec


def _not_applicable(ordered: list[tuple[Cell, dict[str, Any]]], seed: int) -> list[dict[str, Any]]:
    """The manifest's ``not_applicable``: one row per n/a cell of the first seed."""
    return [
        {
            "task": c.task.name,
            "dataset": c.dataset.name,
            "split": c.split,
            "method": c.method.name,
            "reason": r.get("reason", ""),
        }
        for c, r in ordered
        if r["status"] == "n/a" and c.seed == seed
    ]


def _dataset_facts(
    ordered: list[tuple[Cell, dict[str, Any]]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """The manifest's ``dataset_facts``: ``{task: {dataset: facts}}`` (first record wins)."""
    facts: dict[str, dict[str, dict[str, Any]]] = {}
    for c, r in ordered:
        if r.get("dataset_facts"):
            facts.setdefault(c.task.name, {}).setdefault(c.dataset.name, r["dataset_facts"])
    return facts


def report(
    out: str | Path,
    *,
    figures: Figures | None = None,
) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` again from a finished run's
    ``results.parquet`` and ``manifest.json`` in ``out`` (nothing is computed); e.g. to
    add the figures (``figures=vc.pl.bench_figures``) to a run made without them.

    Parameters
    ----------
    out
        A finished run's output folder (``results.parquet`` and ``manifest.json``); the
        reports are replaced there.
    figures
        ``figures(table, tasks) -> {name: matplotlib Figure}`` embedded in the report
        (e.g. ``vc.pl.bench_figures``); ``None``: no figures.

    Returns
    -------
    tuple[Path, Path]
        The paths of ``report.html`` and ``report.md``.
    """
    import json

    from ._report import write_report
    from ._store import read_results

    out = Path(out)
    table = read_results(out)
    path = out / "manifest.json"
    if not path.is_file():
        raise ValidationError(f"no manifest.json in {out}: not a finished benchmark run")
    manifest = json.loads(path.read_text())
    missing = [name for name in manifest["tasks"] if name not in TASKS]
    if missing:
        raise ValidationError(f"task(s) {missing} of {out} are not registered here")
    tasks = [TASKS.get(name) for name in manifest["tasks"]]
    cells = manifest["cells"]
    result = BenchResult(
        out=out,
        table=table,
        manifest=manifest,
        reused=cells["reused"],
        computed=cells["computed"],
        failed=cells["failed"],
        not_applicable=cells["not_applicable"],
    )
    figs = figures(table, tasks) if figures is not None else {}
    return write_report(result, tasks, figures=figs)
