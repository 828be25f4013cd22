"""The benchmark runner: plan the grid, reuse finished cells, run the rest in parallel,
write the tidy table, the manifest and the report.

:func:`run` is ``vcell bench``. The grid is every task x dataset x split x method x seed
of the preset; cells run through the package's one engine
(:mod:`virtualcell._utils._engine`: local processes by default, Dask with ``dask=``);
each finished cell is stored at once (:mod:`._store`), so an interrupted run resumes
where it stopped and a rerun of a finished one recomputes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import os
import platform
import shutil
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
from .._version import __version__
from ._measure import measure
from ._presets import get_preset
from ._store import Cell, Store, tidy, write_table
from ._task import Method, RunContext, Task, UserData, missing_requirements, package_version
from ._tasks import TASKS

__all__ = ["BenchResult", "Plan", "plan", "report", "run"]

PresetName = Literal["quick", "demo", "full"]

#: Packages whose versions go into the manifest.
_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "anndata",
    "scanpy",
    "torch",
    "lightgbm",
    "joblib",
    "dask",
    "distributed",
    "arboreto",
    "celltypist",
    "scvi-tools",
    "cell-eval",
)


@dataclass
class Plan:
    """The grid of a run, and everything left out of it with the reason."""

    preset: str
    seeds: tuple[int, ...]
    cells: list[Cell] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_objects: list[Task] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


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


# -- planning ------------------------------------------------------------------------------
def _select_tasks(names: Sequence[str] | None) -> list[Task]:
    if not names:
        return [e.obj for e in TASKS.entries()]
    return [TASKS.get(n) for n in dict.fromkeys(names)]


def _check_user_flags(tasks: list[Task], user: UserData | None) -> None:
    if user is None:
        return
    given = {k for k, v in user.options.items() if v is not None}
    read = set().union(*(t.user_flags for t in tasks)) if tasks else set()
    unused = sorted(given - read)
    if unused:
        flags = ", ".join("--" + u.replace("_", "-") for u in unused)
        raise ValidationError(
            f"{flags} not used by task(s) {', '.join(t.name for t in tasks)} "
            f"(they read: {', '.join(sorted(read)) or 'no flags'})"
        )
    for t in tasks:
        missing = [f for f in t.required_flags if user.options.get(f) is None]
        if missing:
            flags = ", ".join("--" + m.replace("_", "-") for m in missing)
            raise ValidationError(f"task {t.name} with --data needs {flags}")


def plan(
    preset: PresetName = "quick",
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    user: UserData | None = None,
) -> Plan:
    """The grid of a run (see :func:`run` for the options); nothing is computed."""
    p = get_preset(preset)
    chosen = _select_tasks(tasks)
    _check_user_flags(chosen, user)
    seeds_t = tuple(int(s) for s in (seeds if seeds is not None else p.seeds))
    if not seeds_t:
        raise ValidationError("no seeds given")
    out = Plan(preset=p.name, seeds=seeds_t, task_objects=chosen)
    wanted = set(methods or ())
    dropped = set(exclude or ())
    all_methods: dict[str, list[Method]] = {t.name: t.methods() for t in chosen}
    known = {m.name for ms in all_methods.values() for m in ms}
    unknown = sorted((wanted | dropped) - known)
    if unknown:
        raise ValidationError(
            f"unknown method(s) {unknown} for task(s) {', '.join(all_methods)}; "
            f"known: {', '.join(sorted(known))}"
        )
    all_ds_names: set[str] = set()
    for task in chosen:
        info: dict[str, Any] = {
            "version": task.version,
            "description": task.description,
            "metrics": [m.name for m in task.specs],
            "datasets": [],
            "methods": [],
            "baselines": [],
            "excluded_baselines": [],
            "excluded": [],
            "not_in_preset": [],
        }
        out.tasks[task.name] = info
        ds_list = task.datasets(p.name, user)
        all_ds_names |= {d.name for d in ds_list}
        run_ds = []
        for ds in ds_list:
            if user is None and p.name not in ds.presets:
                continue
            if datasets and ds.name not in datasets:
                continue
            if ds.unavailable:
                out.skipped.append(
                    {
                        "task": task.name,
                        "what": "dataset",
                        "name": ds.name,
                        "reason": ds.unavailable,
                    }
                )
                continue
            run_ds.append(ds)
            info["datasets"].append(
                {
                    "name": ds.name,
                    "description": ds.description,
                    "source": ds.source,
                    "version": ds.version,
                    "splits": list(ds.splits),
                }
            )
        run_methods = []
        for m in all_methods[task.name]:
            if m.name in dropped:
                info["excluded_baselines" if m.baseline else "excluded"].append(m.name)
                continue
            if wanted and not m.baseline and m.name not in wanted:
                continue
            if not wanted and not m.baseline and p.name not in m.presets:
                info["not_in_preset"].append(m.name)
                continue
            reason = missing_requirements(m.requires) or (m.probe() if m.probe else None)
            if reason:
                what = "peer" if m.peer else "method"
                out.skipped.append(
                    {"task": task.name, "what": what, "name": m.name, "reason": reason}
                )
                continue
            run_methods.append(m)
            info["methods"].append(m.name)
            if m.baseline:
                info["baselines"].append(m.name)
        for ds in run_ds:
            for split in ds.splits:
                for m in run_methods:
                    for seed in seeds_t:
                        out.cells.append(Cell(task, ds, split, m, seed, m.options_for(p.name)))
    if datasets:
        bad = sorted(set(datasets) - all_ds_names)
        if bad:
            raise ValidationError(
                f"unknown dataset(s) {bad}; known: {', '.join(sorted(all_ds_names))}"
            )
    return out


# -- the worker side -----------------------------------------------------------------------
#: Per-process cache of loaded datasets ``{(task, dataset, version): (data, facts, load_s)}``.
_DATA: OrderedDict[tuple[str, str, str], tuple[Any, dict[str, Any], float]] = OrderedDict()
_DATA_SLOTS = 2


def _load(cell: Cell) -> tuple[Any, dict[str, Any], float]:
    key = (cell.task.name, cell.dataset.name, cell.dataset.version)
    if key in _DATA:
        _DATA.move_to_end(key)
        data, facts, _ = _DATA[key]
        return data, facts, 0.0
    t0 = time.perf_counter()
    data = cell.dataset.load()
    facts = cell.task.describe(data) if cell.task.describe else {}
    load_s = time.perf_counter() - t0
    _DATA[key] = (data, facts, load_s)
    while len(_DATA) > _DATA_SLOTS:
        _DATA.popitem(last=False)
    return data, facts, load_s


def _check_user_data(cells: Sequence[Cell], user: UserData) -> None:
    """Load the user's data (``--data``) once per task, as the cells will, and refuse it
    with one message naming the file and the problem (a missing column, a damaged file,
    too few cells or genes, values that are not finite) instead of failing every cell."""
    import numpy as np

    from .._errors import VirtualCellError

    seen: set[tuple[str, str]] = set()
    for cell in cells:
        key = (cell.task.name, cell.dataset.name)
        if key in seen or cell.dataset.source != "user":
            continue
        seen.add(key)
        _DATA.pop((cell.task.name, cell.dataset.name, cell.dataset.version), None)
        try:
            data, _, _ = _load(cell)
        except VirtualCellError as err:
            message = (str(err).strip().splitlines() or [type(err).__name__])[0]
            if user.path not in message:
                message = f"{user.path}: {message}"
            raise ValidationError(f"--data {message}") from None
        except Exception as err:  # a reader's own error: still the user's file
            raise ValidationError(
                f"--data {user.path}: task {cell.task.name} cannot read it "
                f"({type(err).__name__}: {_first_line(err)})"
            ) from None
        adata = getattr(data, "adata", data)
        shape = getattr(adata, "shape", None)
        if shape is None or len(shape) != 2:
            continue
        if shape[0] < 3 or shape[1] < 2:
            raise ValidationError(
                f"--data {user.path}: {shape[0]} cell(s) x {shape[1]} gene(s); "
                f"task {cell.task.name} needs at least 3 cells and 2 genes"
            )
        X = getattr(adata, "X", None)
        values = getattr(X, "data", X) if hasattr(X, "tocsr") else X
        if values is not None and not np.isfinite(np.asarray(values, dtype=float)).all():
            raise ValidationError(f"--data {user.path}: X holds NaN or infinite values")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _run_cell(
    cell: Cell,
    *,
    context: RunContext,
    trace_memory: bool = False,
    settings_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one cell in this process (with the parent's ``settings``); never raises."""
    saved = dataclasses.asdict(settings)
    try:
        for key, value in (settings_state or {}).items():
            setattr(settings, key, value)
        return _run_cell_here(cell, context=context, trace_memory=trace_memory)
    finally:
        for key, value in saved.items():
            setattr(settings, key, value)


