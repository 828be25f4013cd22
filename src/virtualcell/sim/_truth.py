"""Ground-truth queries on simulated data: true effects and non-additivity of combinations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import doc_params
from ..data import CONTROL, PERTURBATION_KEY, expression, split_perturbation

if TYPE_CHECKING:
    import anndata as ad

__all__ = ["nonadditivity", "true_effects"]

NonadditivityClass = Literal["additive", "synergistic", "buffering", "epistatic", "neomorphic"]


def _truth(adata: ad.AnnData) -> dict:
    te = adata.uns.get("true_effects")
    if not isinstance(te, dict) or "values" not in te:
        raise ValidationError(
            "adata.uns['true_effects'] is missing: this is not a simulate_perturbseq() output"
        )
    return te


@doc_params
def true_effects(
    adata: ad.AnnData,
    *,
    source: Literal["model", "true_expression", "counts"] = "model",
    by_cell_type: bool = True,
) -> pd.DataFrame:
    """Mean expression shift of every condition vs control (per cell type).

    Parameters
    ----------
    source
        ``model``: the exact deterministic steady-state shift stored by the simulator
        (``uns["true_effects"]``); ``true_expression``: the empirical mean shift of the
        noise-free layer; ``counts``: the empirical mean shift of library-normalised
        counts (each cell scaled to the median total count; ``X`` must hold counts,
        ``vc.data.expression(space="counts")``).
    by_cell_type
        Rows ``(cell_type, perturbation)``; ``False`` averages cell types (equal weights)
        and indexes rows by perturbation only.

    Returns
    -------
    DataFrame, conditions x genes (the control row is zero by definition).
    """
    te = _truth(adata)
    cts = [str(c) for c in te["cell_types"]]
    conds = [str(c) for c in te["conditions"]]
    if source == "model":
        values = np.asarray(te["values"], dtype=float)
    elif source in ("true_expression", "counts"):
        values = _empirical(adata, source, cts, conds)
    else:
        raise ValidationError(f"source must be model, true_expression or counts, got {source!r}")
    if not by_cell_type:
        return pd.DataFrame(
            values.mean(axis=0), index=pd.Index(conds, name="perturbation"), columns=adata.var_names
        )
    index = pd.MultiIndex.from_product([cts, conds], names=["cell_type", "perturbation"])
    return pd.DataFrame(values.reshape(-1, values.shape[-1]), index=index, columns=adata.var_names)


def _empirical(adata, source, cts, conds) -> np.ndarray:
    # the matrix by the data layer's one rule: the noise-free layer as stored, or X, which
    # must hold counts (a normalised or logged X is refused, naming a layer that would do)
    import scipy.sparse as sp

    what = f"true_effects(source={source!r})"
    if source == "true_expression":
        if "true_expression" not in adata.layers:
            raise ValidationError("layers['true_expression'] is missing (keep_true_expression)")
        m = expression(adata, layer="true_expression", space="input", what=what).X
    else:
        m = expression(adata, space="counts", what=what).X
    x = (m.toarray() if sp.issparse(m) else np.asarray(m)).astype(float)
    if source == "counts":
        tot = x.sum(axis=1, keepdims=True)
        x = np.divide(x * np.median(tot), tot, out=np.zeros_like(x), where=tot > 0)
    pert = adata.obs[PERTURBATION_KEY].astype(str).to_numpy()
    ctype = adata.obs["cell_type"].astype(str).to_numpy()
    out = np.full((len(cts), len(conds), adata.n_vars), np.nan)
    for i, ct in enumerate(cts):
        in_ct = ctype == ct
        ctrl = x[in_ct & (pert == CONTROL)].mean(axis=0)
        for j, c in enumerate(conds):
            sel = in_ct & (pert == c)
            if sel.any():
                out[i, j] = x[sel].mean(axis=0) - ctrl
    return out


@doc_params
def nonadditivity(
    adata: ad.AnnData, *, z_threshold: float = 3.0, r2_neomorphic: float = 0.5
) -> pd.DataFrame:
    """How far each combination's true effect departs from the sum of its singles.

    For a combination ``D`` of genes ``A, B, ...`` in cell type ``c``, over the genes not
    perturbed in ``D``:

    * residual ``r = effect(D) - sum_i effect(i)`` (true, deterministic effects);
    * noise level ``tau_g = sd_g * sqrt(1/n_D + sum_i 1/n_i + (k-1)^2/n_control)`` — the
      standard error with which the simulated cells estimate ``r_g`` (``sd_g``: cell-to-
      cell sd of the noise-free control expression in ``c``, floored at 10% of the median
      positive sd; ``n``: cells per condition in ``c``; ``k``: genes in ``D``);
    * ``z = r / tau``; ``n_genes_nonadditive`` counts ``|z| > z_threshold``.

    Class: ``additive`` if no gene passes the threshold; otherwise ``neomorphic`` if the
    singles explain little of the double (``R^2 < r2_neomorphic`` in a least-squares fit
    ``effect(D) ~ sum_i c_i effect(i)``, or no single has a detectable effect),
    ``epistatic`` if the double is closer to one single than to the sum (one gene masks
    the other), else ``synergistic`` when the double exceeds the sum along the additive
    direction (``scale = <effect(D), sum> / |sum|^2 > 1``) and ``buffering`` when it falls
    short.

    Parameters
    ----------
    z_threshold
        A gene departs from additivity when ``|z|`` exceeds this.
    r2_neomorphic
        Below this ``R^2`` of the singles' fit a combination is ``neomorphic``.

    Returns
    -------
    DataFrame, one row per (combination, cell type): ``perturbation``, ``cell_type``,
    ``n_genes``, ``score`` (``|r| / |sum|``), ``max_abs_z``, ``n_genes_nonadditive``,
    ``scale``, ``r2_singles``, ``norm_double``, ``norm_additive``, ``norm_residual``,
    ``nonadditive`` (bool), ``class``.
    """
    te = _truth(adata)
    values = np.asarray(te["values"], dtype=float)
    conds = [str(c) for c in te["conditions"]]
    cts = [str(c) for c in te["cell_types"]]
    sd = np.asarray(te["control_sd"], dtype=float)
    n_cells = np.asarray(te["n_cells"], dtype=float)
    pos = {c: j for j, c in enumerate(conds)}
    gidx = {g: i for i, g in enumerate(adata.var_names)}
    rows = []
    for j, cond in enumerate(conds):
        genes = split_perturbation(cond)
        if len(genes) < 2:
            continue
        missing = [g for g in genes if g not in pos]
        if missing:
            continue  # the additive prediction needs every single
        keep = np.ones(values.shape[-1], dtype=bool)
        keep[[gidx[g] for g in genes]] = False
        for k, ct in enumerate(cts):
            sd_k = sd[k]
            positive = sd_k[sd_k > 0]
            floor = 0.1 * float(np.median(positive)) if positive.size else 1e-3
            sd_k = np.maximum(sd_k, floor)
            n_d = max(n_cells[k, j], 1)
            var_f = 1 / n_d + sum(1 / max(n_cells[k, pos[g]], 1) for g in genes)
            var_f += (len(genes) - 1) ** 2 / max(n_cells[k, 0], 1)
            tau = sd_k * np.sqrt(var_f)
            double = values[k, j, keep]
            singles = np.stack([values[k, pos[g], keep] for g in genes])
            rows.append(
                _classify(double, singles, tau[keep], z_threshold, r2_neomorphic)
                | {"perturbation": cond, "cell_type": ct, "n_genes": len(genes)}
            )
    cols = [
        "perturbation", "cell_type", "n_genes", "score", "max_abs_z", "n_genes_nonadditive",
        "scale", "r2_singles", "norm_double", "norm_additive", "norm_residual",
        "nonadditive", "class",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def _classify(double, singles, tau, z_thr, r2_min) -> dict:
    additive = singles.sum(axis=0)
    resid = double - additive
    z = resid / tau
    n_sig = int(np.sum(np.abs(z) > z_thr))
    norm_add = float(np.linalg.norm(additive))
    norm_res = float(np.linalg.norm(resid))
    scale = float(double @ additive / norm_add**2) if norm_add > 0 else np.nan
    ss_tot = float(double @ double)
    if ss_tot > 0:
        coef, *_ = np.linalg.lstsq(singles.T, double, rcond=None)
        r2 = 1.0 - float(np.sum((double - singles.T @ coef) ** 2)) / ss_tot
    else:
        r2 = 1.0
    singles_detectable = bool(np.any(np.abs(singles) > z_thr * tau))
    if n_sig == 0:
        cls = "additive"
    elif not singles_detectable or r2 < r2_min:
        cls = "neomorphic"
    elif min(np.linalg.norm(double - s) for s in singles) < norm_res:
        cls = "epistatic"
    elif scale > 1:
        cls = "synergistic"
    else:
        cls = "buffering"
    return {
        "score": norm_res / norm_add if norm_add > 0 else np.inf if norm_res > 0 else 0.0,
        "max_abs_z": float(np.max(np.abs(z))) if z.size else 0.0,
        "n_genes_nonadditive": n_sig,
        "scale": scale,
        "r2_singles": r2,
        "norm_double": float(np.linalg.norm(double)),
        "norm_additive": norm_add,
        "norm_residual": norm_res,
        "nonadditive": n_sig > 0,
        "class": cls,
    }
