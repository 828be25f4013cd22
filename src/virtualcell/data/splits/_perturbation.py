"""Perturbation-level splits: unseen perturbations and the GEARS-style simulation split.

Cells are split by their condition ``obs["perturbation"]`` (``control``, ``GENE``,
``A+B``; labels are read through :func:`~virtualcell.data.split_perturbation`, so
``B+A`` and ``A+B`` are one condition). Control cells always go to train.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..._errors import ValidationError
from .._conventions import PERTURBATION_KEY, join_perturbation, split_perturbation
from ._common import allocate, conditions_of, finish, obs_labels, rng_for
from ._split import Split

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["perturbation_split", "simulation_split"]


def _canonical_labels(adata: AnnData, perturbation_key: str) -> pd.Series:
    raw = obs_labels(adata, perturbation_key)
    mapping = {v: join_perturbation(split_perturbation(v)) for v in set(raw)}
    return raw.map(mapping)


def _build(
    labels: pd.Series,
    part_of: dict[str, str],
    method: str,
    seed: int,
    perturbation_key: str,
    params: dict,
    subgroups: dict[str, list[str]] | None = None,
) -> Split:
    assignment = labels.map(lambda c: part_of.get(c, "train")).astype(object).rename("split")
    return Split(
        assignment,
        method,
        seed,
        key=perturbation_key,
        labels=labels,
        conditions=conditions_of(assignment, labels),
        subgroups=subgroups or {},
        params=params,
    )


def perturbation_split(
    adata: AnnData,
    *,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    seed: int = 0,
    unseen: Literal["condition", "gene"] = "condition",
    n_folds: int | None = None,
    fold: int = 0,
    perturbation_key: str = PERTURBATION_KEY,
    key_added: str | None = "split",
) -> Split:
    """Split perturbations so that test (and val) perturbations are unseen in training.

    ``unseen="condition"``: the non-control conditions (sorted, then permuted with
    ``seed``) are divided like :func:`random_split` divides cells; a test condition
    never occurs in training, though its genes may (``A`` in test, ``A+B`` in train).

    ``unseen="gene"``: the fractions apply to *genes*: ``round(test_fraction n_genes)``
    random genes are test genes and every condition containing one is test; then the
    same for val among the rest; train keeps the conditions made only of other genes,
    so no test or val gene occurs in any training condition.

    ``n_folds=K, fold=f`` (K-fold cross-validation; ``test_fraction`` and ``val_fraction``
    are then unused and there is no val part): the units (genes for ``unseen="gene"``,
    else conditions), sorted and permuted with ``seed``, are cut into ``K`` consecutive
    blocks of near-equal size (``numpy.array_split``); block ``f`` is test. Over
    ``f = 0 .. K-1`` every unit is test exactly once for a given seed.
    """
    if unseen not in ("condition", "gene"):
        raise ValidationError(f"unseen must be 'condition' or 'gene', got {unseen!r}")
    if n_folds is not None:
        return _fold_split(adata, n_folds, fold, seed, unseen, perturbation_key, key_added)
    if not (0 <= test_fraction and 0 <= val_fraction and test_fraction + val_fraction <= 1):
        raise ValidationError("need 0 <= test_fraction, val_fraction and their sum <= 1")
    labels = _canonical_labels(adata, perturbation_key)
    conds = sorted(c for c in set(labels) if split_perturbation(c))
    if not conds:
        raise ValidationError(f"no perturbed cells in obs[{perturbation_key!r}]")
    rng = rng_for(seed)
    fr = (1 - test_fraction - val_fraction, val_fraction, test_fraction)
    part_of: dict[str, str] = {}
    if unseen == "condition":
        order = [conds[i] for i in rng.permutation(len(conds))]
        n_train, n_val, _ = allocate(len(conds), fr)
        for i, c in enumerate(order):
            part_of[c] = "train" if i < n_train else "val" if i < n_train + n_val else "test"
    else:
        genes = sorted({g for c in conds for g in split_perturbation(c)})
        order = [genes[i] for i in rng.permutation(len(genes))]
        _, n_val, n_test = allocate(len(genes), fr)
        test_genes, val_genes = set(order[:n_test]), set(order[n_test : n_test + n_val])
        for c in conds:
            gs = set(split_perturbation(c))
            part_of[c] = "test" if gs & test_genes else "val" if gs & val_genes else "train"
    params = {"test_fraction": test_fraction, "val_fraction": val_fraction, "unseen": unseen}
    if unseen == "gene":
        params |= {"test_genes": sorted(test_genes), "val_genes": sorted(val_genes)}
    split = _build(labels, part_of, "perturbation", seed, perturbation_key, params)
    return finish(adata, split, key_added)


def _fold_split(
    adata: AnnData,
    n_folds: int,
    fold: int,
    seed: int,
    unseen: str,
    perturbation_key: str,
    key_added: str | None,
) -> Split:
    """Fold ``fold`` of ``n_folds`` (see :func:`perturbation_split`)."""
    labels = _canonical_labels(adata, perturbation_key)
    conds = sorted(c for c in set(labels) if split_perturbation(c))
    if not conds:
        raise ValidationError(f"no perturbed cells in obs[{perturbation_key!r}]")
    units = sorted({g for c in conds for g in split_perturbation(c)}) if unseen == "gene" else conds
    if not 2 <= int(n_folds) <= len(units):
        raise ValidationError(
            f"n_folds must be in 2 .. {len(units)} (the number of perturbed "
            f"{'genes' if unseen == 'gene' else 'conditions'}), got {n_folds}"
        )
    if not 0 <= int(fold) < int(n_folds):
        raise ValidationError(f"fold must be in 0 .. {int(n_folds) - 1}, got {fold}")
    order = [units[i] for i in rng_for(seed).permutation(len(units))]
    test = {str(u) for u in np.array_split(np.array(order, dtype=object), int(n_folds))[int(fold)]}
    part_of: dict[str, str] = {}
    for c in conds:
        hit = bool(set(split_perturbation(c)) & test) if unseen == "gene" else c in test
        part_of[c] = "test" if hit else "train"
    params: dict[str, Any] = {"n_folds": int(n_folds), "fold": int(fold), "unseen": unseen}
    if unseen == "gene":
        params |= {"test_genes": sorted(test), "val_genes": []}
    split = _build(labels, part_of, "perturbation", seed, perturbation_key, params)
    return finish(adata, split, key_added)


def simulation_split(
    adata: AnnData,
    *,
    seed: int = 0,
    test_gene_fraction: float = 0.25,
    val_gene_fraction: float = 0.1,
    combo_seen2_train_fraction: float = 0.75,
    val_combo_fraction: float = 0.1,
    perturbation_key: str = PERTURBATION_KEY,
    key_added: str | None = "split",
) -> Split:
    """GEARS-style "simulation" split of single and double perturbations.

    Definition (``S`` = genes that occur as a single-gene condition, sorted):

    1. ``round(test_gene_fraction |S|)`` genes of ``S`` drawn at random are test genes
       ``T``; ``round(val_gene_fraction |S|)`` of the rest are val genes ``V``; the
       *training singles* are ``S \\ T \\ V``.
    2. Single conditions go to the part of their gene (subgroups ``unseen_single`` in
       test, ``val_single`` in val).
    3. A double ``A+B`` is ``combo_seenK`` where ``K`` = how many of ``A``, ``B`` are
       training singles. ``combo_seen0`` and ``combo_seen1`` doubles are held out: val
       when their non-training genes are all val genes, test otherwise.
       ``combo_seen2`` doubles are shuffled: ``round(combo_seen2_train_fraction n)``
       are training candidates (of which ``round(val_combo_fraction m)`` go to val as
       ``val_combo_seen2``), the rest are test ``combo_seen2``.
    4. Controls go to train.

    Hence no test gene occurs in any training condition, every training double has both
    genes among the training singles, and the test subgroups are ``unseen_single``,
    ``combo_seen0``, ``combo_seen1``, ``combo_seen2`` (``check_no_leakage`` verifies all
    of it). Conditions of more than two genes are refused.
    """
    for name, value in (
        ("test_gene_fraction", test_gene_fraction),
        ("val_gene_fraction", val_gene_fraction),
        ("combo_seen2_train_fraction", combo_seen2_train_fraction),
        ("val_combo_fraction", val_combo_fraction),
    ):
        if not 0 <= value <= 1:
            raise ValidationError(f"{name} must be in [0, 1], got {value}")
    if test_gene_fraction + val_gene_fraction > 1:
        raise ValidationError("test_gene_fraction + val_gene_fraction must be <= 1")
    labels = _canonical_labels(adata, perturbation_key)
    conds = sorted(c for c in set(labels) if split_perturbation(c))
    big = [c for c in conds if len(split_perturbation(c)) > 2]
    if big:
        raise ValidationError(f"simulation_split handles 1 or 2 genes; got {big[:5]}")
    singles = [c for c in conds if len(split_perturbation(c)) == 1]
    doubles = [c for c in conds if len(split_perturbation(c)) == 2]
    if not singles:
        raise ValidationError("simulation_split needs single-gene conditions")
    rng = rng_for(seed)
    order = [singles[i] for i in rng.permutation(len(singles))]
    n_test = round(test_gene_fraction * len(order))
    n_val = min(len(order) - n_test, round(val_gene_fraction * len(order)))
    test_genes, val_genes = set(order[:n_test]), set(order[n_test : n_test + n_val])
    train_singles = set(order[n_test + n_val :])

    part_of: dict[str, str] = {}
    groups: dict[str, list[str]] = {
        k: []
        for k in (
            "unseen_single",
            "combo_seen0",
            "combo_seen1",
            "combo_seen2",
            "val_single",
            "val_combo_seen0",
            "val_combo_seen1",
            "val_combo_seen2",
        )
    }
    for c in singles:
        part_of[c] = "test" if c in test_genes else "val" if c in val_genes else "train"
        if part_of[c] != "train":
            groups["unseen_single" if c in test_genes else "val_single"].append(c)
    seen2 = []
    for c in doubles:
        genes = set(split_perturbation(c))
        k = len(genes & train_singles)
        if k == 2:
            seen2.append(c)
            continue
        part = "val" if (genes - train_singles) <= val_genes else "test"
        part_of[c] = part
        groups[f"{'val_' if part == 'val' else ''}combo_seen{k}"].append(c)
    seen2 = [seen2[i] for i in rng.permutation(len(seen2))]
    n_train2 = round(combo_seen2_train_fraction * len(seen2))
    n_val2 = round(val_combo_fraction * n_train2)
    for i, c in enumerate(seen2):
        if i < n_val2:
            part_of[c] = "val"
            groups["val_combo_seen2"].append(c)
        elif i < n_train2:
            part_of[c] = "train"
        else:
            part_of[c] = "test"
            groups["combo_seen2"].append(c)
    params = {
        "test_gene_fraction": test_gene_fraction,
        "val_gene_fraction": val_gene_fraction,
        "combo_seen2_train_fraction": combo_seen2_train_fraction,
        "val_combo_fraction": val_combo_fraction,
        "train_singles": sorted(train_singles),
    }
    subgroups = {k: sorted(v) for k, v in groups.items()}
    split = _build(labels, part_of, "simulation", seed, perturbation_key, params, subgroups)
    return finish(adata, split, key_added)
