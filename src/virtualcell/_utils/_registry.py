"""The one registry style: an explicit, typed ``name -> callable`` table per namespace.

Each namespace that offers swappable parts (GRN methods, perturbation predictors,
annotation methods, tokenizers, model architectures, training objectives, benchmark
tasks, agent tools ...) owns one :class:`Registry`. The built-in entries are listed in
one place (a table module that imports the implementations), so a reader finds every
method of a namespace in one file and the implementation modules never import the
registry back (no import cycles). Users may add their own with :meth:`Registry.register`.

The CLI (``--list-methods``), the benchmark and the agent's tool list all read the same
tables, so a new entry shows up everywhere at once.

Examples
--------
>>> from virtualcell._utils import Registry
>>> reg = Registry("scorer")
>>> @reg.register("double", description="Twice the input.")
... def double(x: float) -> float:
...     return 2 * x
>>> reg.get("double")(2.0)
4.0
>>> reg.names()
['double']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .._errors import ValidationError

__all__ = ["Entry", "Registry"]

F = TypeVar("F")


def _first_doc_line(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


@dataclass(frozen=True)
class Entry(Generic[F]):
    """One registered part.

    Attributes
    ----------
    name
        Registry key (lower case, used on the command line).
    obj
        The callable (function or class).
    description
        One line for listings (default: the first docstring line).
    baseline
        ``True`` for the simple reference methods every evaluation must report.
    tags
        Free labels used for filtering (``"combinatorial"``, ``"unseen_genes"`` ...).
    """

    name: str
    obj: F
    description: str = ""
    baseline: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)


class Registry(Generic[F]):
    """A named table of callables of one kind.

    Parameters
    ----------
    kind
        What the entries are, for messages (``"GRN method"``, ``"tokenizer"``).
    builtins
        A function returning the built-in entries; called once, on first use, so that
        heavy implementation modules are imported lazily.
    """

    def __init__(self, kind: str, builtins: Callable[[], Iterable[Entry[F]]] | None = None):
        self.kind = kind
        self._builtins = builtins
        self._entries: dict[str, Entry[F]] = {}
        self._loaded = builtins is None

    # -- filling ---------------------------------------------------------------------
    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # before the call: a builtin may look up another entry
            assert self._builtins is not None
            for entry in self._builtins():
                self._entries.setdefault(entry.name, entry)

    def add(
        self,
        name: str,
        obj: F,
        *,
        description: str | None = None,
        baseline: bool = False,
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> F:
        """Add ``obj`` under ``name`` (lower-cased); refuses to shadow an entry unless
        ``replace``."""
        self._load()
        key = str(name).strip().lower()
        if not key:
            raise ValidationError(f"a {self.kind} needs a non-empty name")
        if key in self._entries and not replace:
            raise ValidationError(
                f"{self.kind} {key!r} is already registered; pass replace=True to override it"
            )
        self._entries[key] = Entry(
            key,
            obj,
            description if description is not None else _first_doc_line(obj),
            bool(baseline),
            tuple(tags),
        )
        return obj

    def register(
        self,
        name: str,
        *,
        description: str | None = None,
        baseline: bool = False,
        tags: Iterable[str] = (),
        replace: bool = False,
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`add` (for users' own entries)."""

        def wrap(obj: F) -> F:
            return self.add(
                name, obj, description=description, baseline=baseline, tags=tags, replace=replace
            )

        return wrap

    def remove(self, name: str) -> Entry[F]:
        """Take the entry called ``name`` out of the table and return it (e.g. a user's
        entry added for one run); an unknown name raises as :meth:`entry` does."""
        found = self.entry(name)
        del self._entries[found.name]
        return found

    # -- lookup ----------------------------------------------------------------------
    def entry(self, name: str) -> Entry[F]:
        """The :class:`Entry` called ``name``; a :class:`ValidationError` naming the
        closest matches and every valid name when there is none."""
        self._load()
        key = str(name).strip().lower()
        if key in self._entries:
            return self._entries[key]
        close = difflib.get_close_matches(key, list(self._entries), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValidationError(
            f"unknown {self.kind} {name!r}.{hint} Available: {', '.join(self.names())}"
        )

    def get(self, name: str) -> F:
        """The callable registered as ``name`` (see :meth:`entry`)."""
        return self.entry(name).obj

    def names(self, *, baseline: bool | None = None, tag: str | None = None) -> list[str]:
        """Sorted names, optionally only baselines (``True``), only non-baselines
        (``False``) or only entries with ``tag``."""
        self._load()
        return sorted(
            k
            for k, e in self._entries.items()
            if (baseline is None or e.baseline == baseline) and (tag is None or tag in e.tags)
        )

    def describe(self) -> dict[str, str]:
        """``{name: one-line description}`` in name order."""
        self._load()
        return {k: self._entries[k].description for k in self.names()}

    def entries(self) -> list[Entry[F]]:
        """All entries in name order."""
        self._load()
        return [self._entries[k] for k in self.names()]

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and name.strip().lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"
