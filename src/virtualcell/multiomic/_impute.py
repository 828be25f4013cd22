"""Protein levels imputed from RNA: ``impute_protein(mdata_train, rna_query, method=...)``.

Every method learns from paired training cells (RNA counts + protein counts) and predicts
the protein panel of query cells from their RNA counts alone, on the CLR scale
(``log1p(counts)`` minus the cell's mean over the panel; :mod:`._modality`). Methods:

* ``mean`` (baseline) — each protein's mean over the training cells, for every query cell;
* ``own_mrna`` (baseline) — each protein from its own coding gene's mRNA
  (``protein.var["gene"]``): a least-squares line ``a + b * log-normalised mRNA`` fitted on
  the training cells (the training mean where the gene is not measured);
* ``knn`` — RNA log-normalised and z-scored with the training cells' mean and sd, PCA
  fitted on the training cells, each query cell's ``k`` nearest training cells in that
  space; the mean of their protein levels;
* ``ridge`` — ridge regression from every z-scored log-normalised gene to each protein,
  the penalty chosen by leave-one-out cross-validation on the training cells
  (scikit-learn ``RidgeCV``, penalties ``10^-1 .. 10^4``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import Entry, Registry, check_number
from ._modality import normalized

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad
    import mudata as md

__all__ = ["IMPUTE_METHODS", "impute_protein"]

ImputeFn = Callable[..., np.ndarray]


def _lognorm(x: Any) -> np.ndarray:
    return normalized(x, "rna", scale=False)


def _standardize(train: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (train - mu) / sd, (query - mu) / sd


def _mean(rna_train, prot_train, rna_query, **_: Any) -> np.ndarray:
    """Each protein's training mean."""
    return np.tile(prot_train.mean(axis=0), (rna_query.shape[0], 1))


def _own_mrna(rna_train, prot_train, rna_query, *, gene_index, **_: Any) -> np.ndarray:
    """Each protein from its own coding gene's mRNA (a fitted line)."""
    out = _mean(rna_train, prot_train, rna_query)
    for p, g in enumerate(gene_index):
        if g < 0:
            continue
        x, y = rna_train[:, g], prot_train[:, p]
        if x.std() == 0:
            continue
        b = np.cov(x, y, bias=True)[0, 1] / x.var()
        out[:, p] = y.mean() + b * (rna_query[:, g] - x.mean())
    return out


def _knn(rna_train, prot_train, rna_query, *, n_comps=20, k=15, seed=0, **_: Any) -> np.ndarray:
    """Mean protein of the nearest training cells in RNA PCA space."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    tr, qu = _standardize(rna_train, rna_query)
    nc = max(1, min(int(n_comps), tr.shape[1] - 1, tr.shape[0] - 1))
    pca = PCA(n_components=nc, random_state=int(seed)).fit(tr)
    k = max(1, min(int(k), tr.shape[0]))
    idx = NearestNeighbors(n_neighbors=k).fit(pca.transform(tr)).kneighbors(pca.transform(qu))[1]
    return prot_train[idx].mean(axis=1)


def _ridge(rna_train, prot_train, rna_query, **_: Any) -> np.ndarray:
    """Ridge regression from all genes (penalty by leave-one-out CV)."""
    from sklearn.linear_model import RidgeCV

    tr, qu = _standardize(rna_train, rna_query)
    model = RidgeCV(alphas=np.logspace(-1, 4, 11)).fit(tr, prot_train)
    return model.predict(qu)


def _builtin() -> Iterator[Entry[ImputeFn]]:
    yield Entry("mean", _mean, "each protein's training mean", True)
    yield Entry("own_mrna", _own_mrna, "a line in the protein's own mRNA", True)
    yield Entry("knn", _knn, "mean protein of the nearest training cells in RNA PCA space")
    yield Entry("ridge", _ridge, "ridge regression from all genes")


#: ``name -> protein imputation method`` of :func:`impute_protein` (baselines flagged).
IMPUTE_METHODS: Registry[ImputeFn] = Registry("protein imputation method", builtins=_builtin)


def impute_protein(
    mdata_train: md.MuData,
    rna_query: ad.AnnData,
    *,
    method: str = "knn",
    rna: str = "rna",
    protein: str = "protein",
    n_comps: int = 20,
    k: int = 15,
    seed: int = 0,
) -> pd.DataFrame:
    """Predict the protein panel of query cells from their RNA.

    Parameters
    ----------
    mdata_train
        Paired training cells with an RNA and a protein modality (counts).
    rna_query
        RNA counts of the query cells; every training gene must be in its ``var_names``.
    method
        A name in :data:`IMPUTE_METHODS` (``mean``, ``own_mrna``, ``knn``, ``ridge``).
    rna, protein
        Names of the RNA and protein modalities in ``mdata_train``.
    n_comps
        PCA dimensions of ``knn``.
    k
        Neighbours of ``knn``.
    seed
        Random state of the PCA.

    Returns
    -------
    DataFrame
        Query cells x proteins, CLR scale (see the module docstring).
    """
    check_number("n_comps", n_comps, low=1, integer=True)
    check_number("k", k, low=1, integer=True)
    fn = IMPUTE_METHODS.get(method)
    for name in (rna, protein):
        if name not in mdata_train.mod:
            raise ValidationError(
                f"the training data has no modality {name!r}; it has: {', '.join(mdata_train.mod)}"
            )
    from ._modality import paired_matrices

    mats = paired_matrices(mdata_train, [rna, protein])
    genes = mdata_train.mod[rna].var_names
    missing = genes.difference(rna_query.var_names)
    if len(missing):
        raise ValidationError(
            f"the query RNA lacks {len(missing)} training gene(s) (e.g. {missing[0]!r})"
        )
    if rna_query.n_obs < 1:
        raise ValidationError("the query has no cells")
    rna_train = _lognorm(mats[rna])
    rna_q = _lognorm(rna_query[:, genes].X)
    prot_train = normalized(mats[protein], "protein", name=protein, scale=False)
    pvar = mdata_train.mod[protein].var
    gene_of = pvar["gene"].astype(str) if "gene" in pvar else pd.Series([""] * len(pvar))
    pos = {g: i for i, g in enumerate(genes)}
    gene_index = np.array([pos.get(g, -1) for g in gene_of])
    pred = fn(
        rna_train,
        prot_train,
        rna_q,
        gene_index=gene_index,
        n_comps=int(n_comps),
        k=int(k),
        seed=int(seed),
    )
    return pd.DataFrame(
        np.asarray(pred, dtype=np.float64),
        index=rna_query.obs_names,
        columns=mdata_train.mod[protein].var_names,
    )
