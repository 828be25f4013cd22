"""``simulate_perturbseq``: a Perturb-seq-like AnnData with known network and effects."""

from __future__ import annotations

import difflib
import inspect
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import Progress, check_number
from .._version import __version__
from ..data import (
    CONTROL,
    PERTURBATION_KEY,
    PERTURBATION_TYPE_KEY,
    UNS_KEY,
    join_perturbation,
)
from ._grn import GRN, sample_grn
from ._kinetics import mean_field, simulate_cells
from ._noise import TechnicalNoise, add_technical_noise
from ._perturb import PerturbationType, condition_rates, sample_conditions

if TYPE_CHECKING:
    import anndata as ad

__all__ = ["simulate_perturbseq"]


def simulate_perturbseq(
    grn: GRN | int = 100,
    *,
    n_cell_types: int = 3,
    cells_per_condition: int = 100,
    n_control_cells: int | None = None,
    singles: int | Sequence[str] = 20,
    doubles: int | Sequence[Sequence[str]] = 10,
    perturbation_type: PerturbationType = "knockout",
    knockdown_factor: float = 0.3,
    overexpression_factor: float = 4.0,
    frac_converging: float = 0.5,
    score_pairs: bool = True,
    method: Literal["cle", "fast"] = "cle",
    noise_s: float = 1.0,
    dt: float = 0.05,
    n_steps: int = 300,
    technical_noise: TechnicalNoise | None = None,
    keep_true_expression: bool = True,
    chunk_size: int | None = None,
    seed: int = 0,
    **grn_kwargs,
) -> ad.AnnData:
    """Simulate single-cell Perturb-seq data from a gene regulatory network.

    Parameters
    ----------
    grn
        A :class:`GRN`, or a number of genes for :func:`sample_grn` (with ``n_cell_types``,
        ``seed`` and any ``grn_kwargs``).
    n_cell_types
        Cell types when the GRN is sampled (a given GRN brings its own).
    cells_per_condition
        Cells per perturbed condition, split evenly over cell types.
    n_control_cells
        Control cells (default ``2 * cells_per_condition``).
    singles, doubles
        Numbers (sampled by :func:`~virtualcell.sim._perturb.sample_conditions`: regulators
        first; half of the doubles share a target) or explicit gene lists / combinations
        (combinations may have 2+ genes).
    perturbation_type
        ``knockout`` (production 0), ``knockdown`` (production x ``knockdown_factor``) or
        ``overexpression`` (production x ``overexpression_factor`` plus the mean master-
        regulator basal rate).
    knockdown_factor
        Production of a knocked-down gene is multiplied by this (0 .. 1).
    overexpression_factor
        Production of an overexpressed gene is multiplied by this.
    frac_converging, score_pairs
        Fraction of sampled doubles that converge on a shared downstream regulator; with
        ``score_pairs`` these are drawn in proportion to their non-additivity in the
        deterministic model (``|effect(A+B) - effect(A) - effect(B)| / |effect(A) +
        effect(B)|``, largest over cell types), so the doubles mix clearly non-additive
        and additive pairs.
    method
        ``cle`` integrates the chemical Langevin equation (``n_steps`` x ``dt`` from the
        deterministic steady state); ``fast`` samples genes once in topological order.
    noise_s
        Intrinsic noise amplitude ``s`` of the CLE.
    dt
        Time step of the ``cle`` integrator.
    n_steps
        Steps of the ``cle`` integrator.
    technical_noise
        :class:`TechnicalNoise` parameters (default ``TechnicalNoise()``).
    keep_true_expression
        Store the noise-free expression in ``layers["true_expression"]``.
    chunk_size
        Cells simulated together (default: about a million gene or edge values per chunk,
        which keeps the arrays in cache; the result depends on it only through the order
        of random draws).
    seed
        Seeds everything (network, design, cells, noise): same seed, same output.

    Returns
    -------
    AnnData with

    * ``X``: UMI counts (CSR, int32), ``layers["true_expression"]`` (float32);
    * ``obs``: ``perturbation`` (``control`` / ``GENE`` / ``GENE_A+GENE_B``),
      ``perturbation_type``, ``cell_type``, ``library_size``;
    * ``var``: ``master_regulator``, ``level``, ``n_targets``, ``n_regulators``, ``decay``
      and ``basal_<cell type>``;
    * ``uns["true_network"]``: edge table ``regulator, target, sign, weight, hill_n,
      half_response``;
    * ``uns["true_effects"]``: ``values`` (cell types x conditions x genes, deterministic
      steady-state mean shift vs control of the same cell type), ``conditions``,
      ``cell_types``, ``control_mean``, ``control_sd`` (cell-to-cell sd of the noise-free
      control expression), ``n_cells`` (cell types x conditions);
    * ``varm["true_effects"]``: genes x perturbed conditions, the effect averaged over
      cell types;
    * ``uns["vc"]["sim"]``: parameters, seed and timing.
    """
    import anndata as ad

    t0 = time.perf_counter()
    check_number("cells_per_condition", cells_per_condition, low=1, high=1_000_000, integer=True)
    if n_control_cells is not None:
        check_number("n_control_cells", n_control_cells, low=1, integer=True)
    if chunk_size is not None:
        check_number("chunk_size", chunk_size, low=1, integer=True)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    check_number("knockdown_factor", knockdown_factor, low=0, high=1)
    check_number("overexpression_factor", overexpression_factor, low=0)
    check_number("frac_converging", frac_converging, low=0, high=1)
    check_number("noise_s", noise_s, low=0)
    check_number("dt", dt, low=0, low_open=True)
    check_number("n_steps", n_steps, low=0, integer=True)
    if method not in ("cle", "fast"):
        raise ValidationError(f"method must be 'cle' or 'fast', got {method!r}")
    if technical_noise is None:
        technical_noise = TechnicalNoise()
    if isinstance(grn, int | np.integer):
        known = set(inspect.signature(sample_grn).parameters) - {"n_genes", "n_cell_types", "seed"}
        unknown = sorted(set(grn_kwargs) - known)
        if unknown:
            own = set(inspect.signature(simulate_perturbseq).parameters) - {"grn_kwargs"}
            close = difflib.get_close_matches(unknown[0], sorted(own | known), n=1)
            raise ValidationError(
                f"simulate_perturbseq got unknown option(s) {unknown}"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f"; GRN options (vc.sim.sample_grn) are {sorted(known)}"
            )
        grn = sample_grn(int(grn), n_cell_types=n_cell_types, seed=seed, **grn_kwargs)
    elif not isinstance(grn, GRN):
        raise ValidationError(f"grn must be a GRN or a number of genes, got {type(grn).__name__}")
    elif grn_kwargs:
        raise ValidationError(f"GRN options {sorted(grn_kwargs)} given with a ready GRN")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
    rates = {
        "perturbation_type": perturbation_type,
        "knockdown_factor": knockdown_factor,
        "overexpression_factor": overexpression_factor,
    }

    def pair_score(pairs: list[tuple[str, str]]) -> np.ndarray:
        return _pair_scores(grn, pairs, rates)

    single, combos = sample_conditions(
        grn,
        singles=singles,
        doubles=doubles,
        frac_converging=frac_converging,
        rng=rng,
        pair_score=pair_score if score_pairs else None,
    )
    conds: list[tuple[str, ...]] = [(), *single, *combos]
    labels = [join_perturbation(c) for c in conds]
    if len(set(labels)) != len(labels):
        raise ValidationError("a condition is listed twice (singles and doubles overlap)")
    mult, add = condition_rates(
        grn,
        conds,
        perturbation_type=perturbation_type,
        knockdown_factor=knockdown_factor,
        overexpression_factor=overexpression_factor,
    )
    # states = condition x cell type
    basal_ct = grn.basal.to_numpy(dtype=float)  # genes x cell types
    n_ct = basal_ct.shape[1]
    n_cond = len(conds)
    s_basal = np.repeat(basal_ct[:, None, :], n_cond, axis=1).reshape(grn.n_genes, -1)
    s_mult = np.repeat(mult[:, :, None], n_ct, axis=2).reshape(grn.n_genes, -1)
    s_add = np.repeat(add[:, :, None], n_ct, axis=2).reshape(grn.n_genes, -1)
    steady = mean_field(grn, basal=s_basal, mult=s_mult, add=s_add)  # genes x states
    steady = steady.reshape(grn.n_genes, n_cond, n_ct)

    # cells
    n_ctrl = 2 * cells_per_condition if n_control_cells is None else int(n_control_cells)
    sizes = [n_ctrl] + [cells_per_condition] * (n_cond - 1)
    cell_cond = np.repeat(np.arange(n_cond), sizes)
    cell_ct = np.concatenate([np.arange(n) % n_ct for n in sizes])
    n_cells = len(cell_cond)
    if chunk_size is None:
        chunk_size = int(np.clip(1_000_000 // max(grn.n_genes, len(grn.edges)), 256, 20_000))
    true = np.empty((n_cells, grn.n_genes), dtype=np.float32)
    starts = range(0, n_cells, chunk_size)
    # progress in cell-steps: one unit per cell per CLE step (per cell for "fast")
    steps = n_steps if method == "cle" else 1
    with Progress(n_cells * steps, description=f"simulating {n_cells:,} cells") as bar:
        for lo in starts:
            sl = slice(lo, min(lo + chunk_size, n_cells))
            c, t = cell_cond[sl], cell_ct[sl]
            width = sl.stop - sl.start
            x = simulate_cells(
                grn,
                basal=basal_ct[:, t],
                mult=mult[:, c],
                add=add[:, c],
                x0=steady[:, c, t],
                rng=rng,
                method=method,
                noise_s=noise_s,
                dt=dt,
                n_steps=n_steps,
                on_step=(lambda w=width: bar.advance(w)) if method == "cle" else None,
            )
            if method != "cle":
                bar.advance(width)
            true[sl] = x.T
    t_kin = time.perf_counter() - t0
    counts, tech = add_technical_noise(true, technical_noise, rng)

    cell_types = grn.cell_types
    obs = pd.DataFrame(
        {
            PERTURBATION_KEY: pd.Categorical(np.asarray(labels)[cell_cond], categories=labels),
            PERTURBATION_TYPE_KEY: np.where(cell_cond == 0, CONTROL, perturbation_type),
            "cell_type": pd.Categorical(np.asarray(cell_types)[cell_ct], categories=cell_types),
            "library_size": tech["library_size"].astype(np.float32),
        },
        index=[f"cell{i:0{len(str(n_cells))}d}" for i in range(n_cells)],
    )
    obs[PERTURBATION_TYPE_KEY] = obs[PERTURBATION_TYPE_KEY].astype("category")
    var = _var_table(grn)
    var["outlier_factor"] = tech["outlier_factor"].astype(np.float32)
    adata = ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=var)
    if keep_true_expression:
        adata.layers["true_expression"] = true

    effects = (steady - steady[:, :1, :]).transpose(2, 1, 0)  # ct x cond x genes
    ctrl_sd = np.zeros((n_ct, grn.n_genes))
    n_cells_tab = np.zeros((n_ct, n_cond), dtype=np.int64)
    np.add.at(n_cells_tab, (cell_ct, cell_cond), 1)
    for k in range(n_ct):
        ctrl_sd[k] = true[(cell_cond == 0) & (cell_ct == k)].std(axis=0, ddof=1)
    adata.uns["true_network"] = grn.to_frame()
    adata.uns["true_effects"] = {
        "values": effects.astype(np.float32),
        "conditions": np.asarray(labels, dtype=object),
        "cell_types": np.asarray(cell_types, dtype=object),
        "control_mean": steady[:, 0, :].T.astype(np.float32),
        "control_sd": np.nan_to_num(ctrl_sd).astype(np.float32),
        "n_cells": n_cells_tab,
    }
    adata.varm["true_effects"] = pd.DataFrame(
        effects[:, 1:, :].mean(axis=0).T, index=adata.var_names, columns=labels[1:]
    )
    params = {
        "n_genes": grn.n_genes,
        "n_edges": len(grn.edges),
        "n_cell_types": n_ct,
        "cells_per_condition": int(cells_per_condition),
        "n_control_cells": n_ctrl,
        "n_singles": len(single),
        "n_combinations": len(combos),
        "perturbation_type": perturbation_type,
        "knockdown_factor": float(knockdown_factor),
        "overexpression_factor": float(overexpression_factor),
        "frac_converging": float(frac_converging),
        "score_pairs": bool(score_pairs),
        "method": method,
        "noise_s": float(noise_s),
        "dt": float(dt),
        "n_steps": int(n_steps),
        "chunk_size": int(chunk_size),
        "technical_noise": technical_noise.to_dict(),
        "grn": {k: v for k, v in grn.meta.items() if v is not None},
        "seed": int(seed),
        "version": __version__,
        "kinetics": "SERGIO (Dibaeinia & Sinha 2020), numpy implementation",
        "seconds_kinetics": round(t_kin, 3),
        "seconds_total": round(time.perf_counter() - t0, 3),
    }
    adata.uns.setdefault(UNS_KEY, {})["sim"] = params
    return adata


def _pair_scores(grn: GRN, pairs: list[tuple[str, str]], rates: dict) -> np.ndarray:
    """Relative deterministic non-additivity of each pair (max over cell types)."""
    genes = sorted({g for p in pairs for g in p})
    conds = [(), *[(g,) for g in genes], *pairs]
    mult, add = condition_rates(grn, conds, **rates)
    basal = grn.basal.to_numpy(dtype=float)
    n_ct, n_c = basal.shape[1], len(conds)
    x = mean_field(
        grn,
        basal=np.repeat(basal[:, None, :], n_c, axis=1).reshape(grn.n_genes, -1),
        mult=np.repeat(mult[:, :, None], n_ct, axis=2).reshape(grn.n_genes, -1),
        add=np.repeat(add[:, :, None], n_ct, axis=2).reshape(grn.n_genes, -1),
    ).reshape(grn.n_genes, n_c, n_ct)
    eff = x - x[:, :1, :]
    pos = {g: 1 + i for i, g in enumerate(genes)}
    idx = grn.index()
    out = np.zeros(len(pairs))
    for k, (a, b) in enumerate(pairs):
        keep = np.ones(grn.n_genes, dtype=bool)
        keep[[idx[a], idx[b]]] = False
        s = eff[keep, pos[a]] + eff[keep, pos[b]]
        r = eff[keep, 1 + len(genes) + k] - s
        den = np.linalg.norm(s, axis=0)
        out[k] = np.max(np.linalg.norm(r, axis=0) / np.maximum(den, 1e-9 + 1e-3 * den.max()))
    return out


def _var_table(grn: GRN) -> pd.DataFrame:
    e = grn.edges
    var = pd.DataFrame(index=pd.Index(grn.genes, name="gene"))
    var["master_regulator"] = [g in set(grn.master_regulators) for g in grn.genes]
    try:
        var["level"] = grn.levels().to_numpy()
    except ValidationError:
        var["level"] = -1
    var["n_targets"] = e["regulator"].value_counts().reindex(grn.genes).fillna(0).astype(int)
    var["n_regulators"] = e["target"].value_counts().reindex(grn.genes).fillna(0).astype(int)
    var["decay"] = grn.decay
    for ct in grn.cell_types:
        var[f"basal_{ct}"] = grn.basal[ct].reindex(grn.genes).to_numpy()
    return var
