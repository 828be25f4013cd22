"""Evaluation tasks: which rows train, which conditions are tested, on leak-checked splits.

``load_task(data, task=..., seed=...)`` accepts a DREAM4 network folder, an ``.h5ad`` (or
any file ``vc.data.read`` reads) with ``obs["perturbation"]``, a registry name
(``vc.datasets``) or an AnnData.

DREAM4 (one steady-state profile per condition; time series are not steady states and are
left out):

* ``doubles`` — train on wild type, every single knockout and knockdown and, where
  present, the multifactorial (observational) profiles; test on every dual knockout (the
  noise-free gold profiles). Split: ``vc.data.splits.simulation_split`` with no held-out
  genes and no training doubles, so all doubles are ``combo_seen2``.
* ``unseen_singles`` — dual knockouts left out; ``perturbation_split(unseen="gene",
  test_fraction=0.25, seed=seed)``: a quarter of the genes are held out with all their
  knockouts and knockdowns; their knockouts are scored.

Cells (Perturb-seq, the simulator, Norman / Adamson / Replogle):

* ``doubles`` — ``simulation_split(seed=seed, test_gene_fraction=0.25,
  val_gene_fraction=0, combo_seen2_train_fraction=0.75, val_combo_fraction=0)`` (GEARS):
  test subgroups ``combo_seen2/1/0`` and ``unseen_single``;
* ``unseen_singles`` — combinations left out; ``perturbation_split(unseen="gene",
  test_fraction=0.25, val_fraction=0, seed=seed)`` over the single perturbations.

Every split is checked with ``vc.data.splits.check_no_leakage`` before use. For simulated
data (``uns["true_effects"]``) each double also gets its true interaction strength
(``vc.sim.nonadditivity``): ``additive`` when no gene departs from the sum of the singles by
more than 3 noise standard errors in any cell type, else ``moderate`` (relative departure
``|r| / |sum| < 0.3``, largest over cell types) or ``strong``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import Registry
from ..data import CONTROL, PERTURBATION_KEY, split_perturbation
from ._data import canonical, row_roles
from ._labels import check_cap, check_fits, read_capped, read_data, standardize_labels

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..data.splits import Split

__all__ = ["TASKS", "Task", "TaskSpec", "load_task"]

Task_ = Literal["doubles", "unseen_singles"]


@dataclass(frozen=True)
class TaskSpec:
    """What an evaluation task is: its name, the baseline its scores are normalised by
    (``reference``) and whether it can cross-validate over the perturbed genes
    (``folds``)."""

    name: str
    reference: str
    folds: bool
    description: str


def _task_entries():
    from .._utils import Entry

    specs = (
        TaskSpec("doubles", "additive", False,
                 "Combinations of perturbed genes, scored against the additive baseline."),
        TaskSpec("unseen_singles", "train_mean", True,
                 "Genes never perturbed in training, scored against the training mean."),
    )  # fmt: skip
    for spec in specs:
        yield Entry(spec.name, spec, spec.description)


#: The evaluation tasks (``name -> TaskSpec``; iterating gives the names:
#: ``doubles``, ``unseen_singles``).
TASKS: Registry[TaskSpec] = Registry("perturbation task", _task_entries)
_STRONG = 0.3


@dataclass
class Task:
    """A prepared evaluation: training rows, truth rows, split and test subgroups.

    Attributes
    ----------
    dataset, task, seed
        What was asked for.
    train
        Training rows (input space, not modified).
    truth
        Control rows and the scored test rows (primary perturbation type only).
    split
        The :class:`~virtualcell.data.splits.Split` (saved with the results).
    subgroups
        Name -> test conditions (``combo_seen2`` ... / ``unseen_single``).
    perturbation_type
        The primary perturbation type the predictors learn and are scored on.
    strata
        Double -> true interaction strength (simulated data), else empty.
    reference
        The baseline of the baseline-normalised scores (``additive`` for doubles,
        ``train_mean`` for unseen singles).
    leakage
        The counts returned by ``check_no_leakage``.
    singles
        Control and single-perturbation rows (interaction modes; ``doubles`` tasks on
        cells only, else ``None``).
    labels
        How the perturbation labels were read (:func:`standardize_labels`).
    """

    dataset: str
    task: str
    seed: int
    train: AnnData
    truth: AnnData
    split: Split
    subgroups: dict[str, list[str]]
    perturbation_type: str | None
    strata: dict[str, str] = field(default_factory=dict)
    reference: str = "train_mean"
    leakage: dict[str, int] = field(default_factory=dict)
    singles: AnnData | None = None
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def conditions(self) -> list[str]:
        """All scored test conditions (sorted)."""
        return sorted({c for v in self.subgroups.values() for c in v})


def load_task(
    data: Any,
    *,
    task: Task_ = "doubles",
    seed: int = 0,
    test_fraction: float = 0.25,
    perturbation_type: str | None = "auto",
    folds: int | None = None,
    fold: int = 0,
    perturbation_key: str | None = None,
    control: str | None = None,
    max_cells: int | None = None,
    max_control_cells: int | None = None,
) -> Task:
    """Prepare the evaluation ``task`` on ``data`` (module docstring).

    ``folds=K, fold=f`` (``unseen_singles`` only): K-fold cross-validation over the
    perturbed genes instead of one random ``test_fraction`` split — fold ``f`` of
    ``perturbation_split(unseen="gene", n_folds=K, fold=f, seed=seed)``, so over the K
    folds every perturbed gene is held out once for a given seed.

    ``perturbation_key`` / ``control``: where the labels are and what the control is
    called (default: detected; :func:`standardize_labels`, not for DREAM4 folders).

    Parameters
    ----------
    data
        What to evaluate on (see :func:`read_data`): DREAM4 folder, file, registry name
        or AnnData with perturbation labels.
    task
        ``doubles`` (combinations) or ``unseen_singles`` (genes never perturbed in
        training); a name of :data:`TASKS`.
    seed
        Seed of the split (which genes / combinations are held out).
    test_fraction
        Fraction of the perturbed genes held out (``unseen_singles`` without ``folds``;
        for cells, also the ``doubles`` split's test genes).
    perturbation_type
        Perturbation type whose rows are primary (``"auto"``: the most frequent
        non-control type; ``None``: every perturbed row).
    folds
        Number of cross-validation folds over the perturbed genes (``None``: one random
        split).
    fold
        Which fold (0 .. ``folds`` - 1) is held out.
    perturbation_key
        ``obs`` column of the labels (``None``: detected).
    control
        Extra label that marks control cells (``None``: the standard spellings only).
    max_cells, max_control_cells
        Cells kept per perturbed condition and control cells kept (``None``: all), drawn
        before the split by :func:`read_capped`: an ``.h5ad`` / ``.zarr`` file is then read
        in row chunks, never whole, so a screen larger than memory can be evaluated. Not
        for DREAM4 folders.

    Returns
    -------
    Task
        Training rows, test conditions, their truth and the split's provenance.
    """
    check_task(task, folds)
    cv = None if folds is None else (int(folds), int(fold))
    read = read_task_data(data, perturbation_key=perturbation_key, control=control,
                          max_cells=max_cells, max_control_cells=max_control_cells)  # fmt: skip
    return task_from(read, task=task, seed=seed, test_fraction=test_fraction,
                     perturbation_type=perturbation_type, cv=cv)  # fmt: skip


def check_task(task: str, folds: int | None) -> None:
    """Refuse an unknown ``task``, or ``folds`` on a task that cannot cross-validate."""
    if task not in TASKS.names():
        raise ValidationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if folds is not None and not TASKS.get(task).folds:
        raise ValidationError(
            f"folds (cross-validation over perturbed genes) needs task='unseen_singles', got {task!r}"
        )


@dataclass
class TaskData:
    """The data of a task, read and labelled once (:func:`read_task_data`); every fold
    of a cross-validation is split from it (:func:`task_from`)."""

    adata: AnnData
    name: str
    dream4: bool
    labels: dict[str, Any]


def read_task_data(
    data: Any,
    *,
    perturbation_key: str | None = None,
    control: str | None = None,
    max_cells: int | None = None,
    max_control_cells: int | None = None,
) -> TaskData:
    """Read ``data``, put its labels in the package grammar and refuse what every method
    would refuse (:func:`load_task`'s arguments of the same names)."""
    max_cells = check_cap(max_cells, "max_cells")
    max_control_cells = check_cap(max_control_cells, "max_control_cells")
    if max_cells is not None or max_control_cells is not None:
        adata, name, labels = read_capped(
            data, max_cells=max_cells, max_control_cells=max_control_cells,
            perturbation_key=perturbation_key, control=control,
        )  # fmt: skip
        dream4 = False
    else:
        check_fits(data)
        adata, name, dream4 = read_data(data)
        if dream4:
            adata = adata.copy()
            adata.obs[PERTURBATION_KEY] = adata.obs[PERTURBATION_KEY].astype(str).map(canonical)
            labels = {"column": PERTURBATION_KEY, "detected": False}
        else:
            adata, labels = standardize_labels(
                adata, name=name, perturbation_key=perturbation_key, control=control
            )
    _check_targets_measured(adata, name)
    _check_matrix(adata, name)
    return TaskData(adata, name, dream4, labels)


def task_from(
    read: TaskData,
    *,
    task: str,
    seed: int,
    test_fraction: float,
    perturbation_type: str | None,
    cv: tuple[int, int] | None,
) -> Task:
    """The task on data already read (:func:`load_task`, whose arguments these are)."""
    adata, name, dream4, labels = read.adata, read.name, read.dream4, read.labels
    if dream4:
        out = _dream4_task(adata, name, task, seed, test_fraction, cv)
    else:
        out = _cells_task(adata, name, task, seed, test_fraction, perturbation_type, cv)
    out.labels = dict(labels)
    return out


def _check_targets_measured(adata: AnnData, name: str) -> None:
    """Refuse data whose perturbed genes are none of its measured genes (the labels then
    name other genes, or the genes were renamed): no method can use a perturbation it
    cannot find in the expression profile."""
    labels = set(adata.obs[PERTURBATION_KEY].astype(str)) - {CONTROL}
    targets = sorted({g for label in labels for g in split_perturbation(label)})
    if not targets:
        return
    genes = set(map(str, adata.var_names))
    missing = [g for g in targets if g not in genes]
    if len(missing) == len(targets):
        shown = ", ".join(missing[:6]) + (
            f" and {len(missing) - 6} more" if len(missing) > 6 else ""
        )
        raise ValidationError(
            f"{name}: none of the {len(targets)} perturbed genes is a measured gene "
            f"(var_names): {shown}; the perturbation labels must name genes of the data"
        )


def _check_matrix(adata: AnnData, name: str) -> None:
    """Refuse, once and before any method runs, what every method would refuse (each
    failing on its own, the run ended with exit 1 after all of them): duplicated gene
    names and, in count data (normalised per cell), cells without counts."""
    from ..data import value_kind

    genes = pd.Index(map(str, adata.var_names))
    if genes.has_duplicates:
        dup = list(dict.fromkeys(genes[genes.duplicated()]))
        raise ValidationError(
            f"{name}: {len(dup)} gene name(s) occur more than once in var_names "
            f"({', '.join(dup[:5])}); make them unique (adata.var_names_make_unique())"
        )
    if adata.X is None or value_kind(adata.X) == "log":
        return
    total = np.asarray(adata.X.sum(axis=1)).ravel()
    empty = np.flatnonzero(total <= 0)
    if empty.size:
        shown = ", ".join(map(str, adata.obs_names[empty[:5]]))
        raise ValidationError(
            f"{name}: {empty.size} cell(s) without counts (total 0: {shown}) cannot be "
            "normalised per cell; filter them out first (e.g. sc.pp.filter_cells(adata, "
            "min_counts=1))"
        )


def _check(split: Split, adata: AnnData) -> dict[str, int]:
    from ..data.splits import check_no_leakage

    return check_no_leakage(split, adata)


def _truth(adata: AnnData, conds: list[str], ptype: str | None) -> AnnData:
    labels, role, _ = row_roles(adata, perturbation_type=ptype)
    keep = (role == "control") | (np.isin(labels, conds) & (role == "primary"))
    return adata[keep].copy()


def _gene_split(
    adata: AnnData, seed: int, test_fraction: float, cv: tuple[int, int] | None
) -> Split:
    """The held-out-genes split of ``unseen_singles``: random or fold ``cv[1]`` of ``cv[0]``."""
    from ..data.splits import perturbation_split

    folds = {} if cv is None else {"n_folds": cv[0], "fold": cv[1]}
    return perturbation_split(
        adata, test_fraction=test_fraction, val_fraction=0.0, seed=seed, unseen="gene",
        key_added=None, **folds,
    )  # fmt: skip


def _dream4_task(
    adata: AnnData,
    name: str,
    task: str,
    seed: int,
    test_fraction: float,
    cv: tuple[int, int] | None = None,
) -> Task:
    from ..data.splits import simulation_split

    exp = adata.obs["experiment"].astype(str)
    adata = adata[(exp != "timeseries").to_numpy()].copy()
    exp = adata.obs["experiment"].astype(str)
    if task == "doubles":
        if not (exp == "dual_knockout").any():
            raise ValidationError(
                f"{name}: no dual-knockout profiles (the noise-free gold file was not found)"
            )
        split = simulation_split(
            adata, seed=seed, test_gene_fraction=0.0, val_gene_fraction=0.0,
            combo_seen2_train_fraction=0.0, val_combo_fraction=0.0, key_added=None,
        )  # fmt: skip
    else:
        adata = adata[(exp != "dual_knockout").to_numpy()].copy()
        split = _gene_split(adata, seed, test_fraction, cv)
    reference = TASKS.get(task).reference
    leakage = _check(split, adata)
    train = adata[split.mask("train")].copy()
    test_labels = sorted(set(split.conditions["test"]) - {CONTROL})
    subgroups = (
        {"combo_seen2": test_labels} if task == "doubles" else {"unseen_single": test_labels}
    )
    truth = _truth(adata, test_labels, "knockout")
    return Task(name, task, seed, train, truth, split, subgroups, "knockout",
                reference=reference, leakage=leakage, singles=_singles(adata, "knockout"))  # fmt: skip


def _cells_task(
    adata: AnnData,
    name: str,
    task: str,
    seed: int,
    test_fraction: float,
    ptype: str | None,
    cv: tuple[int, int] | None = None,
) -> Task:
    from ..data.splits import simulation_split

    labels, role, chosen = row_roles(adata, perturbation_type=ptype)
    # rows of other perturbation types (and observational rows) stay in training only
    size = np.array([len(split_perturbation(lab)) for lab in labels])
    if task == "doubles":
        if not (size[role == "primary"] == 2).any():
            raise ValidationError(f"{name}: no double perturbations for the doubles task")
        big = size > 2
        if big.any():
            adata, labels, role = adata[~big].copy(), labels[~big], role[~big]
        split = simulation_split(
            adata, seed=seed, test_gene_fraction=test_fraction, val_gene_fraction=0.0,
            combo_seen2_train_fraction=0.75, val_combo_fraction=0.0, key_added=None,
        )  # fmt: skip
        subgroups = {k: v for k, v in split.subgroups.items() if v and not k.startswith("val_")}
    else:
        keep = size <= 1
        if not keep.all():
            adata = adata[keep].copy()
        split = _gene_split(adata, seed, test_fraction, cv)
        subgroups = {"unseen_single": sorted(set(split.conditions["test"]) - {CONTROL})}
    reference = TASKS.get(task).reference
    leakage = _check(split, adata)
    train = adata[split.mask("train")].copy()
    labels, role, _ = row_roles(adata, perturbation_type=chosen)
    primary = set(labels[role == "primary"])
    subgroups = {k: sorted(c for c in v if c in primary) for k, v in subgroups.items()}
    subgroups = {k: v for k, v in subgroups.items() if v}
    if not subgroups:
        raise ValidationError(f"{name}: the split left no test perturbation to score")
    conds = sorted({c for v in subgroups.values() for c in v})
    truth = _truth(adata, conds, chosen)
    strata = _strata(adata) if task == "doubles" else {}
    # the singles serve the interaction modes of doubles only; not kept otherwise (on a
    # large screen they are the whole matrix once more)
    singles = _singles(adata, chosen) if task == "doubles" else None
    return Task(name, task, seed, train, truth, split, subgroups, chosen, strata=strata,
                reference=reference, leakage=leakage, singles=singles)  # fmt: skip


def _singles(adata: AnnData, ptype: str | None) -> AnnData:
    """Control and single-perturbation rows of the whole data (for interaction modes)."""
    labels, role, _ = row_roles(adata, perturbation_type=ptype)
    single = np.array([len(split_perturbation(lab)) == 1 for lab in labels])
    keep = (role == "control") | ((role == "primary") & single)
    return adata if keep.all() else adata[keep].copy()


def _strata(adata: AnnData) -> dict[str, str]:
    te = adata.uns.get("true_effects")
    if not isinstance(te, dict) or "values" not in te:
        return {}
    from ..sim import nonadditivity

    table = nonadditivity(adata)
    if table.empty:
        return {}
    agg = table.groupby("perturbation").agg(nonadd=("nonadditive", "any"), score=("score", "max"))
    out = {}
    for cond, row in agg.iterrows():
        if not row["nonadd"]:
            out[canonical(cond)] = "additive"
        else:
            out[canonical(cond)] = "strong" if row["score"] >= _STRONG else "moderate"
    return out
