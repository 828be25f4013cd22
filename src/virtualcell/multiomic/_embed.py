"""Joint embeddings of paired modalities: ``embed(mdata, method=...)``.

Every method takes the same input — the chosen modalities' count matrices of the same
cells — and returns one ``(n_cells, n_dims)`` embedding. Baselines:

* ``rna_pca`` / ``protein_pca`` / ``atac_lsi`` — one modality alone (its normalisation and
  PCA / LSI, :mod:`._modality`);
* ``concat_pca`` — each modality normalised and z-scored, divided by the square root of
  its number of features (so each modality carries the same total variance), the blocks
  concatenated, then PCA.

Method:

* ``wnn`` — weighted nearest neighbours in the spirit of Seurat v4 (Hao et al. 2021).
  Each modality's embedding (the baselines') is L2-normalised per cell. For cell ``i`` and
  modality ``m``, the *within* prediction is the mean of ``m``-embeddings of its ``k``
  nearest neighbours in ``m``, the *cross* prediction the mean over its ``k`` nearest
  neighbours in the other modalities' spaces. Each prediction gets the affinity
  ``exp(-max(d - d1, 0) / (sigma - d1))`` (``d`` the distance of the cell to the
  prediction, ``d1`` to its nearest neighbour, ``sigma`` the mean distance to its ``k``
  neighbours in ``m``), their ratio ``s_im = within / (cross + 1e-4)`` and the weights
  ``w_im = softmax_m(s_im)``: a modality weighs more for a cell when its own neighbours
  predict the cell better than the other modality's neighbours do. The joint embedding
  concatenates ``sqrt(w_im) * z_im`` (so squared distances add the modalities' squared
  distances with the cell's weights). Seurat builds a weighted kNN graph instead of an
  embedding; here an embedding is kept so that every method is scored by the same
  clustering sweep (:func:`virtualcell.metrics.avg_bio`).
* ``joint_vae`` — a small joint variational autoencoder with count likelihoods per
  modality (negative binomial for RNA and protein, Poisson for ATAC), in the spirit of
  totalVI / MultiVI (:mod:`._vae`).
* ``factor_analysis`` — a joint linear factor model of the concatenated normalised
  modalities with a noise variance per feature (maximum likelihood, scikit-learn's
  ``FactorAnalysis``), the Gaussian core of MOFA (Argelaguet et al. 2018): unlike
  ``concat_pca`` it learns how noisy each feature (so each modality) is instead of fixing
  the modalities' weights; the embedding is the factors' posterior mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ValidationError
from .._utils import Entry, Registry, check_number
from ._modality import (
    modality_embedding,
    modality_kind,
    normalized,
    paired_matrices,
    pick_modalities,
)

if TYPE_CHECKING:  # pragma: no cover
    import mudata as md

__all__ = ["EMBED_METHODS", "embed", "modality_weights"]

EmbedFn = Callable[..., np.ndarray]


def _one(kind: str) -> EmbedFn:
    def fn(mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any) -> np.ndarray:
        names = [m for m in mats if modality_kind(m) == kind]
        if not names:
            raise ValidationError(
                f"method {kind}-only needs a {kind} modality; given: {', '.join(mats)}"
            )
        return modality_embedding(mats[names[0]], kind, n_comps=n_comps, seed=seed, name=names[0])

    return fn


def concat_pca(mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any) -> np.ndarray:
    """Each modality normalised and z-scored, scaled to equal total variance, concatenated, PCA."""
    from sklearn.decomposition import PCA

    blocks = []
    for name, x in mats.items():
        y = normalized(x, modality_kind(name), name=name)
        blocks.append(y / np.sqrt(y.shape[1]))
    y = np.hstack(blocks)
    k = max(1, min(int(n_comps), y.shape[1] - 1, y.shape[0] - 1))
    return PCA(n_components=k, random_state=int(seed)).fit_transform(y)


def factor_analysis(
    mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any
) -> np.ndarray:
    """MOFA-style factor analysis of the concatenated modalities (per-feature noise)."""
    from sklearn.decomposition import FactorAnalysis

    y = np.hstack([normalized(x, modality_kind(m), name=m) for m, x in mats.items()])
    k = max(1, min(int(n_comps), y.shape[1] - 1, y.shape[0] - 1))
    return FactorAnalysis(n_components=k, random_state=int(seed)).fit_transform(y)


def _unit_rows(z: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)


def modality_weights(embeddings: Sequence[np.ndarray], *, k: int = 20) -> np.ndarray:
    """WNN per-cell modality weights (module docstring) of L2-normalised embeddings.

    Parameters
    ----------
    embeddings
        One ``(n_cells, d_m)`` embedding per modality, rows L2-normalised.
    k
        Neighbours of each cell in each modality.

    Returns
    -------
    ``(n_cells, n_modalities)`` weights, each row summing to 1.
    """
    from sklearn.neighbors import NearestNeighbors

    n_mod = len(embeddings)
    n = embeddings[0].shape[0]
    if n_mod < 2:
        return np.ones((n, 1))
    k = max(1, min(int(k), n - 1))
    nbrs, sig, d1 = [], [], []
    for z in embeddings:
        dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
        nbrs.append(idx[:, 1:])
        d1.append(dist[:, 1])
        sig.append(dist[:, 1:].mean(axis=1))
    score = np.zeros((n, n_mod))
    for m, z in enumerate(embeddings):
        within = z[nbrs[m]].mean(axis=1)
        cross = np.mean([z[nbrs[o]].mean(axis=1) for o in range(n_mod) if o != m], axis=0)
        width = np.maximum(sig[m] - d1[m], 1e-8)

        def affinity(pred: np.ndarray, m: int = m, z: np.ndarray = z, width=width) -> np.ndarray:
            d = np.linalg.norm(z - pred, axis=1)
            return np.exp(-np.maximum(d - d1[m], 0.0) / width)

        score[:, m] = affinity(within) / (affinity(cross) + 1e-4)
    score -= score.max(axis=1, keepdims=True)
    w = np.exp(score)
    return w / w.sum(axis=1, keepdims=True)


def wnn(
    mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, k: int = 20, **_: Any
) -> np.ndarray:
    """Weighted-nearest-neighbour style embedding: per-cell modality weights (Hao et al. 2021)."""
    zs = [
        _unit_rows(modality_embedding(x, modality_kind(m), n_comps=n_comps, seed=seed, name=m))
        for m, x in mats.items()
    ]
    w = modality_weights(zs, k=k)
    return np.hstack([np.sqrt(w[:, [m]]) * z for m, z in enumerate(zs)])


def _joint_vae(mats: dict[str, Any], **options: Any) -> np.ndarray:
    """Joint VAE of the modalities (NB / Poisson likelihoods; :mod:`._vae`)."""
    from ._vae import joint_vae

    return joint_vae(mats, **options)


def _builtin() -> Iterator[Entry[EmbedFn]]:
    yield Entry("rna_pca", _one("rna"), "RNA alone: log-normalised, z-scored, PCA", True)
    yield Entry("protein_pca", _one("protein"), "protein alone: CLR, z-scored, PCA", True)
    yield Entry("atac_lsi", _one("atac"), "accessibility alone: TF-IDF + LSI", True)
    yield Entry(
        "concat_pca", concat_pca, "modalities normalised, equal weight, concatenated, PCA", True
    )
    yield Entry("wnn", wnn, "per-cell modality weights from neighbour prediction (WNN)")
    yield Entry("factor_analysis", factor_analysis, "joint factor analysis (MOFA-style)")
    yield Entry("joint_vae", _joint_vae, "joint VAE, NB / Poisson likelihoods (totalVI-style)")


#: ``name -> embedding method`` of :func:`embed` (baselines flagged).
EMBED_METHODS: Registry[EmbedFn] = Registry("multi-omic embedding method", builtins=_builtin)


def method_applicable(method: str, modalities: Sequence[str]) -> bool:
    """Whether ``method`` can run on these modalities (single-modality baselines need
    theirs; joint methods need two or more).

    Parameters
    ----------
    method
        A name in :data:`EMBED_METHODS`.
    modalities
        Modality names (``rna``, ``protein``, ``atac`` or their aliases).

    Returns
    -------
    ``True`` when the method can embed cells from these modalities.
    """
    kinds = {modality_kind(m) for m in modalities}
    single = {"rna_pca": "rna", "protein_pca": "protein", "atac_lsi": "atac"}
    if method in single:
        return single[method] in kinds
    return len(modalities) >= 2


def embed(
    mdata: md.MuData,
    *,
    method: str = "wnn",
    modalities: Sequence[str] | str | None = None,
    n_comps: int = 20,
    seed: int = 0,
    key_added: str | None = None,
    method_options: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Embed the cells of a MuData from one or more of its modalities.

    Parameters
    ----------
    mdata
        Paired modalities of the same cells (counts in each modality's ``X``).
    method
        A name in :data:`EMBED_METHODS` (``rna_pca``, ``protein_pca``, ``atac_lsi``,
        ``concat_pca``, ``wnn``).
    modalities
        Modality names to use (a list or ``"rna,protein"``); default every modality whose
        name is known (``rna``, ``protein``, ``atac`` and aliases).
    n_comps
        Dimensions of each PCA / LSI.
    seed
        Random state of the decompositions.
    key_added
        ``obsm`` key written on ``mdata`` (default ``X_<method>``).
    method_options
        Further options of the method (``wnn``: ``k``; ``joint_vae``: ``n_latent``,
        ``n_steps``, ``batch_size``, ``lr``).

    Returns
    -------
    The ``(n_cells, n_dims)`` embedding (also in ``mdata.obsm[key_added]``).
    """
    check_number("n_comps", n_comps, low=1, integer=True)
    fn = EMBED_METHODS.get(method)
    names = pick_modalities(mdata, modalities)
    mats = paired_matrices(mdata, names)
    if not method_applicable(method, names):
        raise ValidationError(
            f"method {method!r} cannot run on modalities {', '.join(names)}"
            + (" (a joint method needs two or more)" if len(names) < 2 else "")
        )
    options = dict(method_options or {})
    z = np.asarray(fn(mats, n_comps=int(n_comps), seed=int(seed), **options), dtype=np.float64)
    mdata.obsm[key_added or f"X_{method}"] = z
    return z
