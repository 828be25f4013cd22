"""Communication methods: each scores every (pair, sender type, receiver type).

A method is ``fn(data: CommInput, *, seed: int, **options) -> dict[str, ndarray]`` whose
``"score"`` entry is a ``(n_pairs, n_types, n_types)`` array (higher = more likely an
active ligand -> receptor link from the sender type to the receiver type); other entries
of the same shape (``pvalue``, ``mean``) become extra columns of the result.
"""

from __future__ import annotations

import numpy as np

from .._errors import ValidationError
from ._comm_data import CommInput

__all__ = [
    "coexpression",
    "colocalization",
    "neighbor_product",
    "permutation",
    "response",
    "response_strength",
]


def _outer(lig: np.ndarray, rec: np.ndarray) -> np.ndarray:
    """``(types, pairs)`` x ``(types, pairs)`` -> ``(pairs, sender, receiver)``."""
    return lig.T[:, :, None] * rec.T[:, None, :]


def coexpression(data: CommInput, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Mean ligand in the sender type x mean receptor in the receiver type (no test, no
    space)."""
    return {"score": _outer(data.type_means(data.ligand), data.type_means(data.receptor))}


def permutation(
    data: CommInput,
    *,
    seed: int = 0,
    n_perm: int = 1000,
    min_fraction: float = 0.1,
) -> dict[str, np.ndarray]:
    """CellPhoneDB-style test: the mean of (mean ligand in sender, mean receptor in
    receiver), its p-value from ``n_perm`` permutations of the cell-type labels; ranked by
    p-value, ties by the mean (no space).

    ``pvalue = (1 + #{perm: stat_perm >= stat}) / (1 + n_perm)``; a pair whose ligand or
    receptor is expressed (> 0) in fewer than ``min_fraction`` of the sender's or
    receiver's cells gets ``pvalue = 1``. Permutation ``k`` uses the labels
    ``rng.permutation(labels)`` drawn in turn from ``numpy.random.default_rng(seed)``.
    The score is the rank of ``(-pvalue, mean)`` (lexicographic; equal pairs share a
    rank) scaled to (0, 1].
    """
    if n_perm < 1:
        raise ValidationError(f"n_perm must be >= 1, got {n_perm}")
    lig_m, rec_m = data.type_means(data.ligand), data.type_means(data.receptor)
    stat = (lig_m.T[:, :, None] + rec_m.T[:, None, :]) / 2.0
    lig_f = data.type_means((data.ligand > 0).astype(np.float64))
    rec_f = data.type_means((data.receptor > 0).astype(np.float64))
    expressed = (lig_f.T[:, :, None] >= min_fraction) & (rec_f.T[:, None, :] >= min_fraction)
    rng = np.random.default_rng(seed)
    both = np.hstack([data.ligand, data.receptor])
    n_pairs = data.ligand.shape[1]
    hits = np.zeros_like(stat)
    for _ in range(n_perm):
        m = data.type_means(both, rng.permutation(data.labels))
        null = (m[:, :n_pairs].T[:, :, None] + m[:, n_pairs:].T[:, None, :]) / 2.0
        hits += null >= stat
    pvalue = np.where(expressed, (1.0 + hits) / (1.0 + n_perm), 1.0)
    keys = np.column_stack([-pvalue.ravel(), stat.ravel()])
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)  # lexicographic, ties kept
    score = (inverse.ravel() + 1.0) / len(uniq)
    return {"score": score.reshape(stat.shape), "pvalue": pvalue, "mean": stat}


def colocalization(data: CommInput, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Co-expression x spatial co-localisation of the two types: the mean fraction of a
    receiver cell's neighbours that are of the sender type, over that type's share of all
    cells (1 = as expected at random; squidpy-style neighbourhood enrichment as a ratio)."""
    w = data.graph
    frac = np.asarray(w @ data.onehot.toarray())  # (cells, types) neighbour composition
    recv = data.type_means(frac)  # (receiver, sender)
    share = data.type_counts / data.type_counts.sum()
    enrich = (recv / np.maximum(share, 1e-12)[None, :]).T  # (sender, receiver)
    base = coexpression(data)["score"]
    return {
        "score": base * enrich[None, :, :],
        "colocalization": np.broadcast_to(enrich, base.shape).copy(),
    }


def _exposure(data: CommInput, sender: int) -> np.ndarray:
    """``(cells, pairs)``: neighbour-weighted ligand of the ``sender`` type's cells
    around each cell (``sum_j W_ij [type_j = s] L_j``)."""
    mask = (data.labels == sender).astype(np.float64)
    return np.asarray(data.graph @ (data.ligand * mask[:, None]))


def neighbor_product(data: CommInput, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Ligand in the neighbours x receptor in the cell: for receivers of type ``r``, the
    mean over cells of ``R_i * sum_j W_ij [type_j = s] L_j`` (``W``: row-normalised
    spatial neighbour graph)."""
    out = np.empty((data.ligand.shape[1], data.n_types, data.n_types))
    for s in range(data.n_types):
        prod = _exposure(data, s) * data.receptor
        out[:, s, :] = data.type_means(prod).T
    return {"score": out}


def response_strength(data: CommInput, *, top: int = 3, min_cells: int = 20) -> np.ndarray:
    """``(n_pairs, n_types)``: how strongly receivers of each type respond to each pair's
    ligand around them.

    A cell's exposure to pair ``p`` is ``E_ip = sum_j W_ij m_p(t_j)``: the mean over its
    spatial neighbours ``j`` of the pair's ligand averaged over the neighbour's cell type
    ``t_j`` (type means denoise single-cell counts). Within the cells of receiver type
    ``r`` the strength is the mean of the ``top`` largest ``|Pearson r|`` between
    ``E_.p`` and the genes of ``data.expression`` (the pair's own ligand and receptor
    genes left out); types with fewer than ``min_cells`` cells, or no variation in
    exposure, get 0.
    """
    if data.expression is None or not data.genes:
        raise ValidationError("the response method needs the cells' expression")
    if top < 1:
        raise ValidationError(f"top must be >= 1, got {top}")
    n_pairs = data.ligand.shape[1]
    out = np.zeros((n_pairs, data.n_types))
    lig_by_type = data.type_means(data.ligand)  # (types, pairs)
    expo_all = np.asarray(data.graph @ lig_by_type[data.labels])
    gpos = {g: i for i, g in enumerate(data.genes)}
    keep = np.ones((n_pairs, len(data.genes)), dtype=bool)
    for p, (lig, rec) in enumerate(zip(data.pairs["ligand"], data.pairs["receptor"], strict=True)):
        keep[p, [gpos[g] for g in [*lig.split("_"), *rec.split("_")] if g in gpos]] = False
    for r in range(data.n_types):
        cells = np.flatnonzero(data.labels == r)
        n = cells.size
        if n < max(min_cells, 3):
            continue
        y = data.expression[cells]
        y = y - y.mean(axis=0)
        ysd = y.std(axis=0)
        e = expo_all[cells]
        e = e - e.mean(axis=0)
        esd = e.std(axis=0)
        corr = (e.T @ y) / n / np.maximum(np.outer(esd, ysd), 1e-300)
        corr[:, ysd <= 1e-12] = 0.0
        corr[esd <= 1e-12, :] = 0.0
        corr = np.where(keep, np.abs(corr), 0.0)
        k = int(min(top, corr.shape[1]))
        out[:, r] = np.sort(corr, axis=1)[:, ::-1][:, :k].mean(axis=1)
    return out


def response(
    data: CommInput, *, seed: int = 0, n_perm: int = 1000, top: int = 3, power: float = 2.0
) -> dict[str, np.ndarray]:
    """Receivers' response x specificity: the :func:`permutation` test's score (ligand
    and receptor specific to the sender and receiver types) weighted by the pair's
    response, ``(mean over receiver types of response_strength) ** power`` (how much
    receivers' expression varies with the pair's ligand in their spatial neighbourhood;
    ``top`` and ``power`` were chosen on simulated seeds 100-101, docs/spatial.md)."""
    test = permutation(data, seed=seed, n_perm=n_perm)
    strength = response_strength(data, top=top)
    weight = strength.mean(axis=1) ** power
    shape = test["score"].shape
    return {
        "score": test["score"] * weight[:, None, None],
        "response": np.broadcast_to(strength[:, None, :], shape).copy(),
        "pvalue": test["pvalue"],
    }
