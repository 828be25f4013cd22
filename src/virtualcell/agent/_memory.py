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

New questions retrieve the most similar stored runs by :func:`question_similarity`: the
Jaccard similarity of the two questions' word sets with their entities masked (gene
symbols, GO ids, Hallmark names, edges, labels, numbers -> one placeholder word per kind,
:func:`mask_entities`), so two instances of one question template score about 1 and
questions of different templates at most ~0.5 (measured: ``benchmarks/
agent_memory_similarity.py``). A run whose question is the same text as the new one is
never returned, so a benchmark on fresh instances measures learning, not recall. The
agent shows them as worked examples before the question.

The retrieved runs also act on decisions, not only on the prompt (which a small model's
scored choices do not read): :func:`tool_prior` turns their tool sequences into a prior
over the branches of a turn, the similarity-weighted vote of the runs of the same
template (similarity >= :data:`MIN_SIMILARITY`), each vote weighted by how much of its
question the run's calls used (:func:`entity_coverage`); the branch rule adds it
(:func:`~._choose.choose_branch`) among the branches the reply schema offers (so it
never makes a call invalid), and where the question's words name no answer kind the
kinds of the best such run's tools stand in (:func:`memory_kinds`).

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
    "entity_coverage",
    "mask_entities",
    "memory_kinds",
    "question_entities",
    "question_similarity",
    "tool_prior",
]

MEMORY_VERSION = 1
_OBS_CHARS = 160
_WORD = re.compile(r"[a-z][a-z0-9_\-]+")
#: a stored run acts on a decision (its tools as a prior, its kinds as the asked kinds)
#: only when its question is at least this similar: an instance of the same template
#: (a run of another template, e.g. similarity 0.16, broke a near-tie the wrong way; with
#: masked entities same-template pairs score >= 0.75, other-template pairs <= 0.47 on
#: seeds 100-102)
MIN_SIMILARITY = 0.5


#: entity kinds of :func:`mask_entities`, in the order they are replaced, each with its
#: pattern and its placeholder (a word no question uses)
_ENTITIES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("edge", re.compile(r"[A-Za-z0-9_.:\-]+\s*(?:->|→)\s*[A-Za-z0-9_.:\-]+"), "ent_edge"),
    ("go", re.compile(r"\bGO:\d{7}\b"), "ent_go"),
    ("hallmark", re.compile(r"\bHALLMARK_[A-Z0-9_]+\b"), "ent_hallmark"),
    # a label with an index: cluster ``c3``, cell type ``type_2`` (obs levels)
    ("label", re.compile(r"\b(?:[A-Za-z]+_\d+|[a-z]\d{1,3})\b"), "ent_label"),
    ("number", re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])"), "ent_num"),
)
#: a gene-symbol-like token (the agent's argument filling reads symbols the same way:
#: upper case, or letters with digits, ``_fill._gene_tokens``)
_SYMBOL = re.compile(r"(?<![\w.\-])[A-Za-z0-9][A-Za-z0-9.\-]*[A-Za-z0-9](?![\w\-])|\b[A-Z]\b")
#: upper-case words of the questions' own wording that are not entities
_NOT_SYMBOLS = frozenset({"GO", "TF", "TFS", "KB", "DNA", "RNA", "ID", "BP", "MF", "CC", "I", "A"})


def _is_symbol(tok: str) -> bool:
    if tok in _NOT_SYMBOLS or tok.isdigit():
        return False
    has_alpha = any(c.isalpha() for c in tok)
    return has_alpha and (tok.isupper() or (any(c.isdigit() for c in tok) and tok[0].isalpha()))


def mask_entities(text: str) -> str:
    """``text`` with its entities replaced by one placeholder word per kind, so that two
    instances of a question template read the same: ``TF->target`` edges (``ent_edge``),
    GO ids (``ent_go``), Hallmark set names (``ent_hallmark``), indexed labels such as
    clusters ``c3`` or ``type_2`` (``ent_label``), numbers (``ent_num``) and gene
    symbols (``ent_gene``: upper-case tokens or letters with digits, the question's own
    upper-case words such as ``GO`` or ``TF`` excepted). No store is read: the rule is
    the shape of the token, as in the agent's argument filling."""
    for _, pattern, word in _ENTITIES:
        text = pattern.sub(word, text)
    return _SYMBOL.sub(lambda m: "ent_gene" if _is_symbol(m.group(0)) else m.group(0), text)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(mask_entities(text).lower()))


