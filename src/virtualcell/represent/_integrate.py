"""``integrate``: remove batch effects from an embedding; ``score_integration``: scIB before/after.

Methods (:data:`INTEGRATION_METHODS`):

* ``none`` (baseline) — the PCA embedding, uncorrected;
* ``center`` (baseline) — the PCA embedding centred within each batch (a linear shift);
* ``harmony`` — Harmony (Korsunsky et al. 2019, ``harmonypy``) on the PCA embedding;
* ``cvae`` — a batch-conditioned variational autoencoder on the HVGs (:mod:`._cvae`),
  the model-based correction that always runs;
* ``scvi`` — scVI with the batch as covariate (optional peer ``scvi-tools``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError, VirtualCellError
from .._utils import Entry, Registry, doc_params
from ._cluster import embedding_of
from ._features import HVGScaler, labels_of

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["INTEGRATION_METHODS", "integrate", "list_integrations", "score_integration"]


def _none(adata: AnnData, x: np.ndarray, batches: np.ndarray, **_: Any) -> np.ndarray:
    """Uncorrected embedding (baseline)."""
    return x


def _center(adata: AnnData, x: np.ndarray, batches: np.ndarray, **_: Any) -> np.ndarray:
    """Embedding centred within each batch (baseline)."""
    out = x.copy()
    for b in np.unique(batches):
        m = batches == b
        out[m] -= out[m].mean(0)
    return out


def _harmony(
    adata: AnnData,
    x: np.ndarray,
    batches: np.ndarray,
    *,
    seed: int = 0,
    theta: float = 2.0,
    sigma: float = 0.1,
    lamb: float | None = None,
    nclust: int | None = None,
    **_: Any,
) -> np.ndarray:
    """Harmony (harmonypy) on the embedding; ``theta``, ``sigma``, ``lamb``, ``nclust``
    are harmonypy's options (its defaults)."""
    try:
        import harmonypy
    except ImportError:
        raise VirtualCellError(
            "harmony integration needs harmonypy: pip install 'virtualcell[represent]'"
        ) from None
    meta = pd.DataFrame({"batch": batches.astype(str)})
    kw: dict[str, Any] = {
        "theta": theta,
        "sigma": sigma,
        "lamb": lamb,
        "nclust": nclust,
        "random_state": seed,
    }
    import inspect

    if "verbose" in inspect.signature(harmonypy.run_harmony).parameters:
        kw["verbose"] = False
    z = np.asarray(harmonypy.run_harmony(x, meta, "batch", **kw).Z_corr)
    return (z if z.shape[0] == x.shape[0] else z.T).astype(np.float32)


def _cvae(
    adata: AnnData,
    x: np.ndarray,
    batches: np.ndarray,
    *,
    seed: int = 0,
    layer: str | None = None,
    n_hvg: int = 2000,
    **options: Any,
) -> np.ndarray:
    """Batch-conditioned VAE on the HVGs (model-based correction)."""
    from ._cvae import CVAEConfig, fit_cvae

    feats = HVGScaler(n_hvg).fit(adata, layer=layer).transform(adata, layer=layer)
    _, codes = np.unique(batches, return_inverse=True)
    try:
        cfg = CVAEConfig(seed=seed, **options)
    except TypeError as err:
        raise ValidationError(f"cvae: {err}") from None
    return fit_cvae(feats, codes, cfg)


def _scvi(
    adata: AnnData,
    x: np.ndarray,
    batches: np.ndarray,
    *,
    seed: int = 0,
    layer: str | None = None,
    n_latent: int = 10,
    max_epochs: int = 100,
    **_: Any,
) -> np.ndarray:
    """scVI with the batch as covariate (optional peer)."""
    try:
        import scvi
    except ImportError:
        raise VirtualCellError(
            "scVI integration needs scvi-tools: pip install 'virtualcell[peers]'"
        ) from None
    data = adata.copy()
    data.obs["_vc_batch"] = batches.astype(str)
    scvi.settings.seed = seed
    scvi.model.SCVI.setup_anndata(data, layer=layer, batch_key="_vc_batch")
    model = scvi.model.SCVI(data, n_latent=n_latent)
    model.train(max_epochs=max_epochs)
    return np.asarray(model.get_latent_representation(), dtype=np.float32)


#: An integration method: ``f(adata, pca embedding, batch labels, *, seed=..., **options)
#: -> integrated embedding`` (cells x dims).
IntegrationFn = Callable[..., np.ndarray]


