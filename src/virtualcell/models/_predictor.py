"""``CellPredictor``: a pretrained encoder plus a small prediction head (classification / regression).

``CellPredictor`` = base network (a :class:`CellEncoder` without its pretraining heads, or
a :class:`CellGPT`) -> cell embedding -> MLP head -> ``logits`` (``n_classes`` or
``n_outputs`` values). :func:`virtualcell.train.finetune` trains it with the same loop as
pretraining.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from .._utils import Entry, Registry
from . import _config
from ._encoder import CellEncoder
from ._gpt import CellGPT
from ._layers import init_weights

__all__ = ["BASES", "CellPredictor", "CellPredictorConfig"]


def _bases() -> Iterator[Entry[type[nn.Module]]]:
    for cls, description in (
        (CellEncoder, "Bidirectional encoder; its pretraining heads are not used."),
        (CellGPT, "Causal transformer; the head reads its cell embedding."),
    ):
        yield Entry(cls.architecture, cls, description)


#: The networks a predictor can be built on, by their ``architecture`` name (the value of
#: :attr:`CellPredictorConfig.base_architecture`).
BASES: Registry[type[nn.Module]] = Registry("predictor base network", _bases)


def _base_class(name: str) -> Any:
    """The base network class called ``name`` (an unknown name raises
    :class:`~virtualcell.ValidationError` listing :data:`BASES`; the config's ``Literal``
    refuses it first)."""
    return BASES.get(name)


@dataclass(frozen=True)
class CellPredictorConfig:
    """Architecture of a :class:`CellPredictor`.

    Attributes
    ----------
    base_architecture
        ``cell_encoder`` or ``cell_gpt``.
    base
        The base network's config dict.
    task
        ``classification`` or ``regression``.
    n_outputs
        Number of classes, or of regression targets.
    hidden
        Width of the head's hidden layer (0 = a linear head).
    """

    base_architecture: Literal["cell_encoder", "cell_gpt"]
    base: dict
    task: Literal["classification", "regression"] = "classification"
    n_outputs: int = 2
    hidden: int = 128

    def __post_init__(self) -> None:
        _config.check_types(self)
        _config.check_range(self, "n_outputs", low=1)
        _config.check_range(self, "hidden", low=0)
        _config.check_size(self)

    def base_config(self) -> Any:
        """The base network's config object (validated)."""
        return _base_class(self.base_architecture).config_class.from_dict(self.base)

    def n_parameters(self) -> int:
        """Parameter count of the network this config describes (nothing allocated)."""
        base = self.base_config()
        d, h, n = base.d_model, self.hidden, self.n_outputs
        head = 2 * d + (d * h + h + h * n + n if h else d * n + n)
        return int(base.n_parameters()) + head

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellPredictorConfig:
        return _config.from_dict(cls, data)


class CellPredictor(nn.Module):
    """Base network + head; ``forward`` returns ``{"embedding", "logits"}``."""

    kind = "predictor"
    #: Name in :data:`virtualcell.models.ARCHITECTURES` and in checkpoint folders.
    architecture: ClassVar[str] = "cell_predictor"
    #: The class of :mod:`virtualcell.models` whose ``from_pretrained`` loads its folders.
    loader: ClassVar[str] = "CellModel"
    config_class: ClassVar[type] = CellPredictorConfig

    def __init__(self, config: CellPredictorConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        self.base = _base_class(config.base_architecture)(config.base_config(), seed=seed)
        d = self.base.config.d_model
        if config.hidden:
            self.head = nn.Sequential(
                nn.LayerNorm(d),
                nn.Linear(d, config.hidden),
                nn.GELU(),
                nn.Linear(config.hidden, config.n_outputs),
            )
        else:
            self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, config.n_outputs))
        init_weights(self.head, seed + 1)

    def forward(
        self,
        input_ids: torch.Tensor,
        values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        emb = self.base(input_ids, values, attention_mask)["embedding"]
        return {"embedding": emb, "logits": self.head(emb)}
