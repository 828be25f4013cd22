"""Geneformer checkpoints in their published layout: ``vc.models.load("geneformer:PATH")``.

The folder (as published by the Geneformer authors)::

    PATH/
      config.json                     Hugging Face BertConfig (model_type "bert")
      model.safetensors | pytorch_model.bin   BertForMaskedLM (or BertModel) weights
      token_dictionary*.pkl | .json   {Ensembl ID: token id}, with "<pad>", "<mask>"
                                      (V2 models also "<cls>", "<eos>")
      gene_median_dictionary*.pkl | .json   {Ensembl ID: non-zero median expression}

The dictionaries may also sit in the folder's parent (the published repository keeps
them beside the model folders). Pickles are read with
:func:`~virtualcell.models._pickle.read_plain_pickle` (plain dicts only, nothing
executed); ``pytorch_model.bin`` with ``torch.load(weights_only=True)``.

Tokenization (rank-value encoding, as the Geneformer tokenizer): per cell, counts of the
genes in both dictionaries are divided by the cell's total count over all genes, times
10 000, divided by each gene's median; the expressed genes are ranked by that value,
highest first (ties: column order, a stable sort), and truncated to the model's input
size (``max_position_embeddings``). With ``<cls>`` and ``<eos>`` in the dictionary (the
V2 models) the sequence is ``<cls>``, the top ``size - 2`` genes, ``<eos>``.

The network is a BERT encoder written out below (absolute positions, post-norm layers,
the config's activation); its weights are read by the names Hugging Face gives them
(``bert.`` prefix optional; heads such as ``cls.*`` or ``classifier.*`` are ignored).
Cell embedding (as Geneformer's ``EmbExtractor``): the hidden states of layer
``emb_layer`` (``-1``: the second-to-last layer, the default there; ``0``: the last) —
``emb_mode="cell"``: their mean over the gene tokens (``<cls>``/``<eos>`` and padding
left out), ``"cls"``: the ``<cls>`` token's state (V2 models).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .._errors import DataFormatError, ValidationError
from ._published import (
    embed_rows,
    gene_identifiers,
    load_matched_weights,
    read_json,
    read_state_dict,
)

__all__ = ["GeneformerConfig", "GeneformerModel", "GeneformerNetwork", "GeneformerTokenizer"]

_ACTIVATIONS = ("gelu", "relu", "gelu_new", "gelu_pytorch_tanh", "silu", "swish")
_SPECIAL = ("<pad>", "<mask>", "<cls>", "<eos>")


@dataclass(frozen=True)
class GeneformerConfig:
    """The fields of a Hugging Face ``BertConfig`` this encoder uses."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int = 2
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    @classmethod
    def from_hf(cls, doc: Any, path: Path) -> GeneformerConfig:
        """Validate a ``config.json`` document (types, ranges, size cap)."""
        from ._config import MAX_PARAMETERS

        if not isinstance(doc, dict):
            raise DataFormatError(f"{path}: expected a JSON object")
        if doc.get("model_type", "bert") != "bert":
            raise DataFormatError(f"{path}: model_type {doc.get('model_type')!r} is not 'bert'")
        if doc.get("position_embedding_type", "absolute") != "absolute":
            raise DataFormatError(
                f"{path}: position_embedding_type {doc['position_embedding_type']!r}: only "
                "'absolute' (Geneformer's) is supported"
            )
        kw: dict[str, Any] = {}
        for name, default in (
            ("vocab_size", None),
            ("hidden_size", None),
            ("num_hidden_layers", None),
            ("num_attention_heads", None),
            ("intermediate_size", None),
            ("max_position_embeddings", None),
            ("type_vocab_size", 2),
            ("pad_token_id", 0),
        ):
            value = doc.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DataFormatError(f"{path}: {name!r} must be a non-negative integer")
            kw[name] = value
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"):
            if kw[name] < 1:
                raise DataFormatError(f"{path}: {name!r} must be >= 1")
        if kw["hidden_size"] % kw["num_attention_heads"]:
            raise DataFormatError(f"{path}: hidden_size is not a multiple of num_attention_heads")
        act = doc.get("hidden_act", "gelu")
        if act not in _ACTIVATIONS:
            raise DataFormatError(f"{path}: hidden_act {act!r} is not one of {_ACTIVATIONS}")
        eps = doc.get("layer_norm_eps", 1e-12)
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
            raise DataFormatError(f"{path}: layer_norm_eps must be a number in (0, 1)")
        config = cls(**kw, hidden_act=act, layer_norm_eps=float(eps))
        if config.n_parameters() > MAX_PARAMETERS:
            raise DataFormatError(
                f"{path}: the config describes {config.n_parameters():,} parameters, above "
                f"the cap of {MAX_PARAMETERS:,}"
            )
        return config

    def n_parameters(self) -> int:
        """Parameters of the encoder (embeddings + layers), from the fields alone."""
        h, i = self.hidden_size, self.intermediate_size
        emb = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size + 2) * h
        layer = 4 * (h * h + h) + 2 * (h * i) + i + h + 4 * h
        return emb + self.num_hidden_layers * layer


