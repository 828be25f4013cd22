"""What a perturbation predictor learns from: pseudobulk profiles in one expression space.

Rules (the same for every predictor, documented in ``docs/perturb.md``):

* **Expression space.** Decided by ``vc.data.expression`` (the one rule of the package):
  count-like ``X`` (and linear, non-logged values) is scored as
  ``log1p(counts / total * 1e4)`` per cell (:data:`SPACE_LOG`); values already logged
  are used as given (:data:`SPACE_INPUT`, e.g. DREAM4's normalised levels or data
  already log-normalised). Pseudobulk = mean over cells in that space.
* **Rows.** ``obs["perturbation"]`` in the package grammar (``control``, ``A``, ``A+B``;
  other spellings are canonicalised by :func:`canonical`). *Control* rows are
  ``control`` rows whose ``obs["perturbation_type"]`` (when the column exists) is
  ``control`` or missing. *Primary* rows are perturbed rows of the predictor's
  perturbation type (``"auto"``: the most frequent non-control type; ties by the order
  knockout, knockdown, overexpression, then name). Everything else (other perturbation
  types, observational experiments such as DREAM4's multifactorial) is *auxiliary*:
  only methods that model the network use it.
* **Groups.** With ``groupby`` (e.g. ``cell_type``) pseudobulks are also kept per
  (condition, group); predictions are still whole-condition means.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import ValidationError
from ..data import (
    CONTROL,
    PERTURBATION_KEY,
    PERTURBATION_TYPE_KEY,
    SPACE_INPUT,
    SPACE_LOG,
    TARGET_SUM,
    expression,
    is_unassigned,
    join_perturbation,
    split_perturbation,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "SPACE_INPUT",
    "SPACE_LOG",
    "TARGET_SUM",
    "TrainingData",
    "canonical",
    "expression_matrix",
    "knock_ratio",
    "prepare_training",
    "row_roles",
    "shared_training",
]

_TYPE_ORDER = ("knockout", "knockdown", "overexpression")
_NO_TYPE = {"control", "", "nan", "none"}


#: The memo of :func:`shared_training` (``None`` outside such a block).
_SHARED: ContextVar[dict | None] = ContextVar("virtualcell_perturb_shared", default=None)


@contextmanager
def shared_training(*adatas: Any) -> Iterator[None]:
    """Within the block, :func:`prepare_training` of one of ``adatas`` (the very
    objects) with the same options is computed once and shared (each caller gets its own
    shallow copy of the :class:`TrainingData`; the arrays are shared and read-only by
    contract), and the expression matrix of each of them once for all options:
    ``vc.perturb.evaluate`` runs every method inside one such block over the task's
    training data, so the expression space and the pseudobulks of a task are computed
    once, not once per method. Other AnnData (a method's internal refits on subsets) are
    not kept. Nothing is kept after the block."""
    token = _SHARED.set({"__ids__": {id(a) for a in adatas}})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _memo(kind: str, adata: Any, options: tuple, compute: Any) -> Any:
    cache = _SHARED.get()
    if cache is None or id(adata) not in cache["__ids__"]:
        return compute()
    key = (kind, id(adata), options)
    hit = cache.get(key)
    if hit is not None and hit[0] is adata:
        return hit[1]
    value = compute()
    cache[key] = (adata, value)  # the object is kept so that its id is not reused
    return value


def knock_ratio(perturbed: Any, control: Any) -> float:
    """The training knock ratio: median of ``perturbed / control`` over the training
    conditions that perturb one gene alone, each pair being that gene's level in its own
    condition and in the control; pairs with a control level <= 0 are left out; 0 when
    none is left (the gene is taken as fully knocked out).

    The one rule for "how far does a perturbed gene drop": the ``network`` method clamps
    a gene never perturbed in training to ``ratio * control``, and so do ``train_mean_ko``
    and the ``clamp_targets`` option of ``linear`` and ``additive``
    (:meth:`TrainingData.knock_level`).
    """
    x = np.asarray(perturbed, dtype=np.float64).ravel()
    c = np.asarray(control, dtype=np.float64).ravel()
    if x.shape != c.shape:
        raise ValidationError(f"knock_ratio: {x.size} perturbed levels for {c.size} controls")
    ok = c > 0
    return float(np.median(x[ok] / c[ok])) if ok.any() else 0.0


def canonical(label: object) -> str:
    """The canonical label of a condition (``B+A`` -> ``A+B``; ``ctrl`` stays as given)."""
    return join_perturbation(split_perturbation(str(label)))


def expression_matrix(adata: AnnData, *, counts: bool | None = None) -> tuple[Any, bool]:
    """``(matrix, normalised)``: ``X`` in the scoring space of ``vc.data.expression``
    (count-like input: ``log1p(x / total * 1e4)``, CSR float32; other sparse input: CSR
    float64; dense input: dense float64) and whether it was normalised (``counts`` forces
    it). Sparse input is never densified (pseudobulks are sparse products)."""
    if adata.X is None:
        raise ValidationError("adata.X is empty")
    e = expression(adata, normalize=counts, what="perturbation data")
    if e.normalized and np.any(e.library <= 0):
        bad = adata.obs_names[e.library <= 0][:5].tolist()
        raise ValidationError(f"cells without counts (total 0), e.g. {bad}")
    return e.X, e.normalized


def row_roles(
    adata: AnnData,
    *,
    perturbation_key: str = PERTURBATION_KEY,
    perturbation_type: str | None = "auto",
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """``(labels, role, type)`` per row: canonical labels, ``"control"``, ``"primary"``
    or ``"auxiliary"`` (module docstring), and the primary perturbation type used."""
    hint = (
        "; other conventions (condition, guide_ids, ctrl, non-targeting, A_B ...) are "
        "rewritten by vc.perturb.standardize_labels(adata)"
    )
    if perturbation_key not in adata.obs:
        cols = ", ".join(map(str, adata.obs.columns[:10])) or "none"
        raise ValidationError(
            f"adata.obs has no {perturbation_key!r} column ('control', 'GENE', 'A+B' labels; "
            f"columns: {cols}){hint}"
        )
    raw = adata.obs[perturbation_key]
    if raw.isna().any():
        bad = adata.obs_names[raw.isna().to_numpy()][:5].tolist()
        raise ValidationError(f"obs[{perturbation_key!r}] has missing labels, e.g. cells {bad}")
    text = raw.astype(str)
    measured = set(map(str, adata.var_names))
    distinct = pd.unique(text)
    none = [v for v in distinct if is_unassigned(v) and v not in measured]
    if none:
        counts = text.value_counts()
        shown = ", ".join(f"{v!r} ({int(counts[v])} cells)" for v in none[:5])
        raise ValidationError(
            f"obs[{perturbation_key!r}] labels cells without a usable guide: {shown}; they "
            "are neither control nor a perturbation: drop them (vc.perturb.standardize_labels"
            "(adata) does)"
        )
    uniq = {v: canonical(v) for v in distinct}
    labels = text.map(uniq).to_numpy(dtype=object)
    is_ctrl = labels == CONTROL
    if PERTURBATION_TYPE_KEY in adata.obs:
        types = adata.obs[PERTURBATION_TYPE_KEY].astype(str).str.lower().to_numpy()
    else:
        types = np.full(len(labels), "", dtype=object)
    role = np.full(len(labels), "auxiliary", dtype=object)
    role[is_ctrl & np.isin(types, list(_NO_TYPE))] = "control"
    pert_types = types[~is_ctrl]
    chosen: str | None = None
    if perturbation_type == "auto":
        counts = pd.Series(pert_types).value_counts()
        if len(counts):
            best = counts.max()
            tied = sorted(counts[counts == best].index)
            ranked = [t for t in _TYPE_ORDER if t in tied] + [
                t for t in tied if t not in _TYPE_ORDER
            ]
            chosen = ranked[0]
    elif perturbation_type is not None:
        chosen = str(perturbation_type).lower()
        if chosen not in set(pert_types):
            raise ValidationError(
                f"no perturbed rows of type {perturbation_type!r}; types present: "
                f"{sorted(set(pert_types))}"
            )
    primary = ~is_ctrl if chosen is None else (~is_ctrl & (types == chosen))
    role[primary] = "primary"
    if not (role == "control").any():  # labels naming no measured gene first
        odd = sorted(uniq, key=lambda v: (set(split_perturbation(uniq[v])) <= measured, v))
        seen = ", ".join(odd[:5])
        raise ValidationError(
            f"no control rows ({CONTROL!r} in obs[{perturbation_key!r}]; labels: {seen}){hint}"
        )
    if not primary.any():
        raise ValidationError("no perturbed rows to learn from")
    return labels, role, (chosen if chosen not in ("", None) else None)


def _dense_rows(m: Any) -> np.ndarray:
    return np.asarray(m.toarray() if sparse.issparse(m) else m, dtype=np.float64)


def _group_means(
    x: Any, codes: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance (ddof=1, NaN for one row) and size of the rows of ``x`` per code."""
    n = x.shape[0]
    ind = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))
    size = np.asarray(ind.sum(axis=1)).ravel()
    s1 = _dense_rows(ind @ x)
    sq = x.multiply(x) if sparse.issparse(x) else x * x
    s2 = _dense_rows(ind @ sq)
    mean = s1 / np.maximum(size, 1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - size[:, None] * mean**2) / (size - 1)[:, None]
    var = np.where(size[:, None] > 1, np.maximum(var, 0.0), np.nan)
    return mean, var, size


