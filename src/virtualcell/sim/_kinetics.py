"""SERGIO kinetics, vectorised over cells (Dibaeinia & Sinha 2020).

Production rate of gene ``g`` in a cell with expression ``x``::

    P_g(x) = b_g(cell type)                                  (master regulators)
    P_g(x) = sum_{r -> g} K_rg * H(x_r)        activation     (other genes)
                         + K_rg * (1 - H(x_r)) repression
    H(x)   = x^n / (h^n + x^n)                 (Hill function, half response h)

A perturbation edits the production rate: ``P'_g = m_g * P_g + a_g`` (knockout ``m = 0``,
knockdown ``0 < m < 1``, overexpression ``m > 1`` and/or ``a > 0``). Expression follows the
chemical Langevin equation (CLE)::

    dx_g = (P'_g - lambda_g x_g) dt + s * sqrt(P'_g + lambda_g x_g) dW_g

(the production and decay noise terms of SERGIO, ``s sqrt(P) dW1 + s sqrt(lambda x) dW2``,
merged into one Gaussian with the same variance), integrated by Euler-Maruyama and clipped
at zero. Every cell is an independent trajectory started at the deterministic steady state
of its condition (:func:`mean_field`), so only the noise has to relax.

Arrays are laid out ``genes x cells`` so that regulator rows are gathered contiguously and
the edge -> target sum is one sparse product.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .._errors import ValidationError

if TYPE_CHECKING:
    from ._grn import GRN

__all__ = ["mean_field", "simulate_cells"]


class _Network:
    """Pre-computed arrays of a GRN for fast production-rate evaluation."""

    def __init__(self, grn: GRN, dtype: type = np.float64) -> None:
        reg, tgt, sign, w, n, h = grn.edge_arrays()
        self.n_genes = grn.n_genes
        self.reg = reg
        self.dtype = dtype
        self.hill_n = n.astype(dtype)[:, None]
        self.square = bool(np.all(n == 2.0))
        self.h = h
        self.h_n = (np.maximum(np.nan_to_num(h, nan=1.0), 1e-12) ** n).astype(dtype)[:, None]
        # production from edges = const + W^T @ hill ; repression K(1-H) = K - K H
        self.const = np.bincount(tgt, weights=np.where(sign < 0, w, 0.0), minlength=self.n_genes)
        self.const = self.const.astype(dtype)[:, None]
        self.wt = sp.csr_matrix(
            (sign * w, (tgt, np.arange(len(tgt)))), shape=(self.n_genes, len(tgt)), dtype=dtype
        )
        self.decay = np.asarray(grn.decay, dtype=dtype)[:, None]

    def set_half_response(self, h: np.ndarray) -> None:
        self.h = h
        self.h_n = (np.maximum(h, 1e-12)[:, None] ** self.hill_n).astype(self.dtype)

    def production(self, x: np.ndarray, basal: np.ndarray) -> np.ndarray:
        """Unperturbed production rates, ``x`` and ``basal`` are ``genes x cells``."""
        if len(self.reg) == 0:
            return basal.copy()
        xr = x[self.reg]
        xn = xr * xr if self.square else xr**self.hill_n
        hill = xn / (self.h_n + xn)
        return basal + self.const + np.asarray(self.wt @ hill)


def mean_field(
    grn: GRN,
    *,
    basal: np.ndarray | None = None,
    mult: np.ndarray | None = None,
    add: np.ndarray | None = None,
    return_half_response: bool = False,
    max_iter: int | None = None,
    tol: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """Deterministic steady state ``x = P'(x) / lambda`` (noise-free SERGIO model).

    Parameters
    ----------
    grn
        The network.
    basal, mult, add
        ``genes x states`` arrays (a state is a cell type under a condition); default: the
        GRN's cell types, unperturbed.
    return_half_response
        Also return the half responses; missing ones (NaN) are set, as in SERGIO, to the
        regulator's mean steady-state level over the states (floored at 1e-3).

    Returns
    -------
    ``genes x states`` steady-state levels (and the half-response array).

    Notes
    -----
    Solved by fixed-point iteration, which is exact after ``depth + 1`` sweeps on an
    acyclic network; on a cyclic network it is damped and may not settle (the CLE then
    starts from the last iterate).
    """
    net = _Network(grn)
    if basal is None:
        basal = grn.basal.to_numpy(dtype=float)
    n_states = basal.shape[1]
    mult = np.ones_like(basal) if mult is None else mult
    add = np.zeros_like(basal) if add is None else add
    h = net.h.copy()
    missing_h = np.isnan(h)
    acyclic = grn.is_acyclic()
    if max_iter is None:
        max_iter = grn.n_genes + 2 if acyclic else 2000
    x = mult * basal / net.decay + add / net.decay
    for _ in range(max_iter):
        if missing_h.any():
            h[missing_h] = np.maximum(x[net.reg[missing_h]].mean(axis=1), 1e-3)
            net.set_half_response(h)
        new = (mult * net.production(x, basal) + add) / net.decay
        if not acyclic:
            new = 0.5 * new + 0.5 * x
        done = np.max(np.abs(new - x)) < tol * (1.0 + np.max(np.abs(new)))
        x = new
        if done:
            break
    if n_states == 0:
        x = np.zeros_like(basal)
    return (x, h) if return_half_response else x


def simulate_cells(
    grn: GRN,
    *,
    basal: np.ndarray,
    mult: np.ndarray,
    add: np.ndarray,
    x0: np.ndarray,
    rng: np.random.Generator,
    method: str = "cle",
    noise_s: float = 1.0,
    dt: float = 0.05,
    n_steps: int = 300,
    dtype: type = np.float32,
    on_step: Callable[[], None] | None = None,
) -> np.ndarray:
    """Sample one steady-state expression vector per cell.

    All arguments are ``genes x cells`` arrays (the basal rate, production multiplier and
    added production of each cell, and its starting point). ``method="cle"`` integrates
    the chemical Langevin equation for ``n_steps`` steps of ``dt``; ``method="fast"``
    samples genes level by level in topological order, each from a gamma distribution with
    the CLE's linear-noise mean ``P'/lambda`` and variance ``s^2 P'/lambda`` given the
    cell's sampled regulator levels (an approximation: it ignores the time averaging of
    regulator fluctuations). Returns ``genes x cells`` (``dtype``). ``on_step`` is called
    after every CLE step (progress reports; it draws no random numbers).
    """
    net = _Network(grn, dtype=dtype)
    basal = basal.astype(dtype, copy=False)
    mult = mult.astype(dtype, copy=False)
    add = add.astype(dtype, copy=False)
    if method == "fast":
        return _sample_fast(grn, net, basal, mult, add, rng, noise_s, dtype)
    if method != "cle":
        raise ValidationError(f"method must be 'cle' or 'fast', got {method!r}")
    x = x0.astype(dtype, copy=True)
    sdt = dtype(np.sqrt(dt))
    s = dtype(noise_s)
    dt_ = dtype(dt)
    for _ in range(n_steps):
        prod = mult * net.production(x, basal) + add
        decay = net.decay * x
        noise = rng.standard_normal(x.shape, dtype=dtype)
        noise *= np.sqrt(prod + decay)
        x += dt_ * (prod - decay) + (s * sdt) * noise
        np.maximum(x, 0, out=x)
        if on_step is not None:
            on_step()
    return x


def _sample_fast(grn, net, basal, mult, add, rng, noise_s, dtype) -> np.ndarray:
    levels = grn.levels().to_numpy()
    x = np.zeros(basal.shape, dtype=dtype)
    s2 = float(noise_s) ** 2
    tgt = grn.edges["target"].map(grn.index()).to_numpy()
    for lev in range(int(levels.max()) + 1):
        genes = np.flatnonzero(levels == lev)
        prod = basal[genes] + net.const[genes]
        sel = np.flatnonzero(np.isin(tgt, genes))
        if sel.size:  # only the edges into this level
            xr = x[net.reg[sel]]
            xn = xr * xr if net.square else xr ** net.hill_n[sel]
            hill = xn / (net.h_n[sel] + xn)
            prod = prod + np.asarray(net.wt[genes][:, sel] @ hill)
        prod = mult[genes] * prod + add[genes]
        mean = prod / net.decay[genes]
        if s2 == 0:
            x[genes] = mean
            continue
        shape = mean / s2
        draw = rng.standard_gamma(np.maximum(shape, 1e-12)).astype(dtype) * dtype(s2)
        x[genes] = np.where(mean > 0, draw, 0)
    return x
