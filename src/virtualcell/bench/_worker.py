"""The worker side of a benchmark run: one cell in one process (:func:`run_cell`, what
the engine's workers call), with a small per-process cache of loaded datasets, and the
check of the user's own data (``--data``) before the grid starts."""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
import traceback
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .._errors import ValidationError
from .._settings import settings
from .._version import __version__
from ._measure import measure
from ._store import Cell
from ._task import RunContext, UserData

__all__ = ["check_user_data", "run_cell"]

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


def check_user_data(cells: Sequence[Cell], user: UserData) -> None:
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


def run_cell(
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
