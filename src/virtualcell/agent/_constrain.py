"""Tool calls valid by construction: one JSON schema of every reply the model may write,
and a token mask that lets a local model write nothing else.

:func:`action_schema` is the schema of one agent turn: either
``{"tool": NAME, "args": {...}}`` for one of the *offered* tools, with ``args`` checked by
that tool's own schema (derived from its signature, :mod:`._schema`), or
``{"answer": TEXT}``. It is compacted for decoding (:func:`compact_schema`): descriptions,
defaults and format markers dropped, workspace handles become an ``enum`` of the handles
that exist, and every string and list gets a length bound, so an object always ends.

:class:`SchemaConstraint` follows the schema token by token with llguidance (a grammar
engine in Rust; chosen by measurement, see ``docs/agent.md``): before each token it gives
the set of allowed next tokens, so greedy or sampled decoding can only produce a
well-formed, schema-valid object. When the token budget is spent before the object is
complete, decoding goes on for at most :data:`CLOSING_TOKENS` more tokens preferring
tokens that close what is open (``"``, ``]``, ``}``), so a reply is cut only when even
that cannot finish it. The same schema goes to OpenAI-compatible servers as
``response_format`` (:class:`~virtualcell.agent.OpenAIBackend`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .._errors import VirtualCellError
from ._schema import HANDLE, PATH

__all__ = ["SchemaConstraint", "action_schema", "compact_schema", "context_words"]

#: Bounds that make every constrained object finite.
MAX_STRING = 80
MAX_ANSWER = 240
MAX_ITEMS = 25
CLOSING_TOKENS = 64

_DROP = ("description", "default", "format", "title")


_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:>\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_QUOTED = re.compile(r"'([^']{2,200})'|\"([^\"]{2,200})\"")


def context_words(*texts: str, limit: int = 400) -> list[str]:
    """The values a grounded argument may take: the words of ``texts`` (gene symbols,
    ids, ``A->B`` edges, numbers; trailing punctuation dropped), their quoted phrases and
    the multi-word cells of table rows, in order of first appearance, at most ``limit``."""
    out: dict[str, None] = {}
    for text in texts:
        for m in _QUOTED.finditer(text):
            out.setdefault(m.group(1) or m.group(2), None)
        for line in text.splitlines()[1:]:  # table rows (CSV): their cells are phrases
            for cell in line.split(","):
                cell = cell.strip()
                if " " in cell and len(cell) <= 80:
                    out.setdefault(cell, None)
        for w in _WORD.findall(text):
            out.setdefault(w.rstrip(".:-"), None)
    return [w for w in out if w][:limit]


def compact_schema(
    schema: dict[str, Any],
    *,
    handles: Sequence[str] = (),
    max_string: int = MAX_STRING,
    words: Sequence[str] = (),
) -> dict[str, Any]:
    """A copy of a tool's argument schema for decoding: no descriptions, defaults or
    format markers; handle arguments restricted to ``handles`` (when there are any);
    strings at most ``max_string`` characters and lists at most :data:`MAX_ITEMS` items.
    With ``words`` (:func:`context_words`), free strings are *grounded*: one of
    ``words`` (a value the question or an observation contains), never invented text.

    Parameters
    ----------
    schema
        A tool's argument schema (from :func:`~virtualcell.agent.function_schema`); not
        modified.
    handles
        Workspace handles that exist: arguments that take a handle become an enum of them
        (empty: left as strings).
    max_string
        Longest string an argument may hold, in characters (paths get 120, the answer 240).
    words
        Values a free string argument may take (empty: any string up to ``max_string``).

    Returns
    -------
    dict[str, Any]
        The compacted copy of ``schema``.
    """

    def walk(s: Any) -> Any:
        if isinstance(s, list):
            return [walk(x) for x in s]
        if not isinstance(s, dict):
            return s
        out = {k: walk(v) for k, v in s.items() if k not in _DROP}
        if s.get("format") == HANDLE and s.get("type") == "string":
            if handles:
                out = {"type": "string", "enum": list(handles)}
            else:
                out["maxLength"] = 32
        elif out.get("type") == "string" and "enum" not in out:
            if words and s.get("format") != PATH:
                out = {"type": "string", "enum": list(words)}
            else:
                out["maxLength"] = max_string if s.get("format") != PATH else 120
                out.setdefault("minLength", 1)
        elif out.get("type") == "array":
            out["maxItems"] = MAX_ITEMS
        elif out.get("type") == "object" and "properties" not in out:
            # a free-form mapping: bounded width and depth (one level of scalars or lists
            # of strings), so a model cannot nest without end
            out["maxProperties"] = 8
            out["additionalProperties"] = {
                "anyOf": [
                    {"type": "string", "maxLength": max_string},
                    {"type": "number"},
                    {"type": "boolean"},
                    {
                        "type": "array",
                        "items": {"type": "string", "maxLength": max_string},
                        "maxItems": MAX_ITEMS,
                    },
                ]
            }
        if "properties" in out:
            out["properties"] = {k: walk(v) for k, v in s["properties"].items()}
        return out

    return walk(schema)


def action_schema(
    tools: Iterable[Any],
    *,
    handles: Sequence[str] = (),
    answer: bool = True,
    words: Sequence[str] = (),
    ground_answer: bool = False,
    args: dict[str, dict[str, Any]] | None = None,
    answers: Sequence[str] | None = None,
    answer_groups: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The JSON schema of one reply: a call of one of ``tools`` (objects with ``name``
    and ``schema``, e.g. :class:`~virtualcell.agent.Tool`) or, when ``answer``, the
    answer ``{"answer": TEXT}``; ``words`` grounds free string arguments
    (:func:`compact_schema`) and, with ``ground_answer``, the answer too: a list of 1 to
    4 of ``words`` (joined into the answer text by :func:`~virtualcell.agent.parse_action`).
    ``args`` (tool name -> argument schema, :mod:`._fill`) replaces the tools' own
    argument schemas; ``answers`` makes the answer a list of 1 to 4 of those values,
    ``answer_groups`` a list of at most one value of each group, in order.

    Parameters
    ----------
    tools
        The tools a reply may call: objects with ``name`` and ``schema`` (the JSON schema
        of the arguments), e.g. :class:`~virtualcell.agent.Tool`. Empty: only the answer.
    handles
        Workspace handles that exist (``"data"``, ``"r1"`` ...): handle arguments become an
        enum of these (:func:`compact_schema`).
    answer
        Whether the answer branch ``{"answer": ...}`` is allowed (``False``: a call only).
    words
        Words of the question and the observations; free string arguments must be one of
        them (grounding). Empty: strings are free text (bounded in length).
    ground_answer
        With ``words``: the answer is a list of 1 to 4 of ``words`` instead of free text.
    args
        ``{tool name: argument schema}`` replacing each tool's own argument schema (the
        filled calls of :mod:`._fill`); ``None`` keeps the tools' schemas.
    answers
        The answer values allowed: the answer is a list of 1 to 4 of them (``None``: not
        restricted this way).
    answer_groups
        Groups of answer values: the answer is a list of at most one value of each group,
        in group order (takes precedence over ``answers``; ``None``: not used).

    Returns
    -------
    dict[str, Any]
        The JSON schema (an ``anyOf`` of one branch per tool, plus the answer branch, or
        the single branch when there is one).
    """
    options: list[dict[str, Any]] = []
    for t in tools:
        options.append(
            {
                "type": "object",
                "properties": {
                    "tool": {"const": t.name},
                    "args": args[t.name]
                    if args is not None and t.name in args
                    else compact_schema(t.schema, handles=handles, words=words),
                },
                "required": ["tool", "args"],
                "additionalProperties": False,
            }
        )
    if answer:
        text: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_ANSWER}
        if answer_groups:
            text = {
                "type": "array",
                "prefixItems": [{"enum": list(g)} for g in answer_groups],
                "items": False,
                "minItems": 1,
                "maxItems": len(answer_groups),
            }
        elif answers:
            text = {"type": "array", "items": {"enum": list(answers)}, "minItems": 1, "maxItems": 4}
        elif ground_answer and words:
            text = {"type": "array", "items": {"enum": list(words)}, "minItems": 1, "maxItems": 4}
        options.append(
            {
                "type": "object",
                "properties": {"answer": text},
                "required": ["answer"],
                "additionalProperties": False,
            }
        )
    if not options:
        raise VirtualCellError("action_schema: no tool offered and no answer allowed")
    return options[0] if len(options) == 1 else {"anyOf": options}