def question_similarity(a: str, b: str) -> float:
    """Jaccard similarity of two questions' word sets with their entities masked
    (:func:`mask_entities`; lower-cased words of two or more characters), in [0, 1]:
    two instances of one question template, which differ only in their genes, ids or
    numbers, score 1; questions of different templates share a few words."""
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / len(wa | wb) if wa | wb else 0.0


def question_entities(text: str) -> list[str]:
    """The entities :func:`mask_entities` masks in ``text`` (edges, GO ids, Hallmark
    names, labels, numbers, gene symbols), each once, in order of kind then position."""
    out: list[str] = []
    for _, pattern, word in _ENTITIES:
        out += [m.group(0) for m in pattern.finditer(text) if m.group(0) not in out]
        text = pattern.sub(word, text)
    out += [t for t in dict.fromkeys(m.group(0) for m in _SYMBOL.finditer(text)) if _is_symbol(t)]
    return list(dict.fromkeys(out))


def entity_coverage(run: Mapping[str, Any]) -> float:
    """The share of a stored run's question entities (:func:`question_entities`) that its
    tool calls' arguments name (1 when the question has none): how much of what the
    question gives the run's evidence was computed from. A run that answered a 20-gene
    question from one gene's annotations covers 0.05; one that enriched the whole list
    covers about 1. No ground truth is read: the question and the run's own calls."""
    ents = question_entities(str(run.get("question", "")))
    if not ents:
        return 1.0
    import json

    args = json.dumps([c.get("arguments", {}) for c in run.get("calls", [])])
    named = sum(bool(re.search(r"(?<![\w.\-])" + re.escape(e) + r"(?![\w\-])", args)) for e in ents)
    return named / len(ents)


def tool_prior(
    runs: Sequence[tuple[dict[str, Any], float]], step: int, branches: Sequence[str | None]
) -> dict[str | None, float]:
    """A prior over a turn's branches from retrieved runs: the similarity-weighted vote
    of the runs at least :data:`MIN_SIMILARITY` similar (instances of the same question
    template) for the branch each took at this ``step`` (the number of results so far:
    the run's call at that index, or its answer when it made ``step`` calls), each vote
    also weighted by the run's :func:`entity_coverage`, times the largest similarity:
    ``prior[b] = max(sim) * sum(sim * coverage * [run took b]) / sum(sim)`` over those
    runs, in [0, 1]; 0 for every branch when no run is that similar.

    Unanimous runs of the same template whose calls used all the question's entities
    give their branch their similarity (about 1); runs that disagree split it (the
    model's scores decide between them); a run that read a small part of its question
    counts little.

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
    mass = top = 0.0
    for run, sim in runs:
        if sim < MIN_SIMILARITY:
            continue
        mass += float(sim)
        top = max(top, float(sim))
        tools = [c["tool"] for c in run.get("calls", [])]
        took = tools[step] if step < len(tools) else (None if step == len(tools) else "")
        if took in out:
            out[took] += float(sim) * entity_coverage(run)
    return {b: (top * v / mass if mass else 0.0) for b, v in out.items()}


def memory_kinds(
    runs: Sequence[tuple[dict[str, Any], float]], kinds: Mapping[str, str | None]
) -> list[str]:
    """The answer kinds the tools of the best retrieved run gave, in its call order
    (``kinds``: tool -> declared answer kind): the run of the largest similarity times
    :func:`entity_coverage` among those at least :data:`MIN_SIMILARITY` similar; none
    when no run is."""
    similar = [(r, s * entity_coverage(r)) for r, s in runs if s >= MIN_SIMILARITY]
    best = max(similar, key=lambda r: r[1], default=None)
    if best is None:
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

    def similar_scored(self, question: str, k: int = 3) -> list[tuple[dict[str, Any], float]]:
        """The ``k`` stored runs most similar to ``question`` by
        :func:`question_similarity` (entities masked), each with its similarity, the
        most similar first and, among equally similar runs, the newest first; never a run
        with the same question text, never one of similarity 0."""
        q = question.strip()
        scored = [
            (i, r, question_similarity(question, r["question"]))
            for i, r in enumerate(self.runs)
            if r["question"].strip() != q
        ]
        scored.sort(key=lambda x: (-x[2], -x[0]))
        return [(r, s) for _, r, s in scored[: max(k, 0)] if s > 0]

    def similar(self, question: str, k: int = 1) -> list[dict[str, Any]]:
        """The runs of :meth:`similar_scored` (the worked examples shown)."""
        return [r for r, _ in self.similar_scored(question, k)]

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
