"""JSON schemas and argument validation derived from a function's signature and numpydoc
docstring: the one mechanism behind every agent tool (and the MCP server's tool list).

* The **description** is the docstring's summary (first paragraph).
* Each **parameter** becomes a property: its JSON type comes from the annotation, its
  description from the docstring's ``Parameters`` section, its default from the
  signature; parameters without a default are required. ``*args`` / ``**kwargs`` and the
  parameters a tool binds itself (``bind=``) are left out.
* Annotations map as: ``str`` -> string, ``int`` -> integer, ``float`` -> number, ``bool``
  -> boolean, ``Literal[...]`` -> string enum, ``list/Sequence/Iterable/tuple[X]`` -> array
  of X, ``dict/Mapping`` -> object, ``Path`` -> string with ``format: path`` (resolved
  inside the workspace), and objects that do not fit in JSON (AnnData, DataFrame, GRN,
  arrays, ``Any``) -> string with ``format: handle`` (the name of a workspace object).
  ``X | None`` is X with a null default; other unions become ``anyOf``.

:func:`validate_arguments` checks a call against the schema before it runs and raises a
:class:`~virtualcell.ValidationError` with one line naming the argument and the problem;
it coerces what a small model commonly gets almost right (``"5"`` for 5, ``"true"`` for
true, one string where a list is expected).
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from .._errors import ValidationError

__all__ = ["function_schema", "parse_numpydoc", "type_schema", "validate_arguments"]

HANDLE = "handle"
PATH = "path"
_SECTION = re.compile(
    r"^\s*(Parameters|Returns|Yields|Raises|Examples|Notes|See Also|Attributes|Warns|References|Other Parameters)\s*$"
)


def _plain(text: str) -> str:
    """Drop reST markup a model need not see: ``code``, :func:`name`, *emphasis*."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    text = text.replace("``", "")
    return re.sub(r"\*([^*\s][^*]*)\*", r"\1", text)


def parse_numpydoc(doc: str | None) -> tuple[str, dict[str, str], str]:
    """``(summary, {parameter: description}, returns)`` from a numpydoc docstring.

    The summary is the first paragraph joined into one line. Parameter entries written as
    ``a, b`` share their description; ``*`` prefixes are dropped.

    Parameters
    ----------
    doc
        A numpydoc docstring (raw or cleaned); ``None`` reads as empty.

    Returns
    -------
    tuple[str, dict[str, str], str]
        The summary, each parameter's description (one line each) and the text of the
        ``Returns`` section (``""`` when absent).
    """
    text = inspect.cleandoc(doc or "")
    lines = text.splitlines()
    summary_lines: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line):
            break
        summary_lines.append(line.strip())
    summary = " ".join(summary_lines)
    sections: dict[str, list[str]] = {}
    current = None
    i = 0
    while i < len(lines):
        m = _SECTION.match(lines[i])
        if m and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            current = m.group(1)
            sections[current] = []
            i += 2
            continue
        if current is not None:
            sections[current].append(lines[i])
        i += 1
    params: dict[str, str] = {}
    names: list[str] = []
    for line in sections.get("Parameters", []) + sections.get("Other Parameters", []):
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            head = line.split(":", 1)[0]
            names = [n.strip().lstrip("*") for n in head.split(",") if n.strip()]
            for n in names:
                params[n] = ""
        else:
            for n in names:
                params[n] = (params[n] + " " + line.strip()).strip()
    returns = " ".join(s.strip() for s in sections.get("Returns", []) if s.strip())
    return _plain(summary), {k: _plain(v) for k, v in params.items()}, _plain(returns)


def _origin(tp: Any) -> Any:
    return typing.get_origin(tp)


_OBJECT_NAMES = (
    "AnnData",
    "MuData",
    "DataFrame",
    "Series",
    "ndarray",
    "GRN",
    "KnowledgeBase",
    "Tensor",
)


def type_schema(tp: Any) -> dict[str, Any]:
    """JSON schema of one annotation (see the module docstring for the mapping)."""
    if tp is inspect.Parameter.empty or tp is Any or tp is object:
        return {"type": "string", "format": HANDLE}
    if isinstance(tp, str):  # unresolved forward reference
        if any(n in tp for n in _OBJECT_NAMES):
            return {"type": "string", "format": HANDLE}
        return {"type": "string"}
    if tp is type(None):
        return {"type": "null"}
    origin = _origin(tp)
    if origin is Literal:
        values = list(typing.get_args(tp))
        kinds = {type(v) for v in values}
        kind = {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
            kinds.pop() if len(kinds) == 1 else str, "string"
        )
        return {"type": kind, "enum": values}
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        schemas: list[dict[str, Any]] = []
        for a in args:
            s = type_schema(a)
            if s not in schemas:
                schemas.append(s)
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is Path or tp is os.PathLike or origin is os.PathLike:
        return {"type": "string", "format": PATH}
    if origin in (list, tuple, set, frozenset) or origin in (
        cabc.Sequence,
        cabc.Iterable,
        cabc.Collection,
        cabc.Set,
    ):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        item = type_schema(args[0]) if len(set(args)) == 1 else {}
        return {"type": "array", "items": item} if item else {"type": "array"}
    if tp in (list, tuple, set):
        return {"type": "array"}
    if tp is dict or origin in (dict, cabc.Mapping) or tp is cabc.Mapping:
        return {"type": "object"}
    return {"type": "string", "format": HANDLE}


