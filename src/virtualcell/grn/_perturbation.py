"""Perturbation-aware inference for interventional data.

Cells are grouped by single-gene perturbation (``obs["perturbation"] == "G"``) within
each experiment type (``obs["experiment"]`` when present, e.g. DREAM4 ``knockout`` /
``knockdown``; else ``obs["perturbation_type"]``). For perturbed regulator ``g`` and
target ``j``:

* with replicate cells (Perturb-seq: >= 2 cells per group and >= 2 controls) a Welch
  statistic ``z = (mean_g,j - mean_ctrl,j) / sqrt(var_g,j / n_g + var_ctrl,j / n_ctrl)``;
* with one profile per perturbation (DREAM4) the deviation from the control (wild-type)
  profile divided by the spread of that gene over all perturbations of the same type,
  ``z = (x_g,j - x_wt,j) / sd_j`` (Pinna et al. 2010).

``|z|`` is averaged over experiment types. The sign of an edge is the sign of the change
of ``j`` relative to the change of ``g`` itself (a knocked-out activator lowers its
targets). The perturbation score is then blended with a steady-state method by rank:
``score = w * rank(|z|) + (1 - w) * rank(base)`` (ranks scaled to (0, 1]); regulators that
were never perturbed keep their base rank.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from .._errors import ValidationError
from ..data import COMBO_SEP, CONTROL, PERTURBATION_KEY
from ._base import GRNInput, Scores

__all__ = ["perturbation_zscores", "rank01"]


def rank01(S: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Average ranks of the entries of ``S`` scaled to (0, 1] (entries outside ``mask``
    get 0)."""
    out = np.zeros(S.shape)
    m = np.ones(S.shape, dtype=bool) if mask is None else mask
    vals = np.nan_to_num(S[m], nan=-np.inf)
    if vals.size:
        out[m] = rankdata(vals) / vals.size
    return out


def _control_rows(obs: pd.DataFrame) -> np.ndarray:
    if "experiment" in obs and (obs["experiment"].astype(str) == "wildtype").any():
        return np.flatnonzero(obs["experiment"].astype(str).to_numpy() == "wildtype")
    return np.flatnonzero(obs[PERTURBATION_KEY].astype(str).to_numpy() == CONTROL)


def perturbation_zscores(data: GRNInput) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(absz, sign, perturbed)``: ``|z|`` and signs (genes x genes, row = perturbed
    gene) averaged over experiment types, and a boolean vector of perturbed genes."""
    obs = data.obs
    if PERTURBATION_KEY not in obs:
        raise ValidationError(
            "perturbation-aware inference needs obs['perturbation'] ('control', 'GENE' ...)"
        )
    labels = obs[PERTURBATION_KEY].astype(str).to_numpy()
    kind_col = "experiment" if "experiment" in obs else "perturbation_type"
    kinds = obs[kind_col].astype(str).to_numpy() if kind_col in obs else np.full(len(obs), "all")
    ctrl = _control_rows(obs)
    if ctrl.size == 0:
        raise ValidationError("no control cells (obs['perturbation'] == 'control' or wildtype)")
    X, g = data.X, data.n_genes
    pos = {name: i for i, name in enumerate(data.genes)}
    mu_c = X[ctrl].mean(axis=0)
    var_c = X[ctrl].var(axis=0, ddof=1) if ctrl.size > 1 else None
    total = np.zeros((g, g))
    signed = np.zeros((g, g))
    count = np.zeros(g)
    single = np.array([lab != CONTROL and COMBO_SEP not in lab and lab in pos for lab in labels])
    for kind in np.unique(kinds[single]):
        rows_k = np.flatnonzero(single & (kinds == kind))
        groups = pd.Series(rows_k).groupby(labels[rows_k]).apply(np.asarray)
        means = np.vstack([X[r].mean(axis=0) for r in groups])
        sizes = np.array([len(r) for r in groups])
        if sizes.min() >= 2 and var_c is not None:
            var_g = np.vstack([X[r].var(axis=0, ddof=1) for r in groups])
            denom = np.sqrt(var_g / sizes[:, None] + var_c / ctrl.size)
        else:
            denom = np.broadcast_to(
                means.std(axis=0, ddof=1) if len(groups) > 1 else 1.0, means.shape
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(denom > 0, (means - mu_c) / denom, 0.0)
        for i, gene in enumerate(groups.index):
            r = pos[gene]
            own = means[i, r] - mu_c[r]
            direction = 1.0 if own > 0 else -1.0
            total[r] += np.abs(z[i])
            signed[r] += direction * z[i]
            count[r] += 1
    if not count.any():
        raise ValidationError(
            "no single-gene perturbations of measured genes in obs['perturbation']"
        )
    perturbed = count > 0
    absz = np.where(perturbed[:, None], total / np.maximum(count, 1)[:, None], 0.0)
    np.fill_diagonal(absz, 0.0)
    return absz, np.sign(signed), perturbed


def perturbation(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    base: str | None = "genie3_et",
    weight: float = 0.8,
    base_kwargs: dict | None = None,
    resolve: Callable[[str], Callable[..., Scores]],
) -> Scores:
    """Perturbation-aware inference (see module docstring).

    Parameters
    ----------
    base
        Steady-state method blended in (any registered name), or None for z-scores only.
    weight
        Weight ``w`` of the perturbation rank in ``[0, 1]``.
    base_kwargs
        Options of the base method.
    resolve
        Method lookup by name (bound by the method table, :data:`virtualcell.grn.METHODS`).
    """
    if not 0.0 <= weight <= 1.0:
        raise ValidationError(f"weight must be in [0, 1], got {weight}")
    absz, sign, perturbed = perturbation_zscores(data)
    regs = data.regulators
    pz, ps = absz[regs], sign[regs]
    off = regs[:, None] != np.arange(data.n_genes)[None, :]
    if base is None:
        return Scores(score=np.where(off, pz, 0.0), sign=ps)
    b = resolve(base)(data, n_jobs=n_jobs, seed=seed, **(base_kwargs or {}))
    rb = rank01(np.asarray(b.score, dtype=np.float64), off)
    rp = rank01(pz, off)
    has = perturbed[regs][:, None]
    score = np.where(has, weight * rp + (1 - weight) * rb, rb)
    if b.sign is not None:
        ps = np.where(has & (ps != 0), ps, np.sign(b.sign))
    return Scores(score=np.where(off, score, 0.0), sign=ps)
