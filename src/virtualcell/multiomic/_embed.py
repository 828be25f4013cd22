"""Joint embeddings of paired modalities: ``embed(mdata, method=...)``.

Every method takes the same input — the chosen modalities' count matrices of the same
cells — and returns one ``(n_cells, n_dims)`` embedding. Baselines:

* ``rna_pca`` / ``protein_pca`` / ``atac_lsi`` — one modality alone (its normalisation and
  PCA / LSI, :mod:`._modality`);
* ``concat_pca`` — each modality normalised and z-scored, divided by the square root of
  its number of features (so each modality carries the same total variance), the blocks
  concatenated, then PCA;
* ``cca`` — canonical correlation analysis of two modalities' embeddings (the
  baselines', whitened); the embedding is the mean of the two canonical variates.

Methods:

* ``wnn`` — weighted nearest neighbours as Seurat v4 defines them (Hao et al. 2021,
  ``FindModalityWeights``). Each modality's embedding (the baselines') is L2-normalised per
  cell. Each cell's ``k`` nearest neighbours in each modality include the cell itself. For
  cell ``i`` and modality ``m``, the *within* prediction is the mean of ``m``-embeddings
  of its neighbours in ``m``, the *cross* prediction the mean over its neighbours in the
  other modalities' spaces. Each prediction gets the affinity
  ``exp(-max(d - d1, 0) / w)`` (``d`` the distance of the cell to the prediction, ``d1``
  to its nearest other cell, ``w`` the bandwidth: the mean distance to the ``k`` cells
  with the smallest non-zero Jaccard similarity in the shared-neighbour graph, pruned
  below 1/15, minus ``d1``), the score ``s_im = within / (cross + 1e-4)`` clipped to
  [0, 200] and the weights ``w_im = softmax_m(s_im)``: a modality weighs more for a cell
  when its own neighbours predict the cell better than the other modality's neighbours
  do. The joint embedding concatenates ``sqrt(w_im) * z_im`` (so squared distances add
  the modalities' squared distances with the cell's weights). Seurat builds a weighted
  kNN graph instead of an embedding; here an embedding is kept so that every method is
  scored by the same clustering sweep (:func:`virtualcell.metrics.avg_bio`).
* ``joint_vae`` — a small joint variational autoencoder with count likelihoods per
  modality (negative binomial for RNA and protein, Poisson for ATAC), in the spirit of
  totalVI / MultiVI (:mod:`._vae`), trained with modality dropout so that its encoder
  also embeds one modality alone.
* ``factor_analysis`` — a joint linear factor model of the concatenated normalised
  modalities with a noise variance per feature (maximum likelihood, scikit-learn's
  ``FactorAnalysis``), the Gaussian core of MOFA (Argelaguet et al. 2018): unlike
  ``concat_pca`` it learns how noisy each feature (so each modality) is instead of fixing
  the modalities' weights; the embedding is the factors' posterior mean.

:func:`embed_per_modality` also returns each modality embedded *alone* into the method's
space (``PER_MODALITY``), what the modality-mixing scores compare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ValidationError
from .._utils import Entry, Registry, check_number, unit_rows
from ._modality import (
    modality_embedding,
    modality_kind,
    normalized,
    paired_matrices,
    pick_modalities,
)

if TYPE_CHECKING:  # pragma: no cover
    import mudata as md

__all__ = ["EMBED_METHODS", "PER_MODALITY", "embed", "embed_per_modality", "modality_weights"]

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


def _blocks(mats: dict[str, Any], *, equal_weight: bool) -> tuple[np.ndarray, dict[str, slice]]:
    """The normalised modalities side by side and each modality's columns."""
    blocks, slices, start = [], {}, 0
    for name, x in mats.items():
        y = normalized(x, modality_kind(name), name=name)
        blocks.append(y / np.sqrt(y.shape[1]) if equal_weight else y)
        slices[name] = slice(start, start + y.shape[1])
        start += y.shape[1]
    return np.hstack(blocks), slices


