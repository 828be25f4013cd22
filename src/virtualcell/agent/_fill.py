"""Arguments that exist: a schema-valid call is also an executable one.

Constrained decoding (:mod:`._constrain`) makes a small model's reply well-formed, but a
string argument can still be ``"that"`` and an optional ``layer`` can be set to a gene
name. With *filling* on (``Agent(ground_arguments=True)``, the local benchmark's setting)
each turn's schema is built from what exists:

* **Only required arguments** are offered; the optional ones take their defaults.
* Each required argument is an ``enum`` of the values of its *kind* found in the question,
  the workspace and the results so far (:data:`ARG_KINDS`, by parameter name): gene
  symbols (words of the question or of result tables that the knowledge store resolves,
  or genes of a workspace data set), quoted phrases of the question (a claim), those and
  the question's genes (a search query), gene lists (all the genes a question lists; the
  gene column of a result table, *by reference*: ``"r2.target"``, which the toolbox
  resolves to every row of the column, so a chained ``enrich`` gets all 628 targets of a
  TF, not the first 25 rows; a parameter that takes no handle gets the column's first
  :data:`MAX_LIST` resolved genes written out), GO ids, quoted phrases, ``A->B`` edge lists, obs columns and
  their values of the workspace's AnnData objects, handles of the kind the parameter takes.
* A tool is **offered only when every required argument can be filled** now; a required
  argument of no known kind (a path, a free text) makes the tool unavailable.
* **Calls build on results**: once a call has succeeded, a tool is offered only when it
  takes a value a result produced (a gene of a result table, the latest result's gene
  column as a list, a GO id) and those arguments take only such values; a tool at most once per run. When
  no tool can take anything new, only the answer is left.
* The **answer** is a list of *answer values* of the results so far, at most one per
  result, in call order: what each tool's result can answer (:func:`answer_values`; a
  tool may declare its own with ``spec(..., answers=...)``), never a word of the
  question. (A question asks for one item per step; a padded list fails the checkers.)

What is left to the model: which tool, which of the existing values, when to answer and
which result value to name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._schema import HANDLE, PATH, formats

__all__ = ["ARG_KINDS", "Fill", "answer_values", "can_fill", "fill_context", "fill_schema"]

#: Parameter name -> the kind of value it takes (arguments of other names that are
#: required and not handles make a tool unavailable with filling on).
ARG_KINDS = {
    "gene": "gene",
    "symbol": "gene",
    "tf": "gene",
    "genes": "genes",
    "go_id": "go_id",
    "claim": "phrase",
    "query": "query",
    "edges": "edges",
    "groupby": "obs_column",
    "group": "obs_value",
}
#: Kinds that tool results can add later (a tool needing them may be shown before).
_GROWING = {"gene", "genes", "go_id"}

MAX_VALUES = 40
#: genes of a result column written out in a call (where the parameter takes no reference)
MAX_LIST = 25
TOP_ROWS = 3

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*[A-Za-z0-9]|[A-Za-z0-9]")
_QUOTED = re.compile(r"'([^']{2,200})'")
_EDGE = re.compile(r"[A-Za-z0-9_.:\-]+->[A-Za-z0-9_.:\-]+")
_GO = re.compile(r"GO:\d{7}")
_COLUMN = re.compile(r"[A-Za-z_]\w*")
_NOT_GENES = {"GO", "TF", "KB", "DNA", "RNA", "I", "A", "BP", "MF", "CC"}


@dataclass
class Fill:
    """The values each argument kind may take now, and the answer values so far."""

    values: dict[str, list[Any]] = field(default_factory=dict)
    handles: dict[str, Any] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)
    #: the answer values of each result that has some, in call order
    answer_groups: list[list[str]] = field(default_factory=list)
    #: the tool of each answer group's result
    group_tools: list[str] = field(default_factory=list)
    #: values of each kind that tool results produced (not the question)
    derived: dict[str, list[Any]] = field(default_factory=dict)
    #: obs column -> its levels (a ``group`` must be a level of the ``groupby`` column)
    levels: dict[str, list[str]] = field(default_factory=dict)
    #: a gene list by reference (``"r2.target"``) -> its first resolved genes written out,
    #: for parameters that take no handle
    inline: dict[str, list[str]] = field(default_factory=dict)

    def of(self, kind: str) -> list[Any]:
        return self.values.get(kind, [])


def _add(out: list[Any], value: Any, limit: int = MAX_VALUES) -> None:
    if value not in out and len(out) < limit:
        out.append(value)


def _gene_tokens(text: str, is_gene) -> list[str]:
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        if tok in _NOT_GENES or tok.isdigit() or "->" in tok:
            continue
        if not (tok.isupper() or any(c.isdigit() for c in tok)):
            continue
        sym = is_gene(tok)
        if sym:
            _add(out, sym, 10_000)
    return out


def _categorical_obs(adata: Any, max_levels: int = 30) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    obs = getattr(adata, "obs", None)
    if obs is None:
        return out
    for col in obs.columns:
        s = obs[col]
        if s.dtype.kind in "fiub" and not str(s.dtype) == "category":
            continue
        levels = [str(v) for v in dict.fromkeys(s.astype(str))]
        if 1 < len(levels) <= max_levels:
            out[str(col)] = levels
    return out


def answer_values(value: Any, tool: Any = None) -> list[str]:
    """What a tool result can answer: the tool's own rule (``spec(answers=...)``) when it
    has one, else the first column's top rows of a table, a verdict's label, the counts
    (``n_*`` integers) of a mapping, the titles of search hits."""
    rule = getattr(getattr(tool, "spec", None), "answers", None)
    if rule is not None:
        return [str(v) for v in rule(value)]
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        if not len(value.columns):
            return []
        return [str(v) for v in value.iloc[:TOP_ROWS, 0]]
    if hasattr(value, "label") and isinstance(value.label, str):
        return [value.label]
    if isinstance(value, dict):
        return [str(v) for k, v in value.items() if str(k).startswith("n_") and isinstance(v, int)]
    if isinstance(value, list):
        return [
            str(v.title) for v in value[:TOP_ROWS] if isinstance(getattr(v, "title", None), str)
        ]
    return []


def fill_context(question: str, workspace: Any, kb: Any = None, tools: Any = None) -> Fill:
    """The values of each argument kind and the answer values that exist now: from the
    question, the workspace's objects and the results so far (``tools``: name -> tool,
    for their answer rules)."""
    import pandas as pd

    adatas = {h: v for h, v in workspace.objects.items() if hasattr(v, "obs") and hasattr(v, "var")}
    var_names: dict[str, str] = {}
    for ad in adatas.values():
        for g in list(map(str, ad.var_names))[:20_000]:
            var_names.setdefault(g.upper(), g)

    def is_gene(tok: str) -> str | None:
        if tok.upper() in var_names:
            return var_names[tok.upper()]
        if kb is not None:
            try:
                return kb.resolve(tok)
            except Exception:
                return None
        return None

    def in_network(tok: str) -> str | None:
        """A name of the question the store has regulatory edges of, though its gene
        table does not list it (``COMPLEX:ARNT_HIF1A``, a UniProt id)."""
        sym = is_gene(tok)
        if sym or kb is None:
            return sym
        try:
            return tok if len(kb.targets(tok)) or len(kb.regulators(tok)) else None
        except Exception:
            return None

    fill = Fill(handles=dict(workspace.objects))
    genes: list[str] = []
    gene_lists: list[list[str]] = []
    go_ids: list[str] = []
    q_genes = _gene_tokens(question, in_network)
    for g in q_genes:
        _add(genes, g)
    if len(q_genes) >= 3:
        gene_lists.append(q_genes)  # every gene the question lists (it chose them)
    phrases = [m for m in _QUOTED.findall(question) if m.lower() not in {h.lower() for h in adatas}]
    edges = [e.rstrip(".:-") for e in _EDGE.findall(question)]
    for m in _GO.findall(question):
        _add(go_ids, m)
    answers: list[str] = []
    n_q = (len(genes), len(gene_lists), len(go_ids))
    for res in workspace.results.values():
        tool = (tools or {}).get(res.tool)
        vals = answer_values(res.value, tool)
        for v in vals:
            _add(answers, v)
        if vals:
            fill.answer_groups.append(list(dict.fromkeys(vals)))
            fill.group_tools.append(res.tool)
        for v in vals:
            sym = is_gene(v) if _TOKEN.fullmatch(v) else None
            if sym:
                _add(genes, sym)
            for m in _GO.findall(v):
                _add(go_ids, m)
        value = res.value
        if isinstance(value, pd.DataFrame) and len(value) and len(value.columns):
            col = [str(x) for x in value.iloc[:, 0]]
            found = [is_gene(x) for x in col[:MAX_LIST] if _TOKEN.fullmatch(x)]
            found = [g for g in found if g]
            if len(found) >= max(2, len(col[:MAX_LIST]) // 2):
                lst = list(dict.fromkeys(found))
                name = str(value.columns[0])
                if _COLUMN.fullmatch(name):  # the whole column, by reference
                    ref = f"{res.handle}.{name}"
                    fill.inline[ref] = lst
                    gene_lists.append(ref)
                elif lst not in gene_lists:
                    gene_lists.append(lst)
    obs_cols: list[str] = []
    obs_vals: list[str] = []
    for ad in adatas.values():
        for col, levels in _categorical_obs(ad).items():
            _add(obs_cols, col)
            fill.levels.setdefault(col, [])
            for lv in levels:
                _add(obs_vals, lv, 60)
                _add(fill.levels[col], lv, 60)
    query = list(dict.fromkeys([*phrases, *q_genes[:10]]))
    fill.values = {
        "gene": genes,
        "genes": gene_lists,
        "go_id": go_ids,
        "phrase": phrases,
        "query": query,
        "edges": [edges[:MAX_LIST]] if edges else [],
        "obs_column": obs_cols,
        "obs_value": obs_vals,
    }
    fill.answers = answers
    fill.derived = {
        "gene": genes[n_q[0] :],
        "genes": gene_lists[n_q[1] :],
        "go_id": go_ids[n_q[2] :],
    }
    return fill


def _fits(tool: Any, key: str, value: Any) -> bool:
    from ._tools import _check_kind

    try:
        _check_kind(tool, key, value, "")
    except Exception:
        return False
    return True


def _arg_schema(
    tool: Any, key: str, prop: dict[str, Any], fill: Fill, *, chain: bool = False
) -> dict[str, Any] | None:
    """The schema of one required argument over the values that exist (None: none);
    ``chain``: arguments of the kinds results produce take only values results produced."""
    from ._constrain import compact_schema

    kinds = formats(prop)
    kind = ARG_KINDS.get(key)
    if kind is not None:
        vals = fill.derived.get(kind, []) if chain and kind in _GROWING else fill.of(kind)
        if chain and kind == "genes":
            # a chained call builds on the latest gene list (as chain_arguments picks the
            # latest result's values): perturbations -> targets -> enrich the *targets*
            vals = vals[-1:]
        if not vals:
            return None
        if kind == "genes" and HANDLE not in kinds:  # no reference: the genes written out
            vals = [fill.inline.get(v, v) if isinstance(v, str) else v for v in vals]
        if kind in ("genes", "edges"):
            return {"anyOf": [{"const": v} for v in vals]} if len(vals) > 1 else {"const": vals[0]}
        return {"type": "string", "enum": [str(v) for v in vals]}
    if HANDLE in kinds:
        hs = [h for h, v in fill.handles.items() if _fits(tool, key, v)]
        return {"type": "string", "enum": hs} if hs else None
    if PATH in kinds:
        return None
    if "enum" in prop or prop.get("type") in ("integer", "number", "boolean"):
        return compact_schema(prop)
    return None


def fill_schema(tool: Any, fill: Fill, *, chain: bool = False) -> dict[str, Any] | None:
    """The argument schema of ``tool`` with only its required arguments, each an enum of
    the values that exist; ``None`` when a required argument cannot be filled now.

    ``chain`` (after a call succeeded): the call must build on the results: at least one
    required argument takes a value of a kind results produce (genes, gene lists, GO
    ids), and those arguments take only the values the results produced."""
    required = list(tool.schema.get("required", []))
    if chain and not any(ARG_KINDS.get(k) in _GROWING for k in required):
        return None
    props: dict[str, Any] = {}
    for key in required:
        s = _arg_schema(tool, key, tool.schema["properties"][key], fill, chain=chain)
        if s is None:
            return None
        props[key] = s
    out = {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }
    col = next((k for k in required if ARG_KINDS.get(k) == "obs_column"), None)
    val = next((k for k in required if ARG_KINDS.get(k) == "obs_value"), None)
    if col and val:  # a group must be a level of the chosen column: one option per column
        out = {
            "anyOf": [
                {**out, "properties": {**props, col: {"const": c}, val: {"enum": fill.levels[c]}}}
                for c in props[col]["enum"]
                if fill.levels.get(c)
            ]
        }
        if not out["anyOf"]:
            return None
    return out


def can_fill(tool: Any, fill: Fill) -> bool:
    """Whether ``tool`` can be filled now or once results add genes or GO ids (its other
    required arguments exist already): such tools may be shown in the prompt."""
    for key in tool.schema.get("required", []):
        kind = ARG_KINDS.get(key)
        if kind in _GROWING:
            continue
        if _arg_schema(tool, key, tool.schema["properties"][key], fill) is None:
            return False
    return True


def offered(tools: Iterable[Any], fill: Fill, *, chain: bool = False) -> dict[str, dict[str, Any]]:
    """Tool name -> argument schema of the ``tools`` that can be filled now
    (:func:`fill_schema`)."""
    out = {}
    for t in tools:
        s = fill_schema(t, fill, chain=chain)
        if s is not None:
            out[t.name] = s
    return out


def required_signature(tool: Any, names: Sequence[str] | None = None) -> str:
    """``name(arg, ...)``: the tool with its required arguments only (prompt form)."""
    req = names if names is not None else tool.schema.get("required", [])
    return f"{tool.name}({', '.join(req)})"