def _activation(name: str):
    import torch.nn.functional as F

    if name == "relu":
        return F.relu
    if name == "gelu":
        return F.gelu
    if name in ("silu", "swish"):
        return F.silu
    return lambda x: F.gelu(x, approximate="tanh")  # gelu_new, gelu_pytorch_tanh


class _Embeddings(nn.Module):
    def __init__(self, c: GeneformerConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        if c.type_vocab_size:
            self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None]
        if hasattr(self, "token_type_embeddings"):
            x = x + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    def __init__(self, c: GeneformerConfig) -> None:
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, h = x.shape
        d = h // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
        ctx = torch.softmax(scores, dim=-1) @ v
        return ctx.transpose(1, 2).reshape(b, n, h)


class _DenseNorm(nn.Module):  # "attention.output" and "output" of a BERT layer
    def __init__(self, c: GeneformerConfig, d_in: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, c: GeneformerConfig) -> None:
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _DenseNorm(c, c.hidden_size)


class _Intermediate(nn.Module):
    def __init__(self, c: GeneformerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)


class _Layer(nn.Module):
    def __init__(self, c: GeneformerConfig) -> None:
        super().__init__()
        self.act = _activation(c.hidden_act)
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _DenseNorm(c, c.intermediate_size)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = self.attention.output(self.attention.self(x, bias), x)
        return self.output(self.act(self.intermediate.dense(x)), x)