def _run_cell_here(cell: Cell, *, context: RunContext, trace_memory: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "key": cell.key,
        "cell": cell.identity(),
        "versions": {"virtualcell": __version__},
        "worker_pid": os.getpid(),
    }
    try:
        data, facts, load_s = _load(cell)
    except Exception as exc:
        record.update(
            status="failed",
            error=f"loading the dataset: {_first_line(exc)}",
            traceback=traceback.format_exc(),
            rows=[],
        )
        return record
    record.update(dataset_facts=facts, load_s=load_s)
    reason = (
        cell.task.applicable(data, cell.split, cell.method.name) if cell.task.applicable else None
    )
    if reason:
        record.update(status="n/a", reason=reason, rows=[])
        return record
    verbosity = settings.verbosity
    try:
        for module in cell.method.requires:  # import costs are not the method's
            importlib.import_module(module)
        settings.verbosity = 0  # the grid reports progress; cells run quietly
        with measure(trace=trace_memory) as m:
            rows = cell.task.run(
                data,
                split=cell.split,
                method=cell.method.name,
                seed=cell.seed,
                options=dict(cell.options),
                context=context,
            )
        rows = [{"metric": str(r["metric"]), "value": float(r["value"])} for r in rows]
        record.update(status="ok", rows=rows)
    except Exception as exc:
        record.update(
            status="failed", error=_first_line(exc), traceback=traceback.format_exc(), rows=[]
        )
        return record
    finally:
        settings.verbosity = verbosity
    py_peak = m.py_peak_mb if trace_memory else None
    record.update(runtime_s=m.runtime_s, cpu_s=m.cpu_s, peak_mb=m.peak_mb, py_peak_mb=py_peak)
    return record


