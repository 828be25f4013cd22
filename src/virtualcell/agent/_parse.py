"""Tolerant parsing of a model's reply into an action (a tool call or an answer).

Accepted forms: ``{"tool": NAME, "args": {...}}`` (also ``name``/``arguments``,
``action``/``action_input``, ``function``/``parameters``) and ``{"answer": TEXT}`` (also
``final``/``final_answer``; a list of strings is joined with "; ": each item is its own
claim for the verifier, so items from different results are not read as one claim). The first balanced ``{...}`` of the reply is read; when it
is not valid JSON a few repairs are tried in order (Python literals, single quotes,
trailing commas, missing closing braces/quotes). A reply without any object is an error
(the loop re-prompts with that one line, a bounded number of times).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Action", "object_end", "parse_action"]


@dataclass
class Action:
    """A parsed reply: ``kind`` is ``"call"``, ``"answer"`` or ``"error"``."""

    kind: str
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    answer: str = ""
    error: str = ""
    repaired: bool = False


def object_end(text: str, start: int = 0) -> tuple[int | None, int, bool]:
    """Scan the ``{...}`` object opening at ``text[start]``: ``(index of its closing
    brace or None, depth still open, inside a string)`` (quotes and escapes respected)."""
    depth, in_str, esc = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i, 0, False
    return None, depth, in_str


def _first_object(text: str) -> str | None:
    start = text.find("{")
    if start < 0:
        return None
    end, depth, in_str = object_end(text, start)
    if end is not None:
        return text[start : end + 1]
    # unbalanced: close what is open
    return text[start:] + ('"' if in_str else "") + "}" * max(depth, 0)


def _loads(obj: str) -> tuple[Any, bool]:
    try:
        return json.loads(obj), False
    except json.JSONDecodeError:
        pass
    fixed = re.sub(r",\s*([}\]])", r"\1", obj)
    try:
        return json.loads(fixed), True
    except json.JSONDecodeError:
        pass
    try:  # Python-literal dicts: single quotes, True/False/None (literal_eval runs no code)
        value = ast.literal_eval(fixed)
        if isinstance(value, dict):
            return value, True
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    swapped = fixed.replace("'", '"')
    swapped = re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", swapped))
    swapped = re.sub(r"\bNone\b", "null", swapped)
    try:
        return json.loads(swapped), True
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON ({err.msg} at character {err.pos})") from err


_TOOL_KEYS = ("tool", "name", "action", "function", "tool_name")
_ARG_KEYS = ("args", "arguments", "action_input", "parameters", "input", "params")
_ANSWER_KEYS = ("answer", "final", "final_answer", "response")


def parse_action(text: str) -> Action:
    """Parse one reply (see the module docstring).

    Parameters
    ----------
    text
        The model's reply: a JSON object (possibly inside prose or a code fence, with
        repairable slips such as single quotes or a trailing comma) naming a tool call
        ``{"tool": ..., "args": {...}}`` or an answer ``{"answer": ...}``.

    Returns
    -------
    Action
        ``kind`` ``"call"`` (``tool``, ``arguments``), ``"answer"`` (``answer``) or
        ``"error"`` (``error``: one line saying what could not be read).
    """
    text = (text or "").strip()
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
    obj = _first_object(text)
    if obj is None:
        if not text:
            return Action("error", error="empty reply; reply with one JSON object")
        return Action(
            "error",
            error='no JSON object in the reply; reply {"tool": ..., "args": {...}} or {"answer": ...}',
        )
    try:
        data, repaired = _loads(obj)
    except ValueError as err:
        return Action("error", error=str(err))
    if not isinstance(data, dict):
        return Action("error", error="the reply must be a JSON object")
    for k in _ANSWER_KEYS:
        if k in data and not any(t in data for t in _TOOL_KEYS[:1]):
            value = data[k]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                # a grounded answer: items named in order, each once, each its own claim
                value = "; ".join(dict.fromkeys(v.strip() for v in value if v.strip()))
            return Action(
                "answer",
                answer=value if isinstance(value, str) else json.dumps(value),
                repaired=repaired,
            )
    tool = next((data[k] for k in _TOOL_KEYS if isinstance(data.get(k), str)), None)
    if tool is None:
        return Action("error", error='the object names no "tool" (or "answer")')
    args = next((data[k] for k in _ARG_KEYS if k in data), None)
    if args is None:  # arguments given at the top level
        args = {k: v for k, v in data.items() if k not in _TOOL_KEYS}
    if isinstance(args, str):
        try:
            args, _ = _loads(args)
            repaired = True
        except ValueError:
            return Action("error", error="the arguments are not a JSON object")
    if not isinstance(args, dict):
        return Action("error", error="the arguments must be a JSON object")
    return Action("call", tool=tool.strip(), arguments=args, repaired=repaired)