def _hints(fn: Any) -> dict[str, Any]:
    """Resolved annotations; names only imported for type checking stay strings."""
    target = inspect.unwrap(getattr(fn, "__func__", fn))
    try:
        return typing.get_type_hints(target)
    except Exception:
        pass
    out: dict[str, Any] = {}
    glob = dict(getattr(target, "__globals__", {}))
    for name, ann in getattr(target, "__annotations__", {}).items():
        if isinstance(ann, str):
            try:
                out[name] = eval(ann, glob)  # annotation strings of our own code only
            except Exception:
                out[name] = ann
        else:
            out[name] = ann
    return out


def function_schema(
    fn: Any, *, skip: cabc.Iterable[str] = (), docstring: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``(description, JSON schema of the arguments)`` of ``fn``.

    Parameters
    ----------
    fn
        A function or bound method.
    skip
        Parameter names left out (bound by the caller).
    docstring
        Use this docstring instead of ``fn``'s (for wrappers).
    """
    skip = set(skip)
    summary, pdoc, _ = parse_numpydoc(docstring if docstring is not None else fn.__doc__)
    sig = inspect.signature(fn)
    hints = _hints(fn)
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, p in sig.parameters.items():
        if name in skip or name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        schema = dict(type_schema(hints.get(name, p.annotation)))
        if pdoc.get(name):
            schema["description"] = pdoc[name]
        if p.default is p.empty:
            required.append(name)
        elif p.default is not None and _jsonable(p.default):
            schema["default"] = list(p.default) if isinstance(p.default, tuple) else p.default
        props[name] = schema
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return summary, schema


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    return False


# -- validation -------------------------------------------------------------------------
_JSON_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def _exact(value: Any, schema: dict[str, Any]) -> bool:
    """Whether ``value`` already has the JSON type of ``schema`` (no coercion needed)."""
    kind = _JSON_TYPES.get(schema.get("type", ""))
    if kind is None or (isinstance(value, bool) and schema.get("type") != "boolean"):
        return False
    return isinstance(value, kind)


def _coerce(value: Any, schema: dict[str, Any], where: str) -> Any:
    if "anyOf" in schema:
        # a value of one option's own type takes that option (20 is the integer of
        # ``GRN | int``, not the handle "20"); coercion is tried only after that
        for option in schema["anyOf"]:
            if _exact(value, option):
                return _coerce(value, option, where)
        errors = []
        for option in schema["anyOf"]:
            try:
                return _coerce(value, option, where)
            except ValidationError as err:
                errors.append(str(err))
        raise ValidationError(errors[0] if errors else f"{where}: invalid value")
    kind = schema.get("type")
    if value is None:
        return None  # null accepted wherever the default allows it; the function decides
    if kind == "integer":
        if isinstance(value, bool):
            raise ValidationError(f"{where} must be an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if not isinstance(value, int):
            raise ValidationError(f"{where} must be an integer, got {value!r}")
    elif kind == "number":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"{where} must be a number, got {value!r}")
    elif kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ValidationError(f"{where} must be true or false, got {value!r}")
    elif kind == "string":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and "enum" not in schema:
            value = str(value)
        if not isinstance(value, str):
            raise ValidationError(f"{where} must be a string, got {type(value).__name__}")
    elif kind == "array":
        if isinstance(value, str):
            value = [v.strip() for v in re.split(r"[,;]\s*|\s+", value) if v.strip()]
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ValidationError(f"{where} must be a list, got {type(value).__name__}")
        item = schema.get("items")
        if item:
            value = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    elif kind == "object":
        if not isinstance(value, dict):
            raise ValidationError(f"{where} must be an object, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise ValidationError(
            f"{where} must be one of {', '.join(map(str, schema['enum']))}; got {value!r}"
        )
    return value


def validate_arguments(
    schema: dict[str, Any], arguments: dict[str, Any] | None, *, tool: str = "tool"
) -> dict[str, Any]:
    """Check ``arguments`` against ``schema`` (from :func:`function_schema`) and return
    them coerced; a :class:`~virtualcell.ValidationError` names the first problem.

    Parameters
    ----------
    schema
        The tool's argument schema (``type: object`` with ``properties`` and ``required``).
    arguments
        The arguments the model wrote (``None`` reads as no arguments).
    tool
        The tool's name, used in the error message.

    Returns
    -------
    dict[str, Any]
        The arguments coerced to their schema types (``"3"`` -> ``3`` for an integer,
        ``"A, B"`` -> ``["A", "B"]`` for an array); unknown keys are refused.
    """
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ValidationError(
            f"{tool}: arguments must be a JSON object, got {type(arguments).__name__}"
        )
    props = schema.get("properties", {})
    unknown = [k for k in arguments if k not in props]
    if unknown:
        raise ValidationError(
            f"{tool}: unknown argument(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(props) or 'none'}"
        )
    missing = [k for k in schema.get("required", []) if k not in arguments]
    if missing:
        raise ValidationError(f"{tool}: missing required argument(s) {', '.join(missing)}")
    return {k: _coerce(v, props[k], f"{tool}: argument {k!r}") for k, v in arguments.items()}


def formats(schema: dict[str, Any]) -> set[str]:
    """The ``format`` markers (``handle``, ``path``) anywhere in a property schema."""
    out: set[str] = set()
    if "format" in schema:
        out.add(schema["format"])
    for option in schema.get("anyOf", []):
        out |= formats(option)
    if isinstance(schema.get("items"), dict):
        out |= formats(schema["items"])
    return out
