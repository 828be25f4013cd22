"""Memory of verified runs: worked examples for new questions.

A run is stored only when its answer passed the agent's own verification (every claim of
the answer supported by the knowledge base or the workspace results: ``Answer.verification
== "verified"``), at least one tool call ran, **and the answer was checked against the
evidence the run obtained** (``Answer.evidence == "checked"``: a result of a tool that
gives the kind of answer the question asks for holds the answer, :mod:`._evidence`).
Verification alone let supported but off-question answers in (a GO process quoted as
"a target gene"), which later runs copied. No ground truth is used, so nothing the
benchmark's checkers know can leak in. A record keeps the question, the plan, the tool
calls that ran (tool, arguments, a short observation), the answer and its citations.

New questions retrieve the most similar stored runs (BM25 over the stored questions; a
run whose question is the same text as the new one is never returned, so a benchmark
on fresh instances measures learning, not recall) and the agent shows them as worked
examples before the question.

The store is one JSON file (``settings.cache_dir/agent/memory.json`` unless a path is
given), versioned and written atomically.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .._errors import ValidationError
from .._utils import write_json

__all__ = ["MEMORY_VERSION", "Memory", "default_memory_path"]

MEMORY_VERSION = 1
_OBS_CHARS = 160


def default_memory_path() -> Path:
    """``settings.cache_dir/agent/memory.json``."""
    from .._settings import settings

    return Path(settings.cache_dir) / "agent" / "memory.json"


class Memory:
    """A local store of verified runs.

    Parameters
    ----------
    path
        The JSON file (default :func:`default_memory_path`); created on the first store.
    max_runs
        Keep at most this many runs (the oldest are dropped first).
    """

    def __init__(self, path: str | Path | None = None, *, max_runs: int = 500) -> None:
        self.path = Path(path) if path is not None else default_memory_path()
        self.max_runs = int(max_runs)
        self.runs: list[dict[str, Any]] = self._read()

    def _read(self) -> list[dict[str, Any]]:
        import json

        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as err:
            raise ValidationError(f"memory file {self.path}: not readable JSON ({err})") from err
        if not isinstance(data, dict) or data.get("version") != MEMORY_VERSION:
            raise ValidationError(
                f"memory file {self.path}: not a version-{MEMORY_VERSION} agent memory"
            )
        return list(data.get("runs", []))

    def __len__(self) -> int:
        return len(self.runs)

    def _write(self) -> None:
        write_json(self.path, {"version": MEMORY_VERSION, "runs": self.runs})

    @staticmethod
    def record(answer: Any) -> dict[str, Any]:
        """The stored form of an :class:`~virtualcell.agent.Answer`."""
        tools = [c["tool"] for c in answer.calls if c.get("ok")]
        return {
            "question": answer.question,
            "plan": answer.plan.strip() or " -> ".join(tools),
            "calls": [
                {
                    "tool": c["tool"],
                    "arguments": c["arguments"],
                    "observation": str(c.get("observation", ""))[:_OBS_CHARS],
                }
                for c in answer.calls
                if c.get("ok")
            ],
            "answer": answer.draft.strip(),
            "citations": list(answer.citations),
            "evidence": getattr(answer, "evidence", ""),
            "stored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    @staticmethod
    def verified(answer: Any) -> bool:
        """Whether ``answer`` may be stored: it passed verification, a tool call ran and
        the answer was checked against the run's evidence (``answer.evidence``)."""
        return (
            answer.stopped == "answer"
            and answer.verification == "verified"
            and getattr(answer, "evidence", "") == "checked"
            and any(c.get("ok") for c in answer.calls)
        )

    def add(self, answer: Any) -> bool:
        """Store ``answer`` if :meth:`verified` (returns whether it was stored)."""
        if not self.verified(answer):
            return False
        self.runs.append(self.record(answer))
        self.runs = self.runs[-self.max_runs :]
        self._write()
        return True

    def similar(self, question: str, k: int = 1) -> list[dict[str, Any]]:
        """The ``k`` stored runs whose questions best match ``question`` (never one with
        the same question text)."""
        from ..knowledge import BM25

        pool = [r for r in self.runs if r["question"].strip() != question.strip()]
        if not pool or k <= 0:
            return []
        bm = BM25().fit([r["question"] for r in pool])
        scores = bm.scores(question)
        order = sorted(range(len(pool)), key=lambda i: (-scores[i], i))
        return [pool[i] for i in order[:k] if scores[i] > 0]

    def clear(self) -> int:
        """Remove every stored run; returns how many there were."""
        n = len(self.runs)
        self.runs = []
        if self.path.exists():
            self._write()
        return n

    def export(self, path: str | Path) -> Path:
        """Write the store to ``path`` (the same versioned JSON)."""
        path = Path(path)
        write_json(path, {"version": MEMORY_VERSION, "runs": self.runs})
        return path
