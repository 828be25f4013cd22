"""Oracle-derived GRN methods: attention maps and in-silico deletion of a ``CellEncoder``.

Both methods either take a pretrained model (``model=`` a :class:`CellModel` or its
checkpoint folder) or pretrain a tiny masked-value (MAE) :class:`CellEncoder` on the input
cells themselves. Every cell is one sequence ``<cls>, gene_1 .. gene_n`` holding every
gene (no truncation), so every gene pair has an attention weight in every cell.

Masked passes: the genes of each cell are split at random into ``n_groups`` groups of
equal size (a seeded permutation per cell); pass ``g`` hides the values of group ``g``
(the model's learned "masked value" input, as in MAE pretraining). Scores are read from
the hidden genes only, where the model must infer a value from the other genes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import ValidationError
from ._base import GRNInput, Scores

if TYPE_CHECKING:
    from ..models import CellModel
    from ..train import TrainConfig

__all__: list[str] = []

#: Architecture of the self-pretrained oracle (overridable with ``model_config=``).
TINY_CONFIG = {"d_model": 32, "n_layers": 2, "n_heads": 4, "d_ff": 64}
#: Optimisation of the self-pretrained oracle (overridable with ``train_config=``).
TINY_TRAIN = {"max_steps": 300, "batch_size": 64, "lr": 3e-3, "warmup_steps": 20}


@dataclass
class _Oracle:
    """A network plus the cells laid out as token sequences.

    ``pos[c, j]`` is the sequence position of gene ``j`` in cell ``c``; ``off[j]`` is the
    value-channel input meaning "gene j not expressed"; ``scale[j]`` the standard deviation
    of gene ``j``'s value channel over the cells (deletion effects are divided by it).
    """

    network: Any
    ids: Any
    values: Any
    mask: Any
    pos: Any
    off: Any
    scale: np.ndarray


def _self_trained(data: GRNInput, seed: int, model_config: Any, train_config: Any) -> _Oracle:
    """Standardise each gene, pretrain a tiny MAE ``CellEncoder`` on the cells."""
    import torch

    from ..models import CellEncoder, CellEncoderConfig
    from ..tokenize import GeneVocab
    from ..train import MaskedValueObjective, TensorBatches, TrainConfig, train

    n_cells, n = data.X.shape
    mean, sd = data.X.mean(0), data.X.std(0)
    inv = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)  # constant genes -> 0
    Z = (data.X - mean) * inv
    vocab = GeneVocab(data.genes)
    ids = torch.as_tensor(np.concatenate([[vocab.cls_id], vocab.n_special + np.arange(n)]))
    ids = ids[None].expand(n_cells, n + 1).contiguous()
    values = torch.zeros(n_cells, n + 1)
    values[:, 1:] = torch.as_tensor(Z, dtype=torch.float32)
    mask = torch.ones(n_cells, n + 1, dtype=torch.bool)
    cfg = {
        **TINY_CONFIG,
        **dict(model_config or {}),
        "vocab_size": len(vocab),
        "max_len": n + 1,
        "value_mode": "continuous",
        "heads": ("mae",),
    }
    net = CellEncoder(CellEncoderConfig.from_dict(cfg), seed=seed)
    if isinstance(train_config, TrainConfig):
        tc = train_config
    else:
        tc = TrainConfig.from_dict(
            {**TINY_TRAIN, "device": "cpu", **dict(train_config or {}), "seed": seed}
        )
    batches = TensorBatches(
        {"input_ids": ids, "values": values, "attention_mask": mask},
        batch_size=tc.batch_size,
        seed=tc.seed,
    )
    train(net, batches, MaskedValueObjective(n_special=vocab.n_special), tc)
    net.cpu().eval()
    pos = torch.arange(1, n + 1)[None].expand(n_cells, n)
    off = torch.as_tensor(-mean * inv, dtype=torch.float32)
    return _Oracle(net, ids, values, mask, pos, off, np.where(sd > 0, 1.0, 0.0))


def _from_model(data: GRNInput, model: Any) -> _Oracle:
    """Tokenize the cells with a pretrained model's own tokenizer; every gene must appear."""
    import torch

    if isinstance(model, str | Path):
        from ..models import CellModel

        model = CellModel.from_pretrained(model)
    net = getattr(model, "network", None)
    if net is None or getattr(model, "architecture", "") != "cell_encoder":
        raise ValidationError("model= must be a CellEncoder CellModel or its checkpoint folder")
    tok = model.tokenizer.encode(data.X, genes=data.genes)
    ids = torch.as_tensor(tok.input_ids)
    vocab = model.tokenizer.vocab
    gene_ids = np.array([vocab.get(g, -1) for g in data.genes])
    missing = [g for g, i in zip(data.genes, gene_ids, strict=True) if i < vocab.n_special]
    if missing:
        raise ValidationError(f"genes not in the model's vocabulary: {missing[:10]}")
    hit = tok.input_ids[:, :, None] == gene_ids[None, None, :]  # (cells, length, genes)
    absent = ~hit.any(1)
    if absent.any():
        cells, genes = np.nonzero(absent)
        raise ValidationError(
            f"gene {data.genes[genes[0]]!r} is missing from the token sequence of cell "
            f"{cells[0]} ({int(absent.sum())} gene-cell pairs); use a tokenizer with "
            "gene_subset='all' and max_len >= the number of genes"
        )
    pos = torch.as_tensor(hit.argmax(1))
    if tok.values is None:
        values = torch.zeros(ids.shape)
    else:
        values = torch.as_tensor(tok.values, dtype=torch.float32)
    gathered = torch.gather(values, 1, pos).numpy()
    net.cpu().eval()
    off = torch.zeros(len(data.genes))
    mask = torch.as_tensor(tok.attention_mask, dtype=torch.bool)
    return _Oracle(net, ids, values, mask, pos, off, gathered.std(0))


