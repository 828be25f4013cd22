"""Training objectives as small strategy objects (one training loop serves them all).

Each objective has a ``name`` and ``loss(model, batch, generator) -> (loss, metrics)``.
``model`` is the (possibly DistributedDataParallel-wrapped) network, always *called*
(never reached into) so gradient synchronisation works; ``generator`` is the training
loop's private CPU generator used for masking, so runs are reproducible and resumable.

:data:`OBJECTIVES` lists them by name; pretraining objectives are tagged ``pretraining``
and name the architecture they train (``architecture``), fine-tuning ones ``finetuning``.
``OBJECTIVES.get(name).for_vocab(vocab)`` builds one with the token ids of a vocabulary;
:func:`build_objective` also builds weighted sums such as ``"mlm+mvc+views"`` or
``"mlm+0.5*mvc"`` (:class:`CombinedObjective`: one masked view shared by the parts).

Three CellEncoder objectives share a masked view of the batch (``<mask>`` over a random
``mask_prob`` of gene tokens) and score the network's output on it:

* ``mlm`` — the masked tokens (cross-entropy; never touches the pooled embedding);
* ``mvc`` — every vocabulary gene's count decoded from the pooled cell embedding under a
  negative binomial (mean = library size x softmax over genes, per-gene dispersion);
* ``views`` — InfoNCE between the pooled embeddings of two independently masked views.
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
    "CombinedObjective",
    "ContrastiveObjective",
    "ExpressionObjective",
    "MaskedTokenObjective",
    "MaskedValueObjective",
    "NextTokenObjective",
    "Objective",
    "RegressionObjective",
    "ViewContrastObjective",
    "build_objective",
    "nb_log_likelihood",
    "parse_objective",
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
    #: Whether batches must carry ``counts``: ``(batch, vocab)`` expression per token id.
    needs_counts: ClassVar[bool] = False
    #: CellEncoder heads the objective reads.
    model_heads: ClassVar[tuple[str, ...]] = ()

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


def _masked_view(
    batch: Batch, prob: float, mask_id: int, n_special: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input ids with <mask> at the chosen gene tokens, chosen positions)``."""
    target = _choose(_maskable(batch, n_special), prob, generator)
    return batch["input_ids"].masked_fill(target, mask_id), target


