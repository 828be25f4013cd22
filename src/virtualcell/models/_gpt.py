"""``CellGPT``: a causal transformer that generates cells as gene sequences (tGPT / scGPT style).

A cell is a sequence of gene tokens ordered by decreasing expression (rank tokenizer) or
a "cell sentence" of top-k gene names (sentence tokenizer), starting with ``<cls>``.
The model reads the sequence left to right and predicts the next gene token (next-token
prediction, NTP). :meth:`CellGPT.generate` samples new cells token by token: each gene
appears at most once, generation stops at ``<eos>`` or ``max_new_tokens``.

Input vector of token ``t`` at position ``p``: ``gene_embedding(t) + position_embedding(p)``
(the position is the rank). Values, if the tokenizer has any, are not used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from . import _config
from ._encoder import check_transformer_config
from ._layers import Transformer, init_weights, transformer_parameters

__all__ = ["CellGPT", "CellGPTConfig"]


@dataclass(frozen=True)
class CellGPTConfig:
    """Architecture of a :class:`CellGPT` (saved as JSON inside every checkpoint).

    Attributes
    ----------
    vocab_size
        Number of tokens including specials.
    d_model, n_layers, n_heads, d_ff
        Width, depth, heads, MLP width (``0`` = ``4 * d_model``).
    max_len
        Longest sequence (prompt + generated tokens).
    dropout
        Dropout probability (0 = bit-reproducible training).
    gradient_checkpointing
        Recompute activations in the backward pass.
    pad_id, eos_id, n_special
        Special token ids; ids ``< n_special`` other than ``<eos>`` are never generated.
    """

    vocab_size: int
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 0
    max_len: int = 256
    dropout: float = 0.0
    gradient_checkpointing: bool = False
    pad_id: int = 0
    eos_id: int = 3
    n_special: int = 5

    def __post_init__(self) -> None:
        check_transformer_config(self)
        for name in ("eos_id", "n_special"):
            _config.check_range(self, name, low=0, high=self.vocab_size, high_open=True)
        _config.check_size(self)

    @property
    def ff_width(self) -> int:
        return self.d_ff or 4 * self.d_model

    def n_parameters(self) -> int:
        """Parameter count of the network this config describes (nothing allocated)."""
        d, v = self.d_model, self.vocab_size
        return (
            2 * v * d + self.max_len * d + transformer_parameters(self.n_layers, d, self.ff_width)
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellGPTConfig:
        return _config.from_dict(cls, data)


class CellGPT(nn.Module):
    """Causal (decoder-only) transformer over gene-token sequences.

    Parameters
    ----------
    config
        The architecture (:class:`CellGPTConfig`).
    seed
        Seed of the private generator the weights are initialised from.
    """

    kind = "gpt"
    #: Name in :data:`virtualcell.models.ARCHITECTURES` and in checkpoint folders.
    architecture: ClassVar[str] = "cell_gpt"
    #: The class of :mod:`virtualcell.models` whose ``from_pretrained`` loads its folders.
    loader: ClassVar[str] = "CellModel"
    config_class: ClassVar[type] = CellGPTConfig

    def __init__(self, config: CellGPTConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.gene_embedding = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_id)
        self.position_embedding = nn.Embedding(config.max_len, d)
        self.decoder = Transformer(
            config.n_layers,
            d,
            config.n_heads,
            config.ff_width,
            config.dropout,
            causal=True,
            gradient_checkpointing=config.gradient_checkpointing,
        )
        self.lm_head = nn.Linear(d, config.vocab_size, bias=False)
        init_weights(self, seed)

    def hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Causal hidden states ``(batch, length, d_model)``."""
        n = input_ids.shape[1]
        if n > self.config.max_len:
            raise ValueError(f"sequence length {n} exceeds max_len={self.config.max_len}")
        pos = torch.arange(n, device=input_ids.device)
        x = self.gene_embedding(input_ids) + self.position_embedding(pos)[None]
        mask = None if attention_mask is None else attention_mask.bool()
        return self.decoder(x, mask)

    def forward(
        self,
        input_ids: torch.Tensor,
        values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        """``{"hidden", "embedding", "logits"}``; ``logits[:, i]`` predicts token ``i + 1``.

        ``values`` is accepted (and ignored) so that every model takes the same batch.
        The embedding is the mean hidden state over real tokens.
        """
        hidden = self.hidden_states(input_ids, attention_mask)
        return {
            "hidden": hidden,
            "embedding": _masked_mean(hidden, attention_mask),
            "logits": self.lm_head(hidden),
        }

    @torch.no_grad()
    def embed(
        self, input_ids: torch.Tensor, values: torch.Tensor | None, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Cell embeddings ``(batch, d_model)``: mean causal hidden state over real tokens."""
        return _masked_mean(self.hidden_states(input_ids, attention_mask), attention_mask)

    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample continuations of ``prompt`` (``(batch, k)`` ids, typically ``<cls>`` + genes).

        Each gene appears at most once per cell; special tokens other than ``<eos>`` are never
        sampled; after ``<eos>`` a row is filled with ``<pad>``. ``temperature=0`` is greedy.

        Returns
        -------
        ``(batch, k + max_new_tokens)`` token ids (or shorter if ``max_len`` is reached).
        """
        cfg = self.config
        ids = prompt.clone()
        b = ids.shape[0]
        banned = torch.zeros(b, cfg.vocab_size, dtype=torch.bool, device=ids.device)
        banned[:, : cfg.n_special] = True
        banned[:, cfg.eos_id] = False
        banned.scatter_(1, ids, True)
        done = torch.zeros(b, dtype=torch.bool, device=ids.device)
        for _ in range(max_new_tokens):
            if ids.shape[1] >= cfg.max_len:
                break
            logits = self.lm_head(self.hidden_states(ids, None)[:, -1]).float()
            logits = logits.masked_fill(banned, float("-inf"))
            if temperature <= 0:
                nxt = logits.argmax(-1)
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.shape[1]:
                    kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = torch.softmax(logits, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, cfg.pad_id), nxt)
            done |= nxt == cfg.eos_id
            banned[torch.arange(b), nxt] = True
            banned[:, cfg.eos_id] = False
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            if bool(done.all()):
                break
        return ids


def _masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    if attention_mask is None:
        return hidden.mean(1)
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