def _oracle(
    data: GRNInput, model: Any, seed: int, model_config: Any, train_config: Any, n_cells: Any
) -> _Oracle:
    if model is not None:
        if model_config is not None or train_config is not None:
            raise ValidationError("model_config / train_config only apply without model=")
        orc = _from_model(data, model)
    else:
        orc = _self_trained(data, seed, model_config, train_config)
    total = int(orc.ids.shape[0])
    if n_cells is not None and int(n_cells) < total:
        rows = np.sort(np.random.default_rng([seed, 1]).choice(total, int(n_cells), replace=False))
        orc.ids, orc.values, orc.mask, orc.pos = (
            t[rows] for t in (orc.ids, orc.values, orc.mask, orc.pos)
        )
    return orc


def _groups(n_cells: int, n_genes: int, n_groups: int, seed: int) -> np.ndarray:
    """Group index (cells, genes): per cell a random permutation dealt round-robin."""
    rng = np.random.default_rng([seed, 2])
    ranks = np.argsort(np.argsort(rng.random((n_cells, n_genes)), axis=1), axis=1)
    return ranks % max(1, min(int(n_groups), n_genes))


def _token_mask(orc: _Oracle, rows: slice, gene_mask: Any) -> Any:
    """Scatter a (cells, genes) boolean mask to token positions."""
    import torch

    out = torch.zeros(orc.ids[rows].shape, dtype=torch.bool)
    return out.scatter(1, orc.pos[rows], torch.as_tensor(gene_mask))


def _threads(n_jobs: int):
    import contextlib

    import torch

    @contextlib.contextmanager
    def ctx():
        before, grad = torch.get_num_threads(), torch.is_grad_enabled()
        torch.set_num_threads(max(1, int(n_jobs)))
        try:
            yield
        finally:
            torch.set_num_threads(before)
            torch.set_grad_enabled(grad)

    return ctx()


def _combine_layers(maps: list[Any], layers: str) -> Any:
    """(cells, tokens, tokens) attention from per-layer (cells, heads, q, k) maps."""
    import torch

    if layers == "last":
        return maps[-1].mean(1)
    if layers == "mean":
        return torch.stack([m.mean(1) for m in maps]).mean(0)
    eye = torch.eye(maps[0].shape[-1])
    roll = None
    for m in maps:  # attention rollout: residual-mixed, row-normalised, multiplied
        a = 0.5 * m.mean(1) + 0.5 * eye
        a = a / a.sum(-1, keepdim=True)
        roll = a if roll is None else a @ roll
    return roll


def attention(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    model: CellModel | str | Path | None = None,
    model_config: Mapping[str, Any] | None = None,
    train_config: TrainConfig | Mapping[str, Any] | None = None,
    layers: Literal["mean", "last", "rollout"] = "mean",
    masked_queries: bool = True,
    n_groups: int = 4,
    n_cells: int | None = 500,
    batch_size: int = 256,
) -> Scores:
    """Mean attention paid by target genes to regulator genes.

    ``score[r, t]`` = mean over cells (and masked passes) of ``A[t, r]``, the attention
    weight of query token ``t`` on key token ``r``, averaged over heads and combined over
    layers by ``layers``: ``mean`` (mean of every layer), ``last`` (last layer) or
    ``rollout`` (product of the layers' ``(A + I) / 2``, row-normalised). With
    ``masked_queries`` only rows of genes whose value is hidden in that pass count. Unsigned.

    Parameters
    ----------
    model
        :class:`CellModel` (CellEncoder) or checkpoint folder; None pretrains a tiny one.
    model_config, train_config
        Overrides of :data:`TINY_CONFIG` / :data:`TINY_TRAIN` (dict or ``TrainConfig``).
    n_groups
        Masked passes per cell (each hides ~1/n_groups of the genes).
    n_cells
        Cells used for the maps (a seeded subsample; None = all).
    """
    if layers not in ("mean", "last", "rollout"):
        raise ValidationError(f"layers must be mean, last or rollout, got {layers!r}")
    import torch

    with _threads(n_jobs):
        orc = _oracle(data, model, seed, model_config, train_config, n_cells)
        torch.set_grad_enabled(False)
        cells, n = orc.pos.shape
        can_mask = orc.network.config.value_mode in ("bin", "continuous")
        passes = range(n_groups) if masked_queries and can_mask else [None]
        group = _groups(cells, n, n_groups, seed)
        total = torch.zeros(n, n, dtype=torch.float64)  # [query, key]
        count = torch.zeros(n, 1, dtype=torch.float64)
        for g in passes:
            for s in range(0, cells, batch_size):
                rows = slice(s, min(s + batch_size, cells))
                hide = group[rows] == g if g is not None else np.zeros((rows.stop - s, n), bool)
                vm = _token_mask(orc, rows, hide) if g is not None else None
                _, maps = orc.network.encode(
                    orc.ids[rows], orc.values[rows], orc.mask[rows], vm, return_attention=True
                )
                A = _combine_layers(maps, layers)
                p = orc.pos[rows]
                A = torch.gather(A, 1, p[:, :, None].expand(-1, -1, A.shape[-1]))
                A = torch.gather(A, 2, p[:, None, :].expand(-1, n, -1)).double()
                w = torch.as_tensor(hide if g is not None else ~hide, dtype=torch.float64)
                total += (A * w[:, :, None]).sum(0)
                count += w.sum(0)[:, None]
        S = (total / count.clamp_min(1.0)).numpy().T  # [key = regulator, query = target]
    return Scores(score=S[data.regulators])


