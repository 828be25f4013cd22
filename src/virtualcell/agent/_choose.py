"""Which branch a constrained reply takes (a tool call or the answer), chosen by scoring
the branches, where the backend can score continuations (the local model).

Two rules (``Agent(choice=...)``):

``"opening"``
    The model's log-probability of each branch's opening (``{"tool":"NAME","args":`` /
    ``{"answer":[``) after the prompt. Token-by-token greedy decoding would pick the branch
    whose *first token* is likeliest, which favours tools sharing a prefix (``go_...``).
``"channel"`` (first call only; later turns use ``"opening"``)
    Two scores of each offered tool, z-scored over the offered tools and added:
    the model's log-probability of the *question* after a one-line card of the tool
    ("Tool NAME: first sentence of its description. Write a question this tool
    answers.": noisy-channel scoring, how well the tool explains the question, which
    removes the model's preference for short or familiar tool names), and the BM25 score
    of the question against the offered tools' cards. Measured on benchmark seeds the
    report does not use (``benchmarks/agent_tool_choice.py``, docs/agent.md): it picks
    the reference plan's first tool more often than either score alone or the opening.

With a memory of verified runs, both rules add ``prior_weight`` times a prior over the
branches (:func:`~._memory.tool_prior`: the similarity-weighted vote, in [0, 1], of the
retrieved runs of the same question template for the branch each took at this step,
each vote weighted by how much of its question the run's calls used; runs less than 0.5
similar count 0). With the weight 3 (:data:`MEMORY_WEIGHT`, set a priori, not tuned)
unanimous runs of the same template (prior about 1) outweigh one z-scored score's whole
spread between two tools (from -1 to +1) but not both scores agreeing against them; in
the opening rule it is 3 nats of log-probability.

Neither rule reads a task's family or its answer: both see the question and the tools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ._backends import Backend

__all__ = [
    "CHOICES",
    "MEMORY_WEIGHT",
    "branch_openings",
    "channel_scores",
    "choose_branch",
    "memory_effect",
    "tool_card",
]

#: Rules of :func:`choose_branch`.
CHOICES = ("opening", "channel")
#: Weight of the memory prior in a branch's score (see the module docstring).
MEMORY_WEIGHT = 3.0

_CARD_PROMPT = "Tool {card}\nWrite a question this tool answers."


def branch_openings(branches: Sequence[dict[str, Any]]) -> list[str]:
    """The opening of each branch of a reply schema: ``{"tool":"NAME","args":`` for a
    call, ``{"answer":[`` for the answer."""
    out = []
    for b in branches:
        tool = _tool_of(b)
        out.append(f'{{"tool":"{tool}","args":' if tool else '{"answer":[')
    return out


def _tool_of(branch: dict[str, Any]) -> str | None:
    return branch.get("properties", {}).get("tool", {}).get("const")


#: a first sentence ending in a list of output columns (``...: target, sign, source``)
_COLUMNS = re.compile(r":\s*[A-Za-z_][\w.]*(?:,\s*[A-Za-z_][\w.]*)+\.?$")

#: where a parameter description's first phrase ends (an aside or an example follows)
_ASIDE = re.compile(r"\. |\s\(|,?\s*[Ee]\.g\.|:\s|;")
#: a phrase that is a condition on another argument (``method="hypergeometric"``)
_CONDITION = re.compile(r"^\w+\s*=\s*\S+$")


def _only_handle(prop: Mapping[str, Any]) -> bool:
    """Whether an argument can only be a workspace object (every form a handle): such an
    argument (the data) is left out of a card; one that also takes a value (``genes``:
    a list of symbols or a handle) is described."""
    from ._schema import HANDLE

    forms = prop.get("anyOf") or prop.get("oneOf") or [prop]
    return all(f.get("format") == HANDLE for f in forms if isinstance(f, Mapping))


def _first_phrase(description: str) -> str:
    """The first phrase of a parameter description that is not a condition on another
    argument (``method="hypergeometric": gene symbols. ...`` -> ``gene symbols``)."""
    for part in _ASIDE.split(description):
        part = part.strip().rstrip(".,;:")
        if not _CONDITION.match(part):
            return part  # (empty when the description opens with an aside: no phrase)
    return ""


def tool_card(name: str, description: str, schema: Mapping[str, Any] | None = None) -> str:
    """A tool in one line: its name in words, the first sentence of its description and,
    given its JSON ``schema``, what each required argument is (the first phrase of its
    description that is not a condition on another argument; arguments that can only be a
    workspace object are left out), e.g. ``tf targets: TF -> target edges of tf (tf: Transcription factor
    symbol or alias)``. A trailing list of output columns is dropped: column names
    (``name``, ``source``) match the words of unrelated questions."""
    head = _COLUMNS.sub("", description.split(". ")[0].strip()).rstrip(".")
    card = f"{name.replace('_', ' ')}: {head}"
    if schema is not None:
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            prop = props.get(k, {})
            if _only_handle(prop):
                continue  # a workspace object (the data): every data tool takes one
            d = _first_phrase(str(prop.get("description", "")))
            if d:
                card += f" ({k}: {d})"
    return card


def _z(xs: Sequence[float]) -> list[float]:
    n = len(xs)
    mean = sum(xs) / n
    sd = (sum((x - mean) ** 2 for x in xs) / n) ** 0.5
    return [0.0] * n if sd == 0 else [(x - mean) / sd for x in xs]


def channel_scores(
    backend: Backend, question: str, cards: dict[str, str]
) -> dict[str, dict[str, float]] | None:
    """``{tool: {"channel", "bm25", "score"}}`` for the tools of ``cards`` (name -> card):
    log p(question | the tool's card), the BM25 score of the question against the cards
    (name twice, then the card), and their z-scored sum; ``None`` when the backend cannot
    score."""
    from ..knowledge import BM25

    names = list(cards)
    channel = []
    for n in names:
        lp = backend.score(
            [{"role": "user", "content": _CARD_PROMPT.format(card=cards[n])}], [question]
        )
        if lp is None:
            return None
        channel.append(float(lp[0]))
    docs = [f"{n.replace('_', ' ')} {n.replace('_', ' ')} {cards[n]}" for n in names]
    bm = [float(s) for s in BM25().fit(docs).scores(question)]
    total = [a + b for a, b in zip(_z(channel), _z(bm), strict=True)]
    return {
        n: {"channel": round(c, 3), "bm25": round(b, 3), "score": round(t, 3)}
        for n, c, b, t in zip(names, channel, bm, total, strict=True)
    }


def choose_branch(
    backend: Backend,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    *,
    rule: Literal["opening", "channel"] = "opening",
    question: str = "",
    descriptions: dict[str, str] | None = None,
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
    prior: Mapping[str | None, float] | None = None,
    prior_weight: float = MEMORY_WEIGHT,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The branch of ``schema`` (an ``anyOf`` of branches) the reply is decoded in, and
    the scores it was chosen by (``None`` when the backend cannot score: the schema is
    kept whole).

    Parameters
    ----------
    backend
        The LLM backend (``score`` gives log-probabilities, or ``None``).
    messages
        The prompt of the reply.
    schema
        The reply schema: ``{"anyOf": [branch, ...]}``.
    rule
        ``"opening"`` or ``"channel"`` (see the module docstring); ``"channel"`` falls
        back to ``"opening"`` when a branch is not a tool call (the answer is offered).
    question
        The question (``"channel"`` scores it).
    descriptions
        ``{tool: description}`` of the offered tools (``"channel"``).
    parameters
        ``{tool: JSON schema}`` (``"channel"``: the cards name the required arguments;
        ``None``: name and description only).
    prior, prior_weight
        ``{tool or None (the answer): prior}`` from retrieved verified runs
        (:func:`~._memory.tool_prior`), added to each branch's score times
        ``prior_weight``; ``None``: no memory.

    Returns
    -------
    tuple[dict[str, Any], dict[str, Any] | None]
        The chosen branch (or ``schema``) and the scores by branch opening.
    """
    branches = schema["anyOf"]
    conts = branch_openings(branches)
    tools = [_tool_of(b) for b in branches]
    if rule == "channel" and descriptions is not None and all(tools):
        schemas = parameters or {}
        cards = {t: tool_card(t, descriptions.get(t, ""), schemas.get(t)) for t in tools if t}
        scored = channel_scores(backend, question, cards)
        if scored is not None:
            if prior:
                for t in scored:
                    m = prior_weight * float(prior.get(t, 0.0))
                    scored[t] = {**scored[t], "memory": round(m, 3)}
                    scored[t]["score"] = round(scored[t]["score"] + m, 3)
            best = max(range(len(branches)), key=lambda i: scored[tools[i]]["score"])
            return branches[best], {
                "rule": "channel",
                **{c: scored[t] for c, t in zip(conts, tools, strict=True) if t},
            }
    scores = backend.score(messages, conts)
    if scores is None:
        return schema, None
    scores = [float(x) for x in scores]
    out: dict[str, Any] = {}
    if prior:
        mem = [prior_weight * float(prior.get(t, 0.0)) for t in tools]
        scores = [x + m for x, m in zip(scores, mem, strict=True)]
        out["memory"] = {c: round(m, 3) for c, m in zip(conts, mem, strict=True)}
    best = max(range(len(branches)), key=lambda i: scores[i])
    return branches[best], {
        **{c: round(x, 3) for c, x in zip(conts, scores, strict=True)},
        **out,
    }


def memory_effect(choices: Mapping[str, Any] | None) -> tuple[bool, bool]:
    """Whether the memory prior acted on a recorded branch choice (``choices`` of
    :func:`choose_branch`: some branch got a memory part other than 0) and whether it
    changed the chosen branch (the best branch without the memory parts differs)."""
    if not choices:
        return False, False
    if isinstance(choices.get("memory"), Mapping):  # the opening rule
        mem = {c: float(m) for c, m in choices["memory"].items()}
        total = {c: float(choices[c]) for c in mem if isinstance(choices.get(c), (int, float))}
    else:  # the channel rule: {opening: {"score", "memory", ...}}
        parts = {c: v for c, v in choices.items() if isinstance(v, Mapping) and "score" in v}
        mem = {c: float(v.get("memory", 0.0)) for c, v in parts.items()}
        total = {c: float(v["score"]) for c, v in parts.items()}
    if not total or not any(mem.get(c, 0.0) for c in total):
        return False, False
    with_mem = max(total, key=lambda c: total[c])
    without = max(total, key=lambda c: total[c] - mem.get(c, 0.0))
    return True, with_mem != without
