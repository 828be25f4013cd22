"""Paired multi-omic cells: RNA + surface protein (CITE-seq) + chromatin accessibility.

``simulate_multiome`` draws one RNA state per cell from the GRN (SERGIO steady states, as
:func:`~virtualcell.sim.simulate_batches` does) and derives two more modalities of the
*same* cells from it:

* **rna** — UMI counts of the GRN genes with strong dropout (default
  ``TechnicalNoise(umis_per_gene=2, dropout_percentile=60)``: most entries are zero).
* **protein** — a panel of ``n_proteins`` antibody-derived tags (ADTs), each coding gene
  drawn from the GRN genes. A protein's level in cell ``i`` is
  ``t_p * m_ig * e_ip * f_tp`` with ``t_p ~ LogNormal(log 20, 0.5)`` the protein's
  translation rate, ``m_ig`` the cell's noise-free mRNA level of the coding gene,
  ``e_ip ~ LogNormal(0, protein_sigma)`` per-cell noise and ``f_tp`` the surface program of
  the cell's type (1 unless below); an *ambient background* ``b_p = ambient * mean_i(level)``
  common to every cell is added, then counts are ``Poisson(c_i * (level + b_p))`` with a
  per-cell capture ``c_i ~ LogNormal(0, 0.3)``. Dense but noisy.
* **atac** — ``n_peaks`` peaks. Most are linked to a regulator -> target edge of the GRN
  (``var["gene"]`` the target, ``var["regulator"]`` the regulator): the peak is open in a
  cell of RNA state ``s`` with probability ``0.03 + 0.6 * a^2 / (a^2 + 0.25)``, ``a`` the
  regulator's mean noise-free level in state ``s`` over its maximum across states. A share
  ``background_peaks`` are open with probability 0.08 everywhere (``var["regulator"]``
  empty). Reads: an open peak gives ``Binomial(2, capture_i)`` reads, ``capture_i ~
  Beta(2, 10)`` (mean 0.17): binary-ish and sparse.

**Why integration matters.** The GRN has ``n_cell_types - n_hidden_types`` RNA states;
the last ``n_hidden_types`` cell types are *hidden in RNA*: each copies the RNA state of
one of the first types (same transcriptome, same regulator activity) but carries its own
**surface program** — ``surface_genes`` panel proteins whose translation is multiplied by
``surface_fold`` (a post-transcriptional difference) — and its own **primed chromatin**:
``primed_peaks`` peaks linked to the surface-program genes that are open (probability 0.5)
only in that type (lineage priming). So some types differ only in protein and chromatin,
while the RNA states differ most clearly in RNA (the protein panel sees only its coding
genes, through noise and background; accessibility is sparse). No single modality
resolves every type.

Truth in ``uns["truth"]``: ``cell_types`` (one row per type: ``rna_state``, ``hidden``,
``parent``), ``surface_program`` (type, protein, fold) and ``primed_peaks`` (type, peak);
``peak_kind`` (each peak: ``linked``, ``background`` or ``primed``); the protein ``var``
holds each protein's ``translation_rate`` and ``ambient`` level. Methods read only ``X``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import check_number
from ..data import UNS_KEY
from ._grn import GRN, sample_grn
from ._noise import TechnicalNoise

if TYPE_CHECKING:  # pragma: no cover
    import mudata as md

__all__ = ["simulate_multiome"]

#: RNA noise of :func:`simulate_multiome`: fewer UMIs and stronger dropout than the
#: default :class:`TechnicalNoise` (multiome / CITE-seq RNA is shallow).
MULTIOME_RNA_NOISE = TechnicalNoise(umis_per_gene=2.0, dropout_percentile=60.0)


def simulate_multiome(
    grn: GRN | int = 100,
    *,
    n_cells: int = 3000,
    n_cell_types: int = 6,
    n_hidden_types: int = 2,
    n_proteins: int = 30,
    n_peaks: int = 600,
    protein_sigma: float = 0.5,
    ambient: float = 0.3,
    surface_genes: int = 3,
    surface_fold: float = 3.0,
    primed_peaks: int = 15,
    background_peaks: float = 0.2,
    rna_noise: TechnicalNoise | None = None,
    method: str = "cle",
    seed: int = 0,
) -> md.MuData:
    """Simulate paired RNA, surface-protein and accessibility profiles of the same cells.

    Parameters
    ----------
    grn
        A :class:`GRN` (its cell types become the RNA states; ``n_cell_types`` is then its
        number of types plus ``n_hidden_types``), or a number of genes for
        :func:`sample_grn`.
    n_cells
        Cells in total (cell types in about equal shares).
    n_cell_types
        Cell types in total, including the ``n_hidden_types`` hidden in RNA.
    n_hidden_types
        Types that share the RNA state of another type and differ from it only in a surface
        program and primed chromatin (see the module docstring).
    n_proteins
        Proteins in the panel (at most the number of genes).
    n_peaks
        Peaks in the accessibility modality.
    protein_sigma
        Log-scale standard deviation of the per-cell protein noise.
    ambient
        Ambient background of each protein as a share of its mean level (0 = none).
    surface_genes
        Panel proteins in each hidden type's surface program.
    surface_fold
        Translation factor of the surface-program proteins in their type.
    primed_peaks
        Peaks open only in each hidden type (linked to its surface-program genes).
    background_peaks
        Share of the peaks that are open at a constant low rate everywhere.
    rna_noise
        Technical noise of the RNA counts (default: 2 UMIs per gene, dropout percentile 60).
    method
        ``cle`` or ``fast`` kinetics (see :func:`simulate_perturbseq`).
    seed
        Seeds everything: same seed, same output.

    Returns
    -------
    MuData
        Modalities ``rna`` (counts, ``layers["true_expression"]``), ``protein`` (ADT
        counts, ``var["gene"]``) and ``atac`` (peak counts, ``var["gene"]``,
        ``var["regulator"]``); ``obs["cell_type"]`` on the MuData and in every modality;
        ``uns["truth"]`` (what drives what) and ``uns["vc"]["sim"]`` (the parameters).
    """
    import anndata as ad
    import mudata

    from ._simulate import simulate_perturbseq

    check_number("n_cells", n_cells, low=10, integer=True)
    check_number("n_hidden_types", n_hidden_types, low=0, integer=True)
    check_number("n_proteins", n_proteins, low=2, integer=True)
    check_number("n_peaks", n_peaks, low=10, integer=True)
    check_number("protein_sigma", protein_sigma, low=0)
    check_number("ambient", ambient, low=0)
    check_number("surface_fold", surface_fold, low=0, low_open=True)
    check_number("background_peaks", background_peaks, low=0, high=1)
    if isinstance(grn, int | np.integer):
        n_states = int(n_cell_types) - int(n_hidden_types)
        if n_states < 1:
            raise ValidationError(
                f"n_cell_types ({n_cell_types}) must exceed n_hidden_types ({n_hidden_types})"
            )
        grn = sample_grn(int(grn), n_cell_types=n_states, seed=seed)
    elif not isinstance(grn, GRN):
        raise ValidationError(f"grn must be a GRN or a number of genes, got {type(grn).__name__}")
    states = grn.cell_types
    n_states = len(states)
    if n_hidden_types > n_states:
        raise ValidationError(
            f"n_hidden_types ({n_hidden_types}) must be at most the RNA states ({n_states})"
        )
    if n_proteins > grn.n_genes:
        raise ValidationError(f"n_proteins ({n_proteins}) exceeds the genes ({grn.n_genes})")
    if surface_genes * max(n_hidden_types, 1) > n_proteins:
        raise ValidationError("surface_genes x n_hidden_types exceeds n_proteins")

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 26]))
    # RNA states: the hidden types copy the state of the first n_hidden_types types, so a
    # state with a hidden child gets twice the cells (then split between the two)
    weights = np.ones(n_states)
    weights[:n_hidden_types] = 2.0
    per_state = np.floor(n_cells * weights / weights.sum()).astype(int)
    per_state[: n_cells - per_state.sum()] += 1
    noise = rna_noise or MULTIOME_RNA_NOISE
    sim = simulate_perturbseq(
        grn,
        cells_per_condition=1,
        n_control_cells=int(per_state.max()) * n_states,
        singles=0,
        doubles=0,
        method=method,  # type: ignore[arg-type]
        technical_noise=noise,
        keep_true_expression=True,
        seed=seed,
    )
    # simulate_perturbseq cycles the types (equal shares); take per_state cells of each
    state_of = sim.obs["cell_type"].astype(str).to_numpy()
    rows = []
    for s, name in enumerate(states):
        have = np.flatnonzero(state_of == name)
        rows.append(rng.choice(have, per_state[s], replace=False))
    order = np.concatenate(rows)
    cell_state = np.repeat(np.arange(n_states), per_state)
    true = np.asarray(sim.layers["true_expression"], dtype=np.float64)[order]
    rna_counts = sim.X[order]
    rna_counts = sp.csr_matrix(rna_counts)
    # cell types: hidden type h is the second half of state h's cells
    type_names = [f"type_{i}" for i in range(n_states + n_hidden_types)]
    cell_type = cell_state.copy()
    for h in range(n_hidden_types):
        idx = np.flatnonzero(cell_state == h)
        cell_type[idx[rng.permutation(len(idx))[: len(idx) // 2]]] = n_states + h
    perm = rng.permutation(n_cells)  # shuffle cells so that types are not in blocks
    true, rna_counts = true[perm], rna_counts[perm]
    cell_state, cell_type = cell_state[perm], cell_type[perm]
    labels = pd.Categorical(np.asarray(type_names)[cell_type], categories=type_names)
    obs_names = [f"cell{i}" for i in range(n_cells)]

    # ---------------------------------------------------------------- protein (ADT)
    genes = np.asarray(grn.genes)
    panel = np.sort(rng.choice(grn.n_genes, n_proteins, replace=False))
    rate = rng.lognormal(np.log(20.0), 0.5, n_proteins)
    fold = np.ones((n_states + n_hidden_types, n_proteins))
    program_rows = []
    chosen = rng.permutation(n_proteins)
    for h in range(n_hidden_types):
        sel = chosen[h * surface_genes : (h + 1) * surface_genes]
        fold[n_states + h, sel] = surface_fold
        for p in sel:
            program_rows.append((type_names[n_states + h], f"{genes[panel[p]]}_prot", surface_fold))
    level = rate * true[:, panel] * rng.lognormal(0.0, protein_sigma, (n_cells, n_proteins))
    level *= fold[cell_type]
    background = ambient * level.mean(axis=0)
    capture = rng.lognormal(0.0, 0.3, n_cells)
    prot_counts = rng.poisson(capture[:, None] * (level + background)).astype(np.int32)
    prot_var = pd.DataFrame(
        {
            "gene": genes[panel],
            "translation_rate": rate.astype(np.float32),
            "ambient": background.astype(np.float32),
        },
        index=[f"{g}_prot" for g in genes[panel]],
    )

    # ---------------------------------------------------------------- accessibility
    reg_idx, tgt_idx, *_ = grn.edge_arrays()
    state_mean = np.vstack([true[cell_state == s].mean(axis=0) for s in range(n_states)])
    activity = state_mean / np.maximum(state_mean.max(axis=0), 1e-12)
    n_primed = int(primed_peaks) * n_hidden_types
    n_background = round(background_peaks * n_peaks)
    n_linked = n_peaks - n_background - n_primed
    if n_linked < 1 or len(reg_idx) == 0:
        raise ValidationError(
            f"n_peaks ({n_peaks}) leaves no peak linked to a GRN edge "
            f"({n_background} background, {n_primed} primed)"
        )
    edge = rng.integers(0, len(reg_idx), n_linked)
    open_p = np.zeros((n_states + n_hidden_types, n_peaks))
    a = activity[:, reg_idx[edge]]  # states x linked peaks
    open_p[:n_states, :n_linked] = 0.03 + 0.6 * a**2 / (a**2 + 0.25)
    for h in range(n_hidden_types):  # a hidden type opens what its parent state opens
        open_p[n_states + h, :n_linked] = open_p[h, :n_linked]
    open_p[:, n_linked : n_linked + n_background] = 0.08
    peak_gene = list(genes[tgt_idx[edge]]) + list(genes[rng.integers(0, len(genes), n_background)])
    peak_reg = list(genes[reg_idx[edge]]) + [""] * n_background
    kind = ["linked"] * n_linked + ["background"] * n_background
    primed_rows = []
    start = n_linked + n_background
    for h in range(n_hidden_types):
        cols = np.arange(start + h * primed_peaks, start + (h + 1) * primed_peaks)
        open_p[:, cols] = 0.02
        open_p[n_states + h, cols] = 0.5
        program = fold[n_states + h] > 1
        targets = genes[panel[program]] if program.any() else genes[:1]
        for j, c in enumerate(cols):
            peak_gene.append(str(targets[j % len(targets)]))
            peak_reg.append("")
            kind.append("primed")
            primed_rows.append((type_names[n_states + h], f"peak{c:05d}"))
    is_open = rng.random((n_cells, n_peaks)) < open_p[cell_type]
    atac_capture = rng.beta(2.0, 10.0, n_cells)
    reads = rng.binomial(2, atac_capture[:, None], (n_cells, n_peaks)) * is_open
    atac_var = pd.DataFrame(
        {"gene": peak_gene, "regulator": peak_reg},
        index=[f"peak{c:05d}" for c in range(n_peaks)],
    )

    # ---------------------------------------------------------------- assemble
    def modality(x: Any, var: pd.DataFrame) -> ad.AnnData:
        obs = pd.DataFrame({"cell_type": labels}, index=obs_names)
        return ad.AnnData(X=sp.csr_matrix(x, dtype=np.float32), obs=obs, var=var)

    rna = modality(rna_counts, sim.var.copy())
    rna.layers["true_expression"] = true.astype(np.float32)
    mods = {
        "rna": rna,
        "protein": modality(prot_counts, prot_var),
        "atac": modality(reads, atac_var),
    }
    with mudata.set_options(pull_on_update=False):  # mudata 0.4's behaviour, no warning
        mdata = mudata.MuData(mods)
    mdata.obs["cell_type"] = labels
    parent = [type_names[h] for h in range(n_hidden_types)]
    mdata.uns["truth"] = {
        "cell_types": pd.DataFrame(
            {
                "rna_state": [states[s] for s in range(n_states)] + states[:n_hidden_types],
                "hidden": [False] * n_states + [True] * n_hidden_types,
                "parent": [""] * n_states + parent,
            },
            index=type_names,
        ),
        "surface_program": pd.DataFrame(program_rows, columns=["cell_type", "protein", "fold"]),
        "primed_peaks": pd.DataFrame(primed_rows, columns=["cell_type", "peak"]),
        "peak_kind": pd.DataFrame({"kind": kind}, index=atac_var.index),
    }
    mdata.uns["true_network"] = rna.uns.get("true_network", sim.uns["true_network"])
    params = dict(sim.uns[UNS_KEY]["sim"])
    params.update(
        {
            "generator": "simulate_multiome",
            "n_cell_types": len(type_names),
            "n_hidden_types": int(n_hidden_types),
            "n_proteins": int(n_proteins),
            "n_peaks": int(n_peaks),
            "protein_sigma": float(protein_sigma),
            "ambient": float(ambient),
            "surface_genes": int(surface_genes),
            "surface_fold": float(surface_fold),
            "primed_peaks": int(primed_peaks),
            "background_peaks": float(background_peaks),
            "rna_noise": noise.to_dict(),
            "seed": int(seed),
        }
    )
    mdata.uns[UNS_KEY] = {"sim": params}
    return mdata
