"""The architecture table: every network a checkpoint folder may hold, by name.

:data:`ARCHITECTURES` maps the name written in ``config.json`` (``"architecture"``) to the
network class; each class carries its ``architecture`` name and its ``config_class``
(a frozen dataclass with ``from_dict`` / ``to_dict``). The model modules do not import
this table; it imports them (lazily, on first use).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._utils import Entry, Registry

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ARCHITECTURES", "architecture_of", "build_network"]


def _builtins() -> list[Entry[Any]]:
    from ._encoder import CellEncoder
    from ._gpt import CellGPT
    from ._predictor import CellPredictor

    return [
        Entry(
            "cell_encoder",
            CellEncoder,
            "Bidirectional transformer over gene tokens (MLM / MAE pretraining heads).",
        ),
        Entry("cell_gpt", CellGPT, "Causal transformer: next-token prediction, generation."),
        Entry("cell_predictor", CellPredictor, "Pretrained base network + prediction head."),
    ]


#: Network classes by architecture name (``config.json``'s ``"architecture"``).
ARCHITECTURES: Registry[Any] = Registry("model architecture", builtins=_builtins)


def build_network(architecture: str, config: Mapping[str, Any], *, seed: int = 0) -> nn.Module:
    """Build the network named ``architecture`` from its config dict.

    The config is validated (types, ranges, size cap) before any weight is allocated;
    problems raise :class:`~virtualcell.ValidationError` naming the field.
    """
    cls = ARCHITECTURES.get(architecture)
    return cls(cls.config_class.from_dict(config), seed=seed)


def architecture_of(network: nn.Module) -> str:
    """The table name of ``network``'s class."""
    for entry in ARCHITECTURES.entries():
        if isinstance(network, entry.obj):
            return entry.name
    raise ValidationError(
        f"unsupported network type {type(network).__name__}; known: {ARCHITECTURES.names()}"
    )
