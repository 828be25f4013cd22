"""``CellText``: cells and sentences in one space (a CLIP-style contrastive model).

Two towers meet in a shared ``embed_dim``-dimensional space, both L2-normalised:

* **cell tower** — a frozen cell encoder (:class:`PCAEncoder` on highly variable genes,
  or any pretrained oracle :class:`CellModel`) gives features ``f``; they are
  standardised with the training mean / sd (buffers ``cell_mean``, ``cell_std``) and
  mapped by a trainable MLP ``Linear(cell_dim, hidden) - GELU - Dropout - Linear(hidden,
  embed_dim)`` (a single ``Linear`` when ``hidden = 0``);
* **text tower** — the frozen sentence embedder all-MiniLM-L6-v2 (384-d, from the
  ``text`` extra; embeddings cached, :func:`virtualcell.knowledge._dense.embed_cached`)
  followed by a trainable projection (``Linear``, or an MLP when ``text_hidden > 0``).

The similarity of a cell and a text is the cosine of their embeddings; training scales it
by ``exp(logit_scale)`` (initialised at ``1 / temperature``, learnable unless
``learn_temperature=False``, capped at 100) inside a symmetric InfoNCE loss
(:class:`virtualcell.train.ContrastiveObjective`).

:class:`CellTextModel` wraps the network with its cell encoder and saves both: the
network as a checkpoint folder (``config.json`` + ``model.safetensors``, architecture
``cell_text``) and the cell encoder as its own checkpoint folder in the subfolder
``cell_encoder/``, whose ``config.json`` checksum is recorded (and verified on load).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._errors import DataFormatError, ValidationError
from . import _checkpoint as ckpt
from . import _config
from ._layers import init_weights

__all__ = ["CellText", "CellTextConfig", "CellTextModel"]

#: Subfolder of a ``cell_text`` checkpoint holding its cell encoder's checkpoint.
ENCODER_FOLDER = "cell_encoder"
#: Largest ``exp(logit_scale)`` (as in CLIP).
MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class CellTextConfig:
    """Architecture of a :class:`CellText` network (saved in ``config.json``).

    Attributes
    ----------
    cell_dim
        Width of the cell encoder's features (e.g. 50 PCA components).
    text_dim
        Width of the frozen text embeddings (384 for all-MiniLM-L6-v2).
    embed_dim
        Width of the shared space.
    hidden
        Hidden width of the cell tower's MLP (0 = linear).
    text_hidden
        Hidden width of the text projection (0 = linear).
    dropout
        Dropout in the towers' hidden layers.
    temperature
        Initial softmax temperature (``logit_scale = log(1 / temperature)``).
    learn_temperature
        Train the temperature with the weights.
    text_encoder
        Name of the frozen sentence embedder the text tower expects.
    """

    cell_dim: int
    text_dim: int = 384
    embed_dim: int = 64
    hidden: int = 256
    text_hidden: int = 0
    dropout: float = 0.1
    temperature: float = 0.07
    learn_temperature: bool = True
    text_encoder: str = "all-MiniLM-L6-v2"

    def __post_init__(self) -> None:
        _config.check_types(self)
        for name in ("cell_dim", "text_dim", "embed_dim"):
            _config.check_range(self, name, low=1)
        for name in ("hidden", "text_hidden"):
            _config.check_range(self, name, low=0)
        _config.check_range(self, "dropout", low=0, high=1, high_open=True)
        _config.check_range(self, "temperature", low=1.0 / MAX_LOGIT_SCALE, high=10)
        _config.check_size(self)

    def n_parameters(self) -> int:
        """Parameter count of the network this config describes (nothing allocated)."""

        def mlp(d_in: int, h: int, d_out: int) -> int:
            return (d_in * h + h + h * d_out + d_out) if h else d_in * d_out + d_out

        return (
            mlp(self.cell_dim, self.hidden, self.embed_dim)
            + mlp(self.text_dim, self.text_hidden, self.embed_dim)
            + 1
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellTextConfig:
        return _config.from_dict(cls, data)


def _tower(d_in: int, hidden: int, d_out: int, dropout: float) -> nn.Module:
    if not hidden:
        return nn.Linear(d_in, d_out)
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_out)
    )


class CellText(nn.Module):
    """Cell tower + text projection (see the module docstring).

    ``forward(cells=..., texts=...)`` takes cell features ``(n, cell_dim)`` and/or frozen
    text embeddings ``(m, text_dim)`` and returns ``{"cell_embedding", "text_embedding",
    "logit_scale"}`` (embeddings L2-normalised; a tower not given is left out).
    """

    kind = "cell_text"
    #: Name in :data:`virtualcell.models.ARCHITECTURES` and in checkpoint folders.
    architecture: ClassVar[str] = "cell_text"
    config_class: ClassVar[type] = CellTextConfig
    #: The class of :mod:`virtualcell.models` whose ``from_pretrained`` loads its folders.
    loader: ClassVar[str] = "CellTextModel"

    def __init__(self, config: CellTextConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        c = config
        self.cell_tower = _tower(c.cell_dim, c.hidden, c.embed_dim, c.dropout)
        self.text_tower = _tower(c.text_dim, c.text_hidden, c.embed_dim, c.dropout)
        self.register_buffer("cell_mean", torch.zeros(c.cell_dim))
        self.register_buffer("cell_std", torch.ones(c.cell_dim))
        init_weights(self, seed)
        # default N(0, 0.02) weights would start every embedding near the same point
        gen = torch.Generator().manual_seed(seed + 7)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    bound = 1.0 / math.sqrt(m.in_features)
                    m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound)
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / c.temperature)), requires_grad=c.learn_temperature
        )

    def set_input_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Standardisation of the cell features (fitted on the training cells)."""
        std = np.where(np.asarray(std) > 0, std, 1.0)
        self.cell_mean.copy_(torch.as_tensor(np.asarray(mean), dtype=torch.float32))
        self.cell_std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def encode_cells(self, cells: torch.Tensor) -> torch.Tensor:
        z = (cells - self.cell_mean) / self.cell_std
        return F.normalize(self.cell_tower(z), dim=-1)

    def encode_texts(self, texts: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_tower(texts), dim=-1)

    def scale(self) -> torch.Tensor:
        """``exp(logit_scale)``, capped at :data:`MAX_LOGIT_SCALE`."""
        return self.logit_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp()

    def forward(
        self, cells: torch.Tensor | None = None, texts: torch.Tensor | None = None, **_: Any
    ) -> dict[str, torch.Tensor]:
        out = {"logit_scale": self.scale()}
        if cells is not None:
            out["cell_embedding"] = self.encode_cells(cells)
        if texts is not None:
            out["text_embedding"] = self.encode_texts(texts)
        return out


