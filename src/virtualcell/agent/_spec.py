"""How a public function becomes an agent tool: :class:`ToolSpec` (which parameters the
context fills or hides, what a result can answer) and :func:`spec`, one registry entry per
tool (the table is :mod:`._toolset`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._utils import Entry
from ._schema import function_schema

__all__ = ["ToolSpec", "spec"]


@dataclass(frozen=True)
class ToolSpec:
    """How a public function becomes a tool.

    Attributes
    ----------
    name
        Tool name (``snake_case``).
    function
        The public function (or unbound method, with ``self`` bound from the context).
    bind
        ``{parameter: context key}`` filled by the toolbox (``"kb"``, ``"kb_path"``,
        ``"workspace"``); hidden from the model.
    hide
        Parameters left at their defaults and not shown to the model.
    paths
        Parameters that are file paths even when typed ``str`` (confined to the workspace).
    defaults
        ``{parameter: context key}``: defaults taken from the context (e.g. the store's
        GO gene-set library for ``enrich``); shown in the schema, overridable.
    enabled
        ``False`` for tools offered only on request (the code tool).
    on_request
        ``True`` for tools left out of the default tool list and offered only when named
        (the screen tools of the design agent, which need a screen in the workspace).
    evidence
        ``False`` for tools whose results judge or search text rather than compute from
        data: their output echoes the caller's words (``verify_claim``: "no TP53->CDKN1A
        edge in the store"; ``kb_search`` for "KLF1 insulin secretion" returns KLF1's
        record and the GO term side by side), so the verifier never counts it as
        workspace support (it checks the knowledge base directly instead).
    answers
        ``value -> [str]``: what a result of this tool can answer (the answer values a
        filled reply may name, :mod:`._fill`); default: the first column's top rows of a
        table, a verdict's label, the ``n_*`` counts of a mapping.
    answer_kind
        The kind of answer the tool's results give (a key of
        :data:`~virtualcell.agent._evidence.ANSWER_KINDS`: ``gene``, ``process`` ...;
        ``""``: none). A run's answer is checked against the question by it before the run
        is remembered (:mod:`._evidence`).
    """

    name: str
    function: Callable[..., Any]
    bind: Mapping[str, str] = field(default_factory=dict)
    hide: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    defaults: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    on_request: bool = False
    evidence: bool = True
    answers: Callable[[Any], list[str]] | None = None
    answer_kind: str = ""


def spec(
    name: str,
    function: Callable[..., Any],
    *,
    bind: Mapping[str, str] | None = None,
    hide: Iterable[str] = (),
    paths: Iterable[str] = (),
    defaults: Mapping[str, str] | None = None,
    enabled: bool = True,
    on_request: bool = False,
    evidence: bool = True,
    answers: Callable[[Any], list[str]] | None = None,
    answer_kind: str = "",
) -> Entry[ToolSpec]:
    """A registry entry for ``function`` as the tool ``name`` (one line per tool).

    The tool's description and argument schema are derived from ``function``'s signature
    and numpydoc docstring; the options are the fields of :class:`ToolSpec`.

    Parameters
    ----------
    name
        Tool name (``snake_case``), as the model writes it.
    function
        The public function (or unbound method) the tool calls.
    bind
        ``{parameter: context key}`` the toolbox fills (``"kb"``, ``"kb_path"``,
        ``"workspace"``); hidden from the model.
    hide
        Parameters left at their defaults and not shown to the model.
    paths
        Parameters that are file paths even when typed ``str`` (confined to the workspace).
    defaults
        ``{parameter: context key}``: defaults taken from the context, shown and overridable.
    enabled
        ``False`` for a tool offered only when asked for (the code tool).
    on_request
        ``True`` for a tool left out of the default list and offered only when named.
    evidence
        ``False`` when the tool's results echo the caller's words (search, claim checks):
        the verifier never counts them as workspace support.
    answers
        ``value -> [str]``: the answer values a result of this tool offers a filled reply
        (``None``: the default reading of tables, verdicts and counts).
    answer_kind
        The kind of answer the tool's results give (``"gene"``, ``"process"``,
        ``"perturbation"``, ``"group"``, ``"edges"``, ``"number"``, ``"verdict"``; ``""``:
        none), compared with what a question asks for before a run is remembered.

    Returns
    -------
    Entry[ToolSpec]
        The registry entry (name, spec, one-line summary; tagged ``code`` when not enabled).
    """
    bind = dict(bind or {})
    s = ToolSpec(
        name,
        function,
        bind,
        tuple(hide),
        tuple(paths),
        dict(defaults or {}),
        enabled,
        on_request,
        evidence,
        answers,
        answer_kind,
    )
    summary, _ = function_schema(function, skip=("self", *bind, *s.hide))
    return Entry(name, s, summary, False, ("code",) if not enabled else ())
