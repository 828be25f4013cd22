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
    "contact_response",
    "contact_strength",
    "neighbor_product",
    "permutation",
    "response",
    "response_strength",
    "specificity",
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


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x columns, y columns)``: Pearson r of every column of ``x`` with every column of
    ``y`` over the same cells (rows); 0 where either column is constant."""
    n = x.shape[0]
    y = y - y.mean(axis=0)
    ysd = y.std(axis=0)
    x = x - x.mean(axis=0)
    xsd = x.std(axis=0)
    r = (x.T @ y) / n / np.maximum(np.outer(xsd, ysd), 1e-300)
    r[:, ysd <= 1e-12] = 0.0
    r[xsd <= 1e-12, :] = 0.0
    return r


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
        corr = np.where(keep, np.abs(_pearson(expo_all[cells], data.expression[cells])), 0.0)
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


def specificity(data: CommInput, *, slope: float = 4.0) -> np.ndarray:
    """``(n_pairs, n_senders, n_receivers)``: how specifically the sender type expresses
    the pair's ligand and the receiver type its receptor.

    For a gene (or complex) with per-type means ``m_t`` of the *linear* expression
    (``expm1`` of the log-normalised values, i.e. counts per 10k), ``z_t = (m_t -
    mean_t m) / sd_t m`` says how far type ``t`` is above the gene's average over types;
    ``spec_t = 1 / (1 + exp(-slope * z_t))`` turns it into a soft "expressed by ``t``"
    (0.5 at the average, no cell counts involved, so abundant types gain nothing). The
    row's value is ``spec_s(ligand) * spec_r(receptor)``; a gene equal in every type
    gets 0.5 everywhere.
    """
    if not np.isfinite(slope) or slope <= 0:
        raise ValidationError(f"slope must be a positive number, got {slope}")

    def soft(values: np.ndarray) -> np.ndarray:
        m = data.type_means(np.expm1(values))  # (types, pairs)
        z = (m - m.mean(axis=0)) / np.maximum(m.std(axis=0), 1e-12)
        return 1.0 / (1.0 + np.exp(-slope * z))

    return soft(data.ligand).T[:, :, None] * soft(data.receptor).T[:, None, :]


def contact_strength(
    data: CommInput, *, top: int = 3, min_cells: int = 20, marker_fold: float | None = 2.0
) -> np.ndarray:
    """``(n_senders, n_receivers)``: how strongly receivers' expression follows contact
    with each sender type (pair-agnostic).

    Within the cells of receiver type ``r``, ``c_is`` is the share of cell ``i``'s
    spatial neighbours (the row-normalised graph) that are of type ``s``; for every gene
    ``g`` of ``data.expression`` the Pearson correlation ``rho`` between ``c_.s`` and
    the gene over those cells gives the t statistic ``t^2 = rho^2 (n - 2) / (1 -
    rho^2)``; the strength is the mean of the ``top`` largest ``t^2``. Receiver types
    with fewer than ``min_cells`` cells, and sender types that no receiver cell touches
    (no variation in contact), get 0. With ``marker_fold``, genes whose mean (counts per
    10k) in ``s`` exceeds ``marker_fold`` times their mean in ``r`` are left out of the
    ``(s, r)`` entry: a sender's own markers leaking into touching receivers (segmentation
    spill-over) are not a response.
    """
    if data.expression is None or not data.genes:
        raise ValidationError("the contact_response method needs the cells' expression")
    if top < 1:
        raise ValidationError(f"top must be >= 1, got {top}")
    if marker_fold is not None and not marker_fold > 0:
        raise ValidationError(f"marker_fold must be > 0 or None, got {marker_fold}")
    contact = np.asarray(data.graph @ data.onehot.toarray())  # (cells, types)
    gene_means = data.type_means(np.expm1(data.expression)) if marker_fold else None
    out = np.zeros((data.n_types, data.n_types))
    for r in range(data.n_types):
        cells = np.flatnonzero(data.labels == r)
        n = cells.size
        if n < max(min_cells, 4):
            continue
        rho = np.clip(_pearson(contact[cells], data.expression[cells]), -1.0, 1.0)
        t2 = rho**2 * (n - 2) / np.maximum(1.0 - rho**2, 1e-12)
        if gene_means is not None:
            t2 = np.where(gene_means > marker_fold * gene_means[r][None, :], 0.0, t2)
        k = int(min(top, t2.shape[1]))
        out[:, r] = np.sort(t2, axis=1)[:, ::-1][:, :k].mean(axis=1)
    return out


def contact_response(
    data: CommInput,
    *,
    seed: int = 0,
    top: int = 3,
    slope: float = 4.0,
    marker_fold: float | None = 2.0,
) -> dict[str, np.ndarray]:
    """Expression specificity x the pair's contact-stratified response.

    ``score(p, s, r) = spec(p, s, r) * A(p)`` with ``spec`` of :func:`specificity` and
    ``A(p) = sum_{s,r} spec(p, s, r) S(s, r) / sum_{s,r} spec(p, s, r)``, ``S`` of
    :func:`contact_strength`: the pair's evidence is how much the receivers that express
    its receptor respond to touching the senders that express its ligand (receivers near
    vs far from those senders), so a decoy pair, expressed but never acting, gains
    nothing from responses it cannot explain. Deterministic (``seed`` unused). ``top``,
    ``slope`` and ``marker_fold`` were set on simulated seeds 100-105 (docs/spatial.md).
    """
    spec = specificity(data, slope=slope)
    strength = contact_strength(data, top=top, marker_fold=marker_fold)
    pair = (spec * strength[None]).sum(axis=(1, 2)) / np.maximum(spec.sum(axis=(1, 2)), 1e-300)
    # a tiny floor keeps the specificity order where no pair shows any response
    score = spec * (pair + 1e-12)[:, None, None]
    return {
        "score": score,
        "specificity": spec,
        "contact_response": np.broadcast_to(strength[None], spec.shape).copy(),
        "pair_response": np.broadcast_to(pair[:, None, None], spec.shape).copy(),
    }
