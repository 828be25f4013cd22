"""The result store: one JSON record per finished grid cell, and the tidy results table.

A *cell* is one ``(task, dataset, split, method, seed)`` of the grid, with the versions of
the task, dataset and method and the method's options; its key is the sha256 of all of
that. A finished cell is written atomically to ``OUT/runs/<task>/<dataset>/<method>/
<split>_s<seed>_<key>.json`` the moment it finishes, so an interrupted run loses at most
the cells that were running, and a rerun reuses every record whose key matches (a
changed version or option changes the key: that cell is recomputed, never mixed).

Record format ``virtualcell.bench.cell/1``: ``key``, ``cell`` (the identity above),
``status`` (``ok``, ``n/a`` with ``reason``, ``failed`` with ``error``), ``rows``
(``[{metric, value}]``), ``runtime_s``, ``cpu_s``, ``load_s``, ``peak_mb``,
``py_peak_mb``, ``dataset_facts``, ``versions``, ``finished_at``. Failed cells are
recorded (and shown) but not reused: a rerun tries them again.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._utils import atomic_path, clean_stale_temps, sha256_bytes, write_json
from ._task import Dataset, Method, Task

__all__ = ["RECORD_FORMAT", "RESULT_COLUMNS", "Cell", "Store", "tidy"]

RECORD_FORMAT = "virtualcell.bench.cell/1"
#: Columns of ``results.parquet`` / ``results.csv``, in order.
RESULT_COLUMNS = [
    "task",
    "dataset",
    "split",
    "method",
    "seed",
    "metric",
    "value",
    "runtime_s",
    "peak_mb",
    "versions",
    "baseline",
    "peer",
    "status",
    "cpu_s",
    "load_s",
    "py_peak_mb",
    "error",
    "key",
]
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Cell:
    """One grid cell (what a worker runs)."""

    task: Task
    dataset: Dataset
    split: str
    method: Method
    seed: int
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def identity(self) -> dict[str, Any]:
        """Everything the result depends on (the key is its sha256)."""
        return {
            "task": self.task.name,
            "task_version": self.task.version,
            "dataset": self.dataset.name,
            "dataset_version": self.dataset.version,
            "split": self.split,
            "method": self.method.name,
            "method_version": self.method.version,
            "seed": int(self.seed),
            "options": self.options,
        }

    @property
    def key(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        return sha256_bytes(text)[:16]

    def label(self) -> str:
        return f"{self.task.name}/{self.dataset.name}/{self.split}/{self.method.name}/s{self.seed}"


class Store:
    """Cell records under ``out/runs``."""

    def __init__(self, out: str | Path) -> None:
        self.root = Path(out) / "runs"

    def path(self, cell: Cell) -> Path:
        parts = [_SAFE.sub("_", p) for p in (cell.task.name, cell.dataset.name, cell.method.name)]
        name = f"{_SAFE.sub('_', cell.split)}_s{cell.seed}_{cell.key}.json"
        return self.root.joinpath(*parts, name)

    def load(self, cell: Cell) -> dict[str, Any] | None:
        """The finished record of ``cell`` (``ok`` or ``n/a``), or ``None``."""
        path = self.path(cell)
        if not path.is_file():
            return None
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # unreadable: recompute (atomic writes make this rare)
        if rec.get("format") != RECORD_FORMAT or rec.get("key") != cell.key:
            return None
        return rec if rec.get("status") in ("ok", "n/a") else None

    def save(self, cell: Cell, record: dict[str, Any]) -> Path:
        path = self.path(cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(path.parent)
        return write_json(path, _finite({"format": RECORD_FORMAT, **record}))


def _finite(obj: Any) -> Any:
    """NaN/inf -> None so that records are strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _versions(rec: dict[str, Any]) -> str:
    c = rec["cell"]
    v = rec.get("versions", {})
    return (
        f"virtualcell={v.get('virtualcell', '?')};task={c['task']}@{c['task_version']};"
        f"dataset={c['dataset']}@{c['dataset_version']};method={c['method']}@{c['method_version']}"
    )


def tidy(records: Iterable[tuple[Cell, dict[str, Any]]]) -> pd.DataFrame:
    """The tidy results table: one row per (cell, metric); failed cells get one row with
    ``metric = "error"`` and the message; ``n/a`` cells are left out (they are listed in
    the manifest and the report)."""
    rows = []
    for cell, rec in records:
        base = {
            "task": cell.task.name,
            "dataset": cell.dataset.name,
            "split": cell.split,
            "method": cell.method.name,
            "seed": int(cell.seed),
            "runtime_s": rec.get("runtime_s"),
            "peak_mb": rec.get("peak_mb"),
            "versions": _versions(rec),
            "baseline": bool(cell.method.baseline),
            "peer": bool(cell.method.peer),
            "status": rec["status"],
            "cpu_s": rec.get("cpu_s"),
            "load_s": rec.get("load_s"),
            "py_peak_mb": rec.get("py_peak_mb"),
            "error": rec.get("error"),
            "key": cell.key,
        }
        if rec["status"] == "ok":
            for r in rec["rows"]:
                value = r.get("value")
                rows.append(
                    {
                        **base,
                        "metric": r["metric"],
                        "value": math.nan if value is None else float(value),
                    }
                )
        elif rec["status"] == "failed":
            rows.append({**base, "metric": "error", "value": math.nan})
    table = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for col in ("value", "runtime_s", "peak_mb", "cpu_s", "load_s", "py_peak_mb"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    table["seed"] = table["seed"].astype("int64")
    table["baseline"] = table["baseline"].astype(bool)
    table["peer"] = table["peer"].astype(bool)
    return table.sort_values(["task", "dataset", "split", "method", "seed", "metric"]).reset_index(
        drop=True
    )


def write_table(table: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """``results.parquet`` and ``results.csv`` in ``out``, each written atomically."""
    out = Path(out)
    parquet, csv = out / "results.parquet", out / "results.csv"
    with atomic_path(parquet) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    return parquet, csv


def read_results(out: str | Path) -> pd.DataFrame:
    """The tidy table a run wrote into ``out``.

    Parameters
    ----------
    out
        The run's output folder (the ``out`` of :func:`vc.bench.run`), holding
        ``results.parquet``.

    Returns
    -------
    pd.DataFrame
        One row per (task, dataset, split, method, seed, metric) with the columns of
        :data:`RESULT_COLUMNS`.
    """
    from .._errors import ValidationError

    path = Path(out) / "results.parquet"
    if not path.is_file():
        raise ValidationError(f"no benchmark results in {out} (results.parquet missing)")
    return pd.read_parquet(path)
