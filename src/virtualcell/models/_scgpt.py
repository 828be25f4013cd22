"""scGPT checkpoints in their published layout: ``vc.models.load("scgpt:PATH")``.

The folder (as the scGPT authors publish their pretrained models)::

    PATH/
      best_model.pt   the model's state dict (read with torch.load(weights_only=True))
      vocab.json      {gene symbol: token id}, with "<pad>", "<cls>", "<eoc>" (added at the
                      end when missing, as scGPT does)
      args.json       embsize, nheads, d_hid, nlayers, n_bins, pad_token, pad_value,
                      max_seq_len, input_emb_style ("continuous", the default, or
                      "category"), ...

Tokenization (as scGPT's cell-embedding pipeline): per cell, the genes of the vocabulary
with a non-zero value, their values binned into ``n_bins - 1`` per-cell quantile bins of
the non-zero values (bins 1 .. n_bins - 1; a value on several equal bin edges is placed
uniformly at random among them, as scGPT's ``_digitize``, with a seeded generator here),
then ``<cls>`` with value ``pad_value`` in front. A cell with more than
``max_seq_len - 1`` such genes keeps a random subset of that many (scGPT samples too;
seeded here). Binning is rank-based within a cell, so counts and log-normalised values
give the same tokens.

Network (names as in scGPT's ``TransformerModel``, so ``best_model.pt`` loads by name):
``encoder`` (gene embedding + LayerNorm) plus ``value_encoder`` (continuous: a 1 -> d
-> d MLP with ReLU, values clipped at 512, LayerNorm; category: an embedding of the bin +
LayerNorm), then ``transformer_encoder``: ``nlayers`` post-norm layers (multi-head
attention with padded keys masked, ReLU feed-forward of width ``d_hid``), written out
below. The cell embedding is the output at ``<cls>``, divided by its L2 norm (as
scGPT's ``get_batch_cell_embeddings``). Weights saved by scGPT's flash-attention layers
(``self_attn.Wqkv.*``) are renamed to the standard ``in_proj_*`` names, as scGPT's
``load_pretrained`` does; decoders and other heads in the file are not used.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .._errors import DataFormatError
from ._published import (
    embed_rows,
    gene_identifiers,
    load_matched_weights,
    read_json,
    read_state_dict,
)

__all__ = ["ScGPTConfig", "ScGPTModel", "ScGPTNetwork", "ScGPTTokenizer", "bin_values"]

_SPECIAL = ("<pad>", "<cls>", "<eoc>")
_RENAMES = (
    (re.compile(r"self_attn\._impl\.Wqkv\."), "self_attn.in_proj_"),
    (re.compile(r"self_attn\.Wqkv\."), "self_attn.in_proj_"),
    (re.compile(r"self_attn\._impl\.out_proj\."), "self_attn.out_proj."),
)


@dataclass(frozen=True)
class ScGPTConfig:
    """The ``args.json`` fields the encoder uses (``ntoken``: the vocabulary size)."""

    ntoken: int
    embsize: int = 512
    nheads: int = 8
    d_hid: int = 512
    nlayers: int = 12
    n_bins: int = 51
    pad_token: str = "<pad>"
    pad_value: int = -2
    max_seq_len: int = 1200
    input_emb_style: Literal["continuous", "category"] = "continuous"

    @classmethod
    def from_args(cls, doc: Any, ntoken: int, path: Path) -> ScGPTConfig:
        """Validate an ``args.json`` document (types, ranges, size cap)."""
        from ._config import MAX_PARAMETERS

        if not isinstance(doc, dict):
            raise DataFormatError(f"{path}: expected a JSON object")
        kw: dict[str, Any] = {"ntoken": ntoken}
        for name in ("embsize", "nheads", "d_hid", "nlayers", "n_bins", "max_seq_len"):
            if name not in doc:
                if name in ("embsize", "nheads", "d_hid", "nlayers"):
                    raise DataFormatError(f"{path}: missing {name!r}")
                continue
            value = doc[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataFormatError(f"{path}: {name!r} must be a positive integer")
            kw[name] = value
        if kw["embsize"] % kw["nheads"]:
            raise DataFormatError(f"{path}: embsize is not a multiple of nheads")
        if "n_bins" in kw and kw["n_bins"] < 3:
            raise DataFormatError(f"{path}: n_bins must be >= 3")
        pad_value = doc.get("pad_value", -2)
        if isinstance(pad_value, bool) or not isinstance(pad_value, int | float):
            raise DataFormatError(f"{path}: 'pad_value' must be a number")
        kw["pad_value"] = pad_value
        pad_token = doc.get("pad_token", "<pad>")
        if not isinstance(pad_token, str):
            raise DataFormatError(f"{path}: 'pad_token' must be a string")
        kw["pad_token"] = pad_token
        style = doc.get("input_emb_style", "continuous")
        if style not in ("continuous", "category"):
            raise DataFormatError(
                f"{path}: input_emb_style {style!r}: only 'continuous' and 'category' are read"
            )
        kw["input_emb_style"] = style
        if style == "category" and pad_value < 0:
            raise DataFormatError(f"{path}: input_emb_style 'category' needs pad_value >= 0")
        config = cls(**kw)
        if config.n_parameters() > MAX_PARAMETERS:
            raise DataFormatError(
                f"{path}: the config describes {config.n_parameters():,} parameters, above "
                f"the cap of {MAX_PARAMETERS:,}"
            )
        return config

    def n_parameters(self) -> int:
        """Parameters of the encoder part, from the fields alone."""
        d, f = self.embsize, self.d_hid
        emb = self.ntoken * d + 2 * d + (d * d + 3 * d + 4 * d) + self.n_bins * d
        layer = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d
        return emb + self.nlayers * layer


def bin_values(values: np.ndarray, n_bins: int, rng: np.random.Generator) -> np.ndarray:
    """scGPT's binning of one cell's non-zero values: edges at the ``n_bins - 1`` quantiles
    (0 .. 1) of the values; a value's bin is drawn uniformly between its left and right
    ``digitize`` positions (these differ only for values on bin edges)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.quantile(values, np.linspace(0, 1, n_bins - 1))
    left = np.digitize(values, edges)
    right = np.digitize(values, edges, right=True)
    return np.ceil(rng.random(values.size) * (right - left) + left).astype(np.int64)


