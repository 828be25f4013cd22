"""``CellModel``: the AnnData-aware wrapper around a network and its tokenizer.

It knows how to turn AnnData into token batches (through the tokenizer saved with the
model), embed cells, predict fine-tuned targets, and save/load checkpoint folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DataFormatError, ValidationError
from . import _checkpoint as ckpt

__all__ = ["CellModel", "build_network", "load"]


def _architectures() -> dict[str, tuple[Any, Any]]:
    from ._encoder import CellEncoder, CellEncoderConfig
    from ._finetune import CellPredictor, CellPredictorConfig
    from ._gpt import CellGPT, CellGPTConfig

    return {
        "cell_encoder": (CellEncoderConfig, CellEncoder),
        "cell_gpt": (CellGPTConfig, CellGPT),
        "cell_predictor": (CellPredictorConfig, CellPredictor),
    }


def build_network(architecture: str, config: dict[str, Any], *, seed: int = 0) -> Any:
    """Build the network named ``architecture`` from its config dict."""
    archs = _architectures()
    if architecture not in archs:
        raise DataFormatError(f"unknown architecture {architecture!r}; known: {sorted(archs)}")
    config_cls, net_cls = archs[architecture]
    try:
        cfg = config_cls.from_dict(config)
    except (TypeError, ValueError) as e:
        raise DataFormatError(f"invalid {architecture} config: {e}") from None
    return net_cls(cfg, seed=seed)


def _architecture_of(network: Any) -> str:
    for name, (_, cls) in _architectures().items():
        if isinstance(network, cls):
            return name
    raise ValidationError(f"unsupported network type {type(network).__name__}")


class CellModel:
    """A network plus the tokenizer it was trained with.

    Parameters
    ----------
    network
        A :class:`CellEncoder`, :class:`CellGPT` or :class:`CellPredictor`.
    tokenizer
        The fitted tokenizer that produced the network's training inputs.
    training
        Training configuration / provenance saved in ``config.json`` (JSON-serialisable).
    extra
        Additional JSON metadata (e.g. class labels of a classifier).
    """

    def __init__(
        self,
        network: Any,
        tokenizer: Any,
        *,
        training: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.network = network
        self.tokenizer = tokenizer
        self.training = dict(training or {})
        self.extra = dict(extra or {})
        self.architecture = _architecture_of(network)

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.network.parameters())
        return f"CellModel({self.architecture}, {n:,} parameters, tokenizer={self.tokenizer.kind})"

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and ``vocab.json`` to ``folder``."""
        config = {
            "architecture": self.architecture,
            "model": self.network.config.to_dict(),
            "tokenizer": self.tokenizer.config(),
            "training": self.training,
            "extra": self.extra,
        }
        return ckpt.write_folder(
            folder, config, self.network.state_dict(), tokenizer=self.tokenizer
        )

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, device: str | None = None) -> CellModel:
        """Load a folder written by :meth:`save_pretrained` (checksums and shapes verified)."""
        from ..tokenize import load_tokenizer

        folder = Path(folder)
        config = ckpt.read_config(folder)
        if ckpt.VOCAB_NAME not in config["files"]:
            raise DataFormatError(f"{folder / ckpt.CONFIG_NAME}: no {ckpt.VOCAB_NAME} listed")
        tokenizer = load_tokenizer(folder / ckpt.VOCAB_NAME)
        network = build_network(config["architecture"], config["model"])
        tensors = ckpt.read_tensors(folder)
        ckpt.check_state_dict(network.state_dict(), tensors, folder / ckpt.WEIGHTS_NAME)
        network.load_state_dict(tensors)
        vocab_size = config["model"].get("vocab_size")
        if (
            vocab_size is not None
            and tokenizer.vocab is not None
            and len(tokenizer.vocab) != vocab_size
        ):
            raise DataFormatError(
                f"{folder / ckpt.VOCAB_NAME}: vocabulary has {len(tokenizer.vocab)} tokens but "
                f"{ckpt.CONFIG_NAME} says vocab_size={vocab_size}"
            )
        network.eval()
        if device is not None:
            network.to(device)
        return cls(network, tokenizer, training=config.get("training"), extra=config.get("extra"))

    # ------------------------------------------------------------------ use
    def _batches(self, adata: Any, batch_size: int, layer: str | None, device: Any):
        from ..train._source import CellSource

        source = CellSource.open(adata, layer=layer)
        chunk = max(batch_size, 2048 // batch_size * batch_size)
        try:
            for start in range(0, source.n_obs, chunk):
                stop = min(start + chunk, source.n_obs)
                tok = self.tokenizer.encode(source.read(start, stop), genes=source.var_names)
                for s in range(0, stop - start, batch_size):
                    sub = tok.subset(slice(s, min(s + batch_size, stop - start)))
                    length = max(int(sub.attention_mask.sum(1).max()), 1)
                    yield {
                        k: v[:, :length].to(device)
                        for k, v in sub.to_torch().items()
                        if v.ndim == 2
                    }
        finally:
            if source is not adata:
                source.close()

    def _run(
        self, adata: Any, key: str, batch_size: int, layer: str | None, device: Any
    ) -> np.ndarray:
        import torch

        from .._utils import progress

        net = self.network
        device = torch.device(device) if device is not None else next(net.parameters()).device
        was_training = net.training
        net.eval()
        outs = []
        n = adata.n_obs if hasattr(adata, "n_obs") else None
        total = None if n is None else -(-n // batch_size)
        try:
            with torch.no_grad():
                for batch in progress(
                    self._batches(adata, batch_size, layer, device), total=total, description=key
                ):
                    out = net(batch["input_ids"], batch.get("values"), batch["attention_mask"])[key]
                    outs.append(out.float().cpu().numpy())
        finally:
            net.train(was_training)
        return np.concatenate(outs, axis=0)

    def embed(
        self,
        adata: Any,
        *,
        batch_size: int = 64,
        layer: str | None = None,
        device: str | None = None,
    ) -> np.ndarray:
        """Cell embeddings ``(n_obs, d_model)`` (float32), computed in batches.

        Each cell's embedding depends only on that cell (padding is masked out).
        """
        return self._run(adata, "embedding", batch_size, layer, device).astype(np.float32)

    def predict(
        self,
        adata: Any,
        *,
        batch_size: int = 64,
        layer: str | None = None,
        device: str | None = None,
    ) -> np.ndarray:
        """Predictions of a fine-tuned :class:`CellPredictor`: class labels or values."""
        if self.architecture != "cell_predictor":
            raise ValidationError("predict() needs a fine-tuned model (see vc.models.finetune)")
        out = self._run(adata, "logits", batch_size, layer, device)
        if self.network.config.task == "classification":
            classes = np.asarray(self.extra.get("classes", list(range(out.shape[1]))), dtype=object)
            return classes[out.argmax(1)]
        out = out * self.extra.get("target_std", 1.0) + self.extra.get("target_mean", 0.0)
        return out[:, 0] if out.shape[1] == 1 else out


def load(folder: str | Path, *, device: str | None = None) -> Any:
    """Load any checkpoint folder: a :class:`CellModel` or a :class:`PCAEncoder`."""
    config = ckpt.read_config(folder)
    if config["architecture"] == "pca":
        from ._pca import PCAEncoder

        return PCAEncoder.from_pretrained(folder)
    return CellModel.from_pretrained(folder, device=device)
