"""The agent benchmark in the benchmark: ``vc.agent``'s tasks with programmatic checkers,
answered by the reference solver (the scripted expert plan), the non-LLM baselines and
(``full``) the local LLM.

The agent benchmark (``vcell agent bench``; ``docs/agent.md``) generates its tasks from a
knowledge store and simulated Perturb-seq (deterministic for a seed) and runs one system
on all of them. Here the **families** of tasks are the splits, the systems are the
methods, and a cell's value is the success rate of one system on one family:

* the tasks of one seed are generated and answered **once per seed and system** by
  ``vc.agent.evaluate`` (the reference solver's run also answers the baselines); its tidy
  per-task table (an :class:`~virtualcell.metrics.EvalResult`) is cached under the run's
  ``scratch/agent`` folder and shared by the cells of that seed (so the first cell of a
  seed carries its runtime, the others read the cache); a cell is the mean over the
  family's task instances;
* the knowledge store is built there once from what the installed packages ship
  (``vcell kb build`` without ``--source``: Enrichr GO BP 2023, OmniPath TF targets,
  NCBI genes) or, in ``full``, from the reference extracts under ``VIRTUALCELL_DATA``
  (``knowledge/``: GO 2022 with its DAG, TRRUST, Hallmark). The installed store has no
  GO DAG and no Hallmark library, so the two *naming* families have no task there.

Methods: ``reference_solver`` (kind ``reference_solver``: the ``scripted`` backend
following a hand-written plan per family; an upper bound of tools + loop + verifier, not
a model and not the virtualcell agent), baselines
``keyword_router`` (every family), ``top_enrichment`` (naming families), ``majority``
(claims, cell-type counts: the most frequent true answer of the task set, optimistic),
and the agent row ``local`` (SmolLM2-135M on CPU; ``full`` only: it loads in ~45 s and generates
< 1 token/s on the shared 2-core machine, minutes per task; it answers the first task of
each family).

Metrics: success rate (primary), valid tool-call rate (systems that call tools in a loop;
mean over the family's tasks of each task's valid calls / non-answer replies).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..agent import DEFAULT_TASK_COUNTS, TASK_FAMILIES
from ..metrics import metric_spec
from ._task import (
    Dataset,
    Method,
    RunContext,
    Task,
    UserData,
    data_facts,
    reference_missing,
)

__all__ = ["AGENT_TASK"]

#: Reported metrics, primary first (from ``vc.metrics.METRIC_SPECS``).
METRICS = (metric_spec("success_rate"), metric_spec("valid_call_rate"))

#: The agent benchmark's task families, in its order.
FAMILIES = tuple(DEFAULT_TASK_COUNTS)
#: Families of tasks the store built from the installed packages can generate (no GO DAG
#: and no Hallmark library: no naming task).
INSTALLED_FAMILIES = tuple(f for f in FAMILIES if not f.startswith("naming"))
#: Tasks per family by dataset (``data_celltypes`` runs k-means + silhouette over several
#: k: seconds to tens of seconds per task on a loaded machine, so one task).
_QUICK = {f: 1 for f in INSTALLED_FAMILIES}
_DEMO = {**{f: 2 for f in INSTALLED_FAMILIES}, "data_celltypes": 1}
#: Systems run through ``vc.agent.evaluate`` (the reference solver's run also answers the
#: baselines).
_SYSTEMS = ("reference_solver", "local")
_BACKEND = {"reference_solver": "scripted", "local": "local"}


@dataclass
class AgentTasks:
    """What the agent adapter's loader returns: how to build the store and the tasks."""

    name: str
    source: str | None  # knowledge source folder under VIRTUALCELL_DATA (None: installed)
    counts: dict[str, int]
    facts: dict[str, Any] = field(default_factory=dict)


def load_tasks(name: str, source: str | None, counts: dict[str, int]) -> AgentTasks:
    """The task set's recipe (the store and the tasks are built in the first cell)."""
    facts = {
        "knowledge store": "reference extracts (VIRTUALCELL_DATA/knowledge)"
        if source
        else "installed packages (vcell kb build)",
        "tasks per seed": sum(counts.values()),
        "tasks per family": ", ".join(f"{k} {v}" for k, v in counts.items()),
    }
    return AgentTasks(name, source, dict(counts), facts)


def datasets(preset: str, user: UserData | None) -> list[Dataset]:
    """Task sets of ``preset`` (the agent task takes no user data)."""
    if user is not None:
        return []
    out = [
        Dataset(
            "agent_small",
            functools.partial(load_tasks, "agent_small", None, _QUICK),
            "agent tasks from the installed-packages store: 1 per family",
            "bundled",
            splits=INSTALLED_FAMILIES,
            presets=("quick",),
        ),
        Dataset(
            "agent_kb_installed",
            functools.partial(load_tasks, "agent_kb_installed", None, _DEMO),
            "agent tasks from the installed-packages store: 2 per family (1 cell-type count)",
            "bundled",
            splits=INSTALLED_FAMILIES,
            presets=("demo", "full"),
        ),
    ]
    out.append(
        Dataset(
            "agent_kb_reference",
            functools.partial(
                load_tasks, "agent_kb_reference", "knowledge", dict(DEFAULT_TASK_COUNTS)
            ),
            "the agent benchmark's 82 tasks, store built from the reference extracts",
            "reference",
            splits=FAMILIES,
            presets=("full",),
            unavailable=reference_missing("knowledge", "."),
        )
    )
    return out


