"""The ``out`` folder of ``vc.perturb.evaluate``: the run's identity (``run.json``), one
record per finished method (``methods/<method>.json``, written the moment it finishes)
and the resume rule (a folder holding a run of the same evaluation is resumed: finished
methods are read back, not rerun).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._utils import clean_stale_temps, log, write_json

if TYPE_CHECKING:  # pragma: no cover
    from ._tasks import Task

__all__ = ["RUN_FORMAT", "RunStore", "data_identity", "to_jsonable"]

#: Format of ``run.json`` and of ``methods/<method>.json`` in an evaluation's ``out``.
RUN_FORMAT = "virtualcell.perturb.evaluate/1"


def data_identity(data: Any) -> dict[str, Any] | None:
    """What identifies the input for a resume: a file or folder by its resolved path,
    size and modification time; an AnnData or a registry name cannot be told apart from
    a changed one cheaply, so ``None`` (such runs never resume)."""
    import anndata as ad

    if isinstance(data, ad.AnnData):
        return None
    path = Path(str(data)).expanduser()
    if not path.exists():
        return None
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class RunStore:
    """The ``out`` folder of an evaluation: the output rule, ``run.json`` (the run's
    identity) and one record per finished method, keyed like ``vcell bench``'s cells
    (sha256 of the run identity, the method and its options: any change recomputes)."""

    def __init__(self, out: str | Path, identity: dict[str, Any], data: Any, overwrite: bool):
        from .._utils import check_output

        self.folder = Path(out).expanduser()
        self.identity = identity
        inputs = [] if identity["data"] is None else [("data", str(data))]
        self.resume = False
        run = self.folder / "run.json"
        if not overwrite and identity["data"] is not None and run.is_file():
            try:
                old = json.loads(run.read_text())
            except (OSError, ValueError):
                old = None
            self.resume = old == to_jsonable(identity)
        if self.resume:
            check_output(self.folder, overwrite=True, inputs=inputs, kind="folder")
        else:
            check_output(self.folder, overwrite=overwrite, inputs=inputs, kind="folder",
                         hint="pass --overwrite (overwrite=True) to replace it; a folder of "
                         "the same evaluation (its run.json) is resumed")  # fmt: skip
        self.overwrite = overwrite

    def start(self, parts: list[Task], folds: int | None) -> None:
        """Create the folder (emptied of an earlier run's method records when not
        resuming) and write ``run.json`` and the splits."""
        import shutil

        self.folder.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(self.folder)
        if not self.resume:
            shutil.rmtree(self.folder / "methods", ignore_errors=True)
        (self.folder / "methods").mkdir(exist_ok=True)
        clean_stale_temps(self.folder / "methods")
        for f, part in enumerate(parts):
            part.split.save(
                self.folder / ("split.json" if not folds else f"split_fold{f}.json"),
                overwrite=True,  # the folder passed the output rule in __init__
            )
        write_json(self.folder / "run.json", to_jsonable(self.identity))
        if self.resume:
            log(f"perturb evaluate: resuming the run in {self.folder}")

    def path(self, name: str) -> Path:
        return self.folder / "methods" / f"{name}.json"

    def key(self, name: str, opts: dict[str, Any]) -> str:
        from .._utils import sha256_bytes

        text = json.dumps({"run": self.identity, "method": name, "options": opts},
                          sort_keys=True, default=_key_value)  # fmt: skip
        return sha256_bytes(text)[:16]

    def load(self, name: str, opts: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame] | None:
        path = self.path(name)
        if not self.resume or not path.is_file():
            return None
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if rec.get("format") != RUN_FORMAT or rec.get("key") != self.key(name, opts):
            return None
        table = pd.DataFrame(rec["table"]["rows"], columns=rec["table"]["columns"])
        for col in table.columns:
            if col not in ("method", "perturbation"):
                table[col] = pd.to_numeric(table[col], errors="coerce")
        if "fallback" in table:
            table["fallback"] = table["fallback"].astype(bool)
        if "fold" in table:
            table["fold"] = table["fold"].astype(int)
        record = dict(rec["record"], resumed=True)
        return record, table

    def save(
        self, name: str, opts: dict[str, Any], record: dict[str, Any], table: pd.DataFrame
    ) -> None:
        rows = table.astype(object).where(table.notna(), None).to_numpy().tolist()
        payload = {
            "format": RUN_FORMAT,
            "key": self.key(name, opts),
            "method": name,
            "record": to_jsonable(record),
            "table": {"columns": list(map(str, table.columns)), "rows": to_jsonable(rows)},
        }
        write_json(self.path(name), payload)


def _key_value(obj: Any) -> str:
    """An option that is not plain JSON, for a key: tables and arrays by their content (a
    printed table shows only its corners), anything else as printed."""
    from .._utils import sha256_bytes

    if isinstance(obj, pd.DataFrame | pd.Series):
        names = "|".join(map(str, obj.columns)) if isinstance(obj, pd.DataFrame) else ""
        content = pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes()
        return f"{type(obj).__name__}:{sha256_bytes(names.encode() + content)}"
    if isinstance(obj, np.ndarray):
        return f"ndarray{obj.shape}:{sha256_bytes(np.ascontiguousarray(obj).tobytes())}"
    return str(obj)


def to_jsonable(obj: Any) -> Any:
    """Recursively replace NaN / infinity by None and numpy scalars by Python numbers."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items() if not isinstance(v, pd.DataFrame)}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
