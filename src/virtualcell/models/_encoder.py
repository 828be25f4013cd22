"""``CellEncoder``: a bidirectional transformer over gene tokens (Geneformer / scGPT / scFoundation style).

A cell arrives as a tokenized sequence (:class:`virtualcell.tokenize.TokenizedCells`):
gene-token ids, optional per-token values and a padding mask. Each token's input vector is

    gene_embedding(id) + value_embedding(value or rank position)

followed by ``n_layers`` pre-norm transformer blocks (full, bidirectional attention that
ignores padding keys). The cell embedding is the hidden state of the first token
(``pooling="cls"``; the tokenizer puts ``<cls>`` there) or the mean over real tokens
(``pooling="mean"``). Optional heads serve pretraining:

* ``mlm``: masked gene-token prediction (logits over the vocabulary at masked positions);
* ``mae``: masked value regression (one scalar per masked position);
* ``mvc``: expression of every vocabulary gene decoded from the *cell embedding* (scGPT's
  GEPC / MVC): gene ``g``'s query ``q_g = W_q e_g`` (``e_g`` its input gene embedding)
  scores the projected cell embedding, ``logit_g = q_g . W_c c + b_g``, and a per-gene
  log inverse-dispersion ``log theta_g`` is returned beside (a negative-binomial decoder;
  the objective turns logits into means with the library size).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from .._errors import ValidationError
from . import _config
from ._layers import (
    Transformer,
    ValueEmbedding,
    init_weights,
    transformer_parameters,
    value_embedding_parameters,
)

__all__ = ["CellEncoder", "CellEncoderConfig", "shipped_oracle_path"]

#: Pretraining heads a CellEncoder can build (token heads apply to chosen positions,
#: ``mvc`` to the pooled cell embedding).
HEADS = ("mlm", "mae", "mvc")


@dataclass(frozen=True)
class CellEncoderConfig:
    """Architecture of a :class:`CellEncoder` (saved as JSON inside every checkpoint).

    Attributes
    ----------
    vocab_size
        Number of gene tokens including the special tokens (``len(vocab)``).
    d_model, n_layers, n_heads, d_ff
        Width, depth, attention heads and MLP width (``d_ff=0`` means ``4 * d_model``).
    max_len
        Longest token sequence (including ``<cls>``) the model accepts.
    value_mode
        How per-token values enter: ``rank`` (position in the rank-ordered sequence), ``bin``
        (integer expression bin), ``continuous`` (MLP of the value) or ``none``.
    n_bins
        Number of expression bins (``value_mode="bin"`` only).
    pooling
        ``cls`` (hidden state of the first token) or ``mean`` (mean over real tokens).
    heads
        Pretraining heads to build: any of ``mlm``, ``mae`` and ``mvc``.
    dropout
        Dropout in attention and residual branches (0 keeps training bit-reproducible
        without touching the global RNG).
    gradient_checkpointing
        Recompute block activations in the backward pass (less memory, ~30% more compute).
    pad_id
        Id of ``<pad>`` (only used to zero the padding embedding).
    """

    vocab_size: int
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 0
    max_len: int = 256
    value_mode: Literal["rank", "bin", "continuous", "none"] = "rank"
    n_bins: int = 51
    pooling: Literal["cls", "mean"] = "cls"
    heads: tuple[str, ...] = ("mlm",)
    dropout: float = 0.0
    gradient_checkpointing: bool = False
    pad_id: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.heads, list):
            object.__setattr__(self, "heads", tuple(self.heads))
        check_transformer_config(self)
        if self.value_mode == "bin":
            _config.check_range(self, "n_bins", low=2)
        unknown = sorted(set(self.heads) - set(HEADS))
        if unknown:
            raise ValidationError(
                f"CellEncoderConfig.heads: unknown head(s) {unknown}; choose from "
                + ", ".join(repr(h) for h in HEADS)
            )
        _config.check_size(self)

    @property
    def ff_width(self) -> int:
        return self.d_ff or 4 * self.d_model

    def n_parameters(self) -> int:
        """Parameter count of the network this config describes (nothing allocated)."""
        d, v = self.d_model, self.vocab_size
        heads = {
            "mlm": d * d + 3 * d + d * v + v,
            "mae": d * d + 2 * d + 1,
            "mvc": 2 * (d * d + d) + 2 * v,
        }
        return (
            v * d
            + value_embedding_parameters(
                self.value_mode, d, max_len=self.max_len, n_bins=self.n_bins
            )
            + transformer_parameters(self.n_layers, d, self.ff_width)
            + sum(heads[h] for h in set(self.heads))
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["heads"] = list(self.heads)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellEncoderConfig:
        return _config.from_dict(cls, data, tuples=("heads",))


def check_transformer_config(config: Any) -> None:
    """Types and ranges of the fields every transformer config shares (vocabulary, width,
    depth, heads, length, dropout); ``d_model`` must be divisible by ``n_heads``."""
    _config.check_types(config)
    for name in ("vocab_size", "d_model", "n_layers", "n_heads", "max_len"):
        _config.check_range(config, name, low=1)
    _config.check_range(config, "d_ff", low=0)
    _config.check_range(config, "dropout", low=0, high=1, high_open=True)
    _config.check_range(config, "pad_id", low=0, high=config.vocab_size, high_open=True)
    if config.d_model % config.n_heads:
        raise ValidationError(
            f"{type(config).__name__}: d_model={config.d_model} is not divisible by "
            f"n_heads={config.n_heads}"
        )


class CellEncoder(nn.Module):
    """Bidirectional transformer encoder of tokenized cells.

    Parameters
    ----------
    config
        The architecture (:class:`CellEncoderConfig`).
    seed
        Seed of the private generator the weights are initialised from (the weights do
        not depend on the global torch RNG).
    """

    kind = "encoder"
    #: Name in :data:`virtualcell.models.ARCHITECTURES` and in checkpoint folders.
    architecture: ClassVar[str] = "cell_encoder"
    #: The class of :mod:`virtualcell.models` whose ``from_pretrained`` loads its folders.
    loader: ClassVar[str] = "CellModel"
    config_class: ClassVar[type] = CellEncoderConfig

    def __init__(self, config: CellEncoderConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.gene_embedding = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_id)
        self.value_embedding = ValueEmbedding(
            config.value_mode, d, max_len=config.max_len, n_bins=config.n_bins
        )
        self.encoder = Transformer(
            config.n_layers,
            d,
            config.n_heads,
            config.ff_width,
            config.dropout,
            causal=False,
            gradient_checkpointing=config.gradient_checkpointing,
        )
        self.heads = nn.ModuleDict()
        if "mlm" in config.heads:
            self.heads["mlm"] = nn.Sequential(
                nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, config.vocab_size)
            )
        if "mae" in config.heads:
            self.heads["mae"] = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        if "mvc" in config.heads:
            self.heads["mvc"] = ExpressionDecoder(d, config.vocab_size)
        init_weights(self, seed)

    def encode(
        self,
        input_ids: torch.Tensor,
        values: torch.Tensor | None,
        attention_mask: torch.Tensor,
        value_mask: torch.Tensor | None = None,
        *,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Hidden states ``(batch, length, d_model)``; padding keys are never attended to.

        With ``return_attention=True`` returns ``(hidden, maps)``, ``maps`` holding each
        layer's attention weights ``(batch, heads, query, key)`` (computed with an explicit
        softmax instead of the fused kernel; numerically equal up to float rounding).
        """
        if input_ids.shape[1] > self.config.max_len:
            raise ValueError(
                f"sequence length {input_ids.shape[1]} exceeds max_len={self.config.max_len}"
            )
        x = self.gene_embedding(input_ids)
        v = self.value_embedding(input_ids, values, value_mask)
        if v is not None:
            x = x + v
        return self.encoder(x, attention_mask.bool(), return_attention)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Cell embedding ``(batch, d_model)`` from hidden states (CLS token or masked mean)."""
        if self.config.pooling == "cls":
            return hidden[:, 0]
        m = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)

    def forward(
        self,
        input_ids: torch.Tensor,
        values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        value_mask: torch.Tensor | None = None,
        target_mask: torch.Tensor | None = None,
        heads: tuple[str, ...] = (),
    ) -> dict[str, torch.Tensor]:
        """Run the encoder and the requested heads.

        Parameters
        ----------
        input_ids, values, attention_mask
            The tokenized batch (``attention_mask`` True = real token).
        value_mask
            True where the value input is hidden from the model (MAE pretraining).
        target_mask
            Positions the heads are applied to (flattened in row-major order); all real
            tokens when omitted.
        heads
            Which of ``mlm`` / ``mae`` / ``mvc`` to compute.

        Returns
        -------
        ``{"hidden", "embedding", <head>: ...}``: ``mlm`` logits ``(n_targets, vocab)``,
        ``mae`` predictions ``(n_targets,)``, ``mvc`` gene logits ``(batch, vocab)`` from
        the cell embedding with ``mvc_log_theta`` ``(vocab,)``.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        hidden = self.encode(input_ids, values, attention_mask, value_mask)
        out = {"hidden": hidden, "embedding": self.pool(hidden, attention_mask)}
        if heads:
            sel = hidden[target_mask if target_mask is not None else attention_mask.bool()]
            for name in heads:
                if name not in self.heads:
                    raise ValueError(
                        f"this CellEncoder has no {name!r} head (heads={list(self.heads)})"
                    )
                if name == "mvc":
                    decoder = self.heads["mvc"]
                    out["mvc"] = decoder(out["embedding"], self.gene_embedding.weight)
                    out["mvc_log_theta"] = decoder.log_theta
                    continue
                pred = self.heads[name](sel)
                out[name] = pred.squeeze(-1) if name == "mae" else pred
        return out

    @torch.no_grad()
    def embed(
        self, input_ids: torch.Tensor, values: torch.Tensor | None, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Cell embeddings ``(batch, d_model)`` without gradients."""
        hidden = self.encode(input_ids, values, attention_mask)
        return self.pool(hidden, attention_mask)


class ExpressionDecoder(nn.Module):
    """Gene logits from a cell embedding: ``logit_g = (W_q e_g) . (W_c c) + b_g``.

    ``e_g`` is the encoder's input embedding of gene ``g`` (shared, so a gene's query and
    its input vector are learned together); ``log_theta`` is a per-gene log inverse
    dispersion of a negative-binomial likelihood.
    """

    def __init__(self, d_model: int, vocab_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.cell = nn.Linear(d_model, d_model)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.log_theta = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, cell: torch.Tensor, genes: torch.Tensor) -> torch.Tensor:
        """``(batch, vocab)`` logits of cell embeddings ``cell`` against gene table ``genes``."""
        return self.cell(cell) @ self.query(genes).T + self.bias


def shipped_oracle_path() -> Path:
    """Folder of the pretrained CellEncoder shipped inside the package (the default model
    of ``vc.represent.embed(adata, source="oracle")``; recipe in ``docs/represent.md``).

    Load it with :func:`virtualcell.models.load`. Raises :class:`ValidationError` when the
    installation lacks it.
    """
    folder = Path(__file__).parent / "resources" / "oracle"
    if not (folder / "config.json").is_file():
        raise ValidationError(
            f"the shipped oracle checkpoint is missing ({folder}); reinstall virtualcell "
            "or pass a checkpoint folder (model=...)"
        )
    return folder
