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

The retrieved runs also act on decisions, not only on the prompt (which a small model's
scored choices no longer read): :func:`tool_prior` turns their tool sequences into a
prior over the branches of a turn, each run weighted by how similar its question is
(:func:`question_similarity`, in [0, 1]); the branch rule adds it
(:func:`~._choose.choose_branch`), and where the question's words name no answer kind the
kinds of the most similar run's tools stand in (:func:`memory_kinds`).

The store is one JSON file (``settings.cache_dir/agent/memory.json`` unless a path is
given), versioned and written atomically.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import ValidationError
from .._utils import write_json

__all__ = [
    "MEMORY_VERSION",
    "Memory",
    "default_memory_path",
    "memory_kinds",
    "question_similarity",
    "tool_prior",
]

MEMORY_VERSION = 1
_OBS_CHARS = 160
_WORD = re.compile(r"[a-z][a-z0-9_\-]+")
#: a stored run acts on a decision (its tools as a prior, its kinds as the asked kinds)
#: only when its question is at least this similar: an instance of the same template
#: (a run of another template, e.g. similarity 0.16, broke a near-tie the wrong way)
MIN_SIMILARITY = 0.5


def question_similarity(a: str, b: str) -> float:
    """Jaccard similarity of two questions' word sets (lower-cased words of two or more
    characters), in [0, 1]: two instances of one question template share most words."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / len(wa | wb) if wa | wb else 0.0


def tool_prior(
    runs: Sequence[tuple[dict[str, Any], float]], step: int, branches: Sequence[str | None]
) -> dict[str | None, float]:
    """A prior over a turn's branches from retrieved runs: for each branch (a tool name,
    ``None`` for the answer) the largest similarity of a run that took it at this
    ``step`` (the number of results so far: the run's call at that index, or its answer
    when it made ``step`` calls); 0 for a branch no run at least :data:`MIN_SIMILARITY`
    similar took.

    Parameters
    ----------
    runs
        ``(stored run, similarity)`` pairs (:meth:`Memory.similar_scored`).
    step
        How many tool results the current run has.
    branches
        The offered branches.
    """
    out: dict[str | None, float] = {b: 0.0 for b in branches}
    for run, sim in runs:
        if sim < MIN_SIMILARITY:
            continue
        tools = [c["tool"] for c in run.get("calls", [])]
        took = tools[step] if step < len(tools) else (None if step == len(tools) else "")
        if took in out:
            out[took] = max(out[took], float(sim))
    return out


def memory_kinds(
    runs: Sequence[tuple[dict[str, Any], float]], kinds: Mapping[str, str | None]
) -> list[str]:
    """The answer kinds the tools of the most similar retrieved run gave, in its call
    order (``kinds``: tool -> declared answer kind), if its question is at least
    :data:`MIN_SIMILARITY` similar; else none."""
    best = max(runs, key=lambda r: r[1], default=None)
    if best is None or best[1] < MIN_SIMILARITY:
        return []
    out: list[str] = []
    for c in best[0].get("calls", []):
        k = kinds.get(c["tool"])
        if k and k not in out:
            out.append(k)
    return out


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

    def similar_scored(self, question: str, k: int = 3) -> list[tuple[dict[str, Any], float]]:
        """:meth:`similar`, each run with its :func:`question_similarity` to ``question``."""
        return [
            (r, question_similarity(question, r["question"])) for r in self.similar(question, k)
        ]

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
