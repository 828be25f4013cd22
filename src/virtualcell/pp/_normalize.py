"""Normalisation, log transform, highly variable genes and the standard chain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import anndata as ad

from .._errors import ValidationError, VirtualCellError
from .._utils import doc_params
from ._qc import qc
from ._record import has_step, is_integer_valued, looks_logged, record_step, start_counts_step

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["highly_variable", "log1p", "normalize", "standard"]


@doc_params
def normalize(adata: ad.AnnData, *, target_sum: float = 1e4) -> dict:
    """Scale each cell to ``target_sum`` total counts (``sc.pp.normalize_total``), in place.

    Integer-valued ``X`` is copied to ``layers["counts"]`` first.

    Returns
    -------
    dict
        The step record appended to ``uns["vc"]["preprocessing"]``.

    Raises
    ------
    ValidationError
        Negative / non-finite values, data already log-transformed, or
        ``target_sum <= 0``.
    """
    import scanpy as sc

    if not target_sum > 0:
        raise ValidationError(f"normalize: target_sum must be > 0, got {target_sum}")
    before, counts_kept = start_counts_step(
        adata, "normalize", if_logged="normalise the raw counts (layers['counts']) instead"
    )
    sc.pp.normalize_total(adata, target_sum=target_sum)
    return record_step(
        adata, "normalize", {"target_sum": float(target_sum), "counts_layer": counts_kept}, before
    )


@doc_params
def log1p(adata: ad.AnnData) -> dict:
    """Natural ``log(1 + x)`` of ``X`` (``sc.pp.log1p``), in place.

    Returns
    -------
    dict
        The step record appended to ``uns["vc"]["preprocessing"]``.

    Raises
    ------
    ValidationError
        Negative / non-finite values, or data that is already logged (a recorded
        ``log1p`` step, scanpy's ``uns['log1p']``, or non-integer values whose maximum
        is at most ``log1p(1e6)``).
    """
    import scanpy as sc

    before, counts_kept = start_counts_step(adata, "log1p", if_logged="refusing to log it twice")
    sc.pp.log1p(adata)
    return record_step(adata, "log1p", {"base": "e", "counts_layer": counts_kept}, before)


@doc_params
def highly_variable(
    adata: ad.AnnData,
    *,
    n_top_genes: int = 2000,
    flavor: Literal["seurat", "cell_ranger", "seurat_v3"] = "seurat",
    batch_key: str | None = None,
    subset: bool = False,
) -> dict:
    """Flag highly variable genes in ``var["highly_variable"]`` (``sc.pp.highly_variable_genes``).

    ``seurat`` and ``cell_ranger`` need log-transformed ``X``; ``seurat_v3`` needs counts
    and reads ``layers["counts"]`` (or integer-valued ``X``). ``n_top_genes`` larger than
    the number of genes is reduced to it. ``subset=True`` keeps only those genes.

    Parameters
    ----------
    flavor
        ``seurat`` / ``cell_ranger`` (log-transformed ``X``) or ``seurat_v3`` (counts).

    Returns
    -------
    dict
        The step record appended to ``uns["vc"]["preprocessing"]``.

    Raises
    ------
    ValidationError
        The data do not suit the flavor, or ``batch_key`` is not an obs column.
    """
    import scanpy as sc

    if flavor not in {"seurat", "cell_ranger", "seurat_v3"}:
        raise ValidationError(f"highly_variable: unknown flavor {flavor!r}")
    if batch_key is not None and batch_key not in adata.obs.columns:
        raise ValidationError(f"highly_variable: obs has no column {batch_key!r}")
    n_top = int(min(n_top_genes, adata.n_vars))
    layer = None
    if flavor == "seurat_v3":
        import importlib.util

        if importlib.util.find_spec("skmisc") is None:
            raise VirtualCellError(
                "highly_variable: flavor 'seurat_v3' needs the scikit-misc package "
                "(`pip install scikit-misc`); or use flavor='seurat' on log-normalised data"
            )
        if "counts" in adata.layers:
            layer = "counts"
        elif not is_integer_valued(adata.X):
            raise ValidationError(
                "highly_variable: flavor 'seurat_v3' needs raw counts (layers['counts'] or "
                "integer X)"
            )
    elif not looks_logged(adata):
        raise ValidationError(
            f"highly_variable: flavor {flavor!r} expects log-transformed data; run "
            "vc.pp.normalize and vc.pp.log1p first, or use flavor='seurat_v3' on counts"
        )
    before = adata.shape
    if flavor != "seurat_v3" and batch_key is None:
        n_top = min(n_top, _n_rankable(adata, flavor))
    sc.pp.highly_variable_genes(
        adata, n_top_genes=n_top, flavor=flavor, batch_key=batch_key, layer=layer, subset=subset
    )
    params = {
        "n_top_genes": n_top,
        "flavor": flavor,
        "batch_key": batch_key,
        "subset": subset,
        "layer": layer,
        "n_highly_variable": int(adata.var["highly_variable"].sum()),
    }
    return record_step(adata, "highly_variable", params, before)


@doc_params
def standard(
    adata: ad.AnnData,
    *,
    min_genes: int = 200,
    min_cells: int = 3,
    max_pct_mito: float | None = 20.0,
    target_sum: float = 1e4,
    n_top_genes: int = 2000,
    flavor: Literal["seurat", "cell_ranger", "seurat_v3"] = "seurat",
    subset: bool = False,
) -> list[dict]:
    """The usual chain, in place: :func:`qc`, :func:`normalize`, :func:`log1p`,
    :func:`highly_variable`.

    Parameters
    ----------
    min_genes
        Cells expressing fewer genes are removed (:func:`qc`).
    min_cells
        Genes expressed in fewer cells are removed (:func:`qc`).
    max_pct_mito
        Cells with a larger share of mitochondrial counts are removed (``None``: no
        limit; :func:`qc`).
    flavor
        ``seurat`` / ``cell_ranger`` (log-transformed ``X``) or ``seurat_v3`` (counts).

    Returns
    -------
    list of dict
        The four step records.

    Raises
    ------
    ValidationError
        As the individual steps (e.g. data already logged).
    """
    if has_step(adata, "log1p") or looks_logged(adata):
        raise ValidationError("standard: X is already log-transformed; start from raw counts")
    steps = [qc(adata, min_genes=min_genes, min_cells=min_cells, max_pct_mito=max_pct_mito)]
    steps.append(normalize(adata, target_sum=target_sum))
    steps.append(log1p(adata))
    steps.append(highly_variable(adata, n_top_genes=n_top_genes, flavor=flavor, subset=subset))
    return steps


def _n_rankable(adata: ad.AnnData, flavor: str) -> int:
    """How many genes scanpy's ``seurat`` / ``cell_ranger`` ranking can rank: those with a
    finite normalised dispersion (a constant gene, or one alone in its mean bin, has
    none). Asked for more, scanpy warns "`n_top_genes` > number of normalized
    dispersions" (nothing a user can act on) and returns these; capping ``n_top_genes``
    here selects the same genes without the warning."""
    import numpy as np
    import scanpy as sc

    stats = sc.pp.highly_variable_genes(adata, flavor=flavor, inplace=False)
    return max(1, int(np.isfinite(np.asarray(stats["dispersions_norm"], dtype=float)).sum()))


def variable_gene_mask(X, n_top: int, *, genes=None) -> np.ndarray:
    """Boolean mask of the ``n_top`` most variable genes of log-expression ``X`` (cells x
    genes, dense or sparse) by scanpy's ``seurat`` flavour, ranking only genes that vary.

    A gene that is constant over the cells has no dispersion; scanpy would rank fewer
    genes than asked for (a warning users cannot act on) or fail outright when no gene
    varies (all-zero data). Here ``n_top`` is capped by the number of genes scanpy can
    rank (:func:`_n_rankable`), and
    data in which no gene varies is refused with a :class:`~virtualcell.ValidationError`.

    Parameters
    ----------
    X
        Log-expression, cells x genes, dense or sparse.
    n_top
        How many genes to flag (capped by the genes that can be ranked).
    genes
        Gene names of the columns (used only to name the genes inside; default
        positions).
    """
    import numpy as np
    import scanpy as sc
    import scipy.sparse as sp

    n_cells, n_genes = X.shape
    mean = np.asarray(X.mean(0), dtype=float).ravel()
    sq = X.multiply(X) if sp.issparse(X) else np.square(np.asarray(X, dtype=float))
    varies = (np.asarray(sq.mean(0), dtype=float).ravel() - mean**2) > 1e-12
    if not varies.any():
        raise ValidationError(
            f"no gene varies across the {n_cells} cells (all-zero or constant expression): "
            "there are no variable genes to select"
        )
    index = np.flatnonzero(varies)
    tmp = ad.AnnData(sp.csr_matrix(X[:, index], dtype=np.float32) if sp.issparse(X) else
                     np.asarray(X, dtype=np.float32)[:, index])  # fmt: skip
    tmp.var_names = [str(i) for i in index] if genes is None else [str(genes[i]) for i in index]
    tmp.var_names_make_unique()
    n_top = min(int(n_top), len(index), _n_rankable(tmp, "seurat"))
    sc.pp.highly_variable_genes(tmp, n_top_genes=n_top, flavor="seurat")
    keep = np.zeros(n_genes, dtype=bool)
    keep[index[np.asarray(tmp.var["highly_variable"])]] = True
    return keep
