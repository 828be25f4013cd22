"""The :class:`Split` record: per-cell assignment, condition lists, metadata, JSON file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..._errors import DataFormatError, ValidationError
from ..._utils import check_output, write_text
from ..._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["FORMAT_VERSION", "SPLIT_NAMES", "Split"]

#: Version of the JSON layout written by :meth:`Split.save`.
FORMAT_VERSION = 1
#: The three parts every split assigns cells to.
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Split:
    """A train / val / test split of the cells of one dataset.

    Attributes
    ----------
    assignment
        One of ``"train"``, ``"val"``, ``"test"`` per cell, indexed by ``obs_names``.
    method
        Name of the function that made it (``"random"``, ``"simulation"`` ...).
    seed
        Random seed (``None`` for deterministic methods such as held-out splits).
    key
        ``obs`` column the split is defined on (perturbation, cell type ...) or ``None``.
    labels
        The value of ``obs[key]`` per cell (kept so the split can be checked alone).
    conditions
        Values of ``key`` in each part, ``{"train": [...], "val": [...], "test": [...]}``.
    subgroups
        Named subsets of conditions, e.g. ``combo_seen0`` / ``unseen_single``.
    params
        The options the split was made with.
    version
        virtualcell version that made it; ``format_version`` is the file layout.
    """

    assignment: pd.Series
    method: str
    seed: int | None = None
    key: str | None = None
    labels: pd.Series | None = None
    conditions: dict[str, list[str]] = field(default_factory=dict)
    subgroups: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        bad = sorted(set(self.assignment.astype(str)) - set(SPLIT_NAMES))
        if bad:
            raise ValidationError(f"split names must be train/val/test, got {bad}")
        if self.assignment.index.has_duplicates:
            dup = self.assignment.index[self.assignment.index.duplicated()][:5].tolist()
            raise ValidationError(f"duplicate cell names in the split: {dup}")

    # -- views -----------------------------------------------------------------------
    def mask(self, name: str) -> np.ndarray:
        """Boolean mask of the cells in part ``name`` (train / val / test)."""
        if name not in SPLIT_NAMES:
            raise ValidationError(f"part must be one of {SPLIT_NAMES}, got {name!r}")
        return (self.assignment == name).to_numpy()

    def obs_names(self, name: str) -> list[str]:
        """Names of the cells in part ``name``."""
        return self.assignment.index[self.mask(name)].tolist()

    def counts(self) -> pd.DataFrame:
        """Cells and conditions per part (rows train / val / test)."""
        rows = {
            name: {
                "n_cells": int(self.mask(name).sum()),
                "n_conditions": len(self.conditions.get(name, [])),
            }
            for name in SPLIT_NAMES
        }
        return pd.DataFrame.from_dict(rows, orient="index")

    def subgroup_counts(self) -> pd.DataFrame:
        """Conditions and cells per subgroup (e.g. combo_seen0/1/2, unseen_single)."""
        rows = {}
        for name, conds in self.subgroups.items():
            n_cells = int(self.labels.isin(conds).sum()) if self.labels is not None else 0
            rows[name] = {"n_conditions": len(conds), "n_cells": n_cells}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["n_conditions", "n_cells"])

    def apply(self, adata: AnnData, *, key_added: str = "split") -> None:
        """Write the assignment to ``adata.obs[key_added]`` (cells matched by name)."""
        names = pd.Index(adata.obs_names.astype(str))
        missing = names.difference(self.assignment.index)
        if len(missing):
            raise ValidationError(
                f"{len(missing)} cell(s) of adata are not in the split: {list(missing[:5])}"
            )
        adata.obs[key_added] = pd.Categorical(
            self.assignment.reindex(names).to_numpy(), categories=list(SPLIT_NAMES)
        )

    # -- file ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the file layout of :meth:`save`)."""
        return {
            "format_version": self.format_version,
            "virtualcell_version": self.version,
            "method": self.method,
            "seed": self.seed,
            "key": self.key,
            "params": self.params,
            "conditions": self.conditions,
            "subgroups": self.subgroups,
            "obs_names": self.assignment.index.astype(str).tolist(),
            "assignment": self.assignment.astype(str).tolist(),
            "labels": None if self.labels is None else self.labels.astype(str).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        """Inverse of :meth:`to_dict`; refuses newer or malformed layouts."""
        version = data.get("format_version")
        if not isinstance(version, int):
            raise DataFormatError("not a virtualcell split: no integer 'format_version'")
        if version > FORMAT_VERSION:
            raise DataFormatError(
                f"split format_version {version} is newer than supported ({FORMAT_VERSION}); "
                "upgrade virtualcell"
            )
        required = ("method", "obs_names", "assignment")
        lacking = [k for k in required if k not in data]
        if lacking:
            raise DataFormatError(f"split file lacks field(s) {lacking}")
        index = pd.Index(data["obs_names"], dtype=object)
        if len(index) != len(data["assignment"]):
            raise DataFormatError("split file: obs_names and assignment differ in length")
        labels = data.get("labels")
        if labels is not None and len(labels) != len(index):
            raise DataFormatError("split file: obs_names and labels differ in length")
        return cls(
            assignment=pd.Series(data["assignment"], index=index, dtype=object, name="split"),
            method=data["method"],
            seed=data.get("seed"),
            key=data.get("key"),
            labels=None if labels is None else pd.Series(labels, index=index, dtype=object),
            conditions={k: list(v) for k, v in (data.get("conditions") or {}).items()},
            subgroups={k: list(v) for k, v in (data.get("subgroups") or {}).items()},
            params=dict(data.get("params") or {}),
            version=data.get("virtualcell_version", "unknown"),
            format_version=version,
        )

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the split as versioned JSON with the atomic writer (a temporary sibling
        renamed into place: a killed or failed write leaves an existing file as it was).

        Parameters
        ----------
        path
            The JSON file to write (missing folders above it are created).
        overwrite
            Replace an existing file (refused otherwise: the output rule,
            :func:`virtualcell._utils.check_output`, checked before anything is written).

        Returns
        -------
        Path
            ``path``.
        """
        path = check_output(
            path, overwrite=overwrite, kind="file", name="path",
            hint="pass overwrite=True to replace it",
        )  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataFormatError(f"split file not found: {path}") from None
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{path} is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise DataFormatError(f"{path} is not a split file")
        return cls.from_dict(data)