class _Encoder(nn.Module):
    def __init__(self, c: GeneformerConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class GeneformerNetwork(nn.Module):
    """BERT encoder; ``forward`` returns every hidden state (embeddings first)."""

    def __init__(self, c: GeneformerConfig) -> None:
        super().__init__()
        self.config = c
        self.embeddings = _Embeddings(c)
        self.encoder = _Encoder(c)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        x = self.embeddings(ids)
        # padded keys get the most negative float (as transformers does)
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        states = [x]
        for layer in self.encoder.layer:
            x = layer(x, bias)
            states.append(x)
        return states


class GeneformerTokenizer:
    """Rank-value encoding with gene medians (see the module docstring)."""

    def __init__(
        self,
        token_dictionary: dict[str, int],
        gene_medians: dict[str, float],
        *,
        model_input_size: int,
    ) -> None:
        self.token_dictionary = token_dictionary
        self.gene_medians = gene_medians
        self.model_input_size = int(model_input_size)
        self.special = "<cls>" in token_dictionary and "<eos>" in token_dictionary
        self.pad_id = int(token_dictionary.get("<pad>", 0))

    def genes(self) -> dict[str, int]:
        """Genes that can be tokenized (in both dictionaries, not a special token)."""
        return {
            g: t
            for g, t in self.token_dictionary.items()
            if g not in _SPECIAL and g in self.gene_medians
        }

    def encode(self, X: sp.csr_matrix, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(input_ids (cells x length, padded with <pad>), lengths)`` of count rows."""
        vocab = self.genes()
        cols = np.array([i for i, g in enumerate(genes) if g in vocab], dtype=int)
        tokens = np.array([vocab[genes[i]] for i in cols], dtype=np.int64)
        medians = np.array([float(self.gene_medians[genes[i]]) for i in cols])
        X = sp.csr_matrix(X, dtype=np.float64)
        totals = np.asarray(X.sum(1)).ravel()
        sub = sp.csr_matrix(X[:, cols])
        room = self.model_input_size - (2 if self.special else 0)
        seqs = []
        for r in range(sub.shape[0]):
            lo, hi = sub.indptr[r], sub.indptr[r + 1]
            idx, val = sub.indices[lo:hi], sub.data[lo:hi]
            keep = val > 0
            idx, val = idx[keep], val[keep]
            norm = val / totals[r] * 10_000 / medians[idx] if totals[r] > 0 else val
            order = np.argsort(-norm, kind="stable")[:room]
            seq = tokens[idx[order]]
            if self.special:
                cls, eos = self.token_dictionary["<cls>"], self.token_dictionary["<eos>"]
                seq = np.concatenate([[cls], seq, [eos]])
            seqs.append(seq)
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        if (lengths == 0).any():
            raise ValidationError(
                f"{int((lengths == 0).sum())} cell(s) express no gene of the Geneformer token "
                "dictionary; they cannot be embedded (filter them out first)"
            )
        ids = np.full((len(seqs), int(lengths.max(initial=1))), self.pad_id, dtype=np.int64)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = s
        return ids, lengths


def _find(folder: Path, stems: tuple[str, ...], what: str) -> Path:
    for where in (folder, folder.parent):
        hits = sorted(
            {
                p
                for stem in stems
                for suffix in (".json", ".pkl", ".pickle")
                for p in where.glob(f"{stem}*{suffix}")
            }
        )
        if len(hits) > 1:
            raise DataFormatError(
                f"{where}: several files could be the {what} ({', '.join(p.name for p in hits)}); "
                "keep the one of this model or pass its path"
            )
        if hits:
            return hits[0]
    raise DataFormatError(
        f"{folder}: no {what} ({' or '.join(s + '*.pkl' for s in stems)}, or .json) in the "
        "folder or its parent"
    )


def _read_dictionary(path: Path, value_type: type) -> dict[str, Any]:
    from ._pickle import read_plain_pickle

    doc = read_json(path) if path.suffix == ".json" else read_plain_pickle(path)
    if not isinstance(doc, dict) or not doc:
        raise DataFormatError(f"{path}: expected a non-empty dictionary")
    out = {}
    for k, v in doc.items():
        ok = isinstance(v, int) if value_type is int else isinstance(v, int | float)
        if not isinstance(k, str) or isinstance(v, bool) or not ok:
            raise DataFormatError(f"{path}: entry {k!r}: {v!r} is not str -> {value_type.__name__}")
        out[k] = v
    return out


class GeneformerModel:
    """A published Geneformer checkpoint: tokenizer + BERT encoder + cell pooling.

    Use :meth:`from_folder` (or ``vc.models.load("geneformer:PATH")``).
    """

    architecture = "geneformer"

    def __init__(
        self,
        network: Any,
        tokenizer: GeneformerTokenizer,
        *,
        emb_mode: Literal["cell", "cls"] | None = None,
        emb_layer: int = -1,
    ) -> None:
        if emb_mode is None:
            emb_mode = "cls" if tokenizer.special else "cell"
        if emb_mode not in ("cell", "cls"):
            raise ValidationError(f"emb_mode must be 'cell' or 'cls', got {emb_mode!r}")
        if emb_mode == "cls" and not tokenizer.special:
            raise ValidationError("emb_mode='cls' needs <cls> in the token dictionary (V2)")
        if emb_layer not in (-1, 0):
            raise ValidationError(
                f"emb_layer must be -1 (second-to-last) or 0 (last), got {emb_layer}"
            )
        self.network, self.tokenizer = network, tokenizer
        self.emb_mode, self.emb_layer = emb_mode, int(emb_layer)

    def __repr__(self) -> str:
        c = self.network.config
        return (
            f"GeneformerModel({c.num_hidden_layers} layers, d={c.hidden_size}, "
            f"{len(self.tokenizer.genes()):,} genes, emb_mode={self.emb_mode!r})"
        )

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        device: str | None = None,
        emb_mode: Literal["cell", "cls"] | None = None,
        emb_layer: int = -1,
        token_dictionary: str | Path | None = None,
        gene_medians: str | Path | None = None,
    ) -> GeneformerModel:
        """Read a published Geneformer folder (see the module docstring); the two gene
        dictionaries are found in the folder or its parent unless their paths are given."""
        folder = Path(folder)
        config = GeneformerConfig.from_hf(read_json(folder / "config.json"), folder / "config.json")
        weights = folder / "model.safetensors"
        if not weights.is_file():
            weights = folder / "pytorch_model.bin"
        if not weights.is_file():
            raise DataFormatError(f"{folder}: no model.safetensors or pytorch_model.bin")
        tokens = _read_dictionary(
            Path(token_dictionary)
            if token_dictionary is not None
            else _find(folder, ("token_dictionary", "token_dict"), "gene token dictionary"),
            int,
        )
        medians = _read_dictionary(
            Path(gene_medians)
            if gene_medians is not None
            else _find(folder, ("gene_median_dictionary", "gene_median"), "gene median file"),
            float,
        )
        if max(tokens.values()) >= config.vocab_size or min(tokens.values()) < 0:
            raise DataFormatError(
                f"{folder}: token ids run to {max(tokens.values())} but vocab_size is "
                f"{config.vocab_size} (dictionary and model do not match)"
            )
        network = GeneformerNetwork(config)
        load_matched_weights(
            network,
            read_state_dict(weights),
            weights,
            rename=_bert_name,
            source="BERT config",
        )
        network.eval()
        if device is not None:
            from ._device import resolve_device

            network.to(resolve_device(device))
        tokenizer = GeneformerTokenizer(
            tokens, medians, model_input_size=config.max_position_embeddings
        )
        return cls(network, tokenizer, emb_mode=emb_mode, emb_layer=emb_layer)

    def hidden_states(self, input_ids: Any, attention_mask: Any) -> list[Any]:
        """Every hidden state of the encoder (embedding output first), as transformers'
        ``output_hidden_states=True``."""
        return self.network(input_ids, attention_mask)

    def _pool(self, ids: Any, lengths: Any) -> Any:
        import torch

        mask = (torch.arange(ids.shape[1], device=ids.device)[None] < lengths[:, None]).long()
        states = self.network(ids, mask)
        h = states[len(states) - 1 + self.emb_layer]
        if self.emb_mode == "cls":
            return h[:, 0]
        if self.tokenizer.special:  # leave <cls> (first) and <eos> (last) out
            h, lengths = h[:, 1:], lengths - 2
        keep = torch.arange(h.shape[1], device=h.device)[None] < lengths[:, None]
        summed = (h * keep[..., None].to(h.dtype)).sum(1)
        return summed / lengths.clamp(min=1)[:, None].to(h.dtype)

    def embed(
        self,
        adata: Any,
        *,
        batch_size: int = 64,
        layer: str | None = None,
        device: str | None = None,
        gene_column: str | None = None,
    ) -> np.ndarray:
        """Cell embeddings ``(n_obs, hidden_size)`` of raw counts (see the module docstring).

        ``gene_column``: the ``var`` column with Ensembl IDs (default: ``var_names`` or the
        column whose identifiers match the token dictionary best).
        """
        import torch

        if device is not None:
            from ._device import resolve_device

            self.network.to(resolve_device(device))
        dev = next(self.network.parameters()).device
        genes, _ = gene_identifiers(adata, layer, self.tokenizer.genes(), gene_column)

        def encode(rows: Any) -> dict[str, Any]:
            ids, lengths = self.tokenizer.encode(rows, genes)
            return {
                "ids": torch.as_tensor(ids, device=dev),
                "lengths": torch.as_tensor(lengths, device=dev),
            }

        return embed_rows(
            adata,
            layer=layer,
            batch_size=batch_size,
            encode=encode,
            forward=lambda b: self._pool(b["ids"], b["lengths"]),
            dim=self.network.config.hidden_size,
            counts_for="Geneformer (rank of counts per library size and gene median)",
        )


def _bert_name(name: str) -> str:
    """A Hugging Face BERT tensor name (``bert.`` prefix optional) -> this network's."""
    return name[5:] if name.startswith("bert.") else name
