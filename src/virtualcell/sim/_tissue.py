"""Cells in a tissue section: spatial niches and ligand -> receptor signalling with a truth.

``simulate_tissue`` places cells on a 2-D section (micrometres), splits the section into
``n_niches`` irregular spatial domains, draws each cell's type from its niche's
composition, and simulates expression with the package's GRN kinetics (SERGIO, see
:mod:`._kinetics`). Ligand -> receptor signalling acts through the same network:

1. **Layout.** Cells are uniform on a square of area ``n_cells / cell_density``. Each niche
   has a smooth random field over the section (a Gaussian process with a squared-exponential
   kernel, lengthscale ``domain_size / 2.5``, plus a quarter-weight rough component of
   lengthscale ``domain_size / 10``, by random Fourier features); a cell belongs to the niche
   whose field is highest there, so niches are irregular patches about ``domain_size``
   wide, with ragged borders, each niche made of several patches.
2. **Composition.** Niche ``k`` draws cell type ``t`` with probability
   ``shared_fraction / n_shared_types`` for the ``n_shared_types`` shared types (present
   in every niche in the same share, so cell type alone cannot tell the niche) and
   ``(1 - shared_fraction) * d_kt`` otherwise, ``d_k ~ Dirichlet(concentration)``;
   within a niche, cells of one type cluster: a cell's type probabilities are multiplied
   by ``exp(type_clustering * g_t(x))`` (``g_t`` a smooth field of lengthscale 40 um
   per type) and renormalised.
3. **Candidate pairs.** ``n_lr_pairs`` ligand -> receptor pairs of distinct genes whose
   deterministic steady state varies across cell types; a gene is *expressed* in a type
   when its steady state exceeds its mean over types (SERGIO's half response). The first
   ``n_signalling`` pairs (in a hidden order) signal, the others are decoys: expressed,
   but they never act. A signalling pair has a *target regulator* ``T`` (a gene with at
   least two targets, outside every ligand's and receptor's ancestry, so signalling never
   changes who sends or receives).
4. **Contacts.** A sender type ``s`` reaches receiver type ``r`` for a signalling pair
   when the ligand is expressed in ``s``, the receptor in ``r``, and at least
   ``min_contact_fraction`` of the ``r`` cells have an ``s`` cell within ``radius``
   (sparse contacts at domain borders establish no signalling).
5. **Stimulation.** A receiver cell with ``n`` neighbours (within ``radius``) of the
   sender types its type is reached by gets the stimulation ``u = min(n, saturation) /
   saturation`` and the pair adds ``signal_strength * u`` to the production rate of
   ``T`` (an extra activating input, as the receptor's downstream signalling would), so
   ``T``'s targets respond through the network's Hill functions.
6. **Expression.** Steady states are solved once per distinct (cell type, stimulation of
   every pair) state, not per cell; each cell is then sampled around its state's steady
   state (:func:`~virtualcell.sim._kinetics.simulate_cells`) and turned into UMI counts
   (:func:`~virtualcell.sim.add_technical_noise`).

``uns["true_communication"]`` has one row per candidate pair x sender type x receiver type;
``active`` is True exactly for the (pair, sender, receiver) rows of step 4, i.e. when
signalling from that sender type changed the expression of cells of that receiver type.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import check_number
from .._version import __version__
from ..data import UNS_KEY
from ._grn import GRN, sample_grn
from ._kinetics import mean_field, simulate_cells
from ._noise import TechnicalNoise, add_technical_noise

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["simulate_tissue"]

#: Largest section :func:`simulate_tissue` simulates.
MAX_CELLS = 2_000_000
#: Lengthscale (micrometres) of the fields that cluster cells of one type in a niche.
CLUMP_LENGTHSCALE = 40.0


def simulate_tissue(
    grn: GRN | int = 100,
    *,
    n_cells: int = 5000,
    n_niches: int = 4,
    n_cell_types: int = 6,
    n_shared_types: int = 1,
    shared_fraction: float = 0.25,
    concentration: float = 0.5,
    type_clustering: float = 0.5,
    cell_density: float = 0.01,
    domain_size: float = 250.0,
    n_lr_pairs: int = 10,
    n_signalling: int = 5,
    radius: float = 15.0,
    saturation: int = 3,
    signal_strength: float = 4.0,
    min_contact_fraction: float = 0.05,
    method: Literal["cle", "fast"] = "fast",
    n_steps: int = 300,
    technical_noise: TechnicalNoise | None = None,
    keep_true_expression: bool = True,
    chunk_size: int = 20_000,
    seed: int = 0,
) -> ad.AnnData:
    """Simulate a tissue section: cells in spatial niches, with ligand -> receptor signalling.

    See the module docstring (and ``docs/sim.md``) for the model.

    Parameters
    ----------
    grn
        A :class:`GRN`, or a number of genes for :func:`sample_grn` (with
        ``n_cell_types`` and ``seed``).
    n_cells
        Cells on the section.
    n_niches
        Spatial domains (niches), each with its own cell-type composition.
    n_cell_types
        Cell types of a sampled GRN (a given GRN brings its own).
    n_shared_types
        Cell types present in every niche in the same share.
    shared_fraction
        Share of each niche taken by the shared types together.
    concentration
        Dirichlet concentration of the niche compositions over the other types (small:
        each niche dominated by few types).
    type_clustering
        How strongly cells of one type cluster within a niche (0: well mixed); the type
        probabilities of a cell are multiplied by ``exp(type_clustering * g_t(x))``,
        ``g_t`` a smooth random field of lengthscale 40 um per type.
    cell_density
        Cells per square micrometre (sets the section's size).
    domain_size
        Typical width of one domain patch, in micrometres.
    n_lr_pairs
        Candidate ligand -> receptor pairs (``uns["lr_pairs"]``).
    n_signalling
        How many of them signal (the others are decoys).
    radius
        Signalling range in micrometres.
    saturation
        Number of sender neighbours at which stimulation is full.
    signal_strength
        Production rate a fully stimulated receptor adds to its target regulator.
    min_contact_fraction
        Fraction of a receiver type's cells that must have a sender-type neighbour for
        signalling between the two types to be established.
    method
        ``cle`` or ``fast`` kinetics (see :func:`~virtualcell.sim.simulate_perturbseq`).
    n_steps
        Steps of the ``cle`` integrator.
    technical_noise
        :class:`TechnicalNoise` (default ``TechnicalNoise()``).
    keep_true_expression
        Store the noise-free expression in ``layers["true_expression"]`` (a dense
        float32 cells x genes matrix: 400 MB at 100,000 cells x 1,000 genes).
    chunk_size
        Cells simulated (and given technical noise) together; bounds the working memory
        beyond the outputs.
    seed
        Seeds everything: same seed, same output.

    Returns
    -------
    AnnData
        ``X``: UMI counts (CSR, int32); ``layers["true_expression"]``: noise-free
        expression (unless ``keep_true_expression=False``); ``obs``: ``cell_type``, ``niche`` (categorical str), ``library_size``;
        ``obsm["spatial"]``: coordinates in micrometres (float64, cells x 2);
        ``obsm["true_stimulation"]``: stimulation ``u`` of each signalling pair (truth);
        ``var`` as in :func:`~virtualcell.sim.simulate_perturbseq`;
        ``uns["lr_pairs"]``: candidate pairs (``ligand``, ``receptor``);
        ``uns["true_communication"]``: ``ligand, receptor, sender, receiver, active,
        contact_fraction``; ``uns["true_network"]``; ``uns["vc"]["sim"]``: parameters,
        niche compositions and the signalling table (pair, target regulator, downstream
        genes).
    """
    import anndata as ad

    t0 = time.perf_counter()
    check_number("n_cells", n_cells, low=10, high=MAX_CELLS, integer=True)
    check_number("n_niches", n_niches, low=1, high=1000, integer=True)
    check_number("n_shared_types", n_shared_types, low=0, integer=True)
    check_number("shared_fraction", shared_fraction, low=0, high=1)
    check_number("concentration", concentration, low=0, low_open=True)
    check_number("type_clustering", type_clustering, low=0, high=10)
    check_number("cell_density", cell_density, low=0, low_open=True)
    check_number("domain_size", domain_size, low=0, low_open=True)
    check_number("n_lr_pairs", n_lr_pairs, low=1, integer=True)
    check_number("n_signalling", n_signalling, low=0, high=n_lr_pairs, integer=True)
    check_number("radius", radius, low=0, low_open=True)
    check_number("saturation", saturation, low=1, high=100, integer=True)
    check_number("signal_strength", signal_strength, low=0)
    check_number("min_contact_fraction", min_contact_fraction, low=0, high=1)
    check_number("n_steps", n_steps, low=0, integer=True)
    check_number("chunk_size", chunk_size, low=1, integer=True)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    if method not in ("cle", "fast"):
        raise ValidationError(f"method must be 'cle' or 'fast', got {method!r}")
    noise = technical_noise or TechnicalNoise()
    if isinstance(grn, int | np.integer):
        grn = sample_grn(int(grn), n_cell_types=n_cell_types, seed=seed)
    elif not isinstance(grn, GRN):
        raise ValidationError(f"grn must be a GRN or a number of genes, got {type(grn).__name__}")
    types = grn.cell_types
    n_types = len(types)
    if n_shared_types >= n_types and n_niches > 1:
        raise ValidationError(
            f"n_shared_types must be below the number of cell types ({n_types}) so that "
            "niches can differ"
        )
    rng_layout = np.random.default_rng(np.random.SeedSequence([int(seed), 21]))
    rng_pairs = np.random.default_rng(np.random.SeedSequence([int(seed), 22]))
    rng_cells = np.random.default_rng(np.random.SeedSequence([int(seed), 23]))

    # 1-2. layout, niches, cell types
    coords, niche = _layout(n_cells, n_niches, cell_density, domain_size, rng_layout)
    composition = _composition(
        n_niches, n_types, n_shared_types, shared_fraction, concentration, rng_layout
    )
    prob = composition[niche]  # cells x types
    if type_clustering > 0:  # same-type cells cluster: smooth per-type modulation
        prob = prob * np.exp(
            type_clustering * _smooth_fields(coords, n_types, CLUMP_LENGTHSCALE, rng_layout)
        )
    cum = np.cumsum(prob, axis=1)
    u = rng_layout.random(n_cells) * cum[:, -1]
    cell_type = np.minimum((u[:, None] > cum).sum(axis=1), n_types - 1)

    # 3. candidate pairs and signalling targets
    basal = grn.basal.to_numpy(dtype=float)
    steady0 = mean_field(grn, basal=basal)
    expressed = steady0 > steady0.mean(axis=1, keepdims=True)  # genes x types
    pairs = _choose_pairs(grn, steady0, expressed, n_lr_pairs, n_signalling, rng_pairs)

    # 4. contacts: neighbours of each type within the radius
    counts = _neighbour_type_counts(coords, cell_type, n_types, radius)
    type_size = np.bincount(cell_type, minlength=n_types)
    touched = np.zeros((n_types, n_types))  # [sender, receiver]
    for s in range(n_types):
        hit = np.bincount(cell_type[counts[:, s] > 0], minlength=n_types)
        touched[s] = hit / np.maximum(type_size, 1)
    idx = grn.index()
    sig = pairs[pairs["signalling"]].reset_index(drop=True)
    established = np.zeros((len(sig), n_types, n_types), dtype=bool)
    for p, row in sig.iterrows():
        lig = expressed[idx[row["ligand"]]]
        rec = expressed[idx[row["receptor"]]]
        established[p] = lig[:, None] & rec[None, :] & (touched >= min_contact_fraction)
        established[p] &= (type_size > 0)[None, :] & (signal_strength > 0)

    # 5. stimulation per cell and pair; states = (type, stimulation of every pair)
    level = np.zeros((n_cells, len(sig)), dtype=np.int16)
    for p in range(len(sig)):
        reach = counts @ established[p].astype(np.int32)  # cells x receiver types
        n_send = reach[np.arange(n_cells), cell_type]
        level[:, p] = np.minimum(n_send, saturation)
    key = np.column_stack([cell_type.astype(np.int16), level])
    states, state_of = np.unique(key, axis=0, return_inverse=True)
    state_of = state_of.ravel()
    s_basal = basal[:, states[:, 0]]
    s_add = np.zeros_like(s_basal)
    for p, row in sig.iterrows():
        s_add[idx[row["target"]]] += signal_strength * states[:, 1 + p] / saturation
    s_mult = np.ones_like(s_basal)
    steady = mean_field(grn, basal=s_basal, mult=s_mult, add=s_add)

    # 6. cells around their state's steady state, then counts
    true = np.empty((n_cells, grn.n_genes), dtype=np.float32)
    for lo in range(0, n_cells, chunk_size):
        st = state_of[lo : lo + chunk_size]
        true[lo : lo + len(st)] = simulate_cells(
            grn,
            basal=s_basal[:, st],
            mult=s_mult[:, st],
            add=s_add[:, st],
            x0=steady[:, st],
            rng=rng_cells,
            method=method,
            n_steps=n_steps,
        ).T
    t_kin = time.perf_counter() - t0
    counts_x, tech = add_technical_noise(true, noise, rng_cells, chunk_size=chunk_size)

    from ._simulate import _var_table

    niche_names = [f"niche_{k}" for k in range(n_niches)]
    width = len(str(n_cells - 1))
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(np.asarray(types)[cell_type], categories=types),
            "niche": pd.Categorical(np.asarray(niche_names)[niche], categories=niche_names),
            "library_size": tech["library_size"].astype(np.float32),
        },
        index=[f"cell{i:0{width}d}" for i in range(n_cells)],
    )
    var = _var_table(grn)
    var["outlier_factor"] = tech["outlier_factor"].astype(np.float32)
    X = counts_x if sp.issparse(counts_x) else sp.csr_matrix(counts_x)
    adata = ad.AnnData(X=X, obs=obs, var=var)
    if keep_true_expression:
        adata.layers["true_expression"] = true
    adata.obsm["spatial"] = coords
    adata.obsm["true_stimulation"] = pd.DataFrame(
        (level / saturation).astype(np.float32),
        index=obs.index,
        columns=[f"{a}->{b}" for a, b in zip(sig["ligand"], sig["receptor"], strict=True)],
    )
    adata.uns["true_network"] = grn.to_frame()
    adata.uns["lr_pairs"] = pairs[["ligand", "receptor"]].copy()
    adata.uns["true_communication"] = _truth_table(pairs, sig, established, touched, types)
    params = {
        "model": "tissue",
        "n_genes": grn.n_genes,
        "n_edges": len(grn.edges),
        "n_cells": int(n_cells),
        "n_cell_types": n_types,
        "n_niches": int(n_niches),
        "n_shared_types": int(n_shared_types),
        "shared_types": np.asarray(types[:n_shared_types], dtype=object),
        "shared_fraction": float(shared_fraction),
        "concentration": float(concentration),
        "type_clustering": float(type_clustering),
        "composition": pd.DataFrame(composition, index=niche_names, columns=types),
        "cell_density": float(cell_density),
        "domain_size": float(domain_size),
        "section_um": float(np.sqrt(n_cells / cell_density)),
        "n_lr_pairs": int(n_lr_pairs),
        "n_signalling": int(n_signalling),
        "signalling": _signalling_table(grn, pairs),
        "radius": float(radius),
        "saturation": int(saturation),
        "signal_strength": float(signal_strength),
        "min_contact_fraction": float(min_contact_fraction),
        "n_states": len(states),
        "method": method,
        "n_steps": int(n_steps),
        "technical_noise": noise.to_dict(),
        "grn": {k: v for k, v in grn.meta.items() if v is not None},
        "seed": int(seed),
        "version": __version__,
        "kinetics": "SERGIO (Dibaeinia & Sinha 2020), numpy implementation",
        "seconds_kinetics": round(t_kin, 3),
        "seconds_total": round(time.perf_counter() - t0, 3),
    }
    adata.uns[UNS_KEY] = {"sim": params}
    return adata


def _layout(
    n_cells: int, n_niches: int, density: float, domain_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform cells on a square; niche = argmax of one smooth random field per niche."""
    side = float(np.sqrt(n_cells / density))
    coords = rng.random((n_cells, 2)) * side
    field = _smooth_fields(coords, n_niches, domain_size / 2.5, rng)
    field += 0.25 * _smooth_fields(coords, n_niches, domain_size / 10, rng)  # rough borders
    niche = field.argmax(axis=1)
    # small sections: a niche that wins nowhere takes the cells where it came closest
    # (never cells another such niche took, never a niche's last cell)
    locked = np.zeros(n_cells, dtype=bool)
    size = np.bincount(niche, minlength=n_niches)
    for k in np.flatnonzero(size == 0):
        margin = np.where(locked, -np.inf, field[:, k] - field.max(axis=1))
        for i in np.argsort(-margin)[: max(1, n_cells // (2 * n_niches))]:
            if not locked[i] and size[niche[i]] > 1:
                size[niche[i]] -= 1
                size[k] += 1
                niche[i] = k
                locked[i] = True
    return coords, niche.astype(np.int64)


def _smooth_fields(
    coords: np.ndarray, n_fields: int, lengthscale: float, rng: np.random.Generator
) -> np.ndarray:
    """``n_fields`` independent smooth random fields at ``coords`` (cells x fields).

    Random Fourier features of a Gaussian process with a squared-exponential kernel of
    the given lengthscale (unit variance): non-periodic, isotropic, smooth.
    """
    n_modes = 48
    freq = rng.normal(size=(n_fields, n_modes, 2)) / lengthscale
    phase = rng.random((n_fields, n_modes)) * 2 * np.pi
    out = np.empty((len(coords), n_fields))
    for k in range(n_fields):
        out[:, k] = np.cos(coords @ freq[k].T + phase[k]).sum(axis=1)
    return out * np.sqrt(2.0 / n_modes)


def _composition(
    n_niches: int,
    n_types: int,
    n_shared: int,
    shared_fraction: float,
    concentration: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Cell-type probabilities of each niche (niches x types)."""
    comp = np.zeros((n_niches, n_types))
    own = n_types - n_shared
    if n_shared:
        comp[:, :n_shared] = shared_fraction / n_shared
    rest = 1.0 - (shared_fraction if n_shared else 0.0)
    if own:
        comp[:, n_shared:] = rest * rng.dirichlet(np.full(own, concentration), size=n_niches)
    return comp / comp.sum(axis=1, keepdims=True)


def _neighbour_type_counts(
    coords: np.ndarray, cell_type: np.ndarray, n_types: int, radius: float
) -> np.ndarray:
    """Number of neighbours of each type within ``radius`` of each cell (cells x types)."""
    from scipy.spatial import cKDTree

    n = len(coords)
    pairs = cKDTree(coords).query_pairs(radius, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    flat = np.bincount(i * n_types + cell_type[j], minlength=n * n_types)
    flat += np.bincount(j * n_types + cell_type[i], minlength=n * n_types)
    return flat.reshape(n, n_types).astype(np.int32)


def _choose_pairs(
    grn: GRN,
    steady: np.ndarray,
    expressed: np.ndarray,
    n_pairs: int,
    n_signalling: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Candidate pairs (hidden order: signalling ones first), with their target regulator."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(grn.genes)
    graph.add_edges_from(zip(grn.edges["regulator"], grn.edges["target"], strict=True))
    n_types = expressed.shape[1]
    k = expressed.sum(axis=1)
    ratio = steady.max(axis=1) / np.maximum(steady.min(axis=1), 1e-3)
    # on in some types, off in others, and clearly expressed where on
    ok = (k >= 1) & (k <= max(1, n_types - 1)) & (ratio > 2)
    ok &= steady.max(axis=1) >= np.median(steady)
    variable = [g for g, keep in zip(grn.genes, ok, strict=True) if keep]
    n_targets = grn.edges["regulator"].value_counts()
    limit = max(12, grn.n_genes // 6)
    targets = []
    for r in rng.permutation(sorted(n_targets.index[n_targets >= 2])):
        down = nx.descendants(graph, r)
        if 2 <= len(down) <= limit:
            targets.append((str(r), down))
    used: set[str] = set()
    forbidden: set[str] = set()
    chosen_t: list[tuple[str, set]] = []
    for t, down in targets:
        if len(chosen_t) == n_signalling:
            break
        chosen_t.append((t, down))
        forbidden |= {t} | down
        used.add(t)
    if len(chosen_t) < n_signalling:
        raise ValidationError(
            f"the network has only {len(chosen_t)} regulators with 2..{limit} downstream genes; "
            f"n_signalling={n_signalling} needs more (use a larger network or fewer pairs)"
        )
    n_expr = dict(zip(grn.genes, k.tolist(), strict=True))
    pool = [str(g) for g in rng.permutation(variable) if g not in forbidden and g not in used]
    if len(pool) < 2 * n_pairs:
        raise ValidationError(
            f"the network has only {len(pool)} genes that vary across cell types outside the "
            f"signalling targets' downstream; {n_pairs} pairs need {2 * n_pairs} "
            "(use a larger network or fewer pairs)"
        )
    # ligands preferably specific (expressed in at most a third of the types), receptors
    # in at most half; the rest filled from the other varying genes
    ligands = [g for g in pool if n_expr[g] <= max(1, n_types // 3)][:n_pairs]
    rest = [g for g in pool if g not in set(ligands)]
    ligands += rest[: n_pairs - len(ligands)]
    rest = [g for g in pool if g not in set(ligands)]
    receptors = [g for g in rest if n_expr[g] <= max(1, n_types // 2)][:n_pairs]
    receptors += [g for g in rest if g not in set(receptors)][: n_pairs - len(receptors)]
    rows = []
    for p in range(n_pairs):
        target = chosen_t[p][0] if p < n_signalling else ""
        rows.append(
            {
                "ligand": ligands[p],
                "receptor": receptors[p],
                "signalling": p < n_signalling,
                "target": target,
            }
        )
    out = pd.DataFrame(rows)
    # the table users see is in a random order (decoys are not the last rows)
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True)


def _signalling_table(grn: GRN, pairs: pd.DataFrame) -> pd.DataFrame:
    """Truth about each candidate pair: signals or not, target regulator, downstream genes."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(grn.genes)
    graph.add_edges_from(zip(grn.edges["regulator"], grn.edges["target"], strict=True))
    out = pairs[["ligand", "receptor", "signalling", "target"]].copy()
    out["downstream"] = [
        ",".join(sorted({t} | nx.descendants(graph, t))) if t else "" for t in out["target"]
    ]
    return out.reset_index(drop=True)


def _truth_table(
    pairs: pd.DataFrame,
    sig: pd.DataFrame,
    established: np.ndarray,
    touched: np.ndarray,
    types: list[str],
) -> pd.DataFrame:
    """One row per candidate pair x sender type x receiver type."""
    n_types = len(types)
    pos = {(a, b): i for i, (a, b) in enumerate(zip(sig["ligand"], sig["receptor"], strict=True))}
    frames = []
    for lig, rec in zip(pairs["ligand"], pairs["receptor"], strict=True):
        p = pos.get((lig, rec))
        act = established[p] if p is not None else np.zeros((n_types, n_types), dtype=bool)
        frames.append(
            pd.DataFrame(
                {
                    "ligand": lig,
                    "receptor": rec,
                    "sender": np.repeat(types, n_types),
                    "receiver": np.tile(types, n_types),
                    "active": act.ravel(),
                    "contact_fraction": touched.ravel().astype(np.float32),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
