"""What comes after a tool result: chain another call or answer, and which value to name.

With filled calls (:mod:`._fill`) a small model still decides two things after its first
result, and it decided both badly (docs/agent.md, third pass): it answered after the
first call of a three-step question, and it named a lower row of a ranked table (``c1``
where the first row of ``expression_by_group`` is ``c3``). Two rules, both read only the
question, the tools' declared answer kinds (``spec(..., answer_kind=...)``) and the
results (no task label, no checker):

**The kinds the question asks for** (:func:`~._evidence.asked_kinds`: every
``which/what/name/list/find ... NOUN`` phrase, ``how many``, "is the claim ..."), in
the question's order. A result *covers* the kind its tool gives. :func:`guide_branches`
keeps, of a turn's branches (the offered calls and the answer),

* the calls of tools that give the *first asked kind not yet covered* (if an offered
  tool gives it; else any uncovered kind; else every branch is kept);
* only the answer, once every asked kind is covered (and the answer is offered);
* every branch when the question's kinds are unknown (the model's scores decide).

**The answer value** (:func:`answer_candidates`, :func:`choose_answer`): the answer
names one value of each result whose tool gives an asked kind (every result when none
does), in call order; each value is chosen among that result's answer values (the top
rows of a table, in the table's order) by a scoring rule (:data:`ANSWER_RULES`):

``"model"``
    log p(value | the prompt, the values chosen before), the model's own choice made
    exact (free decoding inside the schema took the first token's argmax).
``"contrastive"``
    ``model`` minus the same log-probability with the observations hidden: how much the
    result, rather than the model's prior for a name (``c1``), raises the value.
``"rank"``
    the first value (the result's own order: tables are sorted by the tool, e.g.
    ``expression_by_group`` by mean, ``perturbation_effects`` by |delta|).
``"pmi"``
    log p(value | question) minus log p(value | the question with its genes masked)
    (:func:`~._pmi.pmi_scores`): what the question's entities, rather than the model's
    liking for a name, contribute to the value; it reads the question, not the results.
``"model+rank"``, ``"contrastive+rank"``, ``"pmi+rank"``
    z-scored sums.

A chained call's argument that takes one of a result's answer values takes the value
the same rule picks (:func:`chain_arguments`), so the call and the answer name the same
item.

Which rule and whether the kinds guide the branches was chosen on benchmark seeds the
report does not use (``benchmarks/agent_after_call.py``; docs/agent.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._backends import Backend
from ._choose import choose_branch
from ._evidence import asked_kinds
from ._memory import memory_kinds, tool_prior
from ._pmi import pmi_scores, question_genes

__all__ = [
    "ANSWER_RULES",
    "answer_candidates",
    "answer_schema",
    "chain_arguments",
    "choose_answer",
    "choose_reply",
    "covered_kinds",
    "guide_branches",
    "pick_by_rule",
]

#: Rules of :func:`choose_answer`.
ANSWER_RULES = (
    "free", "model", "contrastive", "rank", "model+rank", "contrastive+rank", "pmi", "pmi+rank",
)  # fmt: skip

_HIDDEN = "(result hidden)"


def _tool_of(branch: Mapping[str, Any]) -> str | None:
    return branch.get("properties", {}).get("tool", {}).get("const")


def covered_kinds(result_tools: Sequence[str], kinds: Mapping[str, str | None]) -> list[str]:
    """The answer kinds the results so far give (``result_tools``: the tool of each
    result, in order; ``kinds``: tool -> its declared answer kind)."""
    out: list[str] = []
    for t in result_tools:
        k = kinds.get(t)
        if k and k not in out:
            out.append(k)
    return out


def guide_branches(
    branches: Sequence[dict[str, Any]],
    question: str,
    result_tools: Sequence[str],
    kinds: Mapping[str, str | None],
    remembered: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], str]:
    """The branches of a reply that the question's asked kinds allow, and why (see the
    module docstring).

    Parameters
    ----------
    branches
        The reply schema's branches (calls ``{"tool": {"const": NAME}, ...}`` and the
        answer).
    question
        The question as asked.
    result_tools
        The tool of each result so far, in order.
    kinds
        ``{tool: answer kind}`` (``ToolSpec.answer_kind``; ``None`` for none).
    remembered
        The kinds a similar verified run's tools gave (:func:`~._memory.memory_kinds`):
        they stand in where the question's words name no kind.

    Returns
    -------
    tuple[list[dict], str]
        The kept branches (never empty) and a one-line reason.
    """
    branches = list(branches)
    asked = asked_kinds(question) or list(remembered)
    if not asked:
        return branches, "the question's kinds are unknown"
    covered = covered_kinds(result_tools, kinds)
    missing = [k for k in asked if k not in covered]
    answers = [b for b in branches if _tool_of(b) is None]
    calls = [b for b in branches if _tool_of(b) is not None]
    if not missing:
        if answers:
            return answers, f"asked {', '.join(asked)}: all covered"
        return branches, f"asked {', '.join(asked)}: all covered, no answer offered"
    for k in missing:
        give = [b for b in calls if kinds.get(_tool_of(b) or "") == k]
        if give:
            return give, f"asked {k}: not covered yet"
    return branches, f"asked {', '.join(missing)}: no offered tool gives it"


def answer_candidates(
    groups: Sequence[Sequence[str]],
    group_tools: Sequence[str],
    question: str,
    kinds: Mapping[str, str | None],
) -> list[list[str]]:
    """The answer-value groups the answer names one value of: those of results whose
    tool gives a kind the question asks for (all groups when none does or the kinds are
    unknown), in call order."""
    asked = asked_kinds(question)
    keep = [list(g) for g, t in zip(groups, group_tools, strict=True) if kinds.get(t) in asked]
    return keep or [list(g) for g in groups]


def answer_schema(values: Sequence[str]) -> dict[str, Any]:
    """The reply schema that allows exactly the answer ``values`` (in order)."""
    return {
        "type": "object",
        "properties": {
            "answer": {
                "type": "array",
                "prefixItems": [{"enum": [v]} for v in values],
                "items": False,
                "minItems": len(values),
                "maxItems": len(values),
            }
        },
        "required": ["answer"],
        "additionalProperties": False,
    }


def _z(xs: Sequence[float]) -> list[float]:
    n = len(xs)
    mean = sum(xs) / n
    sd = (sum((x - mean) ** 2 for x in xs) / n) ** 0.5
    return [0.0] * n if sd == 0 else [(x - mean) / sd for x in xs]


def _hide_observations(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The prompt with every tool observation (user turns after the first assistant
    turn) replaced by a placeholder."""
    out: list[dict[str, str]] = []
    seen_assistant = False
    for m in messages:
        if m["role"] == "assistant":
            seen_assistant = True
        if seen_assistant and m["role"] == "user":
            out.append({"role": "user", "content": _HIDDEN})
        else:
            out.append(dict(m))
    return out


