"""Baseline encoders beside the transformers: PCA on highly variable genes (and scVI, optional).

``PCAEncoder`` is the standard single-cell pipeline: library-size normalisation to
``target_sum`` and ``log1p`` (only when the input looks like counts), the ``n_hvg`` most
variable genes (scanpy ``highly_variable_genes``, flavor ``seurat``), per-gene z-scoring
clipped at ``max_value``, and PCA (scikit-learn, ``n_comps`` components). It has the same
``embed`` / ``save_pretrained`` / ``from_pretrained`` interface as :class:`CellModel`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp

from .._errors import DataFormatError, ValidationError
from ..data import log1p_normalize, looks_like_counts
from . import _checkpoint as ckpt

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["PCAConfig", "PCAEncoder", "scvi_embed"]


@dataclass(frozen=True)
class PCAConfig:
    """Settings of :class:`PCAEncoder` (see the module docstring)."""

    n_hvg: int = 2000
    n_comps: int = 50
    normalize: Literal["auto", "yes", "no"] = "auto"
    target_sum: float = 1e4
    max_value: float = 10.0
    seed: int = 0


def _dense(X: Any) -> np.ndarray:
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)


class PCAEncoder:
    """PCA on highly variable genes, with the embedding interface of the transformer models."""

    #: Name in :data:`virtualcell.models.ARCHITECTURES` and in checkpoint folders.
    architecture = "pca"
    #: The class of :mod:`virtualcell.models` whose ``from_pretrained`` loads its folders.
    loader = "PCAEncoder"

    def __init__(self, config: PCAConfig | None = None) -> None:
        self.config = config or PCAConfig()
        self.genes: np.ndarray | None = None
        self.normalize: bool | None = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.components: np.ndarray | None = None

    def __repr__(self) -> str:
        state = "unfitted" if self.genes is None else f"{len(self.genes)} genes"
        return f"PCAEncoder({state}, n_comps={self.config.n_comps})"

    def _prepare(self, X: Any) -> Any:
        if self.normalize:  # the one normalisation (vc.data.log1p_normalize)
            X = log1p_normalize(
                sp.csr_matrix(X), target_sum=self.config.target_sum, dtype=np.float64
            )[0]
        return X

    def fit(self, adata: AnnData, *, layer: str | None = None) -> PCAEncoder:
        """Select HVGs, fit the scaling and the PCA on ``adata`` (in memory)."""
        from sklearn.decomposition import PCA

        from ..pp import variable_gene_mask

        X, genes = _matrix(adata, layer)
        mode = self.config.normalize
        self.normalize = looks_like_counts(X) if mode == "auto" else mode == "yes"
        Xn = self._prepare(X)
        keep = variable_gene_mask(sp.csr_matrix(Xn, dtype=np.float32), self.config.n_hvg)
        dense = _dense(Xn[:, keep] if sp.issparse(Xn) else np.asarray(Xn)[:, keep])
        self.genes = np.asarray(genes)[keep]
        self.mean = dense.mean(0)
        self.std = dense.std(0, ddof=1)  # as scanpy.pp.scale
        self.std[self.std == 0] = 1.0
        z = np.clip((dense - self.mean) / self.std, -self.config.max_value, self.config.max_value)
        n_comps = min(self.config.n_comps, z.shape[0] - 1, z.shape[1])
        pca = PCA(n_components=n_comps, svd_solver="full", random_state=self.config.seed).fit(z)
        self.components = pca.components_.astype(np.float64)
        self.center = pca.mean_
        return self

    def embed(
        self, adata: Any, *, batch_size: int = 4096, layer: str | None = None, **_: Any
    ) -> np.ndarray:
        """PCA coordinates ``(n_obs, n_comps)``; genes absent from ``adata`` count as average."""
        if self.genes is None:
            raise ValidationError("PCAEncoder is not fitted: call .fit(adata) first")
        X, genes = _matrix(adata, layer)
        pos = {str(g): i for i, g in enumerate(genes)}
        cols = np.array([pos.get(str(g), -1) for g in self.genes])
        found = cols >= 0
        if found.mean() < 0.5:
            missing = [str(g) for g in self.genes[~found][:5]]
            raise ValidationError(
                f"only {int(found.sum())}/{len(self.genes)} PCA genes are in the data (e.g. missing {missing})"
            )
        out = []
        for s in range(0, X.shape[0], batch_size):
            block = self._prepare(X[s : s + batch_size])
            dense = np.tile(self.mean, (block.shape[0], 1))
            dense[:, found] = _dense(block[:, cols[found]])
            z = np.clip(
                (dense - self.mean) / self.std, -self.config.max_value, self.config.max_value
            )
            out.append((z - self.center) @ self.components.T)
        return np.concatenate(out).astype(np.float32)

    def save_pretrained(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the fitted encoder as a checkpoint folder (safetensors + JSON; a folder
        that is not empty is replaced only with ``overwrite=True``)."""
        import torch

        if self.genes is None:
            raise ValidationError("PCAEncoder is not fitted")
        tensors = {
            name: torch.as_tensor(getattr(self, name))
            for name in ("mean", "std", "components", "center")
        }
        config = {
            "architecture": "pca",
            "model": dataclasses.asdict(self.config),
            "extra": {"genes": [str(g) for g in self.genes], "normalize": bool(self.normalize)},
        }
        return ckpt.write_folder(folder, config, tensors, overwrite=overwrite)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> PCAEncoder:
        """Load a folder written by :meth:`save_pretrained`."""
        config = ckpt.read_config(folder)
        if config["architecture"] != "pca":
            raise DataFormatError(
                f"{folder}: holds a {config['architecture']!r}, not a PCA encoder"
            )
        obj = cls(PCAConfig(**config["model"]))
        tensors = ckpt.read_tensors(folder)
        obj.genes = np.asarray(config["extra"]["genes"], dtype=object)
        obj.normalize = bool(config["extra"]["normalize"])
        for name in ("mean", "std", "components", "center"):
            if name not in tensors:
                raise DataFormatError(
                    f"{Path(folder) / ckpt.WEIGHTS_NAME}: missing tensor {name!r}"
                )
            setattr(obj, name, tensors[name].numpy().astype(np.float64))
        if obj.components.shape[1] != len(obj.genes):
            raise DataFormatError(
                f"{Path(folder) / ckpt.WEIGHTS_NAME}: components have {obj.components.shape[1]} "
                f"columns but config.json lists {len(obj.genes)} genes"
            )
        return obj


