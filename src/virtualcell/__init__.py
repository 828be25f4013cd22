"""virtualcell: build and use virtual cells.

Namespaces are imported lazily so that ``import virtualcell as vc`` stays fast and
heavy optional dependencies are only loaded when used::

    import virtualcell as vc
    adata = vc.datasets.pbmc68k_reduced()
    report = vc.data.validate(adata)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    ChecksumError,
    DataFormatError,
    DatasetNotAvailableError,
    ValidationError,
    VirtualCellError,
)
from ._settings import Settings, settings
from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from . import data, datasets, pp, tl  # noqa: F401

#: Sub-namespaces, loaded on first attribute access.
_SUBMODULES = (
    "data",
    "datasets",
    "pp",
    "tl",
    "tokenize",
    "metrics",
    "models",
    "train",
    "sim",
    "knowledge",
    "grn",
    "represent",
    "perturb",
    "text",
    "spatial",
    "multiomic",
    "design",
    "agent",
    "bench",
    "pl",
)

__all__ = [
    "ChecksumError",
    "DataFormatError",
    "DatasetNotAvailableError",
    "Settings",
    "ValidationError",
    "VirtualCellError",
    "__version__",
    "settings",
    *_SUBMODULES,
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'virtualcell' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