def _builtins() -> list[Entry[IntegrationFn]]:
    return [
        Entry("none", _none, "uncorrected PCA embedding (baseline)", baseline=True),
        Entry(
            "center", _center, "PCA embedding centred within each batch (baseline)", baseline=True
        ),
        Entry("harmony", _harmony, "Harmony on the PCA embedding (harmonypy)"),
        Entry("cvae", _cvae, "batch-conditioned variational autoencoder on HVGs"),
        Entry("scvi", _scvi, "scVI with batch covariate (optional peer)", tags=("peer",)),
    ]


#: Integration methods (``vcell integrate --list-methods``).
INTEGRATION_METHODS: Registry[IntegrationFn] = Registry("integration method", _builtins)


def list_integrations() -> dict[str, str]:
    """``{name: description}`` of the integration methods."""
    return INTEGRATION_METHODS.describe()


def integrate(
    adata: AnnData,
    *,
    batch_key: str,
    method: str = "harmony",
    use_rep: str | None = None,
    layer: str | None = None,
    key_added: str | None = None,
    seed: int = 0,
    **options: Any,
) -> np.ndarray:
    """Batch-corrected embedding of ``adata``, written to ``obsm[key_added]``.

    Parameters
    ----------
    adata
        Cells of several batches.
    batch_key
        ``obs`` column with the batch of each cell.
    method
        ``none``, ``center``, ``harmony``, ``cvae`` or ``scvi`` (:func:`list_integrations`).
    use_rep
        ``obsm`` embedding to correct (``harmony``/``center``/``none``); ``None``: PCA on
        HVGs (``obsm["X_vc_pca"]``). ``cvae``/``scvi`` work on the expression.
    layer
        Expression layer (``"raw"`` = ``adata.raw``).
    key_added
        ``obsm`` key (default ``X_vc_<method>``).
    seed
        Random seed.
    **options
        Method options (``theta`` for harmony; ``epochs``, ``n_latent``, ``beta`` for cvae).

    Returns
    -------
    numpy.ndarray
        The corrected embedding ``(n_obs, dim)``.
    """
    fn = INTEGRATION_METHODS.get(method)
    batches = labels_of(adata, batch_key)
    if len(np.unique(batches)) < 2:
        raise ValidationError(f"obs[{batch_key!r}] has a single batch: nothing to integrate")
    x, _ = embedding_of(adata, use_rep, layer=layer, seed=seed)
    z = np.asarray(fn(adata, x, batches, seed=seed, layer=layer, **options), dtype=np.float32)
    key = key_added or f"X_vc_{method}"
    adata.obsm[key] = z
    adata.uns.setdefault("vc", {}).setdefault("integrate", {})[key] = {
        "method": method,
        "batch_key": batch_key,
        "use_rep": use_rep or "X_vc_pca",
        "seed": int(seed),
    }
    return z


@doc_params
def score_integration(
    adata: AnnData,
    *,
    label_key: str | None,
    batch_key: str,
    keys: Sequence[str],
    n_neighbors: int = 15,
    seed: int = 0,
) -> pd.DataFrame:
    """scIB metrics of several embeddings (``obsm`` keys) side by side.

    With ``label_key``: :func:`~virtualcell.metrics.integration_scores` (biology and
    batch). Without labels (unlabelled data): the label-free batch metrics only —
    ``ilisi`` and ``kbet`` over all cells (no per-type stratification).

    Parameters
    ----------
    keys
        ``obsm`` keys of the embeddings to score (e.g. ``X_pca`` and an integrated one).
    n_neighbors
        Neighbours of the kNN graph the graph metrics use.
    """
    from ..metrics import ilisi, integration_scores, kbet

    batches = labels_of(adata, batch_key)
    labels = labels_of(adata, label_key) if label_key is not None else None
    rows = {}
    for key in keys:
        if key not in adata.obsm:
            raise ValidationError(f"{key!r} not in adata.obsm ({sorted(adata.obsm)})")
        x = np.asarray(adata.obsm[key], dtype=np.float64)
        if labels is not None:
            rows[key] = integration_scores(
                labels, x, batches=batches, n_neighbors=n_neighbors, seed=seed
            )
        else:
            rows[key] = {"ilisi": ilisi(batches, x), "kbet": kbet(batches, x)}
    table = pd.DataFrame(rows).T
    table.index.name = "embedding"
    return table
