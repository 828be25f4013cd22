"""Technical noise of droplet single-cell RNA-seq, following SERGIO's recipe.

Applied to the noise-free expression (``cells x genes``), in this order:

1. **outlier genes** – each gene is an outlier with probability ``outlier_prob`` and its
   expression is multiplied by ``LogNormal(outlier_mu, outlier_sigma)``;
2. **library size** – each cell draws a library size ``L ~ LogNormal(log(umis_per_gene *
   n_genes), library_sigma)`` and its expression is rescaled to sum to ``L``;
3. **dropout** – with ``y = log(1 + x)`` and ``q`` the ``dropout_percentile``-th
   percentile of ``y`` over the whole matrix, an entry is kept with probability
   ``1 / (1 + exp(-dropout_shape * (y - q)))`` (logistic, low values drop out more);
   ``dropout_percentile=None`` disables dropout;
4. **UMI counts** – ``Poisson(x)``, giving non-negative integers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["TechnicalNoise", "add_technical_noise"]


@dataclass(frozen=True)
class TechnicalNoise:
    """Parameters of :func:`add_technical_noise` (see the module docstring)."""

    outlier_prob: float = 0.01
    outlier_mu: float = 0.8
    outlier_sigma: float = 1.0
    umis_per_gene: float = 5.0
    library_sigma: float = 0.4
    dropout_shape: float = 6.5
    dropout_percentile: float | None = 45.0

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["dropout_percentile"] is None:
            d["dropout_percentile"] = -1.0  # h5ad cannot store None
        return d


def add_technical_noise(
    expr: np.ndarray,
    noise: TechnicalNoise,
    rng: np.random.Generator,
    *,
    chunk_size: int | None = None,
) -> tuple[np.ndarray | sp.csr_matrix, dict]:
    """Turn noise-free expression (``cells x genes``) into integer UMI counts.

    Returns the ``int32`` count matrix and a dict with the per-gene outlier factors and
    per-cell library sizes (before Poisson sampling).

    Parameters
    ----------
    expr
        Noise-free expression, cells x genes.
    noise
        The technical-noise model (:class:`TechnicalNoise`).
    rng
        Random generator of every draw.
    chunk_size
        ``None``: the whole matrix at once, dense ``int32`` counts. A number: cells are
        processed in chunks of this size and the counts returned as CSR, so the memory
        beyond ``expr`` and the result is a ``float32`` copy for the dropout percentile
        (which stays exact, over the whole matrix) and one chunk; the same model, but the
        random draws come in another order than without chunks.
    """
    if chunk_size is not None and chunk_size < expr.shape[0]:
        return _add_noise_chunked(expr, noise, rng, int(chunk_size))
    n_cells, n_genes = expr.shape
    x = np.asarray(expr, dtype=np.float64)
    factor = np.ones(n_genes)
    is_out = rng.random(n_genes) < noise.outlier_prob
    factor[is_out] = rng.lognormal(noise.outlier_mu, noise.outlier_sigma, int(is_out.sum()))
    x = x * factor
    lib = rng.lognormal(np.log(noise.umis_per_gene * n_genes), noise.library_sigma, n_cells)
    totals = x.sum(axis=1)
    scale = np.divide(lib, totals, out=np.zeros(n_cells), where=totals > 0)
    x *= scale[:, None]
    if noise.dropout_percentile is not None:
        y = np.log1p(x)
        q = np.percentile(y, noise.dropout_percentile)
        keep_p = 1.0 / (1.0 + np.exp(-noise.dropout_shape * (y - q)))
        x *= rng.random(x.shape) < keep_p
    counts = rng.poisson(x).astype(np.int32)
    return counts, {"outlier_factor": factor, "library_size": lib}


def _add_noise_chunked(
    expr: np.ndarray, noise: TechnicalNoise, rng: np.random.Generator, chunk: int
) -> tuple[sp.csr_matrix, dict]:
    """:func:`add_technical_noise` chunk by chunk (same steps, CSR counts)."""
    n_cells, n_genes = expr.shape
    factor = np.ones(n_genes)
    is_out = rng.random(n_genes) < noise.outlier_prob
    factor[is_out] = rng.lognormal(noise.outlier_mu, noise.outlier_sigma, int(is_out.sum()))
    lib = rng.lognormal(np.log(noise.umis_per_gene * n_genes), noise.library_sigma, n_cells)
    starts = range(0, n_cells, chunk)

    def scaled(lo: int) -> np.ndarray:
        x = np.asarray(expr[lo : lo + chunk], dtype=np.float64) * factor
        totals = x.sum(axis=1)
        part = lib[lo : lo + chunk]
        x *= np.divide(part, totals, out=np.zeros(len(part)), where=totals > 0)[:, None]
        return x

    q = None
    if noise.dropout_percentile is not None:
        y = np.empty((n_cells, n_genes), dtype=np.float32)
        for lo in starts:
            y[lo : lo + chunk] = np.log1p(scaled(lo))
        q = _percentile_in_place(y.reshape(-1), noise.dropout_percentile)
        del y
    blocks = []
    for lo in starts:
        x = scaled(lo)
        if q is not None:
            keep_p = 1.0 / (1.0 + np.exp(-noise.dropout_shape * (np.log1p(x) - q)))
            x *= rng.random(x.shape) < keep_p
        blocks.append(sp.csr_matrix(rng.poisson(x).astype(np.int32)))
    counts = sp.vstack(blocks, format="csr", dtype=np.int32)
    return counts, {"outlier_factor": factor, "library_size": lib}


def _percentile_in_place(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) by partitioning ``values`` in
    place, without the sorted copy ``np.percentile`` makes."""
    pos = q / 100.0 * (values.size - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, values.size - 1)
    values.partition([lo, hi])
    a, b = float(values[lo]), float(values[hi])
    return a + (pos - lo) * (b - a)