# -- metadata ------------------------------------------------------------------------------
def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _hardware(device: str) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        pass
    gpu = None
    if device.startswith("cuda") or device == "auto":
        try:
            import torch

            if torch.cuda.is_available():
                gpu = torch.cuda.get_device_name(0)
        except ImportError:  # pragma: no cover
            pass
    return {
        "cpu": cpu,
        "cpus_available": available_cpus(),
        "memory_gb": mem_gb,
        "gpu": gpu,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def _environment() -> dict[str, str | None]:
    out: dict[str, str | None] = {"virtualcell": __version__}
    for pkg in _PACKAGES:
        out[pkg] = package_version(pkg)
    return out


# -- the run -------------------------------------------------------------------------------
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
    figures: Callable[[pd.DataFrame, Sequence[Task]], Mapping[str, Any]] | None = None,
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
    user = None
    if data is not None:
        if not tasks:
            raise ValidationError("--data needs --task (which task to run on the data)")
        user = UserData(str(data), dict(user_options or {}))
    elif user_options and any(v is not None for v in user_options.values()):
        given = [k for k, v in user_options.items() if v is not None]
        raise ValidationError(f"{given} describe user data: give the data with --data")
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
        _check_user_data(the_plan.cells, user)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out)
    if not resume:  # what cells shared in an earlier run (context.scratch) goes too
        shutil.rmtree(out / "scratch", ignore_errors=True)
    store = Store(out)
    records: dict[str, tuple[Cell, dict[str, Any]]] = {}
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
    load_start = _load_average()
    failed = 0
    # cells of one dataset next to each other (workers reuse the loaded data), seeds
    # innermost (workers running side by side take different seeds, so work a task
    # shares per seed, such as the agent task's answers, is not waited for twice)
    pending.sort(key=lambda c: (c.task.name, c.dataset.name, c.split, c.method.name, c.seed))
    for index, rec in imap_tasks(
        _run_cell,
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
        cell = pending[index]
        rec["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        store.save(cell, rec)
        records[cell.key] = (cell, rec)
        if rec["status"] == "failed":
            failed += 1
            log(f"  failed {cell.label()}: {rec['error']}")
    ordered = [records[c.key] for c in the_plan.cells if c.key in records]
    table = tidy(ordered)
    write_table(table, out)
    n_na = sum(1 for _, r in ordered if r["status"] == "n/a")
    not_applicable = [
        {
            "task": c.task.name,
            "dataset": c.dataset.name,
            "split": c.split,
            "method": c.method.name,
            "reason": r.get("reason", ""),
        }
        for c, r in ordered
        if r["status"] == "n/a" and c.seed == the_plan.seeds[0]
    ]
    facts: dict[str, dict[str, dict[str, Any]]] = {}
    for c, r in ordered:
        if r.get("dataset_facts"):
            facts.setdefault(c.task.name, {}).setdefault(c.dataset.name, r["dataset_facts"])
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
        "not_applicable": not_applicable,
        "dataset_facts": facts,
        "user_data": {"path": user.path, "options": dict(user.options)} if user else None,
        "environment": _environment(),
        "hardware": _hardware(device),
        "load_average": {"start": load_start, "end": _load_average()},
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


def report(
    out: str | Path,
    *,
    figures: Callable[[pd.DataFrame, Sequence[Task]], Mapping[str, Any]] | None = None,
) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` again from a finished run's
    ``results.parquet`` and ``manifest.json`` in ``out`` (nothing is computed); e.g. to
    add the figures (``figures=vc.pl.bench_figures``) to a run made without them.

    Returns
    -------
    (report.html, report.md)
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
