"""The adapter contract: how a task plugs into the benchmark.

A task (GRN inference, representation, perturbation, annotation, the agent benchmark ...)
joins the benchmark through **one** :class:`Task` object listed in the table module
:mod:`virtualcell.bench._tasks`. The benchmark knows nothing else about the task: it asks
the adapter which datasets a preset uses, which methods exist (baselines flagged), which
metrics it reports, and calls :attr:`Task.run` once per grid cell
``(dataset, split, method, seed)``. Everything an adapter holds must be picklable (module-
level functions, ``functools.partial`` of them, plain data) because the runner sends it to
worker processes or Dask workers.

Contract of ``run`` (see :class:`Task`)::

    run(data, *, split: str, method: str, seed: int, options: dict, context: RunContext)
        -> list[{"metric": str, "value": float}]

``data`` is what ``Dataset.load()`` returned (loaded once per worker and cached), the
rows are the metrics of that one cell; raising an exception marks the cell *failed*
(its message is kept and shown; the rest of the grid goes on).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .._errors import ValidationError
from ..metrics import METRIC_SPECS, EvalResult, MetricSpec, metric_spec

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "PRESET_NAMES",
    "Dataset",
    "Method",
    "Metric",
    "RunContext",
    "Task",
    "UserData",
    "data_facts",
    "eval_rows",
    "knowledge_store_missing",
    "layer_as_x",
    "missing_requirements",
    "reference_missing",
]

#: The presets of ``vcell bench --preset``, smallest first.
PRESET_NAMES = ("quick", "demo", "full")

DatasetSource = Literal["bundled", "simulated", "reference", "download", "user"]


#: One reported metric: the evaluation contract's :class:`virtualcell.metrics.MetricSpec`
#: (``name``, ``higher_is_better``, ``bound``, ``description``). Direction and bound of every
#: metric a built-in task reports come from :data:`virtualcell.metrics.METRIC_SPECS` (a
#: :class:`Task` resolves its metrics there); only an adapter's own new metric names need
#: a spec written out.
Metric = MetricSpec


def _resolve_metric(metric: MetricSpec | str, task: str) -> MetricSpec:
    """The spec of ``metric``: the one in ``METRIC_SPECS`` for a known name (a spec given
    with the opposite direction is an error), else the spec as given."""
    if isinstance(metric, str):
        return metric_spec(metric)
    known = METRIC_SPECS.get(metric.name)
    if known is None:
        return metric
    if known.higher_is_better != metric.higher_is_better:
        raise ValidationError(
            f"task {task!r}: metric {metric.name!r} is given as "
            f"{'higher' if metric.higher_is_better else 'lower'}-is-better, but "
            f"vc.metrics.METRIC_SPECS defines it {'higher' if known.higher_is_better else 'lower'}"
            "-is-better"
        )
    return known


@dataclass(frozen=True)
class Dataset:
    """One dataset a task can run on.

    Attributes
    ----------
    name
        Short id (``results.dataset``).
    load
        ``load() -> data`` (picklable; the adapter's ``run`` receives its result).
    description
        One line for the report.
    source
        ``bundled`` (ships with the install), ``simulated``, ``reference`` (under
        ``VIRTUALCELL_DATA``), ``download`` or ``user``.
    version
        Bump when the data or its preparation changes (results are keyed on it).
    splits
        Split names this dataset is evaluated on (the adapter defines them).
    presets
        Presets that include it.
    unavailable
        ``None`` when it can run, else why not (shown as skipped in the report).
    """

    name: str
    load: Callable[[], Any]
    description: str = ""
    source: DatasetSource = "bundled"
    version: str = "1"
    splits: tuple[str, ...] = ("all",)
    presets: tuple[str, ...] = PRESET_NAMES
    unavailable: str | None = None


@dataclass(frozen=True)
class Method:
    """One method of a task (a registered method, a baseline or a peer package).

    Attributes
    ----------
    name
        Name in the task's own registry (``results.method``).
    baseline
        Simple reference method: always run (a user may exclude it; the report says so).
    peer
        Runs another project's package (``requires`` names it); skipped with the reason
        when it is not importable.
    version
        Bump when the method's code or defaults change (results are keyed on it).
    requires
        Importable modules it needs (``lightgbm``, ``arboreto`` ...).
    probe
        ``probe() -> None | str``: another environment check run before the grid (a
        built knowledge store, a local model file); a string says why it cannot run.
    presets
        Presets that run it by default (baselines run in every preset regardless).
    options
        ``{preset: {option: value}}`` passed to ``run`` as ``options`` (``"*"``: every
        preset; a preset's own entry updates it). Part of the result key.
    description
        One line for the report.
    """

    name: str
    baseline: bool = False
    peer: bool = False
    version: str = "1"
    requires: tuple[str, ...] = ()
    probe: Callable[[], str | None] | None = None
    presets: tuple[str, ...] = PRESET_NAMES
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""

    def options_for(self, preset: str) -> dict[str, Any]:
        """Options of this method under ``preset``."""
        return {**dict(self.options.get("*", {})), **dict(self.options.get(preset, {}))}


@dataclass(frozen=True)
class UserData:
    """A user's own dataset (``vcell bench --data FILE``) and the flags that describe it.

    Attributes
    ----------
    path
        The file or folder (whatever the task's loader reads).
    options
        ``{flag: value}`` from the command line: ``label_key``, ``batch_key``, ``truth``,
        ``regulators``, ``layer`` ... A task lists the ones it reads in
        :attr:`Task.user_flags`.
    """

    path: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunContext:
    """What every ``run`` call gets besides its grid cell.

    Attributes
    ----------
    preset
        The preset being run.
    device
        Torch device for training and inference (``cpu``, ``cuda``, ``cuda:1``, ``auto``).
    threads
        CPU threads this cell may use (torch, BLAS).
    scratch
        A folder the cell may write to (checkpoints); removed content is never relied on.
    """

    preset: str = "quick"
    device: str = "cpu"
    threads: int = 1
    scratch: str | None = None


@dataclass(frozen=True)
class Task:
    """A benchmark task adapter (see the module docstring for the ``run`` contract).

    Attributes
    ----------
    name
        ``results.task`` and the ``--task`` name.
    version
        Bump when the task's evaluation changes (results are keyed on it).
    description
        One line for the report.
    metrics
        Every metric ``run`` reports, by name (``"auprc_ratio"``) or as a :class:`Metric`;
        the first is the leaderboard's primary metric. Known names are resolved to their
        spec in ``vc.metrics.METRIC_SPECS`` (direction and bound defined once; a spec that
        contradicts the direction there is an error).
    datasets
        ``datasets(preset, user) -> list[Dataset]``: the datasets of a preset, or only the
        user's (``user`` given).
    methods
        ``methods() -> list[Method]``: the task's registry, baselines flagged, peers added.
    run
        ``run(data, *, split, method, seed, options, context) -> list[dict]``.
    applicable
        ``applicable(data, split, method) -> None | str``: why ``method`` cannot run on
        that split of ``data`` (pseudotime needed, no perturbations ...), or ``None``.
        Checked in the worker; such cells are recorded as ``n/a`` with the reason.
    describe
        ``describe(data) -> dict``: facts about a dataset for the report's data cards.
    user_flags
        Command-line flags the task reads from :class:`UserData` (``label_key`` ...);
        ``required_flags`` must be given with ``--data``.
    """

    name: str
    version: str
    description: str
    metrics: Sequence[Metric | str]
    datasets: Callable[[str, UserData | None], list[Dataset]]
    methods: Callable[[], list[Method]]
    run: Callable[..., list[dict[str, Any]]]
    applicable: Callable[[Any, str, str], str | None] | None = None
    describe: Callable[[Any], dict[str, Any]] | None = None
    user_flags: tuple[str, ...] = ()
    required_flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        resolved = tuple(_resolve_metric(m, self.name) for m in self.metrics)
        if not resolved:
            raise ValidationError(f"task {self.name!r} reports no metric")
        object.__setattr__(self, "metrics", resolved)

    @property
    def specs(self) -> tuple[Metric, ...]:
        """:attr:`metrics` as specs (after construction every entry is one)."""
        return tuple(m for m in self.metrics if isinstance(m, MetricSpec))

    @property
    def primary(self) -> Metric:
        """The leaderboard's metric (the first of :attr:`metrics`)."""
        return self.specs[0]

    def metric(self, name: str) -> Metric | None:
        """The :class:`Metric` called ``name`` (``None`` if the task has none)."""
        return next((m for m in self.specs if m.name == name), None)


def eval_rows(result: EvalResult, metrics: Sequence[MetricSpec]) -> list[dict[str, Any]]:
    """The rows ``run`` returns for one grid cell, from a task package's
    :class:`~virtualcell.metrics.EvalResult`: each of ``metrics`` as its mean over the
    result's units (then seeds: one here), NaN where the result lacks it."""
    import math

    s = result.summary(by=("metric",))
    means = dict(zip(s["metric"], s["mean"], strict=True))
    return [{"metric": m.name, "value": float(means.get(m.name, math.nan))} for m in metrics]


#: Import name -> distribution name, where they differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "scvi": "scvi-tools", "cell_eval": "cell-eval"}


def missing_requirements(modules: tuple[str, ...]) -> str | None:
    """``None`` when every module is importable, else a reason naming the missing ones."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    dists = " ".join(_DISTRIBUTIONS.get(m, m) for m in missing)
    return f"not installed: {', '.join(missing)} (pip install {dists})"


def package_version(module: str) -> str | None:
    """Installed version of the distribution that provides ``module`` (best effort)."""
    try:
        return importlib.metadata.version(_DISTRIBUTIONS.get(module, module))
    except importlib.metadata.PackageNotFoundError:
        return None


def data_facts(data: Any) -> dict[str, Any]:
    """``data.facts`` as a dict: the ``describe`` of adapters whose loaders return an
    object with a ``facts`` attribute."""
    return dict(getattr(data, "facts", None) or {})


def layer_as_x(adata: AnnData, layer: str | None, *, source: str) -> AnnData:
    """The user's data with the matrix ``--layer`` names as ``X`` (the adapters read ``X``).

    The matrix is chosen by the data layer's one rule, :func:`virtualcell.data.
    select_matrix`: a layer name, or ``"raw"`` for ``.raw`` (then with ``.raw``'s genes;
    ``obs`` and ``uns`` are kept, the other layers dropped). ``None`` leaves ``adata`` as it
    is. ``adata`` is changed in place when a layer is chosen (the loaders pass data they
    just read). A missing layer is refused naming ``source`` and what the data has.
    """
    if layer is None:
        return adata
    from ..data import select_matrix

    try:
        X, genes = select_matrix(adata, layer=layer)
    except ValidationError as err:
        raise ValidationError(f"{source}: {err}") from None
    if layer in adata.layers:
        adata.X = X
        return adata
    import anndata as ad

    var = adata.raw.var.copy()
    var.index = genes
    return ad.AnnData(X, obs=adata.obs.copy(), var=var, uns=dict(adata.uns))


def reference_missing(area: str, folder: str) -> str | None:
    """Why ``area/folder`` of the reference data (``VIRTUALCELL_DATA``) cannot be used, or
    ``None`` when it is there (a :attr:`Dataset.unavailable` reason)."""
    from .._settings import settings

    root = settings.reference_data(area)
    if root is None:
        return "reference data not found (set VIRTUALCELL_DATA)"
    if not (root / folder).exists():
        return f"not in the reference data: {area}/{folder}"
    return None


def knowledge_store_missing() -> str | None:
    """A :attr:`Method.probe`: why a method that reads the default knowledge store cannot
    run (``None``: the store is built)."""
    from .. import knowledge

    if knowledge.default_path().is_file():
        return None
    return "needs a built knowledge store (vcell kb build)"