def pick_by_rule(parts: Mapping[str, Sequence[float]], rule: str) -> int:
    """Index of the value an answer rule (:data:`ANSWER_RULES`) picks from one group's
    score parts (``parts["rank"]`` always; ``"A+B"``: the sum of the z-scored parts;
    ties go to the earlier value)."""
    n = len(parts["rank"])
    if n == 1 or rule == "rank":
        total = list(parts["rank"])
    elif "+" in rule:
        a, b = rule.split("+")
        total = [x + y for x, y in zip(_z(parts[a]), _z(parts[b]), strict=True)]
    else:
        total = list(parts[rule])
    return max(range(n), key=lambda i: (total[i], -i))


def choose_answer(
    backend: Backend,
    messages: Sequence[Mapping[str, str]],
    groups: Sequence[Sequence[str]],
    *,
    rule: str = "model",
    also: Sequence[str] = (),
    question: str = "",
    entities: Sequence[str] = (),
) -> tuple[list[str], dict[str, Any] | None]:
    """One value of each group, chosen by ``rule`` (:data:`ANSWER_RULES`), and the
    scores (``None`` when the backend cannot score and the rule needs it: then the
    first value of each group is not assumed, the caller keeps free decoding).

    Parameters
    ----------
    backend
        The LLM backend (its ``score``).
    messages
        The prompt of the answer reply.
    groups
        The candidate values of each group (:func:`answer_candidates`), each in its
        result's order.
    rule
        The scoring rule.
    also
        Score parts to compute and record beside the rule's own (``"model"``,
        ``"contrastive"``, ``"pmi"``): for comparing rules on the same runs.
    question, entities
        The question and its entities (genes) that ``"pmi"`` masks for the prior.

    Returns
    -------
    tuple[list[str], dict | None]
        The chosen values (one per group) and ``{"rule", "groups": [{value: {score
        parts}}]}``.
    """
    chosen: list[str] = []
    record: list[dict[str, dict[str, float]]] = []
    need = {p for p in ("model", "contrastive", "pmi") if p in rule or p in also}
    if "contrastive" in need:
        need.add("model")
    hidden = _hide_observations(messages) if "contrastive" in need else None
    for g in groups:
        g = list(g)
        head = '{"answer":[' + "".join(f'"{v}",' for v in chosen)
        conts = [f'{head}"{v}"' for v in g]
        parts: dict[str, list[float]] = {"rank": [-float(i) for i in range(len(g))]}
        if "pmi" in need and len(g) > 1:
            pm = pmi_scores(backend, question, g, entities)
            if pm is None:
                return [], None
            parts["pmi"] = pm["pmi"]
        if "model" in need and len(g) > 1:
            lp = backend.score(list(messages), conts)
            if lp is None:
                return [], None
            parts["model"] = [float(x) for x in lp]
            if hidden is not None:
                prior = backend.score(hidden, conts)
                if prior is None:
                    return [], None
                parts["contrastive"] = [a - float(b) for a, b in zip(lp, prior, strict=True)]
        chosen.append(g[pick_by_rule(parts, rule)])
        record.append({v: {k: round(xs[i], 3) for k, xs in parts.items()} for i, v in enumerate(g)})
    return chosen, {"rule": rule, "groups": record, "answer": chosen}


