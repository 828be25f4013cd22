"""Cell-level splits: random, stratified, held-out cell type / batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..._errors import ValidationError
from ._common import allocate, check_fractions, conditions_of, finish, obs_labels, rng_for
from ._split import Split

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["heldout_split", "random_split", "stratified_split"]


def _assign(order: np.ndarray, counts: tuple[int, int, int], out: np.ndarray) -> None:
    n_train, n_val, _ = counts
    out[order[:n_train]] = "train"
    out[order[n_train : n_train + n_val]] = "val"
    out[order[n_train + n_val :]] = "test"


def random_split(
    adata: AnnData,
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    key_added: str | None = "split",
) -> Split:
    """Random split of cells into train / val / test.

    The cells are permuted with ``numpy.random.default_rng(seed)``; the first
    ``n - round(f_val n) - round(f_test n)`` go to train, then val, then test.

    Parameters
    ----------
    adata
        Cells to split; ``obs[key_added]`` is written unless ``key_added`` is None.
    fractions
        ``(train, val, test)`` fractions summing to 1.
    seed
        Random seed; the same seed and cells give the same split.
    key_added
        ``obs`` column that receives the assignment.
    """
    fr = check_fractions(fractions)
    n = adata.n_obs
    out = np.empty(n, dtype=object)
    _assign(rng_for(seed).permutation(n), allocate(n, fr), out)
    assignment = pd.Series(out, index=adata.obs_names.astype(str), dtype=object, name="split")
    split = Split(assignment, "random", seed, params={"fractions": list(fr)})
    return finish(adata, split, key_added)


def stratified_split(
    adata: AnnData,
    *,
    label_key: str,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    key_added: str | None = "split",
) -> Split:
    """Random split within each value of ``obs[label_key]`` (e.g. cell type).

    Each stratum (in sorted order, one generator seeded with ``seed``) is split like
    :func:`random_split`, so every part keeps the label proportions up to rounding. A
    stratum of few cells may have no val/test cells (rounding).
    """
    fr = check_fractions(fractions)
    labels = obs_labels(adata, label_key)
    rng = rng_for(seed)
    out = np.empty(adata.n_obs, dtype=object)
    values = labels.to_numpy()
    for value in sorted(set(values)):
        idx = np.flatnonzero(values == value)
        _assign(idx[rng.permutation(len(idx))], allocate(len(idx), fr), out)
    assignment = pd.Series(out, index=labels.index, dtype=object, name="split")
    split = Split(
        assignment,
        "stratified",
        seed,
        key=label_key,
        labels=labels,
        conditions=conditions_of(assignment, labels),
        params={"fractions": list(fr)},
    )
    return finish(adata, split, key_added)


def heldout_split(
    adata: AnnData,
    *,
    label_key: str = "cell_type",
    test_values: Sequence[str],
    val_values: Sequence[str] = (),
    key_added: str | None = "split",
) -> Split:
    """Hold out whole groups: cells whose ``obs[label_key]`` is in ``test_values`` (e.g. a cell
    type or a batch) form the test part, ``val_values`` the val part, the rest train.

    Every named value must occur in the data, and test and val values must differ.
    """
    labels = obs_labels(adata, label_key)
    test = [str(v) for v in ([test_values] if isinstance(test_values, str) else test_values)]
    val = [str(v) for v in ([val_values] if isinstance(val_values, str) else val_values)]
    if not test:
        raise ValidationError("test_values is empty")
    present = set(labels)
    unknown = sorted(set(test + val) - present)
    if unknown:
        raise ValidationError(f"values not found in obs[{label_key!r}]: {unknown[:10]}")
    both = sorted(set(test) & set(val))
    if both:
        raise ValidationError(f"values both in test and val: {both}")
    out = np.where(labels.isin(test), "test", np.where(labels.isin(val), "val", "train"))
    assignment = pd.Series(out.astype(object), index=labels.index, name="split")
    split = Split(
        assignment,
        "heldout",
        None,
        key=label_key,
        labels=labels,
        conditions=conditions_of(assignment, labels),
        params={"test_values": sorted(set(test)), "val_values": sorted(set(val))},
    )
    return finish(adata, split, key_added)
