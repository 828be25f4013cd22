"""Agent tools derived from public functions (one mechanism: signature + numpydoc).

A :class:`ToolSpec` names a public function and which of its parameters the agent's
context fills in (``bind``: the opened knowledge base, its path, the workspace) or hides
(options a model should leave at their defaults). The built-in specs are one table
(:mod:`._toolset`), read through the registry :data:`tools`; a :class:`Toolbox` binds
them to one knowledge base and one workspace and runs calls:

1. the arguments are validated against the schema derived from the function
   (:func:`~virtualcell.agent._schema.validate_arguments`);
2. handles are replaced by workspace objects and paths are confined to the workspace;
3. the function runs; an error becomes one line for the model (never a traceback);
4. the result is stored whole in the workspace and summarised for the model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .._errors import DatasetNotAvailableError, ValidationError, VirtualCellError
from .._utils import Entry, Registry
from ._schema import HANDLE, PATH, formats, function_schema, validate_arguments
from ._spec import ToolSpec, spec
from ._workspace import Result, Workspace

__all__ = ["Tool", "ToolCall", "ToolSpec", "Toolbox", "spec", "tools"]


#: Stands in for a knowledge store that is not open (the tool is listed, a call says why
#: it cannot run).
_NO_STORE = object()


def _builtins() -> list[Entry[ToolSpec]]:
    from ._toolset import builtin_tools

    return builtin_tools()


#: Registry of agent tools: ``name -> ToolSpec`` (built-ins in :mod:`._toolset`).
tools: Registry[ToolSpec] = Registry("agent tool", _builtins)


@dataclass
class Tool:
    """One tool bound to a context: name, description, JSON schema and the call."""

    name: str
    description: str
    schema: dict[str, Any]
    spec: ToolSpec
    bound: dict[str, Any]

    def signature(self) -> str:
        """Compact one-line form for prompts: ``name(arg: type=default, ...)``."""
        parts = []
        required = set(self.schema.get("required", []))
        for arg, s in self.schema["properties"].items():
            kind = _short_type(s)
            if arg in required:
                parts.append(f"{arg}: {kind}")
            elif "default" in s and s["default"] is not None and not isinstance(s["default"], list):
                parts.append(f"{arg}: {kind}={s['default']}")
            else:
                parts.append(f"{arg}: {kind}?")
        return f"{self.name}({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "description", "input_schema"}`` (MCP / OpenAI tool form)."""
        return {"name": self.name, "description": self.description, "input_schema": self.schema}


def _short_type(s: dict[str, Any]) -> str:
    if "enum" in s:
        return "|".join(map(str, s["enum"]))
    if "anyOf" in s:
        return " or ".join(dict.fromkeys(_short_type(o) for o in s["anyOf"]))
    if s.get("format") == HANDLE:
        return "handle"
    if s.get("format") == PATH:
        return "path"
    if s.get("type") == "array":
        return f"list[{_short_type(s.get('items', {})) if s.get('items') else 'any'}]"
    return {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}.get(
        s.get("type", "any"), s.get("type", "any")
    )


def _go_library(kb: Any) -> str | None:
    """The store's GO biological-process gene-set library (the default of ``enrich``)."""
    try:
        libs = kb.gene_set_libraries()
    except Exception:
        return None
    go = sorted(lib for lib in libs if "go_biological_process" in lib.lower())
    return go[-1] if go else None


def _pathlike(value: str) -> bool:
    """A string argument that may also be a name (a library, a dataset) is a path when it
    has a folder part, a ``~`` or a file suffix."""
    import re

    return (
        "/" in value
        or "\\" in value
        or value.startswith(("~", "."))
        or bool(re.search(r"\.[A-Za-z0-9]{1,5}$", value))
    )


@dataclass
class ToolCall:
    """The outcome of one call: ``ok`` with a stored result, or a one-line ``error``."""

    tool: str
    arguments: dict[str, Any]
    ok: bool
    observation: str
    result: Result | None = None
    error: str | None = None
    seconds: float = 0.0