def _local_model() -> str | None:
    from ..agent import local_model_file

    try:
        local_model_file()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


def methods() -> list[Method]:
    """The reference solver, the three non-LLM baselines and the local LLM (full only)."""
    return [
        Method(
            "reference_solver",
            version="2",
            description="reference solver (upper bound, not the agent): the scripted backend "
            "following a hand-written plan per family",
        ),
        Method(
            "keyword_router", baseline=True,
            description="regular expressions pick one tool; the first row is the answer",
        ),
        Method(
            "top_enrichment", baseline=True,
            description="top term of hypergeometric enrichment (naming families)",
        ),
        Method(
            "majority", baseline=True,
            description="most frequent true answer of the family in the task set (optimistic)",
        ),
        Method(
            "local",
            requires=("transformers", "gguf"),
            probe=_local_model,
            presets=("full",),
            description="SmolLM2-135M-Instruct on CPU (loads in ~45 s, < 1 token/s on the "
            "shared 2-core machine: full only); the first task of each family",
        ),
    ]  # fmt: skip


def applicable(data: AgentTasks, split: str, method: str) -> str | None:
    """Baselines answer only the families they are defined for."""
    if method not in ("top_enrichment", "majority"):
        return None  # the router answers every family; systems are not baselines
    fams = [f for f in FAMILIES if method in TASK_FAMILIES.get(f).baselines]
    if split not in fams:
        return f"{method} answers only {', '.join(fams)}"
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (workers of one run build the store and a seed's
    answers once; the others wait and read them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, at worst work twice
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _store(folder: Path, source: str | None) -> Path:
    """The knowledge store of this task set, built once in ``folder``."""
    from .. import knowledge
    from .._settings import settings

    path = folder / "kb" / "knowledge.sqlite"
    with _locked(folder / "kb.lock"):
        if not path.is_file():
            src = settings.reference_data(source) if source else None
            knowledge.build(src, out=path)
    return path


def _answers(
    data: AgentTasks, *, system: str, seed: int, folder: Path, threads: int
) -> pd.DataFrame:
    """``vc.agent.evaluate``'s per-task table of ``system`` on the seed's tasks (cached)."""
    from .. import agent
    from .._utils import atomic_path
    from .._version import __version__

    backend = _BACKEND[system]
    # the cache is keyed on what makes the answers: the task counts and the package version
    # (``--fresh`` removes the run's scratch folder altogether)
    recipe = {"counts": data.counts, "source": data.source, "virtualcell": __version__}
    tag = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    run_dir = folder / f"seed-{seed}-{tag}"
    cached = run_dir / f"table-{system}.csv"
    with _locked(run_dir.with_suffix(f".{backend}.lock")):
        if not cached.is_file():
            kb = _store(folder, data.source)
            options: dict[str, Any] = {}
            n_tasks = None
            if backend == "local":
                options = {"threads": threads}
                n_tasks = sum(1 for v in data.counts.values() if v)  # one per family
            result = agent.evaluate(
                backend, kb=kb, folder=run_dir, seed=seed, counts=data.counts,
                baselines=backend == "scripted", n_tasks=n_tasks, **options,
            )  # fmt: skip
            with atomic_path(cached) as tmp:
                result.table.to_csv(tmp, index=False)
        return pd.read_csv(cached, dtype={"unit": str, "split": str, "method": str})


@functools.cache
def _process_scratch() -> Path:
    """A scratch folder for calls without ``context.scratch`` (one per process)."""
    return Path(tempfile.mkdtemp(prefix="vc-bench-agent-"))


def run(
    data: AgentTasks,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Success rate (and valid-call rate) of ``method`` on the family ``split``."""
    from .._errors import ValidationError

    base = Path(context.scratch) if context.scratch else _process_scratch()
    folder = base / "agent" / data.name
    system = method if method in _SYSTEMS else "reference_solver"
    table = _answers(data, system=system, seed=seed, folder=folder, threads=context.threads)
    rows = table[(table["method"] == method) & (table["split"] == split)]
    if rows.empty:
        raise ValidationError(
            f"no {split} task for {method} (seed {seed}): the store offers none of this family"
        )
    out = []
    for metric in ("success_rate", "valid_call_rate"):
        values = rows.loc[rows["metric"] == metric, "value"].dropna()
        if len(values):  # mean over the family's task instances
            out.append({"metric": metric, "value": float(values.mean())})
    return out


AGENT_TASK = Task(
    name="agent",
    version="1",
    description="Agent benchmark: tasks with programmatic checkers, per family",
    metrics=METRICS,
    datasets=datasets,
    methods=methods,
    run=run,
    applicable=applicable,
    describe=data_facts,
)
