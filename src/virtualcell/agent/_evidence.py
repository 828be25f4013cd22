"""Does a run's answer answer the question, by the evidence the run obtained?

The verifier (:mod:`._verify`) checks that each claim of an answer is supported by the
knowledge base or a tool result; it does not check that the answer is *what the question
asks for*: a GO process quoted from ``go_annotations`` is a supported answer to "Name a
target gene of KLF1" (measured: such runs were stored in the memory of verified runs and
then copied, docs/agent.md). This module adds that check, from the question's words and
the tool results only (no task label, no checker):

1. **What the question asks for** (:func:`asked_kind`): the noun of the last
   ``which/what/name/list/find ... NOUN`` phrase of the question (``how many`` asks for a
   number; "is the claim ... supported" for a verdict), mapped onto a kind: ``gene``,
   ``process`` (a GO term, pathway or gene set), ``perturbation``, ``group`` (a cluster
   or group label), ``edges``, ``number`` or ``verdict``. No such phrase: unknown.
2. **What the answer is**: each tool declares the kind of answer its results give
   (``ToolSpec.answer_kind``: ``tf_targets`` gives genes, ``go_annotations`` processes
   ...). The answer's evidence is a call that ran, whose observation contains an item of
   the answer that the question does not already contain.
3. The answer is **checked** when some evidence call's kind is the kind asked for.

Only checked runs are stored in the memory of verified runs (:mod:`._memory`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ANSWER_KINDS", "asked_kind", "asked_kinds", "check_evidence"]

#: The kinds of answer, each with the nouns that ask for it.
ANSWER_KINDS: dict[str, tuple[str, ...]] = {
    "gene": ("gene", "genes", "target", "targets", "regulator", "regulators"),
    "process": ("process", "processes", "pathway", "pathways", "term", "terms", "gene set",
                "function"),
    "perturbation": ("perturbation", "perturbations", "knockout", "knockouts"),
    "group": ("cluster", "clusters", "group", "groups", "cell type", "population"),
    "edges": ("edge", "edges", "interaction", "interactions"),
    "number": (),
    "verdict": (),
}  # fmt: skip

_NOUNS = sorted(((n, k) for k, ns in ANSWER_KINDS.items() for n in ns), key=lambda x: -len(x[0]))
_NOUN = "|".join(re.escape(n) for n, _ in _NOUNS)
#: a question word, then at most 6 words (no clause break), then the noun asked for
_ASK = re.compile(
    rf"\b(?:which|what|name|list|find|give)\b(?:\s+[^\s.,;:?!()]+){{0,6}}?\s+({_NOUN})\b",
    re.I,
)
_HOW_MANY = re.compile(r"\bhow many\b|\bnumber of\b", re.I)
_VERDICT = re.compile(r"\b(?:is|are) the (?:claim|statement)s?\b|\btrue or false\b", re.I)
_ITEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")
_COMMON = frozenset(
    """an as at be by in is of on or to the and are for with from that this these those
    none found could not answer""".split()
)


def _asked(question: str) -> list[tuple[int, str]]:
    found = [(m.start(), "number") for m in _HOW_MANY.finditer(question)]
    found += [(m.start(), "verdict") for m in _VERDICT.finditer(question)]
    nouns = dict(_NOUNS)
    found += [(m.start(), nouns[m.group(1).lower()]) for m in _ASK.finditer(question)]
    return sorted(found)


def asked_kind(question: str) -> str | None:
    """The kind of answer ``question`` asks for (see the module docstring), or ``None``."""
    found = _asked(question)
    return found[-1][1] if found else None


def asked_kinds(question: str) -> list[str]:
    """Every kind ``question`` asks for, in the question's order, each once (a question
    in several steps: "find the perturbation ..., list the targets ..., name a process")."""
    return list(dict.fromkeys(k for _, k in _asked(question)))


def _items(text: str, question: str) -> list[str]:
    """Items of an answer the question does not already contain (case-insensitive)."""
    asked = {t.lower() for t in _ITEM.findall(question)}
    return [
        t
        for t in _ITEM.findall(text)
        if t.lower() not in asked and t.lower() not in _COMMON and (len(t) > 1 or t.isdigit())
    ]


def check_evidence(
    question: str, answer: str, calls: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]
) -> str:
    """``"checked"`` when a call that ran gives the kind of answer ``question`` asks for
    and its observation holds an item of ``answer``; otherwise the reason it is not.

    Parameters
    ----------
    question
        The question as asked.
    answer
        The answer draft (before citation marks).
    calls
        The run's calls (``tool``, ``ok``, ``observation``), as in ``Answer.calls``.
    kinds
        ``{tool name: answer kind}`` (``ToolSpec.answer_kind``; a tool without one gives
        no evidence).

    Returns
    -------
    str
        ``"checked"`` or a one-line reason.
    """
    want = asked_kind(question)
    if want is None:
        return "the question's answer kind is unknown"
    # a verdict is one of the words the question offers; other answers must add an item
    items = _ITEM.findall(answer) if want == "verdict" else _items(answer, question)
    if not items:
        return "the answer adds nothing to the question"
    for c in calls:
        if not c.get("ok") or kinds.get(c.get("tool", "")) != want:
            continue
        obs = str(c.get("observation", "")).lower()
        if any(t.lower() in obs for t in items):
            return "checked"
    return f"no result of a {want}-giving tool holds the answer"
