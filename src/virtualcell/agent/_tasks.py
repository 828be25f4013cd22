"""Agent benchmark tasks with programmatic checkers, generated from ground truth the
package owns: the knowledge base (GO annotations, TRRUST/OmniPath TF targets, gene-set
libraries) and simulated data (known perturbation effects, cell types, GRN edges).

Families (each one entry of :data:`TASK_FAMILIES`) and how each answer is checked, on the
*verified* answer text. Reading of named items and the list rule (the first item named
must be correct; more than one named: at least half correct) are in :mod:`._checks`.

``qa_process``
    "Name a biological process gene G is involved in." Success: the first GO process named
    is a BP term G is annotated to directly, or a direct is_a/part_of parent of one that
    has >= 4 ancestors itself.
``qa_targets``
    "Name a target gene of TF T." Success: the first gene named (T left out) is a target
    of a T -> target edge.
``naming_go``
    12 genes sampled from a GO BP term with 15-60 annotated genes: "Name the biological
    process." Success: the first process named is the true term or an ancestor within two
    is_a/part_of steps with >= 4 ancestors of its own (GeneAgent's task; the sampled set is
    a subset, the term itself stays in the enrichment library, so top-term enrichment is a
    strong baseline).
``naming_hallmark``
    20 genes of a Hallmark set (the Hallmark library is withheld from the agent's default
    enrichment library). Success: the first set named, by its name or a curated keyword
    (:data:`._checks.HALLMARK_KEYWORDS`), is the true set or its sibling group.
``claims``
    "Is the claim '...' supported, contradicted or unknown?" with the label set by
    construction: a signed TF -> target edge (supported), the opposite sign of an edge with
    only one sign (contradicted), a gene pair without any edge (unknown). Success: the
    first label word not negated (``not supported``) is the true one.
``data_perturbation``
    "Which perturbation changes gene X most?" on simulated Perturb-seq. Truth: the largest
    |deterministic steady-state effect| (``uns['true_effects']``), chosen with a margin of
    1.5x over the second. Success: the first perturbation named is the true one.
``data_celltypes``
    "How many cell types?" (the ``cell_type`` column removed). Truth: the simulator's
    number of cell types. Success: the first number in the answer, with no alternative
    after it (``3 or 4``).
``data_marker``
    "Which cluster expresses gene Y most?" (clusters = renamed cell types). Truth: highest
    mean noise-free expression, with a margin of 1.5x. Success: the first cluster named.
``data_edges``
    "Which of these candidate edges are supported by the knockouts?" Candidates: true
    edges of a perturbed regulator and as many non-descendants. Truth: true edges whose
    target moves by >= 1 control sd. Success: F1 of the edges named >= 0.8; when none is
    supported, no edge named and the answer says none.
``multistep``
    "Find the perturbation that changes X most, list the TRRUST targets of the perturbed
    gene, and name a biological process enriched among them" (>= 3 tool calls; gene names
    of the simulated data are real TF symbols). Success: the first perturbation named is
    the true one and the first process named is one of the top-10 enrichment terms of its
    targets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import Entry, Registry, write_json
from ._checks import (
    norm_words,
)
from ._tools import _go_library

__all__ = [
    "DEFAULT_COUNTS",
    "FAMILIES",
    "TASK_FAMILIES",
    "Family",
    "Task",
    "check",
    "family_order",
    "make_tasks",
    "reference_answer",
]

_MIN_ANCESTORS = 4
_PROPAGATE = ("is_a", "part_of")


@dataclass
class Task:
    """One benchmark task: question, truth and (for data tasks) the data file.

    ``info`` holds what the checker reads besides the truth and is not written to
    ``tasks.json``: the store's GO BP term names (``go_vocab``) and gene symbols
    (``genes``), shared by the tasks of one set."""

    id: str
    family: str
    question: str
    truth: dict[str, Any]
    data: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "family": self.family,
            "question": self.question,
            "truth": self.truth,
            "data": self.data,
        }


@dataclass(frozen=True)
class Family:
    """One task family: how its tasks are generated and checked, the rule the checker
    applies, a reference answer written from the truth, the reference plan the scripted
    backend follows, and its default number of tasks.

    Attributes
    ----------
    name
        Family name (``Task.family``).
    generate
        ``generate(kb, rng, n) -> list[Task]`` for knowledge-base families; ``None`` for
        the simulated-data families, generated together from shared simulations.
    check
        ``check(task, answer) -> bool`` on the verified answer text.
    reference
        ``reference(task) -> str``: an answer that must pass (a test checks it does).
    plan
        ``plan(task, workspace, messages) -> reply``: the hand-written policy of the
        ``reference_solver`` (tool calls, then an answer written from their results).
    default_count
        Tasks of the family in the default set.
    rule
        The checker's rule in one sentence (docs and reports).
    baselines
        The family-specific baselines that answer it besides ``keyword_router`` (which
        answers every family): ``top_enrichment`` (gene-set naming), ``majority``.
    majority
        For the ``majority`` baseline: ``(truth key, answer template)``, e.g.
        ``("label", "Verdict: {}.")``: the most frequent truth value of the task set,
        written with the template.
    """

    name: str
    generate: Callable[..., list[Task]] | None
    check: Callable[[Task, str], bool]
    reference: Callable[[Task], str]
    plan: Callable[..., str]
    default_count: int
    rule: str
    baselines: tuple[str, ...] = ()
    majority: tuple[str, str] | None = None


def check(task: Task, answer: str) -> bool:
    """Whether ``answer`` solves ``task`` (the family's rule; module docstring)."""
    return bool(TASK_FAMILIES.get(task.family).check(task, answer or ""))


def reference_answer(task: Task) -> str:
    """An answer written from the task's truth that its checker accepts."""
    return TASK_FAMILIES.get(task.family).reference(task)


def _vocabulary(kb) -> tuple[dict[tuple[str, ...], str], frozenset[str]]:
    """The store's GO BP term names (normalised words -> GO id, the GO library's term names
    included) and gene symbols: what the checkers read answers against."""
    vocab: dict[tuple[str, ...], str] = {}
    terms = kb._q("SELECT id, name FROM go_terms WHERE namespace = 'BP' ORDER BY id")
    for go_id, name in zip(terms["id"], terms["name"], strict=True):
        if name:
            vocab.setdefault(norm_words(str(name)), str(go_id))
    lib = _go_library(kb)
    if lib:
        for term in kb.gene_sets(lib):
            m = re.search(r"^(.*?)\s*\((GO:\d{7})\)\s*$", term)
            if m:
                vocab.setdefault(norm_words(m.group(1)), m.group(2))
    genes = frozenset(kb._q("SELECT symbol FROM genes")["symbol"].astype(str))
    return vocab, genes


def make_tasks(
    kb,
    *,
    folder: str | Path,
    seed: int = 0,
    counts: dict[str, int] | None = None,
) -> list[Task]:
    """Generate the benchmark tasks (deterministic for a seed) and write their data.

    Parameters
    ----------
    kb
        An opened knowledge base.
    folder
        Where the simulated data sets and ``tasks.json`` are written.
    seed
        Seed of every sampling step and simulation.
    counts
        Tasks per family (default :data:`DEFAULT_COUNTS`); a family may get fewer when
        the store or the simulation offers fewer valid tasks.
    """
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    unknown = sorted(set(counts) - set(TASK_FAMILIES.names()))
    if unknown:
        from .._errors import ValidationError

        raise ValidationError(
            f"unknown task famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
            f"known: {', '.join(FAMILIES)}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tasks: list[Task] = []
    order = family_order()
    for name in order:  # knowledge-base families draw from one generator, in order
        gen = TASK_FAMILIES.get(name).generate
        if gen is not None:
            tasks += gen(kb, rng, counts.get(name, 0))
    if any(counts.get(f, 0) for f in order if TASK_FAMILIES.get(f).generate is None):
        from ._family_data import _data_tasks

        tasks += _data_tasks(kb, rng, counts, folder / "data", seed)
    vocab, genes = _vocabulary(kb)
    for t in tasks:
        t.info.update(go_vocab=vocab, genes=genes)
    write_json(folder / "tasks.json", [t.to_dict() for t in tasks])
    return tasks


# -- the families ------------------------------------------------------------------------------
def _truth_reference(task: Task) -> str:
    return str(task.truth["reference"])


def _family_builtins() -> list[Entry[Family]]:
    from ._family_data import families as data_families
    from ._family_kb import families as kb_families

    return [Entry(f.name, f, f.rule) for f in (*kb_families(), *data_families())]


#: The task families (name -> :class:`Family`); users may add their own.
TASK_FAMILIES: Registry[Family] = Registry("agent task family", _family_builtins)
#: The built-in families in benchmark order.
FAMILIES = (
    "qa_process",
    "qa_targets",
    "naming_go",
    "naming_hallmark",
    "claims",
    "data_perturbation",
    "data_celltypes",
    "data_marker",
    "data_edges",
    "multistep",
)
#: Default number of tasks per family (82 in all).
DEFAULT_COUNTS = {f: TASK_FAMILIES.get(f).default_count for f in FAMILIES}


def family_order() -> list[str]:
    """The built-in families in benchmark order, then families users registered."""
    return [*FAMILIES, *sorted(set(TASK_FAMILIES.names()) - set(FAMILIES))]