@dataclass
class TrainingData:
    """Pseudobulk summary of a training set (what predictors fit on).

    Attributes
    ----------
    genes
        Measured genes (``var_names``), the columns of every profile.
    counts
        Counts came in (then the space is :data:`SPACE_LOG`).
    space
        :data:`SPACE_LOG` or :data:`SPACE_INPUT`.
    perturbation_type
        The primary perturbation type (``None`` when the data have no type column).
    control
        Control pseudobulk (genes).
    control_sem
        Standard error of the control mean per gene (NaN with one control row).
    profiles
        Primary conditions x genes pseudobulks (index: canonical labels).
    sem
        Standard errors of ``profiles`` (NaN where a condition has one row).
    n_cells
        Rows per primary condition.
    auxiliary
        Auxiliary rows' pseudobulks, index ``(label, type)``.
    groupby, group_profiles, group_sizes
        With ``groupby``: pseudobulks per (label, group) of control, primary and
        auxiliary rows (index ``(label, type, group)``) and their row counts.
    control_cells, control_library
        Up to 1,000 control rows (space values) and, for counts, their total counts: the
        cells that :meth:`Predictor.sample` shifts.
    """

    genes: list[str]
    counts: bool
    space: str
    perturbation_type: str | None
    control: np.ndarray
    control_sem: np.ndarray
    profiles: pd.DataFrame
    sem: pd.DataFrame
    n_cells: pd.Series
    auxiliary: pd.DataFrame
    groupby: str | None = None
    group_profiles: pd.DataFrame | None = None
    group_sizes: pd.Series | None = None
    group_sem: pd.DataFrame | None = None
    control_cells: np.ndarray | None = None
    control_library: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def gene_index(self) -> dict[str, int]:
        return {g: i for i, g in enumerate(self.genes)}

    @property
    def seen_singles(self) -> set[str]:
        """Genes perturbed alone in the training conditions."""
        return {c for c in self.profiles.index if len(split_perturbation(c)) == 1}

    @property
    def seen_genes(self) -> set[str]:
        """Genes perturbed in any training condition (alone or in a combination)."""
        return {g for c in self.profiles.index for g in split_perturbation(c)}

    def single(self, gene: str) -> np.ndarray | None:
        """The training profile of ``gene`` perturbed alone, or None."""
        return self.profiles.loc[gene].to_numpy() if gene in self.profiles.index else None

    def train_mean(self) -> np.ndarray:
        """Mean of the primary training profiles (each condition weighs the same)."""
        return self.profiles.to_numpy().mean(axis=0)

    def knock_ratio(self) -> float:
        """:func:`knock_ratio` of the training conditions that perturb one measured gene."""
        idx = self.gene_index
        singles = sorted(g for g in self.seen_singles if g in idx)
        levels = [self.profiles.loc[g].to_numpy()[idx[g]] for g in singles]
        return knock_ratio(levels, [self.control[idx[g]] for g in singles])

    def knock_level(self, gene: str) -> float | None:
        """Level a perturbed ``gene`` is clamped to (the ``network`` rule): its level in the
        training profile where it was perturbed alone, else :meth:`knock_ratio` times its
        control level; None when the gene is not measured."""
        idx = self.gene_index
        if gene not in idx:
            return None
        if gene in self.profiles.index:
            return float(self.profiles.loc[gene].to_numpy()[idx[gene]])
        return self.knock_ratio() * float(self.control[idx[gene]])


