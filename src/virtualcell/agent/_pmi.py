"""How much the question's own entities raise a candidate answer value: pointwise mutual
information under the backend's model.

An answer value (a GO term a tool ranked, a Hallmark set) can be likely to a language
model for two reasons: it fits the question's entities (the genes listed), or it is a
short, frequent name the model likes whatever the genes (``cell cycle``). The noisy
channel score ``log p(value | question)`` mixes both; the prior
``log p(value | question with its entities masked)`` measures the second alone, and their
difference

    PMI(value; entities) = log p(value | question) - log p(value | masked question)

is what the entities contribute. Both use the same continuation (the value as written),
so its length and tokenisation cancel. The masked question keeps the template's words
(``Which biological process ... best describes this gene set: ?``), so the prior is the
model's preference among the values for that kind of question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ._backends import Backend

__all__ = ["MASK", "masked_question", "pmi_scores", "question_genes", "spoken"]

#: what an entity of the question is replaced by in the prior's context
MASK = "..."

#: a trailing identifier in parentheses (``(GO:0006915)``)
_ID = re.compile(r"\s*\([A-Za-z][\w.]*:[\w.]+\)\s*$")


def spoken(value: str) -> str:
    """The words of an answer value that a language model can know: a trailing
    identifier (``apoptotic process (GO:0006915)`` -> ``apoptotic process``) is dropped;
    its digits are tokens the model can only guess, which add noise to both terms of the
    PMI."""
    out = _ID.sub("", str(value)).strip()
    return out or str(value)


def masked_question(question: str, entities: Sequence[str]) -> str:
    """``question`` with every whole-word occurrence of ``entities`` replaced by one
    :data:`MASK` per run of masked entities (``A, B and C`` -> ``...``)."""
    names = sorted({e for e in entities if e}, key=len, reverse=True)
    if not names:
        return question
    word = "|".join(re.escape(e) for e in names)
    one = rf"(?<![\w-])(?:{word})(?![\w-])"
    run = rf"{one}(?:\s*(?:,|and|or|;)?\s*{one})*"
    return re.sub(run, MASK, question)


def question_genes(fill: Any) -> list[str]:
    """The genes a :class:`~._fill.Fill` found in the question (not in results): the
    entities :func:`pmi_scores` masks."""
    if fill is None:
        return []
    derived = set(fill.derived.get("gene", []))
    return [g for g in fill.of("gene") if g not in derived]


def pmi_scores(
    backend: Backend, question: str, values: Sequence[str], entities: Sequence[str]
) -> dict[str, list[float]] | None:
    """``{"cond", "prior", "pmi"}``: for each of ``values``, log p(value | question),
    log p(value | question with ``entities`` masked) and their difference, from the
    backend's ``score`` (the value's words, :func:`spoken`, as the start of the reply to
    the question as a user turn); ``None`` when the backend cannot score."""
    values = [spoken(v) for v in values]
    cond = backend.score([{"role": "user", "content": question}], values)
    if cond is None:
        return None
    prior = backend.score(
        [{"role": "user", "content": masked_question(question, entities)}], values
    )
    if prior is None:
        return None
    c = [float(x) for x in cond]
    p = [float(x) for x in prior]
    return {"cond": c, "prior": p, "pmi": [a - b for a, b in zip(c, p, strict=True)]}
