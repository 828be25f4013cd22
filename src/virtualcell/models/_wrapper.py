"""``CellModel``: the AnnData-aware wrapper around a network and its tokenizer.

It knows how to turn AnnData into token batches (through the tokenizer saved with the
model), embed cells, predict fine-tuned targets, and save/load checkpoint folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import DataFormatError, ValidationError
from . import _checkpoint as ckpt
from ._architectures import architecture_of, build_network, load_folder

if TYPE_CHECKING:
    import torch

    from ..data import CellSource
    from ..tokenize import Tokenizer
    from ._clip import CellTextModel
    from ._geneformer import GeneformerModel
    from ._pca import PCAEncoder
    from ._scgpt import ScGPTModel

__all__ = ["CellModel", "load"]


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
        network: torch.nn.Module,
        tokenizer: Tokenizer,
        *,
        training: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.network: Any = network
        self.tokenizer = tokenizer
        self.training = dict(training or {})
        self.extra = dict(extra or {})
        self.architecture = architecture_of(network)

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.network.parameters())
        return f"CellModel({self.architecture}, {n:,} parameters, tokenizer={self.tokenizer.kind})"

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``config.json``, ``model.safetensors`` and ``vocab.json`` to ``folder``
        (a folder that is not empty is replaced only with ``overwrite=True``)."""
        config = {
            "architecture": self.architecture,
            "model": self.network.config.to_dict(),
            "tokenizer": self.tokenizer.config(),
            "training": self.training,
            "extra": self.extra,
        }
        return ckpt.write_folder(
            folder, config, self.network.state_dict(), tokenizer=self.tokenizer, overwrite=overwrite
        )

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, device: str | None = None) -> CellModel:
        """Load a folder written by :meth:`save_pretrained` (schema, checksums, sizes and
        shapes verified; the model config is checked before any weight is allocated)."""
        folder = Path(folder)
        config = ckpt.read_config(folder)
        if ckpt.VOCAB_NAME not in config["files"]:
            raise DataFormatError(f"{folder / ckpt.CONFIG_NAME}: no {ckpt.VOCAB_NAME} listed")
        tokenizer = ckpt.read_vocab(folder)
        try:
            network = build_network(config["architecture"], config["model"])
        except ValidationError as e:
            raise DataFormatError(f"{folder / ckpt.CONFIG_NAME}: {e}") from None
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
    def _batches(
        self, source: CellSource, batch_size: int, device: Any
    ) -> Iterator[dict[str, torch.Tensor]]:
        chunk = max(batch_size, 2048 // batch_size * batch_size)
        for start in range(0, source.n_obs, chunk):
            stop = min(start + chunk, source.n_obs)
            tok = self.tokenizer.encode(source.read(start, stop), genes=source.var_names)
            for s in range(0, stop - start, batch_size):
                sub = tok.subset(slice(s, min(s + batch_size, stop - start)))
                length = max(int(sub.attention_mask.sum(1).max()), 1)
                yield {
                    k: v[:, :length].to(device) for k, v in sub.to_torch().items() if v.ndim == 2
                }

    def _run(
        self, adata: Any, key: str, batch_size: int, layer: str | None, device: Any
    ) -> np.ndarray:
        import torch

        from .._utils import progress
        from ..data import CellSource

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
        net = self.network
        device = torch.device(device) if device is not None else next(net.parameters()).device
        source = CellSource.open(adata, layer=layer)
        was_training = net.training
        net.eval()
        outs = []
        total = -(-source.n_obs // batch_size)
        try:
            source.check_nonnegative()
            with torch.no_grad():
                for batch in progress(
                    self._batches(source, batch_size, device), total=total, description=key
                ):
                    out = net(batch["input_ids"], batch.get("values"), batch["attention_mask"])[key]
                    outs.append(out.float().cpu().numpy())
        finally:
            net.train(was_training)
            source.close()
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
            raise ValidationError("predict() needs a fine-tuned model (see vc.train.finetune)")
        out = self._run(adata, "logits", batch_size, layer, device)
        if self.network.config.task == "classification":
            classes = np.asarray(self.extra.get("classes", list(range(out.shape[1]))), dtype=object)
            return classes[out.argmax(1)]
        out = out * self.extra.get("target_std", 1.0) + self.extra.get("target_mean", 0.0)
        return out[:, 0] if out.shape[1] == 1 else out


def load(
    folder: str | Path, *, device: str | None = None
) -> CellModel | PCAEncoder | CellTextModel | GeneformerModel | ScGPTModel:
    """Load any checkpoint folder: a :class:`CellModel`, a :class:`PCAEncoder` or a
    :class:`CellTextModel` written by this library — or a published checkpoint in its
    own layout, ``"geneformer:PATH"`` (:class:`GeneformerModel`) or ``"scgpt:PATH"``
    (:class:`ScGPTModel`); see ``docs/models.md``.

    Parameters
    ----------
    folder
        Checkpoint folder written by ``save`` (its ``config.json`` names the architecture),
        or ``"geneformer:PATH"`` / ``"scgpt:PATH"`` for a published checkpoint.
    device
        Torch device for the network (:func:`check_device` names; ``None``: left on the CPU).
        PCA and cell-text models always run on the CPU.

    Returns
    -------
    CellModel, PCAEncoder, CellTextModel, GeneformerModel or ScGPTModel
        The loaded model, ready to embed."""
    from ._published import parse_spec

    spec = parse_spec(folder)
    if spec is not None:
        kind, path = spec
        if kind == "geneformer":
            from ._geneformer import GeneformerModel

            return GeneformerModel.from_folder(path, device=device)
        from ._scgpt import ScGPTModel

        return ScGPTModel.from_folder(path, device=device)
    return load_folder(folder, device=device)
