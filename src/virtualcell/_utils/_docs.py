"""Shared parameter documentation: a parameter that means the same thing everywhere
(``adata``, ``layer``, ``label_key``, ``seed``, ``out``, ``overwrite`` ...) is described
once, in :data:`SHARED_PARAMS`, and :func:`doc_params` writes that description into the
numpydoc ``Parameters`` section of every function that takes it.

A function's own description of a parameter always wins: only parameters the docstring
does not describe are added (in signature order; the section is created before the first
other section, or at the end, when the docstring has none). A shared description may
name the function's own defaults with ``{default}``.

A package whose functions share parameters that mean something narrower there (the
``genes`` of a candidate-edge universe, the ``path`` a figure is saved to) passes its own
table: ``@doc_params(**TABLE)`` (or ``@doc_params(name="...")``) adds those descriptions
too, preferred over :data:`SHARED_PARAMS` for the names they cover.

Examples
--------
>>> from virtualcell._utils import doc_params
>>> @doc_params
... def f(adata, *, seed: int = 0) -> None:
...     '''Do something.'''
>>> print(f.__doc__.splitlines()[2:4])
['Parameters', '----------']
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable
from typing import TypeVar, overload

__all__ = ["SHARED_PARAMS", "add_params", "doc_params", "documented_params"]

F = TypeVar("F", bound=Callable)

#: The one description of each repeated parameter.
SHARED_PARAMS: dict[str, str] = {
    "adata": "Annotated data matrix (cells x genes; ``anndata.AnnData``).",
    "layer": (
        'Matrix to read: ``None`` = ``X``, a name = ``adata.layers[name]``, ``"raw"`` = '
        "``adata.raw.X`` with its own genes (``vc.data.select_matrix``)."
    ),
    "label_key": "``obs`` column holding the cell labels.",
    "batch_key": "``obs`` column holding the batch of each cell (``None``: one batch).",
    "key_added": "Key the result is written under (default ``{default!r}``).",
    "perturbation_key": (
        "``obs`` column holding the perturbation labels (``control``, ``A``, ``A+B``)."
    ),
    "seed": "Random seed of everything the function draws (0 .. 2**32 - 1).",
    "out": "Output path (written atomically).",
    "path": "Path of the file or folder to read.",
    "overwrite": (
        "Replace an existing output; without it an existing file or non-empty folder is "
        "refused (an output equal to an input is refused always)."
    ),
    "n_jobs": "Worker processes (``-1``: every available core).",
    "target_sum": "Total counts each cell is scaled to (default ``{default:g}``).",
    "n_top_genes": "Number of highly variable genes to keep (default {default}).",
    "subset": "Keep only the selected genes (in place) instead of flagging them.",
    "verbose": "Log progress to stderr.",
    "kb": 'Knowledge store: an opened store, a path, ``"auto"`` (the built default) or ``None``.',
}

_HEADER = re.compile(r"^(?P<title>[A-Z][A-Za-z ]+)\n-{3,}$", re.M)
_NAME_LINE = re.compile(r"^(?P<names>\*{0,2}[A-Za-z_][\w, *]*?)(\s*:.*)?$")


def _sections(doc: str) -> list[tuple[str, int, int]]:
    """``(title, start of header, end of body)`` of every numpydoc section."""
    heads = list(_HEADER.finditer(doc))
    return [
        (m["title"], m.start(), heads[i + 1].start() if i + 1 < len(heads) else len(doc))
        for i, m in enumerate(heads)
    ]


def documented_params(doc: str | None) -> list[str] | None:
    """Names described in the ``Parameters`` section of ``doc`` (cleaned or raw), or
    ``None`` when it has no such section."""
    text = inspect.cleandoc(doc or "")
    for title, start, end in _sections(text):
        if title == "Parameters":
            body = text[start:end].split("\n", 2)[2] if text[start:end].count("\n") >= 2 else ""
            names: list[str] = []
            for line in body.splitlines():
                if line and not line[0].isspace():
                    m = _NAME_LINE.match(line)
                    if m:
                        names += [n.strip().lstrip("*") for n in m["names"].split(",")]
            return names
    return None


def _entry(name: str, text: str) -> str:
    body = textwrap.fill(text, width=84, initial_indent="    ", subsequent_indent="    ")
    return f"{name}\n{body}"


@overload
def doc_params(func: F, /) -> F: ...
@overload
def doc_params(func: None = None, /, **extra: str) -> Callable[[F], F]: ...
def doc_params(func: F | None = None, /, **extra: str) -> F | Callable[[F], F]:
    """Add :data:`SHARED_PARAMS` descriptions of ``func``'s parameters that its docstring
    does not describe to its ``Parameters`` section (see the module documentation).

    Used bare (``@doc_params``) or with a package's own descriptions
    (``@doc_params(**TABLE)``), which are used before :data:`SHARED_PARAMS`.

    Parameters
    ----------
    func
        The function (or class, whose ``__init__`` signature is read) to document;
        omitted when ``extra`` is given (then a decorator is returned).
    **extra
        ``name=description`` entries preferred over :data:`SHARED_PARAMS` (``{default}``
        is replaced by the parameter's default, as there).

    Returns
    -------
    The same object, with ``__doc__`` completed (or, without ``func``, a decorator that
    does so).
    """
    if func is None:
        table = {**SHARED_PARAMS, **extra}
        return lambda f: _document(f, table)
    return _document(func, {**SHARED_PARAMS, **extra})


def _document(func: F, table: dict[str, str]) -> F:
    target = func.__init__ if inspect.isclass(func) else func  # type: ignore[misc]
    every = [
        p for p in inspect.signature(target).parameters.values() if p.name not in ("self", "cls")
    ]
    params = [p for p in every if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    doc = inspect.cleandoc(func.__doc__ or "")
    have = documented_params(doc) or []
    missing = [p for p in params if p.name not in have and p.name in table]
    if not missing:
        return func
    new = {
        p.name: table[p.name].format(default=None if p.default is p.empty else p.default)
        for p in missing
    }
    doc = add_params(doc, new, [p.name for p in every])  # *args, **kwargs stay in place
    func.__doc__ = doc.rstrip("\n") + "\n"
    return func


def add_params(doc: str, new: dict[str, str], order: list[str]) -> str:
    """``doc`` (cleaned) with the entries ``{name: description}`` added to its
    ``Parameters`` section in the order of ``order`` (the signature), creating the section
    before the first other section (or at the end) when there is none."""
    entry_text = {name: _entry(name, text) for name, text in new.items()}
    sections = _sections(doc)
    found = [sec for sec in sections if sec[0] == "Parameters"]
    if not found:
        block = "Parameters\n----------\n" + "\n".join(
            entry_text[n] for n in order if n in entry_text
        )
        at = sections[0][1] if sections else len(doc)
        example = re.search(r"^>>> ", doc, re.M)  # inline examples stay last
        if example and example.start() < at:
            at = example.start()
        head, tail = doc[:at].rstrip(), doc[at:]
        return f"{head}\n\n{block}\n" + (f"\n{tail}" if tail else "")
    _, start, end = found[0]
    header, _, body = doc[start:end].partition("----------\n")
    header += "----------\n"
    # the body as entries: a name line and its indented lines
    entries: list[tuple[str | None, str]] = []
    for line in body.rstrip("\n").splitlines():
        if line and not line[0].isspace():
            m = _NAME_LINE.match(line)
            first = m["names"].split(",")[0].strip().lstrip("*") if m else None
            entries.append((first, line))
        elif entries:
            entries[-1] = (entries[-1][0], entries[-1][1] + "\n" + line)
        else:
            entries.append((None, line))
    for name in [n for n in order if n in entry_text]:
        later = [
            i
            for i, (e, _) in enumerate(entries)
            if e in order and order.index(e) > order.index(name)
        ]
        entries.insert(later[0] if later else len(entries), (name, entry_text[name]))
    rebuilt = header + "\n".join(text for _, text in entries).rstrip("\n") + "\n"
    rest = doc[end:]
    return doc[:start] + rebuilt + ("\n" + rest if rest else "")