def _matrix(adata: Any, layer: str | None) -> tuple[Any, np.ndarray]:
    """The whole matrix chosen by ``layer`` (``"raw"`` = ``adata.raw``) in memory, and
    its gene names (the layer rule of :class:`virtualcell.data.CellSource`)."""
    from ..data import CellSource

    with CellSource.open(adata, layer=layer) as source:
        X = source.matrix
        if hasattr(X, "to_memory"):
            X = X.to_memory()
        elif not (sp.issparse(X) or isinstance(X, np.ndarray)):
            X = X[...]  # an h5py / zarr array of a backed file
        return X, source.var_names


def scvi_embed(
    adata: AnnData,
    *,
    n_latent: int = 10,
    max_epochs: int = 100,
    layer: str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """scVI latent space (optional baseline; needs ``scvi-tools``, extra ``peers``).

    Raises :class:`~virtualcell.VirtualCellError` when scvi-tools is not installed.

    Parameters
    ----------
    adata
        Cells x genes with raw counts (in ``X`` or ``layer``); not modified.
    n_latent
        Dimension of the latent space.
    max_epochs
        Training epochs of the scVI model.
    layer
        Layer holding the counts (``None``: ``X``).
    seed
        Seed of scvi-tools' random state.

    Returns
    -------
    numpy.ndarray
        Latent representation, cells x ``n_latent``.
    """
    try:
        import scvi
    except ImportError:
        from .._errors import VirtualCellError

        raise VirtualCellError(
            "scVI baseline needs scvi-tools: pip install 'virtualcell[peers]'"
        ) from None
    data = adata.copy()
    scvi.settings.seed = seed
    scvi.model.SCVI.setup_anndata(data, layer=layer)
    model = scvi.model.SCVI(data, n_latent=n_latent)
    model.train(max_epochs=max_epochs)
    return np.asarray(model.get_latent_representation(), dtype=np.float32)