def concat_pca_parts(
    mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``concat_pca`` and each modality's block projected alone on its components (the
    joint embedding is their sum)."""
    from sklearn.decomposition import PCA

    y, slices = _blocks(mats, equal_weight=True)
    k = max(1, min(int(n_comps), y.shape[1] - 1, y.shape[0] - 1))
    pca = PCA(n_components=k, random_state=int(seed)).fit(y)
    parts = {m: (y[:, sl] - pca.mean_[sl]) @ pca.components_[:, sl].T for m, sl in slices.items()}
    return pca.transform(y), parts


def concat_pca(mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any) -> np.ndarray:
    """Each modality normalised and z-scored, scaled to equal total variance, concatenated, PCA."""
    return concat_pca_parts(mats, n_comps=n_comps, seed=seed)[0]


def factor_analysis_parts(
    mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``factor_analysis`` and each modality's posterior mean of the factors given that
    modality alone: ``(I + W_m Psi_m^-1 W_m^T)^-1 W_m Psi_m^-1 (y_m - mean_m)``."""
    from sklearn.decomposition import FactorAnalysis

    y, slices = _blocks(mats, equal_weight=False)
    k = max(1, min(int(n_comps), y.shape[1] - 1, y.shape[0] - 1))
    fa = FactorAnalysis(n_components=k, random_state=int(seed)).fit(y)
    parts = {}
    for m, sl in slices.items():
        w = fa.components_[:, sl]
        wpsi = w / fa.noise_variance_[sl]
        cov = np.linalg.inv(np.eye(k) + wpsi @ w.T)
        parts[m] = (y[:, sl] - fa.mean_[sl]) @ wpsi.T @ cov
    return fa.transform(y), parts


def factor_analysis(
    mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any
) -> np.ndarray:
    """MOFA-style factor analysis of the concatenated modalities (per-feature noise)."""
    return factor_analysis_parts(mats, n_comps=n_comps, seed=seed)[0]


def _whiten(z: np.ndarray) -> np.ndarray:
    """Centred, decorrelated, unit-variance coordinates of ``z`` (its left singular
    vectors times ``sqrt(n)``; directions of zero variance dropped)."""
    zc = z - z.mean(axis=0)
    u, s, _ = np.linalg.svd(zc, full_matrices=False)
    keep = s > s.max() * 1e-8 if s.size else s > 0
    return u[:, keep] * np.sqrt(z.shape[0])