def _auto_groupby(adata: AnnData, labels: np.ndarray, role: np.ndarray) -> str | None:
    col = "cell_type"
    if col not in adata.obs:
        return None
    values = adata.obs[col].astype(str).to_numpy()
    groups = set(values)
    if not 2 <= len(groups) <= 50:
        return None
    ctrl = role == "control"
    if any((values[ctrl] == g).sum() < 3 for g in groups):
        return None
    return col


def prepare_training(
    adata: AnnData,
    *,
    perturbation_key: str = PERTURBATION_KEY,
    perturbation_type: str | None = "auto",
    groupby: str | None = None,
    keep_control_cells: int = 1000,
    seed: int = 0,
) -> TrainingData:
    """Summarise ``adata`` into :class:`TrainingData` (module docstring).

    ``groupby="auto"`` uses ``obs["cell_type"]`` when it has 2-50 values and every value
    has at least 3 control rows.

    Parameters
    ----------
    adata
        Training cells or profiles with perturbation labels; not modified.
    perturbation_key
        ``obs`` column of the labels in the package grammar (``control``, ``A``, ``A+B``).
    perturbation_type
        Perturbation type whose rows are primary (``"auto"``: the most frequent
        non-control type; ``None``: every perturbed row).
    groupby
        ``obs`` column to keep pseudobulks per group as well (``"auto"``: see above;
        ``None``: none).
    keep_control_cells
        At most this many control cells are kept (drawn at random) for methods that
        sample cells or fit on them.
    seed
        Seed of the control-cell draw.

    Returns
    -------
    TrainingData
        Control and per-condition pseudobulk profiles in one expression space, with the
        roles of the rows.
    """
    options = (perturbation_key, perturbation_type, groupby, keep_control_cells, seed)
    data = _memo(
        "training",
        adata,
        options,
        lambda: _prepare_training(
            adata, perturbation_key=perturbation_key, perturbation_type=perturbation_type,
            groupby=groupby, keep_control_cells=keep_control_cells, seed=seed,
        ),
    )  # fmt: skip
    shared = _SHARED.get()
    return copy.copy(data) if shared is not None and id(adata) in shared["__ids__"] else data


