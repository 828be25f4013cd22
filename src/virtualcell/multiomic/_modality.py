"""Per-modality normalisation and embedding, shared by every multi-omic method.

Each modality kind has one normalisation (the field's standard one) and one embedding:

* ``rna`` — counts scaled to 10,000 per cell, ``log1p``, each gene z-scored (clipped at
  10); embedding: PCA.
* ``protein`` — centred log-ratio per cell (``log1p(x)`` minus the cell's mean over the
  panel, as in Seurat's CLR for ADTs), each protein z-scored; embedding: PCA.
* ``atac`` — TF-IDF (``log1p(1e4 * tf * idf)``, ``tf`` = reads / cell total,
  ``idf`` = cells / cells with the peak), each peak z-scored; embedding: LSI (truncated
  SVD of the TF-IDF matrix without z-scoring, first component dropped because it tracks
  sequencing depth, as in Signac).

The modality's kind comes from its name in the MuData (``rna``/``gex``; ``protein``/
``prot``/``adt``; ``atac``/``peaks``/``chromatin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .._errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    import mudata as md

__all__ = [
    "KINDS",
    "modality_embedding",
    "modality_kind",
    "normalized",
    "paired_matrices",
    "pick_modalities",
]

#: Modality name (lower case) -> kind.
KINDS: dict[str, str] = {
    "rna": "rna",
    "gex": "rna",
    "protein": "protein",
    "prot": "protein",
    "adt": "protein",
    "atac": "atac",
    "peaks": "atac",
    "chromatin": "atac",
}


def modality_kind(name: str) -> str:
    """The kind (``rna``, ``protein``, ``atac``) of a modality called ``name``.

    Parameters
    ----------
    name
        A modality name (case-insensitive; see :data:`KINDS` for the aliases).

    Returns
    -------
    The kind; an unknown name raises :class:`~virtualcell.ValidationError`.
    """
    kind = KINDS.get(str(name).lower())
    if kind is None:
        raise ValidationError(
            f"unknown modality {name!r}: name it one of {', '.join(sorted(KINDS))}"
        )
    return kind


def pick_modalities(mdata: md.MuData, modalities: Any = None) -> list[str]:
    """The modalities to use: ``modalities`` (checked against ``mdata``) or every known
    modality of ``mdata``; at least one."""
    present = list(mdata.mod)
    if modalities is None:
        chosen = [m for m in present if str(m).lower() in KINDS]
    else:
        if isinstance(modalities, str):
            modalities = [m.strip() for m in modalities.split(",") if m.strip()]
        chosen = list(modalities)
        missing = [m for m in chosen if m not in present]
        if missing:
            raise ValidationError(
                f"modality {missing[0]!r} is not in the data; it has: {', '.join(present)}"
            )
    if not chosen:
        raise ValidationError(
            f"no usable modality (names {', '.join(sorted(KINDS))}); the data has: "
            f"{', '.join(present) or '(none)'}"
        )
    for m in chosen:
        modality_kind(m)
    return chosen


def paired_matrices(mdata: md.MuData, names: list[str]) -> dict[str, Any]:
    """The ``X`` of each modality in ``names``, rows in the order of ``mdata.obs_names``;
    every modality must hold exactly the MuData's cells (paired measurements)."""
    out = {}
    for m in names:
        mod = mdata.mod[m]
        if mod.obs_names.equals(mdata.obs_names):
            out[m] = mod.X
            continue
        if mod.n_obs != mdata.n_obs or not mod.obs_names.isin(mdata.obs_names).all():
            raise ValidationError(
                f"modality {m!r} does not hold the same cells as the MuData ({mod.n_obs} vs "
                f"{mdata.n_obs} cells); multi-omic methods need paired measurements"
            )
        out[m] = mod[mdata.obs_names].X
    return out


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)


def _zscore(x: np.ndarray, clip: float = 10.0) -> np.ndarray:
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    x = np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)
    return np.clip(x, -clip, clip)


def _check_counts(x: np.ndarray, name: str) -> None:
    if not np.isfinite(x).all():
        raise ValidationError(f"modality {name!r} holds NaN or infinite values")
    if (x < 0).any():
        raise ValidationError(f"modality {name!r} holds negative values; expected counts")


def _tfidf(x: np.ndarray) -> np.ndarray:
    tf = x / np.maximum(x.sum(axis=1, keepdims=True), 1.0)
    idf = x.shape[0] / np.maximum((x > 0).sum(axis=0), 1.0)
    return np.log1p(1e4 * tf * idf)


def normalized(x: Any, kind: str, *, name: str = "", scale: bool = True) -> np.ndarray:
    """Normalise a cells x features count matrix of modality ``kind`` (module docstring);
    z-scored per feature when ``scale``."""
    x = _dense(x)
    _check_counts(x, name or kind)
    if kind == "rna":
        total = np.maximum(x.sum(axis=1, keepdims=True), 1.0)
        y = np.log1p(x / total * 1e4)
    elif kind == "protein":
        y = np.log1p(x)
        y = y - y.mean(axis=1, keepdims=True)
    elif kind == "atac":
        y = _tfidf(x)
    else:  # pragma: no cover - kinds come from modality_kind
        raise ValidationError(f"unknown modality kind {kind!r}")
    return _zscore(y) if scale else y


def modality_embedding(
    x: Any, kind: str, *, n_comps: int = 20, seed: int = 0, name: str = ""
) -> np.ndarray:
    """The per-modality embedding (PCA of the normalised matrix; LSI for ``atac``)."""
    from sklearn.decomposition import PCA, TruncatedSVD

    n_cells, n_feat = x.shape
    if kind == "atac":
        y = normalized(x, kind, name=name, scale=False)
        k = max(1, min(int(n_comps) + 1, n_feat - 1, n_cells - 1))
        svd = TruncatedSVD(n_components=k, random_state=int(seed))
        z = svd.fit_transform(y)
        return z[:, 1:] if k > 1 else z
    y = normalized(x, kind, name=name)
    k = max(1, min(int(n_comps), n_feat - 1, n_cells - 1))
    return PCA(n_components=k, random_state=int(seed)).fit_transform(y)