_TOKENIZERS: dict[int, Any] = {}
_CLOSERS: dict[int, Any] = {}


def closing_tokens(tokenizer: Any, vocab_size: int) -> Any:
    """Boolean torch tensor ``[vocab_size]`` of tokens made only of ``"``, ``]`` and ``}``
    (what closes an open string, list or object); cached per tokenizer."""
    import torch

    key = id(tokenizer)
    if key not in _CLOSERS:
        mask = torch.zeros(vocab_size, dtype=torch.bool)
        for i in range(min(vocab_size, len(tokenizer))):
            text = tokenizer.decode([i])
            if text and set(text) <= set('"]}'):
                mask[i] = True
        _CLOSERS[key] = (tokenizer, mask)
    return _CLOSERS[key][1]


def _ll_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of a Hugging Face fast tokenizer (built once per tokenizer)."""
    key = id(tokenizer)
    if key not in _TOKENIZERS:
        try:
            import llguidance.hf
        except ImportError as err:
            raise VirtualCellError(
                "constrained decoding needs llguidance: pip install 'virtualcell[agent]'"
            ) from err
        _TOKENIZERS[key] = (tokenizer, llguidance.hf.from_tokenizer(tokenizer))
    return _TOKENIZERS[key][1]


class SchemaConstraint:
    """Allowed next tokens of a reply that must match ``schema``.

    Parameters
    ----------
    tokenizer
        A Hugging Face fast tokenizer (the model's).
    schema
        A JSON schema (e.g. :func:`action_schema`).
    vocab_size
        Width of the model's logits (may exceed the tokenizer's vocabulary; the extra
        ids are never allowed).

    Notes
    -----
    Compact JSON is enforced (no whitespace between tokens of the object), so the model
    spends no tokens on layout and cannot pad forever.
    """

    def __init__(self, tokenizer: Any, schema: dict[str, Any], *, vocab_size: int) -> None:
        import llguidance

        self.vocab_size = int(vocab_size)
        self.eos = tokenizer.eos_token_id
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": False}
        )
        self.matcher = llguidance.LLMatcher(_ll_tokenizer(tokenizer), grammar, log_level=0)
        if self.matcher.is_error():
            raise VirtualCellError(f"constrained decoding: {self.matcher.get_error()}")

    def allowed(self) -> Any:
        """Boolean torch tensor ``[vocab_size]``: the tokens allowed next."""
        import numpy as np
        import torch

        bits = np.unpackbits(
            np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8), bitorder="little"
        )
        mask = np.zeros(self.vocab_size, dtype=bool)
        n = min(self.vocab_size, bits.shape[0])
        mask[:n] = bits[:n].astype(bool)
        return torch.from_numpy(mask)

    def closing(self, tokenizer: Any) -> Any:
        """:func:`closing_tokens` of ``tokenizer`` at this constraint's width."""
        return closing_tokens(tokenizer, self.vocab_size)

    def forced(self) -> list[int]:
        """Tokens the grammar forces next (fed without sampling)."""
        return list(self.matcher.compute_ff_tokens())

    def consume(self, token: int) -> None:
        """Advance by one generated token."""
        if not self.matcher.consume_token(int(token)):
            raise VirtualCellError(
                f"constrained decoding: token {token} rejected ({self.matcher.get_error()})"
            )

    @property
    def done(self) -> bool:
        """Whether the object is complete (nothing but end-of-text may follow)."""
        return self.matcher.is_stopped()

    @property
    def accepting(self) -> bool:
        return self.matcher.is_accepting()


def allowed_or_eos(constraint: SchemaConstraint | None, scores: Any) -> Any:
    """``scores`` with every token the constraint forbids set to ``-inf``."""
    if constraint is None:
        return scores
    mask = constraint.allowed()
    n = scores.shape[-1]
    if mask.shape[0] < n:
        import torch

        mask = torch.cat([mask, torch.zeros(n - mask.shape[0], dtype=torch.bool)])
    return scores.masked_fill(~mask[:n], float("-inf"))