def choose_reply(
    backend: Backend,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    *,
    question: str,
    tools: Mapping[str, Any],
    results: Sequence[str],
    fill: Any,
    options: Mapping[str, Any],
    remembered: Sequence[tuple[dict[str, Any], float]] = (),
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What a filled reply may still be: its branch (a call or the answer), chosen by
    :func:`~._choose.choose_branch` among the branches :func:`guide_branches` keeps
    (``options["guide"]``), and with ``options["answer_choice"]`` the answer's values
    (:func:`choose_answer`).

    Parameters
    ----------
    backend
        The LLM backend.
    messages
        The prompt of the reply.
    schema
        The filled reply schema (an ``anyOf`` of branches, or one branch).
    question
        The question.
    tools
        ``{name: Tool}`` (descriptions, schemas, declared answer kinds).
    results
        The tool of each result so far, in order.
    fill
        This turn's :class:`~._fill.Fill` (answer values by result), or ``None``.
    options
        The agent's options (``guide``, ``choice``, ``answer_choice``,
        ``memory_weight``).
    remembered
        ``(verified run, similarity)`` pairs retrieved from the memory
        (:meth:`~._memory.Memory.similar_scored`): their tool sequences are a prior of the
        branch choice (:func:`~._memory.tool_prior`) and, where the question names no
        answer kind, their kinds guide (:func:`~._memory.memory_kinds`).

    Returns
    -------
    tuple[dict, dict | None]
        The schema left to decode and the scores it was chosen by.
    """
    kinds = {n: t.spec.answer_kind for n, t in tools.items()}
    choices: dict[str, Any] | None = None
    weight = float(options.get("memory_weight", 0.0)) if remembered else 0.0
    if options.get("guide") and "anyOf" in schema:
        recalled = memory_kinds(remembered, kinds) if weight > 0 else []
        kept, why = guide_branches(schema["anyOf"], question, results, kinds, recalled)
        schema = {"anyOf": kept} if len(kept) > 1 else kept[0]
        choices = {"guide": why}
    if "anyOf" in schema:
        prior = None
        if weight > 0:
            prior = tool_prior(remembered, len(results), [_tool_of(b) for b in schema["anyOf"]])
        # the channel rule chooses the first call (with guide: every call it chooses)
        rule = options["choice"] if (not results or options.get("guide")) else "opening"
        schema, scored = choose_branch(
            backend,
            messages,
            schema,
            rule=rule,
            question=question,
            descriptions={n: t.description for n, t in tools.items()},
            parameters={n: t.schema for n, t in tools.items()},
            prior=prior,
            prior_weight=weight,
        )
        if scored is not None:
            choices = {**(choices or {}), **scored}
    rule = options.get("answer_choice", "free")
    if rule != "free" and results and fill is not None and "tool" in schema.get("properties", {}):
        schema, scored = chain_arguments(backend, messages, schema, fill, rule=rule,
                                         question=question)  # fmt: skip
        if scored:
            choices = {**(choices or {}), "argument_values": scored}
    if rule != "free" and "answer" in schema.get("properties", {}) and fill is not None:
        if fill.answer_groups:
            groups = answer_candidates(fill.answer_groups, fill.group_tools, question, kinds)
            values, scored = choose_answer(backend, messages, groups, rule=rule,
                                           question=question,
                                           entities=question_genes(fill))  # fmt: skip
            if values:
                schema = answer_schema(values)
                choices = {**(choices or {}), "answer_values": scored}
    return schema, choices


def chain_arguments(
    backend: Backend,
    messages: list[dict[str, str]],
    branch: dict[str, Any],
    fill: Any,
    *,
    rule: str,
    question: str = "",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A chained call's arguments that take one of a result's answer values take the
    value the answer would name (:func:`choose_answer` with the same rule, among the
    values of the latest result that the argument allows), so that the call and the
    answer refer to the same item (decoded freely, a 135M model passed the third-ranked
    perturbation to ``tf_targets`` and then named the first one in its answer).

    Returns the branch with those arguments fixed and ``{argument: scores}``."""
    args = branch["properties"].get("args", {})
    props = args.get("properties") if isinstance(args, dict) else None
    if not props:
        return branch, {}
    new_props = dict(props)
    scored: dict[str, Any] = {}
    for key, prop in props.items():
        enum = prop.get("enum") if isinstance(prop, dict) else None
        if not enum or len(enum) < 2:
            continue
        for group in reversed(fill.answer_groups):
            cand = [v for v in group if v in enum]
            if cand:
                values, rec = choose_answer(backend, messages, [cand], rule=rule,
                                            question=question,
                                            entities=question_genes(fill))  # fmt: skip
                if values:
                    new_props[key] = {**prop, "enum": [values[0]]}
                    scored[key] = rec
                break
    if not scored:
        return branch, {}
    props_all = dict(branch["properties"])
    props_all["args"] = {**args, "properties": new_props}
    return {**branch, "properties": props_all}, scored
