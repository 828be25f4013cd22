"""Training objectives as small strategy objects (one training loop serves them all).

Each objective has a ``name`` and ``loss(model, batch, generator) -> (loss, metrics)``.
``model`` is the (possibly DistributedDataParallel-wrapped) network, always *called*
(never reached into) so gradient synchronisation works; ``generator`` is the training
loop's private CPU generator used for masking, so runs are reproducible and resumable.

:data:`OBJECTIVES` lists them by name; pretraining objectives are tagged ``pretraining``
and name the architecture they train (``architecture``), fine-tuning ones ``finetuning``.
``OBJECTIVES.get(name).for_vocab(vocab)`` builds one with the token ids of a vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from .._errors import ValidationError
from .._utils import Entry, Registry

__all__ = [
    "OBJECTIVES",
    "ClassificationObjective",
    "MaskedTokenObjective",
    "MaskedValueObjective",
    "NextTokenObjective",
    "Objective",
    "RegressionObjective",
]

#: A network (or its DDP wrapper) as the objectives call it: token batch in, outputs out.
Network = Callable[..., Mapping[str, torch.Tensor]]
#: One batch: ``input_ids``, ``attention_mask`` and optionally ``values`` / ``labels``.
Batch = Mapping[str, torch.Tensor]


@runtime_checkable
class Objective(Protocol):
    """What the training loop needs from an objective."""

    name: str

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]: ...


class _FromVocab:
    """``for_vocab``: build with the special-token ids of a vocabulary (none needed here)."""

    #: Architecture a pretraining objective trains (``None`` for fine-tuning objectives).
    architecture: ClassVar[str | None] = None
    #: Whether the objective needs a tokenizer with values (bin / continuous).
    needs_values: ClassVar[bool] = False

    @classmethod
    def for_vocab(cls, vocab: Any, **kwargs: Any) -> Any:
        return cls(**kwargs)


def _maskable(batch: dict[str, torch.Tensor], n_special: int) -> torch.Tensor:
    return batch["attention_mask"].bool() & (batch["input_ids"] >= n_special)


def _choose(eligible: torch.Tensor, prob: float, generator: torch.Generator) -> torch.Tensor:
    """Random subset of ``eligible`` positions (each with probability ``prob``; >= 1 per batch)."""
    draw = torch.rand(eligible.shape, generator=generator) < prob
    chosen = (draw.to(eligible.device)) & eligible
    if not bool(chosen.any()) and bool(eligible.any()):
        first = eligible.flatten().nonzero()[0]
        chosen.view(-1)[first] = True
    return chosen


@dataclass(frozen=True)
class MaskedTokenObjective(_FromVocab):
    """Masked gene-token prediction (MLM): hide ``mask_prob`` of gene tokens, predict them.

    Masked tokens are replaced by ``<mask>``; their values (rank position, bin, expression)
    stay visible. Loss: cross-entropy over the vocabulary at masked positions.
    """

    mask_prob: float = 0.15
    mask_id: int = 2
    n_special: int = 5
    name: str = "mlm"
    architecture: ClassVar[str | None] = "cell_encoder"

    @classmethod
    def for_vocab(cls, vocab: Any, **kwargs: Any) -> MaskedTokenObjective:
        return cls(mask_id=vocab.mask_id, n_special=vocab.n_special, **kwargs)

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        target = _choose(_maskable(batch, self.n_special), self.mask_prob, generator)
        ids = batch["input_ids"].masked_fill(target, self.mask_id)
        out = model(
            ids, batch.get("values"), batch["attention_mask"], target_mask=target, heads=("mlm",)
        )
        loss = F.cross_entropy(out["mlm"].float(), batch["input_ids"][target])
        return loss, {"loss": float(loss.detach())}


@dataclass(frozen=True)
class MaskedValueObjective(_FromVocab):
    """Masked value regression (MAE): hide ``mask_prob`` of the values, regress them (MSE).

    Gene identities stay visible; the hidden values are replaced by a learned "masked"
    input. Needs a tokenizer with a value channel (bin or continuous).
    """

    mask_prob: float = 0.3
    n_special: int = 5
    name: str = "mae"
    architecture: ClassVar[str | None] = "cell_encoder"
    needs_values: ClassVar[bool] = True

    @classmethod
    def for_vocab(cls, vocab: Any, **kwargs: Any) -> MaskedValueObjective:
        return cls(n_special=vocab.n_special, **kwargs)

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        if batch.get("values") is None:
            raise ValidationError(
                "the mae objective needs a tokenizer with values (bin/continuous)"
            )
        target = _choose(_maskable(batch, self.n_special), self.mask_prob, generator)
        out = model(
            batch["input_ids"],
            batch["values"],
            batch["attention_mask"],
            value_mask=target,
            target_mask=target,
            heads=("mae",),
        )
        loss = F.mse_loss(out["mae"].float(), batch["values"][target].float())
        return loss, {"loss": float(loss.detach())}


@dataclass(frozen=True)
class NextTokenObjective(_FromVocab):
    """Next-token prediction (causal language modelling) over gene-token sequences."""

    name: str = "ntp"
    architecture: ClassVar[str | None] = "cell_gpt"

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(batch["input_ids"], None, batch["attention_mask"])
        logits = out["logits"][:, :-1]
        target = batch["input_ids"][:, 1:]
        keep = batch["attention_mask"][:, 1:].bool()
        loss = F.cross_entropy(logits[keep].float(), target[keep])
        return loss, {"loss": float(loss.detach())}


@dataclass(frozen=True)
class ClassificationObjective(_FromVocab):
    """Cross-entropy of a fine-tuned model's logits against integer ``batch["labels"]``."""

    name: str = "classification"

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(batch["input_ids"], batch.get("values"), batch["attention_mask"])
        labels = batch["labels"].long()
        loss = F.cross_entropy(out["logits"].float(), labels)
        acc = (out["logits"].argmax(1) == labels).float().mean()
        return loss, {"loss": float(loss.detach()), "acc": float(acc)}


@dataclass(frozen=True)
class RegressionObjective(_FromVocab):
    """Mean squared error of a fine-tuned model's outputs against float ``batch["labels"]``."""

    name: str = "regression"

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(batch["input_ids"], batch.get("values"), batch["attention_mask"])
        pred = out["logits"].float()
        target = batch["labels"].float().reshape(pred.shape[0], -1)
        loss = F.mse_loss(pred, target)
        return loss, {"loss": float(loss.detach())}


def _builtins() -> list[Entry[Any]]:
    pre, fine = ("pretraining",), ("finetuning",)
    return [
        Entry("mlm", MaskedTokenObjective, "Masked gene-token prediction (CellEncoder).", tags=pre),
        Entry("mae", MaskedValueObjective, "Masked value regression (CellEncoder).", tags=pre),
        Entry("ntp", NextTokenObjective, "Next-token prediction (CellGPT).", tags=pre),
        Entry("classification", ClassificationObjective, "Cross-entropy on labels.", tags=fine),
        Entry("regression", RegressionObjective, "MSE on standardised targets.", tags=fine),
    ]


#: Objective classes by name (``OBJECTIVES.names(tag="pretraining")``: mae, mlm, ntp).
OBJECTIVES: Registry[Any] = Registry("objective", builtins=_builtins)
