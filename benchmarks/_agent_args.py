"""The command-line options the agent design benchmarks share (design seeds, task count,
knowledge store, local model, output file, task folder)."""

from __future__ import annotations

import argparse


def agent_parser(
    doc: str | None, out: str, *, model: bool = True, folder: bool = True
) -> argparse.ArgumentParser:
    """A parser with ``--seeds`` (design seeds, default 100), ``--tasks``, ``--kb``,
    ``--model`` (``model=True``), ``--out`` (default ``out``) and ``--folder``
    (``folder=True``); a script adds its own options to it."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[100])
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--kb", default=None)
    if model:
        ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--out", default=out)
    if folder:
        ap.add_argument("--folder", default=None, help="task folder (default: a temporary one)")
    return ap


def data_preloader():
    """A ``preload(workspace, task)`` for ``agent_row``: puts a copy of the task's data
    set into the workspace as ``data``, each file read once per process."""
    import virtualcell as vc

    cache: dict = {}

    def preload(ws, task) -> None:
        if task.data:
            if task.data not in cache:
                cache[task.data] = vc.data.read_h5ad(task.data)
            ws.put(cache[task.data].copy(), name="data")

    return preload
