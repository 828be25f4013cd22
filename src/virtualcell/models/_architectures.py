"""The architecture table: every model a checkpoint folder may hold, by name.

:data:`ARCHITECTURES` maps the name written in ``config.json`` (``"architecture"``) to the
model class; each class carries its ``architecture`` name and ``loader``, the class of
:mod:`virtualcell.models` whose ``from_pretrained`` loads such a folder
(:func:`load_folder`, behind :func:`virtualcell.models.load`). The trainable networks
also carry a ``config_class`` (a frozen dataclass with ``from_dict`` / ``to_dict``;
:func:`build_network`); ``pca`` is a fitted encoder, not a network. The model modules do
not import this table; it imports them (lazily, on first use).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import DataFormatError, ValidationError
from .._utils import Entry, Registry

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ARCHITECTURES", "architecture_of", "build_network", "load_folder"]


def _builtins() -> list[Entry[Any]]:
    from ._clip import CellText
    from ._encoder import CellEncoder
    from ._gpt import CellGPT
    from ._pca import PCAEncoder
    from ._predictor import CellPredictor

    return [
        Entry(
            "cell_encoder",
            CellEncoder,
            "Bidirectional transformer over gene tokens (MLM / MAE pretraining heads).",
        ),
        Entry("cell_gpt", CellGPT, "Causal transformer: next-token prediction, generation."),
        Entry("cell_predictor", CellPredictor, "Pretrained base network + prediction head."),
        Entry("cell_text", CellText, "Cell tower + text projection in one space (CLIP-style)."),
        Entry("pca", PCAEncoder, "PCA on highly variable genes (fitted statistics, no network)."),
    ]


#: Model classes by architecture name (``config.json``'s ``"architecture"``).
ARCHITECTURES: Registry[Any] = Registry("model architecture", builtins=_builtins)


def build_network(architecture: str, config: Mapping[str, Any], *, seed: int = 0) -> nn.Module:
    """Build the network named ``architecture`` from its config dict.

    The config is validated (types, ranges, size cap) before any weight is allocated;
    problems raise :class:`~virtualcell.ValidationError` naming the field.

    Parameters
    ----------
    architecture
        A name of :data:`ARCHITECTURES` whose class has a config (``cell_encoder``,
        ``cell_gpt``, ``cell_predictor``, ``cell_text``; ``pca`` has no network).
    config
        The config fields as a mapping (as in a checkpoint's ``config.json``); unknown
        or out-of-range fields are refused.
    seed
        Seed of the weight initialisation.

    Returns
    -------
    torch.nn.Module
        The new, randomly initialised network.
    """
    cls = ARCHITECTURES.get(architecture)
    if getattr(cls, "config_class", None) is None:
        raise ValidationError(f"{architecture!r} is not a network that can be built or trained")
    return cls(cls.config_class.from_dict(config), seed=seed)


def load_folder(folder: str | Path, *, device: str | None = None) -> Any:
    """Load a checkpoint folder by the ``architecture`` its ``config.json`` names, through
    :data:`ARCHITECTURES` (the entry's ``loader``); ``device`` goes to loaders that take
    one (PCA and cell-text models run on the CPU)."""
    import importlib
    import inspect

    from ._checkpoint import CONFIG_NAME, read_config

    config = read_config(folder)
    try:
        cls = ARCHITECTURES.get(str(config["architecture"]))
    except ValidationError as e:
        raise DataFormatError(f"{Path(folder) / CONFIG_NAME}: {e}") from None
    loader = getattr(importlib.import_module("virtualcell.models"), cls.loader).from_pretrained
    takes_device = "device" in inspect.signature(loader).parameters
    return loader(folder, device=device) if takes_device else loader(folder)


def architecture_of(network: nn.Module) -> str:
    """The table name of ``network``'s class."""
    for entry in ARCHITECTURES.entries():
        if isinstance(network, entry.obj):
            return entry.name
    raise ValidationError(
        f"unsupported network type {type(network).__name__}; known: {ARCHITECTURES.names()}"
    )