class ScGPTTokenizer:
    """Binned values with ``<cls>`` (see the module docstring)."""

    def __init__(self, vocab: dict[str, int], config: ScGPTConfig, *, seed: int = 0) -> None:
        self.vocab, self.config, self.seed = vocab, config, int(seed)
        self.pad_id = int(vocab[config.pad_token])
        self.cls_id = int(vocab["<cls>"])

    def genes(self) -> dict[str, int]:
        return {g: t for g, t in self.vocab.items() if g not in _SPECIAL}

    def encode(
        self, X: sp.csr_matrix, genes: np.ndarray, *, offset: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(gene ids, values)`` (cells x length, padded with ``<pad>`` / ``pad_value``);
        ``offset`` (the first row's index in the data) seeds each cell's random draws."""
        vocab = self.genes()
        cols = np.array([i for i, g in enumerate(genes) if g in vocab], dtype=int)
        tokens = np.array([vocab[genes[i]] for i in cols], dtype=np.int64)
        sub = sp.csr_matrix(sp.csr_matrix(X, dtype=np.float64)[:, cols])
        c = self.config
        seqs = []
        for r in range(sub.shape[0]):
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, offset + r]))
            lo, hi = sub.indptr[r], sub.indptr[r + 1]
            idx, val = sub.indices[lo:hi], sub.data[lo:hi]
            keep = val > 0
            idx, val = idx[keep], val[keep]
            bins = bin_values(val, c.n_bins, rng)
            if len(idx) > c.max_seq_len - 1:
                pick = np.sort(rng.permutation(len(idx))[: c.max_seq_len - 1])
                idx, bins = idx[pick], bins[pick]
            seqs.append(
                (
                    np.concatenate([[self.cls_id], tokens[idx]]),
                    np.concatenate([[c.pad_value], bins]).astype(np.float32),
                )
            )
        n = max(len(s[0]) for s in seqs) if seqs else 1
        ids = np.full((len(seqs), n), self.pad_id, dtype=np.int64)
        values = np.full((len(seqs), n), c.pad_value, dtype=np.float32)
        for r, (g, v) in enumerate(seqs):
            ids[r, : len(g)], values[r, : len(v)] = g, v
        return ids, values


class _GeneEncoder(nn.Module):
    def __init__(self, c: ScGPTConfig, padding_idx: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(c.ntoken, c.embsize, padding_idx=padding_idx)
        self.enc_norm = nn.LayerNorm(c.embsize)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.enc_norm(self.embedding(ids))


class _ContinuousValueEncoder(nn.Module):
    def __init__(self, c: ScGPTConfig) -> None:
        super().__init__()
        self.linear1 = nn.Linear(1, c.embsize)
        self.linear2 = nn.Linear(c.embsize, c.embsize)
        self.norm = nn.LayerNorm(c.embsize)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        x = torch.clamp(values[..., None], max=512.0)
        return self.norm(self.linear2(torch.relu(self.linear1(x))))


class _CategoryValueEncoder(nn.Module):
    def __init__(self, c: ScGPTConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(c.n_bins + 2, c.embsize)
        self.enc_norm = nn.LayerNorm(c.embsize)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.enc_norm(self.embedding(values.long()))


class _SelfAttention(nn.Module):
    """Multi-head attention with packed ``in_proj`` weights (q, k, v stacked by rows)."""

    def __init__(self, c: ScGPTConfig) -> None:
        super().__init__()
        self.heads = c.nheads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * c.embsize, c.embsize))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * c.embsize))
        self.out_proj = nn.Linear(c.embsize, c.embsize)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = d // self.heads
        qkv = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = (t.view(b, n, self.heads, h).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(h) + bias
        ctx = torch.softmax(scores, dim=-1) @ v
        return self.out_proj(ctx.transpose(1, 2).reshape(b, n, d))


class _Layer(nn.Module):
    """Post-norm encoder layer (the layout of ``torch.nn.TransformerEncoderLayer``)."""

    def __init__(self, c: ScGPTConfig) -> None:
        super().__init__()
        self.self_attn = _SelfAttention(c)
        self.linear1 = nn.Linear(c.embsize, c.d_hid)
        self.linear2 = nn.Linear(c.d_hid, c.embsize)
        self.norm1 = nn.LayerNorm(c.embsize)
        self.norm2 = nn.LayerNorm(c.embsize)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(x, bias))
        return self.norm2(x + self.linear2(torch.relu(self.linear1(x))))


class _Stack(nn.Module):
    def __init__(self, c: ScGPTConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_Layer(c) for _ in range(c.nlayers))


class ScGPTNetwork(nn.Module):
    """scGPT's encoder: ``forward(ids, values, padding_mask)`` -> ``(cells, length, d)``."""

    def __init__(self, config: ScGPTConfig, *, pad_id: int) -> None:
        super().__init__()
        self.config = config
        self.encoder = _GeneEncoder(config, pad_id)
        if config.input_emb_style == "continuous":
            self.value_encoder: nn.Module = _ContinuousValueEncoder(config)
        else:
            self.value_encoder = _CategoryValueEncoder(config)
        self.transformer_encoder = _Stack(config)

    def forward(
        self, ids: torch.Tensor, values: torch.Tensor, padding_mask: torch.Tensor
    ) -> torch.Tensor:
        x = self.encoder(ids) + self.value_encoder(values)
        bias = torch.zeros(padding_mask.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(padding_mask, float("-inf"))[:, None, None, :]
        for layer in self.transformer_encoder.layers:
            x = layer(x, bias)
        return x


class ScGPTModel:
    """A published scGPT checkpoint: tokenizer + encoder; the embedding is ``<cls>``'s."""

    architecture = "scgpt"

    def __init__(
        self, network: ScGPTNetwork, tokenizer: ScGPTTokenizer, *, normalize: bool = True
    ) -> None:
        self.network, self.tokenizer, self.normalize = network, tokenizer, bool(normalize)

    def __repr__(self) -> str:
        c = self.network.config
        return (
            f"ScGPTModel({c.nlayers} layers, d={c.embsize}, "
            f"{len(self.tokenizer.genes()):,} genes, {c.input_emb_style} values)"
        )

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        device: str | None = None,
        seed: int = 0,
        normalize: bool = True,
    ) -> ScGPTModel:
        """Read a published scGPT folder (see the module docstring)."""
        folder = Path(folder)
        vocab_doc = read_json(folder / "vocab.json")
        if not isinstance(vocab_doc, dict) or not vocab_doc:
            raise DataFormatError(f"{folder / 'vocab.json'}: expected {{gene: id}}")
        vocab: dict[str, int] = {}
        for g, i in vocab_doc.items():
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise DataFormatError(f"{folder / 'vocab.json'}: id of {g!r} is not an integer")
            vocab[g] = i
        if len(set(vocab.values())) != len(vocab):
            raise DataFormatError(f"{folder / 'vocab.json'}: two genes share an id")
        for token in _SPECIAL:  # scGPT appends missing special tokens
            if token not in vocab:
                vocab[token] = max(vocab.values()) + 1
        ntoken = max(vocab.values()) + 1
        config = ScGPTConfig.from_args(
            read_json(folder / "args.json"), ntoken, folder / "args.json"
        )
        if config.pad_token not in vocab:
            raise DataFormatError(f"{folder}: pad_token {config.pad_token!r} not in vocab.json")
        weights = folder / "best_model.pt"
        if not weights.is_file():
            raise DataFormatError(f"{folder}: no best_model.pt")
        network = ScGPTNetwork(config, pad_id=vocab[config.pad_token])
        load_matched_weights(
            network,
            read_state_dict(weights),
            weights,
            rename=_scgpt_name,
            source="args.json / vocab.json",
        )
        network.eval()
        if device is not None:
            from ._device import resolve_device

            network.to(resolve_device(device))
        return cls(network, ScGPTTokenizer(vocab, config, seed=seed), normalize=normalize)

    def cell_embedding(self, ids: Any, values: Any) -> Any:
        """``<cls>`` output (L2-normalised unless ``normalize=False``) of token batches."""
        out = self.network(ids, values, ids.eq(self.tokenizer.pad_id))[:, 0]
        return nn.functional.normalize(out, dim=1) if self.normalize else out

    def embed(
        self,
        adata: Any,
        *,
        batch_size: int = 64,
        layer: str | None = None,
        device: str | None = None,
        gene_column: str | None = None,
    ) -> np.ndarray:
        """Cell embeddings ``(n_obs, embsize)`` (see the module docstring).

        ``gene_column``: the ``var`` column with gene symbols (default: ``var_names`` or the
        column whose identifiers match ``vocab.json`` best).
        """
        if device is not None:
            from ._device import resolve_device

            self.network.to(resolve_device(device))
        dev = next(self.network.parameters()).device
        genes, _ = gene_identifiers(adata, layer, self.tokenizer.genes(), gene_column)
        seen = [0]

        def encode(rows: Any) -> dict[str, Any]:
            ids, values = self.tokenizer.encode(rows, genes, offset=seen[0])
            seen[0] += rows.shape[0]
            return {
                "ids": torch.as_tensor(ids, device=dev),
                "values": torch.as_tensor(values, device=dev),
            }

        return embed_rows(
            adata,
            layer=layer,
            batch_size=batch_size,
            encode=encode,
            forward=lambda b: self.cell_embedding(b["ids"], b["values"]),
            dim=self.network.config.embsize,
        )


def _scgpt_name(name: str) -> str:
    """An scGPT tensor name -> this network's (``module.`` of DistributedDataParallel
    dropped, flash-attention names renamed)."""
    key = name[7:] if name.startswith("module.") else name
    for pattern, repl in _RENAMES:
        key = pattern.sub(repl, key)
    return key
