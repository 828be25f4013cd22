"""The provenance log of an agent run (JSONL) and its replay without the LLM.

One JSON object per line, in order, each with ``i`` (sequence number), ``t`` (seconds
since the start) and ``event``:

``start``
    question, backend, options, the tools offered, the preloaded workspace objects (handle,
    source path, digest).
``prompt`` / ``reply``
    the exact messages sent to the LLM; its text, token counts and seconds.
``call``
    tool, arguments, ok, the observation shown to the model, error, result handle and
    the sha256 digest of the whole result.
``verify``
    every claim check.
``answer``
    the final answer, citations, totals and why the run stopped.

The file is rewritten atomically after every event (runs log tens of events), so a
killed run leaves a complete log of what happened up to that point.
:func:`replay` re-runs a log: the log is read back into the run's typed steps
(:class:`~._run_memory.RunMemory`), their replies stand in for the LLM, every tool call runs
again, and each result digest and the final answer are compared.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import DataFormatError
from .._utils import write_text

__all__ = ["ProvenanceLog", "ReplayReport", "read_log", "replay", "transcript_from_log"]


class ProvenanceLog:
    """An append-only JSONL log rewritten atomically on each event (``path=None``: memory)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.records: list[dict[str, Any]] = []
        self._t0 = time.perf_counter()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, event: str, **fields: Any) -> dict[str, Any]:
        rec = {
            "i": len(self.records),
            "t": round(time.perf_counter() - self._t0, 4),
            "event": event,
        }
        rec.update(fields)
        self.records.append(json.loads(json.dumps(rec, default=str)))
        if self.path is not None:
            write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))
        return rec


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a provenance log.

    Parameters
    ----------
    path
        A provenance log (``provenance.jsonl``: one JSON record per line).

    Returns
    -------
    list[dict[str, Any]]
        The records in file order (a :class:`~virtualcell.DataFormatError` names the first
        line that is not JSON, or says the file is not a provenance log).
    """
    records = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path}: line {n} is not JSON ({err.msg})") from err
    if not records or records[0].get("event") != "start":
        raise DataFormatError(f"{path} is not an agent provenance log (no start record)")
    return records


@dataclass
class ReplayReport:
    """Outcome of :func:`replay`."""

    ok: bool
    answer: str
    recorded_answer: str
    calls: int
    mismatches: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "answer": self.answer,
            "recorded_answer": self.recorded_answer,
            "calls": self.calls,
            "mismatches": self.mismatches,
        }


def replay(
    path: str | Path,
    *,
    kb: Any = None,
    objects: dict[str, Any] | None = None,
    workspace_root: str | Path | None = None,
) -> ReplayReport:
    """Re-run a logged agent run without the LLM and compare it with the log.

    Parameters
    ----------
    path
        The JSONL log.
    kb
        The knowledge base the run used (an opened store); default: open the store whose
        path the log recorded.
    objects
        Preloaded workspace objects by handle; default: read each recorded source file.
    workspace_root
        Folder for the replay's workspace (default a new temporary folder).
    """
    from ..knowledge import load as open_kb
    from ._backends import ScriptedBackend
    from ._loop import Agent
    from ._run_memory import RunMemory
    from ._workspace import Workspace, digest

    records = read_log(path)
    start = records[0]
    logged = RunMemory.from_records(records)
    replies = logged.replies()
    ws = Workspace(workspace_root)
    mismatches: list[str] = []
    for pre in start.get("objects", []):
        handle = pre["handle"]
        if objects and handle in objects:
            value = objects[handle]
        elif pre.get("source"):
            from ..data import read

            value = read(pre["source"])
        else:
            mismatches.append(f"object {handle!r} has no recorded source; pass objects=")
            continue
        if digest(value) != pre.get("digest"):
            mismatches.append(f"object {handle!r} differs from the recorded one")
        ws.put(value, name=handle)
    own_kb = kb is None and start.get("kb")
    if own_kb:
        kb = open_kb(start["kb"])
    try:
        opts = dict(start.get("options", {}))
        agent = Agent(ScriptedBackend(replies), kb=kb, workspace=ws, log_path=None, **opts)
        answer = agent.run(start["question"])
    finally:
        if own_kb:
            kb.close()
    recorded, new = logged.actions(), agent.steps.actions()
    if len(recorded) != len(new):
        mismatches.append(f"{len(recorded)} calls recorded, {len(new)} replayed")
    for a, b in zip(recorded, new, strict=False):
        if (a.tool, a.digest) != (b.tool, b.digest):
            mismatches.append(f"call {a.tool}: recorded digest {a.digest}, replayed {b.digest}")
    finals = [s for s in logged.steps if s.event == "answer"]
    recorded_answer = finals[-1].answer if finals else ""
    if recorded_answer != answer.answer:
        mismatches.append("the final answer differs")
    return ReplayReport(not mismatches, answer.answer, recorded_answer, len(new), mismatches)


def transcript_from_log(path: str | Path) -> str:
    """A readable account of a logged run (:meth:`~._run_memory.RunMemory.transcript` of the
    steps the log records).

    Parameters
    ----------
    path
        The run's provenance log (``provenance.jsonl``).

    Returns
    -------
    str
        Question, plan, each call with its observation, the draft, verification, the
        answer and its citations, one item per line.
    """
    from ._run_memory import RunMemory

    return RunMemory.from_records(read_log(path)).transcript()
