"""Planning a benchmark run: the grid of task x dataset x split x method x seed of a
preset, and everything left out of it with the reason (nothing is computed here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import ValidationError
from ._presets import get_preset
from ._store import Cell
from ._task import Method, Task, UserData, missing_requirements
from ._tasks import TASKS

__all__ = ["Plan", "PresetName", "plan"]

PresetName = Literal["quick", "demo", "full"]


@dataclass
class Plan:
    """The grid of a run, and everything left out of it with the reason."""

    preset: str
    seeds: tuple[int, ...]
    cells: list[Cell] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_objects: list[Task] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


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
    """The grid of a run (the options of :func:`vc.bench.run`); nothing is computed.

    Parameters
    ----------
    preset
        ``quick``, ``demo`` or ``full`` (see ``vc.bench.PRESETS``): the datasets and
        default seeds.
    tasks
        Task names (default: every registered task).
    methods
        Run only these methods (plus every baseline, always).
    exclude
        Methods to leave out; excluding a baseline is allowed, the plan records it.
    datasets
        Only these datasets (names as listed in the report).
    seeds
        Seeds (default: the preset's); an empty list is refused.
    user
        The user's own dataset and its flags (replaces the preset's datasets); each
        chosen task must read every flag given and get the flags it requires.

    Returns
    -------
    Plan
        The cells to run and, per task, its datasets, methods and what was skipped and
        why.
    """
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
