"""Shared transformer plumbing: pre-norm blocks with SDPA attention, value embeddings.

Model logic (what the tokens mean, which heads exist) lives in each model's own file;
this module only holds the generic pieces both :class:`CellEncoder` and :class:`CellGPT`
are built from.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = [
    "Block",
    "Transformer",
    "ValueEmbedding",
    "init_weights",
    "transformer_parameters",
    "value_embedding_parameters",
]


class SelfAttention(nn.Module):
    """Multi-head self-attention through :func:`torch.nn.functional.scaled_dot_product_attention`.

    SDPA picks the fused flash / memory-efficient kernels on GPU when available; on CPU it
    uses the math or flash-CPU kernel. No external attention library is needed.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(
        self,
        x: torch.Tensor,
        key_mask: torch.Tensor | None,
        causal: bool,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend; with ``return_attention=True`` also return the attention weights.

        The weights path computes ``softmax(q k^T / sqrt(head_dim))`` explicitly (same
        masking, no dropout applied to the returned weights) and returns
        ``(output, weights)`` with weights ``(batch, heads, query, key)``; the default
        path is the fused SDPA kernel and returns the output only.
        """
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (b, heads, n, head_dim)
        mask = None
        if key_mask is not None:
            # (b, 1, 1, n): True = this key may be attended to (a real token, not padding).
            mask = key_mask[:, None, None, :]
            if causal:
                mask = mask & torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
                causal = False
        if return_attention:
            return self._explicit(q, k, v, mask, causal)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal,
        )
        return self.out(y.transpose(1, 2).reshape(b, n, d))

    def _explicit(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None,
        causal: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, h, n, hd = q.shape
        logits = (q @ k.transpose(-2, -1)) / (hd**0.5)
        if causal:
            mask = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits.float(), dim=-1).to(q.dtype)
        weights = torch.nan_to_num(weights)  # a query with no allowed key: all-zero row
        drop = F.dropout(weights, p=self.dropout, training=self.training)
        y = (drop @ v).transpose(1, 2).reshape(b, n, h * hd)
        return self.out(y), weights


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        key_mask: torch.Tensor | None,
        causal: bool,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if return_attention:
            a, weights = self.attn(self.norm1(x), key_mask, causal, True)
            x = x + self.drop(a)
            return x + self.drop(self.mlp(self.norm2(x))), weights
        x = x + self.drop(self.attn(self.norm1(x), key_mask, causal))
        return x + self.drop(self.mlp(self.norm2(x)))


class Transformer(nn.Module):
    """A stack of pre-norm blocks and a final LayerNorm, optionally gradient-checkpointed."""

    def __init__(
        self,
        n_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
        *,
        causal: bool,
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.causal = causal
        self.gradient_checkpointing = gradient_checkpointing

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor | None, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Hidden states; with ``return_attention=True`` also the list of each layer's
        attention weights ``(batch, heads, query, key)`` (explicit softmax path)."""
        if return_attention:
            maps = []
            for block in self.blocks:
                x, weights = block(x, key_mask, self.causal, True)
                maps.append(weights)
            return self.norm(x), maps
        for block in self.blocks:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, key_mask, self.causal, use_reentrant=False)
            else:
                x = block(x, key_mask, self.causal)
        return self.norm(x)


def transformer_parameters(n_layers: int, d_model: int, d_ff: int) -> int:
    """Parameter count of :class:`Transformer` (computed, nothing allocated)."""
    d = d_model
    per_block = 4 * d * d + 2 * d * d_ff + 9 * d + d_ff  # norms, qkv, out, mlp
    return n_layers * per_block + 2 * d


def value_embedding_parameters(mode: str, d_model: int, *, max_len: int, n_bins: int) -> int:
    """Parameter count of :class:`ValueEmbedding` (computed, nothing allocated)."""
    d = d_model
    return {
        "rank": max_len * d,
        "bin": (n_bins + 1) * d,
        "continuous": d * d + 4 * d,
    }.get(mode, 0)


class ValueEmbedding(nn.Module):
    """Turn the tokenizer's per-token value into a ``d_model`` vector added to the gene embedding.

    * ``rank``: the token's position in the rank-ordered sequence (learned position table);
    * ``bin``: the integer expression bin (learned table with ``n_bins`` rows plus one for
      "masked");
    * ``continuous``: a two-layer MLP of the scalar value (scFoundation / xTrimoGene style),
      with a learned vector standing in for masked values;
    * ``none``: no value input (the sequence order alone carries the information).
    """

    def __init__(
        self,
        mode: Literal["rank", "bin", "continuous", "none"],
        d_model: int,
        *,
        max_len: int,
        n_bins: int,
    ) -> None:
        super().__init__()
        self.mode = mode
        if mode == "rank":
            self.table = nn.Embedding(max_len, d_model)
        elif mode == "bin":
            self.table = nn.Embedding(n_bins + 1, d_model)  # last row = masked
            self.n_bins = n_bins
        elif mode == "continuous":
            self.mlp = nn.Sequential(nn.Linear(1, d_model), nn.GELU(), nn.Linear(d_model, d_model))
            self.masked = nn.Parameter(torch.zeros(d_model))
        elif mode != "none":
            raise ValueError(f"unknown value mode {mode!r}")

    def forward(
        self, input_ids: torch.Tensor, values: torch.Tensor | None, value_mask: torch.Tensor | None
    ) -> torch.Tensor | None:
        if self.mode == "none":
            return None
        if self.mode == "rank":
            pos = torch.arange(input_ids.shape[1], device=input_ids.device)
            return self.table(pos)[None]
        if values is None:
            raise ValueError(f"value mode {self.mode!r} needs per-token values")
        if self.mode == "bin":
            bins = values.round().long().clamp(0, self.n_bins - 1)
            if value_mask is not None:
                bins = bins.masked_fill(value_mask, self.n_bins)
            return self.table(bins)
        out = self.mlp(values.unsqueeze(-1).to(self.masked.dtype))
        if value_mask is not None:
            out = torch.where(value_mask.unsqueeze(-1), self.masked.expand_as(out), out)
        return out


def init_weights(model: nn.Module, seed: int) -> None:
    """Initialise Linear / Embedding weights N(0, 0.02) from a private generator ``seed``.

    LayerNorms keep their deterministic ones/zeros; biases are zero. The global RNG is not
    used, so building a model never changes other code's random stream.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.zero_()
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