def _prepare_training(
    adata: AnnData,
    *,
    perturbation_key: str,
    perturbation_type: str | None,
    groupby: str | None,
    keep_control_cells: int,
    seed: int,
) -> TrainingData:
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValidationError(f"empty training data: {adata.n_obs} rows x {adata.n_vars} genes")
    genes = [str(g) for g in adata.var_names]
    if len(set(genes)) != len(genes):
        dup = pd.Index(genes)[pd.Index(genes).duplicated()][:5].tolist()
        raise ValidationError(f"duplicated gene names in var_names: {dup}")
    labels, role, ptype = row_roles(
        adata, perturbation_key=perturbation_key, perturbation_type=perturbation_type
    )
    x, counts = _memo("space", adata, (), lambda: expression_matrix(adata))
    if groupby == "auto":
        groupby = _auto_groupby(adata, labels, role)
    elif groupby is not None and groupby not in adata.obs:
        raise ValidationError(f"groupby column {groupby!r} not in adata.obs")
    types = (
        adata.obs[PERTURBATION_TYPE_KEY].astype(str).to_numpy()
        if PERTURBATION_TYPE_KEY in adata.obs
        else np.full(len(labels), "", dtype=object)
    )
    # whole-condition pseudobulks
    key = np.where(role == "auxiliary", labels + "\t" + types.astype(str), labels)
    key = np.where(role == "control", CONTROL, key)
    uniq, codes = np.unique(key.astype(str), return_inverse=True)
    mean, var, size = _group_means(x, codes, len(uniq))
    sem = np.sqrt(var / np.maximum(size, 1)[:, None])
    idx = {k: i for i, k in enumerate(uniq)}
    primary = sorted({lab for lab, r in zip(labels, role, strict=True) if r == "primary"})
    aux_keys = sorted(k for k in uniq if "\t" in k)
    rows = [idx[k] for k in primary]
    profiles = pd.DataFrame(mean[rows], index=pd.Index(primary, name="perturbation"), columns=genes)
    sem_df = pd.DataFrame(sem[rows], index=profiles.index, columns=genes)
    aux_index = pd.MultiIndex.from_tuples(
        [tuple(k.split("\t")) for k in aux_keys], names=["perturbation", "type"]
    )
    auxiliary = pd.DataFrame(
        mean[[idx[k] for k in aux_keys]] if aux_keys else np.zeros((0, len(genes))),
        index=aux_index,
        columns=genes,
    )
    ci = idx[CONTROL]
    data = TrainingData(
        genes=genes,
        counts=counts,
        space=SPACE_LOG if counts else SPACE_INPUT,
        perturbation_type=ptype,
        control=mean[ci],
        control_sem=sem[ci],
        profiles=profiles,
        sem=sem_df,
        n_cells=pd.Series(size[rows].astype(int), index=profiles.index),
        auxiliary=auxiliary,
    )
    if groupby is not None:
        g = adata.obs[groupby].astype(str).to_numpy()
        gkey = np.char.add(np.char.add(key.astype(str), "\n"), g.astype(str))
        guniq, gcodes = np.unique(gkey, return_inverse=True)
        gmean, gvar, gsize = _group_means(x, gcodes, len(guniq))
        tuples = []
        for k in guniq:
            cond, grp = k.split("\n")
            lab, typ = cond.split("\t") if "\t" in cond else (cond, "")
            tuples.append((lab, typ, grp))
        index = pd.MultiIndex.from_tuples(tuples, names=["perturbation", "type", "group"])
        data.groupby = groupby
        data.group_profiles = pd.DataFrame(gmean, index=index, columns=genes)
        data.group_sizes = pd.Series(gsize.astype(int), index=index)
        data.group_sem = pd.DataFrame(
            np.sqrt(gvar / np.maximum(gsize, 1)[:, None]), index=index, columns=genes
        )
    ctrl_rows = np.flatnonzero(role == "control")
    rng = np.random.default_rng(seed)
    if len(ctrl_rows) > keep_control_cells:
        ctrl_rows = np.sort(rng.choice(ctrl_rows, size=keep_control_cells, replace=False))
    cc = x[ctrl_rows]
    data.control_cells = np.asarray(cc.toarray() if sparse.issparse(cc) else cc, dtype=np.float32)
    if counts:
        raw = adata.X[ctrl_rows]
        data.control_library = np.asarray(raw.sum(axis=1)).ravel().astype(np.float64)
    data.meta = {
        "n_rows": int(adata.n_obs),
        "n_control": int((role == "control").sum()),
        "n_primary": int((role == "primary").sum()),
        "n_auxiliary": int((role == "auxiliary").sum()),
    }
    return data


def parse_conditions(perturbations: Iterable[str] | str) -> list[str]:
    """Canonical labels of the conditions to predict (a string is one condition)."""
    items: Sequence[str] = (
        [perturbations] if isinstance(perturbations, str) else list(perturbations)
    )
    if not items:
        raise ValidationError("no perturbations to predict")
    out = [canonical(p) for p in items]
    return out