def cca_parts(
    mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Canonical correlation analysis of two modalities' embeddings (the baselines' PCA /
    LSI): canonical variates ``u`` (first modality) and ``v`` (second), each of unit
    variance; the joint embedding is ``(u + v) / 2``."""
    names = list(mats)
    if len(names) != 2:
        raise ValidationError(f"cca needs exactly two modalities, given {len(names)}")
    w = [
        _whiten(modality_embedding(mats[m], modality_kind(m), n_comps=n_comps, seed=seed, name=m))
        for m in names
    ]
    n = w[0].shape[0]
    a, _, bt = np.linalg.svd(w[0].T @ w[1] / n, full_matrices=False)
    k = max(1, min(int(n_comps), a.shape[1]))
    u, v = w[0] @ a[:, :k], w[1] @ bt.T[:, :k]
    return (u + v) / 2.0, {names[0]: u, names[1]: v}


def cca(mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, **_: Any) -> np.ndarray:
    """CCA of two modalities; the mean of the two canonical variates."""
    return cca_parts(mats, n_comps=n_comps, seed=seed)[0]


def _snn_far_width(idx: np.ndarray, z: np.ndarray, d1: np.ndarray, prune: float) -> np.ndarray:
    """Seurat's kernel bandwidth: for each cell, the cells with the ``k`` smallest non-zero
    (after pruning) Jaccard similarities of their neighbour sets (all cells tied with the
    ``k``-th kept), the mean distance to the ``k`` farthest of them, minus the distance to
    the nearest neighbour (rows processed in chunks)."""
    import scipy.sparse as sp

    n, k = idx.shape
    a = sp.csr_matrix((np.ones(n * k), idx.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    width = np.empty(n)
    for start in range(0, n, 4096):
        stop = min(n, start + 4096)
        shared = (a[start:stop] @ a.T).tocsr()
        for r in range(stop - start):
            lo, hi = shared.indptr[r], shared.indptr[r + 1]
            cols, s = shared.indices[lo:hi], shared.data[lo:hi]
            jac = s / (2 * k - s)
            ok = jac >= prune
            cols, jac = cols[ok], jac[ok]
            if len(jac) > k:  # the k smallest, all cells tied with the k-th kept
                cut = np.partition(jac, k - 1)[k - 1]
                cols = cols[jac <= cut]
            d = np.linalg.norm(z[cols] - z[start + r], axis=1)
            width[start + r] = np.sort(d)[-k:].mean()  # the k farthest of them
    return np.maximum(width - d1, 1e-8)


def modality_weights(
    embeddings: Sequence[np.ndarray], *, k: int = 20, prune: float = 1 / 15
) -> np.ndarray:
    """WNN per-cell modality weights (module docstring) of L2-normalised embeddings.

    Parameters
    ----------
    embeddings
        One ``(n_cells, d_m)`` embedding per modality, rows L2-normalised.
    k
        Neighbours of each cell in each modality (the cell itself counted, as Seurat).
    prune
        Jaccard similarities below this are dropped from the shared-neighbour graph that
        sets the kernel bandwidth (Seurat's ``prune.SNN``).

    Returns
    -------
    ``(n_cells, n_modalities)`` weights, each row summing to 1.
    """
    from sklearn.neighbors import NearestNeighbors

    n_mod = len(embeddings)
    n = embeddings[0].shape[0]
    if n_mod < 2:
        return np.ones((n, 1))
    k = max(2, min(int(k), n))
    nbrs, width, d1 = [], [], []
    for z in embeddings:
        dist, idx = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
        self_first = idx[:, 0] == np.arange(n)  # duplicates may list another cell first
        idx[~self_first, 0] = np.arange(n)[~self_first]
        nbrs.append(idx)
        d1.append(dist[:, 1])
        width.append(_snn_far_width(idx, z, dist[:, 1], prune))
    score = np.zeros((n, n_mod))
    for m, z in enumerate(embeddings):
        within = z[nbrs[m]].mean(axis=1)
        cross = np.mean([z[nbrs[o]].mean(axis=1) for o in range(n_mod) if o != m], axis=0)

        def affinity(pred: np.ndarray, m: int = m, z: np.ndarray = z) -> np.ndarray:
            d = np.linalg.norm(z - pred, axis=1)
            return np.exp(-np.maximum(d - d1[m], 0.0) / width[m])

        score[:, m] = np.clip(affinity(within) / (affinity(cross) + 1e-4), 0.0, 200.0)
    score -= score.max(axis=1, keepdims=True)
    w = np.exp(score)
    return w / w.sum(axis=1, keepdims=True)


def wnn(
    mats: dict[str, Any], *, n_comps: int = 20, seed: int = 0, k: int = 20, **_: Any
) -> np.ndarray:
    """Weighted-nearest-neighbour style embedding: per-cell modality weights (Hao et al. 2021)."""
    zs = [
        unit_rows(modality_embedding(x, modality_kind(m), n_comps=n_comps, seed=seed, name=m))
        for m, x in mats.items()
    ]
    w = modality_weights(zs, k=k)
    return np.hstack([np.sqrt(w[:, [m]]) * z for m, z in enumerate(zs)])


def _joint_vae_parts(
    mats: dict[str, Any], **options: Any
) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
    """Joint VAE posterior mean and each modality's posterior mean alone (:mod:`._vae`)."""
    from ._vae import joint_vae

    return joint_vae(mats, per_modality=True, **options)


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
    yield Entry("cca", cca, "canonical correlation of the two modalities' PCA / LSI", True)
    yield Entry("wnn", wnn, "per-cell modality weights from neighbour prediction (WNN)")
    yield Entry("factor_analysis", factor_analysis, "joint factor analysis (MOFA-style)")
    yield Entry("joint_vae", _joint_vae, "joint VAE, NB / Poisson likelihoods (totalVI-style)")


#: ``name -> embedding method`` of :func:`embed` (baselines flagged).
EMBED_METHODS: Registry[EmbedFn] = Registry("multi-omic embedding method", builtins=_builtin)

PartsFn = Callable[..., tuple[np.ndarray, "dict[str, np.ndarray] | None"]]

#: Methods that can embed each modality alone into their shared space: ``name ->``
#: function returning ``(joint embedding, {modality: embedding of that modality alone})``
#: (the dict ``None`` when a fit cannot, e.g. a VAE trained without modality dropout).
#: The others (single-modality baselines; ``wnn``, whose blocks are separate coordinates)
#: have no modality-mixing score.
PER_MODALITY: dict[str, PartsFn] = {
    "concat_pca": concat_pca_parts,
    "factor_analysis": factor_analysis_parts,
    "cca": cca_parts,
    "joint_vae": _joint_vae_parts,
}


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
    if method == "cca":
        return len(modalities) == 2
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
    fn, mats = _prepare(mdata, method, modalities, n_comps)
    options = dict(method_options or {})
    z = np.asarray(fn(mats, n_comps=int(n_comps), seed=int(seed), **options), dtype=np.float64)
    mdata.obsm[key_added or f"X_{method}"] = z
    return z


def _prepare(
    mdata: md.MuData, method: str, modalities: Sequence[str] | str | None, n_comps: int
) -> tuple[EmbedFn, dict[str, Any]]:
    check_number("n_comps", n_comps, low=1, integer=True)
    fn = EMBED_METHODS.get(method)
    names = pick_modalities(mdata, modalities)
    mats = paired_matrices(mdata, names)
    if not method_applicable(method, names):
        raise ValidationError(
            f"method {method!r} cannot run on modalities {', '.join(names)}"
            + (" (a joint method needs two or more)" if len(names) < 2 else "")
            + (" (cca needs exactly two)" if method == "cca" else "")
        )
    return fn, mats


def embed_per_modality(
    mdata: md.MuData,
    *,
    method: str,
    modalities: Sequence[str] | str | None = None,
    n_comps: int = 20,
    seed: int = 0,
    method_options: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
    """The joint embedding and each modality embedded *alone* into the same space.

    What a modality-mixing score compares (``vc.metrics.foscttm``,
    ``vc.metrics.modality_asw``): ``concat_pca`` projects each modality's block on the
    joint components; ``factor_analysis`` and ``cca`` give each modality's factors /
    canonical variates; ``joint_vae`` encodes each modality with the others masked (it is
    trained with modality dropout for this).

    Parameters
    ----------
    mdata, method, modalities, n_comps, seed, method_options
        As :func:`embed` (one fit; the joint embedding equals :func:`embed`'s).

    Returns
    -------
    ``(z, parts)``: the ``(n_cells, n_dims)`` joint embedding and ``{modality:
    (n_cells, n_dims)}``, or ``parts = None`` when the method cannot embed one modality
    alone (single-modality baselines, ``wnn``, a ``joint_vae`` with
    ``modality_dropout=0``): its mixing is "not applicable", never a number.
    """
    fn, mats = _prepare(mdata, method, modalities, n_comps)
    options = dict(method_options or {})
    parts_fn = PER_MODALITY.get(method)
    if parts_fn is None or len(mats) < 2:
        z = fn(mats, n_comps=int(n_comps), seed=int(seed), **options)
        return np.asarray(z, dtype=np.float64), None
    z, parts = parts_fn(mats, n_comps=int(n_comps), seed=int(seed), **options)
    z = np.asarray(z, dtype=np.float64)
    if parts is None:
        return z, None
    return z, {m: np.asarray(p, dtype=np.float64) for m, p in parts.items()}