class _ViewObjective(_FromVocab):
    """An objective scored on one masked view of the batch (``mlm``, ``mvc``, ``views``).

    ``loss`` masks, runs the network once with :attr:`model_heads` and calls
    :meth:`from_view`; :class:`CombinedObjective` shares that one view between parts.
    """

    mask_prob: float
    mask_id: int
    n_special: int
    architecture: ClassVar[str | None] = "cell_encoder"

    @classmethod
    def for_vocab(cls, vocab: Any, **kwargs: Any) -> Any:
        return cls(mask_id=vocab.mask_id, n_special=vocab.n_special, **kwargs)

    def from_view(
        self,
        model: Network,
        batch: Batch,
        out: Mapping[str, torch.Tensor],
        target: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        raise NotImplementedError

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        ids, target = _masked_view(batch, self.mask_prob, self.mask_id, self.n_special, generator)
        out = model(
            ids,
            batch.get("values"),
            batch["attention_mask"],
            target_mask=target,
            heads=self.model_heads,
        )
        loss = self.from_view(model, batch, out, target, generator)
        return loss, {"loss": float(loss.detach())}


@dataclass(frozen=True)
class MaskedTokenObjective(_ViewObjective):
    """Masked gene-token prediction (MLM): hide ``mask_prob`` of gene tokens, predict them.

    Masked tokens are replaced by ``<mask>``; their values (rank position, bin, expression)
    stay visible. Loss: cross-entropy over the vocabulary at masked positions.
    """

    mask_prob: float = 0.15
    mask_id: int = 2
    n_special: int = 5
    name: str = "mlm"
    model_heads: ClassVar[tuple[str, ...]] = ("mlm",)

    def from_view(self, model, batch, out, target, generator) -> torch.Tensor:
        return F.cross_entropy(out["mlm"].float(), batch["input_ids"][target])


def nb_log_likelihood(x: torch.Tensor, mu: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Element-wise log-likelihood of counts ``x`` under NB(mean ``mu``, inverse dispersion
    ``theta``) (variance ``mu + mu^2 / theta``; scVI's parameterisation)::

        lgamma(x + theta) - lgamma(theta) - lgamma(x + 1)
        + theta * log(theta / (theta + mu)) + x * log(mu / (theta + mu))

    Non-integer ``x`` (normalised expression) gets the same continuous formula.

    Parameters
    ----------
    x
        Observed values (counts, >= 0).
    mu
        NB means (> 0), broadcastable to ``x``.
    theta
        Inverse dispersions (> 0), broadcastable to ``x``.

    Returns
    -------
    torch.Tensor
        The log-likelihood of each element (nats), shape of the broadcast inputs.
    """
    eps = 1e-8
    log_t_mu = torch.log(theta + mu + eps)
    return (
        torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1.0)
        + theta * (torch.log(theta + eps) - log_t_mu)
        + x * (torch.log(mu + eps) - log_t_mu)
    )


@dataclass(frozen=True)
class ExpressionObjective(_ViewObjective):
    """Expression reconstruction from the cell embedding (scGPT's GEPC / MVC, NB likelihood).

    From the pooled embedding of the masked view the ``mvc`` head scores every vocabulary
    gene; with the cell's library ``l`` (sum of its ``counts`` over vocabulary genes) the
    mean is ``mu_g = l * softmax_g(logit)`` (over gene tokens, not special tokens) and the
    dispersion ``theta_g = exp(log_theta_g)`` is learned per gene, as in scVI. Loss: the
    negative log-likelihood per gene, averaged over genes and cells. Batches must carry
    ``counts`` (``(batch, vocab)``; :class:`~virtualcell.train.CellBatches` with
    ``counts=True``).
    """

    mask_prob: float = 0.15
    mask_id: int = 2
    n_special: int = 5
    name: str = "mvc"
    needs_counts: ClassVar[bool] = True
    model_heads: ClassVar[tuple[str, ...]] = ("mvc",)

    def from_view(self, model, batch, out, target, generator) -> torch.Tensor:
        if batch.get("counts") is None:
            raise ValidationError(
                "the mvc objective needs batch['counts'] (CellBatches(..., counts=True))"
            )
        k = self.n_special
        x = batch["counts"][:, k:].float()
        logits = out["mvc"][:, k:].float()
        theta = out["mvc_log_theta"][k:].float().clamp(-10, 10).exp()
        library = x.sum(1, keepdim=True)
        mu = library * torch.softmax(logits, dim=1)
        return -nb_log_likelihood(x, mu, theta.expand_as(x)).mean()


@dataclass(frozen=True)
class ViewContrastObjective(_ViewObjective):
    """InfoNCE between two independently masked views of the same cells.

    View 1 is the shared masked view; view 2 masks its own random ``mask_prob`` of gene
    tokens. With unit pooled embeddings ``z1``, ``z2`` and temperature ``tau``, logits
    ``z1 z2^T / tau`` and the matching cell as the positive: loss =
    (CE(rows) + CE(columns)) / 2 (SimCLR's symmetric form across the two views).
    """

    mask_prob: float = 0.15
    mask_id: int = 2
    n_special: int = 5
    temperature: float = 0.1
    name: str = "views"

    def from_view(self, model, batch, out, target, generator) -> torch.Tensor:
        ids2, _ = _masked_view(batch, self.mask_prob, self.mask_id, self.n_special, generator)
        out2 = model(ids2, batch.get("values"), batch["attention_mask"])
        z1 = F.normalize(out["embedding"].float(), dim=1)
        z2 = F.normalize(out2["embedding"].float(), dim=1)
        logits = z1 @ z2.T / self.temperature
        labels = torch.arange(z1.shape[0], device=z1.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


@dataclass(frozen=True)
class CombinedObjective:
    """Weighted sum of view objectives sharing one masked view (one encoder pass for all
    their heads; ``views`` adds the second view's pass).

    The shared view masks with the first part's ``mask_prob``. Reported: ``loss`` (the
    weighted sum) and ``loss_<name>`` per part.
    """

    parts: tuple[Any, ...]
    weights: tuple[float, ...]
    name: str = "combined"

    def __post_init__(self) -> None:
        if not self.parts or len(self.parts) != len(self.weights):
            raise ValidationError("CombinedObjective needs one weight per part (>= 1 part)")
        for p in self.parts:
            if not isinstance(p, _ViewObjective):
                raise ValidationError(
                    f"objective {p.name!r} cannot be combined; combinable: " + ", ".join(COMBINABLE)
                )

    @property
    def needs_counts(self) -> bool:
        return any(p.needs_counts for p in self.parts)

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        first = self.parts[0]
        ids, target = _masked_view(
            batch, first.mask_prob, first.mask_id, first.n_special, generator
        )
        heads = tuple(dict.fromkeys(h for p in self.parts for h in p.model_heads))
        out = model(ids, batch.get("values"), batch["attention_mask"], target_mask=target,
                    heads=heads)  # fmt: skip
        total = torch.zeros((), device=ids.device)
        metrics: dict[str, float] = {}
        for part, w in zip(self.parts, self.weights, strict=True):
            term = part.from_view(model, batch, out, target, generator)
            metrics[f"loss_{part.name}"] = float(term.detach())
            total = total + w * term
        metrics["loss"] = float(total.detach())
        return total, metrics


#: Objectives that :func:`build_objective` can add up (they share one masked view).
COMBINABLE = ("mlm", "mvc", "views")


def parse_objective(spec: str) -> list[tuple[str, float]]:
    """``"mlm+0.5*mvc+views"`` -> ``[("mlm", 1.0), ("mvc", 0.5), ("views", 1.0)]``.

    A single name gives one part with weight 1. Names are checked against
    :data:`OBJECTIVES`; weights must be positive numbers.

    Parameters
    ----------
    spec
        One objective name or a sum of optionally weighted names (``w*name``).

    Returns
    -------
    list[tuple[str, float]]
        ``(name, weight)`` per part, in the order written.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError(f"objective must be a non-empty string, got {spec!r}")
    parts: list[tuple[str, float]] = []
    for term in spec.replace(" ", "").split("+"):
        weight, _, name = term.rpartition("*")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise ValidationError(f"objective {spec!r}: bad weight {weight!r}") from None
        if not w > 0:
            raise ValidationError(f"objective {spec!r}: weights must be > 0, got {weight}")
        if name not in OBJECTIVES.names():
            raise ValidationError(
                f"unknown objective {name!r} in {spec!r}; choose from {OBJECTIVES.names()}"
            )
        if name in dict(parts):
            raise ValidationError(f"objective {spec!r} names {name!r} twice")
        parts.append((name, w))
    if len(parts) > 1:
        bad = [n for n, _ in parts if n not in COMBINABLE]
        if bad:
            raise ValidationError(
                f"objective {spec!r}: {bad} cannot be combined; combinable: {list(COMBINABLE)}"
            )
    return parts


def build_objective(
    spec: str, vocab: Any, *, options: Mapping[str, Mapping[str, Any]] | None = None
) -> Objective:
    """The objective named by ``spec`` (one name, or a weighted sum such as
    ``"mlm+mvc+views"``) built for ``vocab``; ``options`` maps a part's name to keyword
    arguments of its class (e.g. ``{"views": {"mask_prob": 0.4, "temperature": 0.2}}``).

    Parameters
    ----------
    spec
        Objective names of :data:`OBJECTIVES` joined by ``+``, each optionally weighted
        (``"mlm+0.5*mvc"``; see :func:`parse_objective`).
    vocab
        The fitted tokenizer's vocabulary (``GeneVocab``): special-token ids and sizes.
    options
        ``{part name: {option: value}}``; a part the spec does not name, or an option its
        class does not have, is refused.

    Returns
    -------
    Objective
        The one objective, or a :class:`CombinedObjective` of the weighted parts.
    """
    parts = parse_objective(spec)
    options = dict(options or {})
    unknown = sorted(set(options) - {n for n, _ in parts})
    if unknown:
        raise ValidationError(f"objective options for {unknown}, which {spec!r} does not name")

    def make(name: str) -> Any:
        kwargs = dict(options.get(name, {}))
        cls = OBJECTIVES.get(name)
        fields = set(getattr(cls, "__dataclass_fields__", {})) - {"mask_id", "n_special", "name"}
        bad = sorted(set(kwargs) - fields)
        if bad:
            raise ValidationError(
                f"objective {name!r} has no option(s) {bad}; options: {sorted(fields)}"
            )
        return cls.for_vocab(vocab, **kwargs)

    if len(parts) == 1 and parts[0][1] == 1.0:
        return make(parts[0][0])
    built = tuple(make(n) for n, _ in parts)
    return CombinedObjective(built, tuple(w for _, w in parts), name=spec.replace(" ", ""))


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
    model_heads: ClassVar[tuple[str, ...]] = ("mae",)

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


@dataclass(frozen=True)
class ContrastiveObjective(_FromVocab):
    """Symmetric InfoNCE between cells and texts (CLIP), with several positives per row.

    A batch holds ``B`` (cell, text) pairs: ``cells`` (cell features), ``texts`` (frozen
    text embeddings) and optionally ``labels`` (int, the class each pair belongs to; by
    default every pair is its own class) and ``text_ids`` (int, the same id for the same
    text; texts repeated in a batch are counted once). The network, called as
    ``model(cells=..., texts=...)``, returns unit ``cell_embedding`` / ``text_embedding``
    and the scale ``logit_scale`` (``s``).

    With ``U`` distinct texts ``t_u`` (label ``y_u``), cells ``c_i`` (label ``y_i``) and
    ``P`` the pairs with equal labels:

    * cell -> text: ``l_i = -log sum_{u: y_u = y_i} softmax_u(s c_i . t_u)``;
    * text -> cell: ``l_u = -log sum_{i: y_i = y_u} softmax_i(s t_u . c_i)``;
    * loss = (mean_i l_i + mean_u l_u) / 2.

    With one pair per class this is CLIP's loss; with classes it is the multiple-positive
    form (MIL-NCE): a cell may match any text of its class and a text any cell of it.
    Reported: ``loss`` and ``acc`` (share of cells whose most similar text is positive).
    """

    name: str = "contrastive"

    def loss(
        self, model: Network, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        for key in ("cells", "texts"):
            if key not in batch:
                raise ValidationError(f"the contrastive objective needs batch[{key!r}]")
        out = model(cells=batch["cells"], texts=batch["texts"])
        c, t, scale = (
            out["cell_embedding"].float(),
            out["text_embedding"].float(),
            out["logit_scale"],
        )
        n = c.shape[0]
        labels = batch.get("labels")
        labels = torch.arange(n, device=c.device) if labels is None else labels.long()
        ids = batch.get("text_ids")
        if ids is None:
            keep = torch.arange(n, device=c.device)
        else:
            uniq, inverse = torch.unique(ids, return_inverse=True)
            keep = torch.full((len(uniq),), n, dtype=torch.long, device=c.device)
            keep.scatter_reduce_(0, inverse, torch.arange(n, device=c.device), reduce="amin")
        t, text_labels = t[keep], labels[keep]
        positive = labels[:, None] == text_labels[None, :]  # (cells, texts)
        logits = scale * c @ t.T
        c2t = -(torch.logsumexp(logits.masked_fill(~positive, float("-inf")), 1)
                - torch.logsumexp(logits, 1))  # fmt: skip
        lt = logits.T
        t2c = -(torch.logsumexp(lt.masked_fill(~positive.T, float("-inf")), 1)
                - torch.logsumexp(lt, 1))  # fmt: skip
        loss = 0.5 * (c2t.mean() + t2c.mean())
        acc = positive[torch.arange(n, device=c.device), logits.argmax(1)].float().mean()
        return loss, {"loss": float(loss.detach()), "acc": float(acc)}


def _builtins() -> list[Entry[Any]]:
    pre, fine = ("pretraining",), ("finetuning",)
    return [
        Entry("mlm", MaskedTokenObjective, "Masked gene-token prediction (CellEncoder).", tags=pre),
        Entry("mae", MaskedValueObjective, "Masked value regression (CellEncoder).", tags=pre),
        Entry(
            "mvc",
            ExpressionObjective,
            "Expression from the cell embedding, negative binomial (CellEncoder).",
            tags=pre,
        ),
        Entry(
            "views",
            ViewContrastObjective,
            "InfoNCE between two masked views of a cell (CellEncoder).",
            tags=pre,
        ),
        Entry("ntp", NextTokenObjective, "Next-token prediction (CellGPT).", tags=pre),
        Entry("classification", ClassificationObjective, "Cross-entropy on labels.", tags=fine),
        Entry("regression", RegressionObjective, "MSE on standardised targets.", tags=fine),
        Entry(
            "contrastive",
            ContrastiveObjective,
            "Symmetric InfoNCE of cells and texts (CellText).",
            tags=("contrastive",),
        ),
    ]


#: Objective classes by name (``OBJECTIVES.names(tag="pretraining")``: mae, mlm, mvc, ntp,
#: views).
OBJECTIVES: Registry[Any] = Registry("objective", builtins=_builtins)