class Toolbox:
    """The tools of one agent run, bound to a workspace and (optionally) a knowledge base.

    Parameters
    ----------
    workspace
        Where objects and results live (default a new temporary one).
    kb
        An opened :class:`~virtualcell.knowledge.KnowledgeBase` (tools that need it are
        left out without one).
    names
        Restrict to these tool names (default: every enabled registry entry).
    allow_code
        Offer the sandboxed code tool (off by default; see :mod:`._sandbox`).
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        kb: Any = None,
        names: Iterable[str] | None = None,
        allow_code: bool = False,
    ) -> None:
        self.workspace = workspace if workspace is not None else Workspace()
        self.kb = kb
        self.allow_code = allow_code
        context = {"workspace": self.workspace}
        if kb is not None:
            context.update(kb=kb, kb_path=str(kb.path), go_library=_go_library(kb))
        self.context = context
        self.tools: dict[str, Tool] = {}
        self.disabled: dict[str, str] = {}
        wanted = None if names is None else {n.lower() for n in names}
        for entry in tools.entries():
            s = entry.obj
            if wanted is not None and entry.name not in wanted:
                continue
            if wanted is None and s.on_request:
                continue
            if not s.enabled and not allow_code:
                self.disabled[entry.name] = "code execution is off (enable it explicitly)"
                continue
            description, schema = function_schema(s.function, skip=("self", *s.bind, *s.hide))
            for p in s.paths:
                if p in schema["properties"]:
                    schema["properties"][p] = {**schema["properties"][p], "format": PATH}
            for p, k in s.defaults.items():
                if p in schema["properties"] and context.get(k):
                    schema["properties"][p] = {**schema["properties"][p], "default": context[k]}
            bound = {p: context.get(k, _NO_STORE) for p, k in s.bind.items()}
            bound.update({p: context[k] for p, k in s.defaults.items() if context.get(k)})
            self.tools[entry.name] = Tool(entry.name, description, schema, s, bound)

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def __len__(self) -> int:
        return len(self.tools)

    def names(self) -> list[str]:
        return sorted(self.tools)

    def get(self, name: str) -> Tool:
        key = str(name).strip().lower()
        if key in self.tools:
            return self.tools[key]
        if key in self.disabled:
            raise ValidationError(f"tool {name!r} is disabled: {self.disabled[key]}")
        import difflib

        close = difflib.get_close_matches(key, list(self.tools), n=2, cutoff=0.6)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ValidationError(f"unknown tool {name!r}.{hint} Tools: {', '.join(self.names())}")

    def prepare(self, name: str, arguments: dict[str, Any] | None) -> tuple[Tool, dict[str, Any]]:
        """Validate ``arguments`` and resolve handles and paths; errors are one line."""
        tool = self.get(name)
        args = validate_arguments(tool.schema, arguments, tool=tool.name)
        ws = self.workspace
        resolved: dict[str, Any] = {}
        for key, value in args.items():
            kinds = formats(tool.schema["properties"][key])
            if PATH in kinds and isinstance(value, str) and (kinds == {PATH} or _pathlike(value)):
                value = ws.path(value)
            elif HANDLE in kinds and isinstance(value, str):
                if ws.has(value):
                    value = _as_list(ws.get(value), tool.schema["properties"][key])
                    _check_kind(tool, key, value, args[key])
                elif kinds == {HANDLE}:
                    raise ValidationError(
                        f"{tool.name}: argument {key!r} needs a workspace handle "
                        f"(have: {', '.join(ws.objects) or 'none yet'}), got {value!r}"
                    )
            elif HANDLE in kinds and isinstance(value, list):
                value = [ws.get(v) if ws.has(v) else v for v in value]
            resolved[key] = value
        return tool, resolved

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> ToolCall:
        """Run one tool call; never raises for bad calls (the error is the observation).
        An unexpected exception of a tool is a failed call too (``internal error``)."""
        t0 = time.perf_counter()
        try:
            return self._call(name, arguments)
        except Exception as err:  # a bug in a tool: still a tool error, never a crash
            shown = dict(arguments or {}) if isinstance(arguments, dict) else {"_": arguments}
            err2 = RuntimeError(f"internal error in {name}: {type(err).__name__}: {err}")
            return self._error(name, shown, err2, t0)

    def _call(self, name: str, arguments: dict[str, Any] | None = None) -> ToolCall:
        t0 = time.perf_counter()
        shown = dict(arguments or {}) if isinstance(arguments, dict) else {"_": arguments}
        try:
            tool, resolved = self.prepare(name, arguments)
            if any(v is _NO_STORE for v in tool.bound.values()):
                raise DatasetNotAvailableError(
                    f"{tool.name}: no knowledge store is open; build one with `vcell kb build` "
                    "(or pass --kb PATH)"
                )
            value = tool.spec.function(**{**tool.bound, **resolved})
        except VirtualCellError as err:
            return self._error(name, shown, err, t0)
        except (ValueError, TypeError, KeyError, LookupError, OSError) as err:
            return self._error(name, shown, err, t0)
        res = self.workspace.add_result(tool.name, shown, value)
        return ToolCall(
            tool.name,
            shown,
            True,
            f"{res.handle} = {res.summary}",
            result=res,
            seconds=time.perf_counter() - t0,
        )

    @staticmethod
    def _error(name: str, shown: dict[str, Any], err: BaseException, t0: float) -> ToolCall:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not isinstance(err, VirtualCellError):
            text = f"{type(err).__name__}: {text}"
        return ToolCall(
            str(name),
            shown,
            False,
            f"error: {text[:300]}",
            error=text[:300],
            seconds=time.perf_counter() - t0,
        )

    def describe(self) -> list[dict[str, Any]]:
        """Every tool as ``{"name", "description", "input_schema"}``."""
        return [self.tools[n].to_dict() for n in self.names()]

    def select(
        self,
        question: str,
        k: int = 6,
        *,
        always: Iterable[str] = (),
        mode: Literal["lexical", "hybrid"] = "lexical",
        among: Iterable[str] | None = None,
    ) -> list[Tool]:
        """The ``k`` tools whose name and description best match ``question``, plus
        ``always``; a small model sees only these.

        ``lexical`` ranks by BM25; ``hybrid`` fuses the BM25 rank with the rank by cosine
        similarity of the bundled sentence embedder (reciprocal rank fusion, constant 10).
        Measured on the 82 benchmark questions (seed 0; the tool the expert plan needs
        first among the ``k`` chosen): lexical 66/82 at k=3 and 82/82 at k=4, hybrid 65/82
        and 68/82, so lexical is the default (docs/agent.md). ``among`` restricts the
        choice to these tool names."""
        from ..knowledge import BM25

        names = self.names() if among is None else [n for n in self.names() if n in set(among)]
        if len(names) <= k:
            return [self.tools[n] for n in names]
        docs = [
            f"{n.replace('_', ' ')} {n.replace('_', ' ')} {self.tools[n].description}"
            for n in names
        ]
        bm = BM25().fit(docs)
        scores = bm.scores(question)
        lexical = sorted(range(len(names)), key=lambda i: (-scores[i], names[i]))
        if mode == "hybrid":
            fused = {i: 0.0 for i in range(len(names))}
            for rank, i in enumerate(lexical):
                fused[i] += 1.0 / (10 + rank)
            for rank, i in enumerate(_dense_order(question, docs)):
                fused[i] += 1.0 / (10 + rank)
            order = sorted(fused, key=lambda i: (-fused[i], names[i]))
        else:
            order = lexical
        chosen = [names[i] for i in order[:k]]
        for a in always:
            if a in self.tools and a not in chosen:
                chosen.append(a)
        return [self.tools[n] for n in chosen]


_DOC_VECTORS: dict[str, Any] = {}


def _dense_order(question: str, docs: list[str]) -> list[int]:
    """Indices of ``docs`` by cosine similarity to ``question`` (document vectors cached)."""
    import numpy as np

    from ..knowledge import embed

    missing = [d for d in docs if d not in _DOC_VECTORS]
    if missing:
        for d, v in zip(missing, embed(missing, description="tools"), strict=True):
            _DOC_VECTORS[d] = v
    q = embed([question], description="question")[0]
    sims = np.array([float(_DOC_VECTORS[d] @ q) for d in docs])
    return [int(i) for i in np.argsort(-sims, kind="stable")]


def _as_list(value: Any, prop: dict[str, Any]) -> Any:
    """A column of text (``r2.target``: a result's gene column) passed to a parameter that
    also takes a list of strings becomes that list (distinct values, in order): a gene
    list by reference, every row (numeric columns, e.g. prerank scores, stay as they are)."""
    import pandas as pd

    forms = prop.get("anyOf") or [prop]
    takes_list = any(
        f.get("type") == "array" and f.get("items", {}).get("type") == "string" for f in forms
    )
    if takes_list and isinstance(value, pd.Series) and not pd.api.types.is_numeric_dtype(value):
        return list(dict.fromkeys(str(v) for v in value.dropna()))
    return value


def _check_kind(tool: Any, key: str, value: Any, handle: str) -> None:
    """A handle must name an object of the kind the parameter takes (an AnnData handle
    for ``adata``), read from the parameter's annotation: classes, or the names of the
    object types of the schema (``AnnData``, ``DataFrame``, ``GRN`` ...) in an annotation
    only imported for type checking."""
    import typing

    from ._schema import _OBJECT_NAMES, _hints

    ann = _hints(tool.spec.function).get(key)
    if ann is None:
        return
    parts = [a for a in (typing.get_args(ann) or (ann,)) if a is not type(None)]
    wanted: set[str] = set()
    for part in parts:
        if isinstance(part, type):
            if part in (str, int, float, bool, object):
                return  # a plain value is allowed too: nothing to check
            wanted.add(part.__name__)
        elif isinstance(part, str):
            for word in part.split("|"):
                word = word.strip().split(".")[-1].split("[")[0]
                if word and word != "None":
                    wanted.add(word)
        else:
            return  # Any, a generic alias ...: not checked
    if not wanted or not wanted <= set(_OBJECT_NAMES):
        return
    have = {c.__name__ for c in type(value).__mro__}
    if have & wanted:
        return
    raise ValidationError(
        f"{tool.name}: argument {key!r} needs a {' or '.join(sorted(wanted))} handle; "
        f"{handle} is a {type(value).__name__}"
    )