class CellTextModel:
    """A :class:`CellText` network with its frozen cell encoder (AnnData in, vectors out).

    Parameters
    ----------
    network
        The trained :class:`CellText`.
    cell_encoder
        A fitted :class:`PCAEncoder` or a :class:`CellModel` whose ``embed`` gives the
        ``cell_dim`` features.
    training
        Training settings / provenance (JSON) saved in ``config.json``.
    extra
        Additional JSON metadata (label key, the labels seen in training, their texts).
    """

    architecture = "cell_text"

    def __init__(
        self,
        network: CellText,
        cell_encoder: Any,
        *,
        training: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(network, CellText):
            raise ValidationError(f"network must be a CellText, got {type(network).__name__}")
        if not hasattr(cell_encoder, "embed") or not hasattr(cell_encoder, "save_pretrained"):
            raise ValidationError(
                "cell_encoder must be a fitted PCAEncoder or CellModel (embed + save_pretrained)"
            )
        self.network = network
        self.cell_encoder = cell_encoder
        self.training = dict(training or {})
        self.extra = dict(extra or {})

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.network.parameters())
        enc = getattr(self.cell_encoder, "architecture", type(self.cell_encoder).__name__)
        return f"CellTextModel({n:,} trainable parameters, cell encoder={enc})"

    # ------------------------------------------------------------------ use
    def cell_features(self, adata: Any, *, layer: str | None = None) -> np.ndarray:
        """The frozen cell encoder's features ``(n_obs, cell_dim)``."""
        f = np.asarray(self.cell_encoder.embed(adata, layer=layer), dtype=np.float32)
        if f.ndim != 2 or f.shape[1] != self.network.config.cell_dim:
            raise ValidationError(
                f"the cell encoder gave features of shape {f.shape}; the network expects "
                f"{self.network.config.cell_dim} columns"
            )
        return f

    @torch.no_grad()
    def embed_features(self, features: np.ndarray) -> np.ndarray:
        """Shared-space embeddings of cell features (unit rows, float32)."""
        self.network.eval()
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        return self.network.encode_cells(x).numpy()

    def embed_cells(self, adata: Any, *, layer: str | None = None) -> np.ndarray:
        """Shared-space embeddings ``(n_obs, embed_dim)`` of the cells of ``adata``."""
        return self.embed_features(self.cell_features(adata, layer=layer))

    @torch.no_grad()
    def embed_text_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Shared-space embeddings of frozen sentence embeddings ``(m, text_dim)``."""
        self.network.eval()
        x = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        return self.network.encode_texts(x).numpy()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Shared-space embeddings ``(len(texts), embed_dim)`` of sentences."""
        from ..knowledge import MODEL_NAME, embed_cached

        if self.network.config.text_encoder != MODEL_NAME:
            raise ValidationError(
                f"this model's text tower expects {self.network.config.text_encoder!r} "
                f"embeddings; the available embedder is {MODEL_NAME!r}"
            )
        if isinstance(texts, str):
            raise ValidationError("texts must be a list of strings, not one string")
        return self.embed_text_vectors(embed_cached(list(texts), description="texts"))

    @property
    def logit_scale(self) -> float:
        return float(self.network.scale().detach())

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the network (``config.json``, ``model.safetensors``) and the cell encoder
        (``cell_encoder/``) to ``folder``; ``config.json`` is written last. A folder that
        is not empty is replaced only with ``overwrite=True``."""
        from .._utils import sha256_file

        folder = ckpt.check_saveable(folder, overwrite=overwrite)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ckpt.CONFIG_NAME).unlink(missing_ok=True)  # the commit marker goes last
        sub = folder / ENCODER_FOLDER
        self.cell_encoder.save_pretrained(sub, overwrite=True)
        extra = {
            **self.extra,
            "cell_encoder": {
                "folder": ENCODER_FOLDER,
                "architecture": str(getattr(self.cell_encoder, "architecture", "")),
                "config_sha256": sha256_file(sub / ckpt.CONFIG_NAME),
            },
        }
        config = {
            "architecture": CellText.architecture,
            "model": self.network.config.to_dict(),
            "training": self.training,
            "extra": extra,
        }
        return ckpt.write_folder(folder, config, self.network.state_dict(), overwrite=True)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> CellTextModel:
        """Load a folder written by :meth:`save_pretrained` (schema, checksums and shapes
        verified, the cell encoder's checksum too)."""
        from .._utils import sha256_file
        from ._architectures import build_network
        from ._wrapper import load

        folder = Path(folder)
        config = ckpt.read_config(folder)
        cfg_path = folder / ckpt.CONFIG_NAME
        if config["architecture"] != CellText.architecture:
            raise DataFormatError(
                f"{cfg_path}: holds a {config['architecture']!r}, not a cell_text model"
            )
        meta = config.get("extra", {}).get("cell_encoder")
        if not isinstance(meta, dict) or meta.get("folder") != ENCODER_FOLDER:
            raise DataFormatError(
                f"{cfg_path}: extra.cell_encoder must name the subfolder {ENCODER_FOLDER!r}"
            )
        sub = ckpt.safe_member(folder, ENCODER_FOLDER, where=f"{cfg_path}: extra.cell_encoder")
        if not (sub / ckpt.CONFIG_NAME).is_file():
            raise DataFormatError(f"{sub}: the cell encoder's checkpoint is missing")
        if sha256_file(sub / ckpt.CONFIG_NAME) != meta.get("config_sha256"):
            raise DataFormatError(
                f"{sub / ckpt.CONFIG_NAME}: does not match the checksum recorded in {cfg_path} "
                "(the cell encoder was replaced or modified)"
            )
        encoder = load(sub)
        try:
            network = build_network(config["architecture"], config["model"])
        except ValidationError as e:
            raise DataFormatError(f"{cfg_path}: {e}") from None
        tensors = ckpt.read_tensors(folder)
        ckpt.check_state_dict(network.state_dict(), tensors, folder / ckpt.WEIGHTS_NAME)
        network.load_state_dict(tensors)
        network.eval()
        extra = {k: v for k, v in config.get("extra", {}).items() if k != "cell_encoder"}
        return cls(network, encoder, training=config.get("training"), extra=extra)