def in_silico_deletion(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    model: CellModel | str | Path | None = None,
    model_config: Mapping[str, Any] | None = None,
    train_config: TrainConfig | Mapping[str, Any] | None = None,
    knockout: Literal["zero", "remove"] = "zero",
    n_groups: int = 4,
    n_cells: int | None = 500,
    batch_size: int = 512,
) -> Scores:
    """Change in the model's masked-value prediction of each target when a regulator is
    knocked out in silico.

    In masked pass ``g`` with the regulator ``r`` visible, ``d[c, r, t]`` =
    ``pred_t(r knocked out) - pred_t(r as observed)`` for every target ``t`` hidden in the
    pass (MAE head). ``score[r, t] = |mean_c d| / sd_t`` (``sd_t``: the target's
    standard deviation in the value channel; the self-trained oracle works on z-scores,
    so ``sd_t = 1``); ``sign = -sign(mean_c d)`` (a loss of the target after deletion means
    activation).

    Parameters
    ----------
    knockout
        ``zero``: set the regulator's value to "not expressed" (raw 0, standardised for
        the self-trained oracle; 0 for a tokenizer's value channel); ``remove``: drop the
        regulator's token from attention.
    model, model_config, train_config, n_groups, n_cells
        As in :func:`attention`; ``model`` needs an ``mae`` head.
    """
    if knockout not in ("zero", "remove"):
        raise ValidationError(f"knockout must be 'zero' or 'remove', got {knockout!r}")
    import torch

    with _threads(n_jobs):
        orc = _oracle(data, model, seed, model_config, train_config, n_cells)
        torch.set_grad_enabled(False)
        if "mae" not in orc.network.heads:
            raise ValidationError("in_silico_deletion needs a CellEncoder with an 'mae' head")
        cells, n = orc.pos.shape
        group = _groups(cells, n, n_groups, seed)
        regs = data.regulators
        total = torch.zeros(len(regs), n, dtype=torch.float64)
        count = torch.zeros(len(regs), n, dtype=torch.float64)
        head = orc.network.heads["mae"]

        def predict(ids, vals, amask, vm, p):
            hidden = orc.network.encode(ids, vals, amask, vm)
            return torch.gather(head(hidden).squeeze(-1), 1, p).double()

        for g in range(max(1, min(n_groups, n))):
            for s in range(0, cells, batch_size):
                rows = slice(s, min(s + batch_size, cells))
                ids, vals, amask, p = orc.ids[rows], orc.values[rows], orc.mask[rows], orc.pos[rows]
                for k, r in enumerate(regs):
                    hide = group[rows] == g
                    hide[:, r] = False
                    if not hide.any():
                        continue
                    vm = _token_mask(orc, rows, hide)
                    base = predict(ids, vals, amask, vm, p)
                    at = p[:, r : r + 1]
                    if knockout == "zero":
                        ko_vals = vals.scatter(1, at, orc.off[r].expand(at.shape).contiguous())
                        ko = predict(ids, ko_vals, amask, vm, p)
                    else:
                        ko_mask = amask.scatter(1, at, torch.zeros(at.shape, dtype=torch.bool))
                        ko = predict(ids, vals, ko_mask, vm, p)
                    w = torch.as_tensor(hide, dtype=torch.float64)
                    total[k] += ((ko - base) * w).sum(0)
                    count[k] += w.sum(0)
        mean = (total / count.clamp_min(1.0)).numpy()
    inv = np.divide(1.0, orc.scale, out=np.zeros_like(orc.scale), where=orc.scale > 0)
    mean = mean * inv[None, :]
    mean[np.arange(len(regs)), regs] = 0.0
    return Scores(score=np.abs(mean), sign=-np.sign(mean))
