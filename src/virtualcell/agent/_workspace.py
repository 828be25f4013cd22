"""The agent's workspace: large objects by handle, whole results, paths kept inside a root.

A tool never hands an AnnData, an edge table or a model to the LLM: the object is stored
under a short handle (``data``, ``r1``, ``r2`` ...) and the model sees a summary
(:func:`summarize`). Later calls pass the handle (``{"data": "r1"}``), optionally with a
key path into it (``"r1.uns.true_network"``, only through ``uns``/``obs``/``var``/
``layers``/``obsm``/``varm`` and mapping keys: never arbitrary attributes). File paths
are resolved against the workspace root and refused when they leave it (``..``,
absolute paths elsewhere, symlinks pointing out).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import ValidationError
from .._utils import sha256_bytes

__all__ = ["Workspace", "digest", "summarize"]

_HANDLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARTS = ("uns", "obs", "var", "layers", "obsm", "varm")


@dataclass
class Result:
    """One stored tool result: the object, the call that made it and its summary."""

    handle: str
    tool: str
    arguments: dict[str, Any]
    value: Any
    summary: str
    digest: str


@dataclass
class Workspace:
    """Objects by handle and a confined folder.

    Parameters
    ----------
    root
        Folder the tools may read and write (created if missing); default a new temporary
        folder.
    """

    root: Path | None = None
    objects: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)
    _counter: int = 0

    def __post_init__(self) -> None:
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="vc-agent-"))
        self.root = Path(self.root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root = self.root.resolve()

    # -- objects -------------------------------------------------------------------------
    def put(self, value: Any, *, name: str | None = None) -> str:
        """Store ``value``; return its handle (``name`` or the next ``rN``)."""
        if name is None:
            self._counter += 1
            name = f"r{self._counter}"
        if not _HANDLE.match(name):
            raise ValidationError(f"invalid handle name {name!r} (letters, digits, _)")
        self.objects[name] = value
        return name

    def add_result(self, tool: str, arguments: dict[str, Any], value: Any) -> Result:
        """Store a tool result whole under a new handle, with its summary and digest."""
        handle = self.put(value)
        res = Result(handle, tool, dict(arguments), value, summarize(value), digest(value))
        self.results[handle] = res
        return res

    def has(self, ref: Any) -> bool:
        return isinstance(ref, str) and ref.split(".", 1)[0] in self.objects

    def get(self, ref: str) -> Any:
        """The object named by ``ref`` (``handle`` or ``handle.part.key``)."""
        if not isinstance(ref, str):
            raise ValidationError(f"expected a workspace handle, got {type(ref).__name__}")
        head, *rest = ref.strip().split(".")
        if head not in self.objects:
            have = ", ".join(self.objects) or "none yet"
            raise ValidationError(f"no workspace object {head!r} (have: {have})")
        obj = self.objects[head]
        for i, part in enumerate(rest):
            if i == 0 and part in _PARTS and hasattr(obj, "obs_names"):
                obj = getattr(obj, part)
            elif hasattr(obj, "keys") and part in obj.keys():
                obj = obj[part]
            elif hasattr(obj, "columns") and part in obj.columns:
                obj = obj[part]
            else:
                raise ValidationError(f"{ref!r}: {part!r} not found in {head!r}")
        return obj

    def handles(self) -> dict[str, str]:
        """``{handle: one-line description}`` of every stored object."""
        return {h: summarize(v, limit=120).splitlines()[0] for h, v in self.objects.items()}

    # -- paths ---------------------------------------------------------------------------
    def path(self, value: str | Path, *, must_exist: bool = False) -> Path:
        """Resolve ``value`` inside the root; refuse anything outside it."""
        raw = Path(str(value)).expanduser()
        full = (raw if raw.is_absolute() else self.root / raw).resolve()
        assert self.root is not None
        if full != self.root and self.root not in full.parents:
            raise ValidationError(
                f"path {str(value)!r} is outside the workspace; use a path inside it"
            )
        if must_exist and not full.exists():
            raise ValidationError(f"no file {str(value)!r} in the workspace")
        return full

    def files(self) -> list[str]:
        assert self.root is not None
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())[
            :200
        ]


# -- summaries --------------------------------------------------------------------------
def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarize(value: Any, *, limit: int = 700, rows: int = 8) -> str:
    """A short text for the model: kind, size and the first rows/items of ``value``.

    Strings from data (gene names, file contents) are JSON-quoted so that they read as
    data, never as instructions addressed to the model.

    Parameters
    ----------
    value
        Any tool result: an AnnData, a DataFrame, a mapping, a list, a string or a scalar.
    limit
        Longest text returned, in characters (longer text is cut, ending in ``...``).
    rows
        Most rows of a table or items of a list shown.

    Returns
    -------
    str
        The summary text.
    """
    text = _summarize(value, rows)
    return _clip(text, limit)


def _q(x: Any) -> str:
    return json.dumps(str(x), ensure_ascii=False)


def _summarize(value: Any, rows: int) -> str:
    import numpy as np
    import pandas as pd

    if isinstance(getattr(value, "mod", None), dict):  # a MuData: several modalities
        mods = ", ".join(f"{k} ({v.n_vars} features)" for k, v in value.mod.items())
        obs = ", ".join(f"{c} ({value.obs[c].nunique()} values)" for c in list(value.obs)[:8])
        return f"MuData {value.n_obs} cells; modalities: {mods}; obs columns: {obs or '-'}"
    if hasattr(value, "obs_names") and hasattr(value, "var_names"):
        obs = ", ".join(
            f"{c} ({value.obs[c].nunique()} values)" for c in list(value.obs.columns)[:8]
        )
        genes = ", ".join(_q(g) for g in list(value.var_names[:8]))
        uns = ", ".join(map(str, list(value.uns.keys())[:8]))
        layers = ", ".join(value.layers.keys())
        return (
            f"AnnData {value.n_obs} cells x {value.n_vars} genes; obs columns: {obs or '-'}; "
            f"genes e.g. {genes}; layers: {layers or '-'}; uns: {uns or '-'}"
        )
    if isinstance(value, pd.DataFrame):
        head = value.head(rows)
        body = head.to_csv(index=not isinstance(value.index, pd.RangeIndex), float_format="%.4g")
        return f"table {value.shape[0]} rows x {value.shape[1]} columns:\n{body.strip()}"
    if isinstance(value, pd.Series):
        return f"series of {len(value)}:\n" + value.head(rows).to_csv(float_format="%.4g").strip()
    if isinstance(value, np.ndarray):
        return f"array {value.shape} {value.dtype}: {np.array2string(value.ravel()[:rows], precision=4)}"
    if callable(getattr(value, "brief", None)):  # results with their own compact form
        return str(value.brief())
    if hasattr(value, "to_dict") and hasattr(value, "label") and hasattr(value, "evidence"):
        ev = "; ".join(f"{e.text} [{' | '.join(e.citations[:2])}]" for e in value.evidence[:3])
        return f"verdict: {value.label} ({value.reason}); evidence: {ev or '-'}"
    if hasattr(value, "symbol") and hasattr(value, "go") and hasattr(value, "targets"):
        go = "; ".join(
            f"{r.go_id} {r.name}"
            for r in value.go[value.go["namespace"] == "BP"].head(rows).itertuples()
        )
        return (
            f"gene {value.symbol}: {value.name} (NCBI Gene {value.entrez}); TF: {value.is_tf}; "
            f"{len(value.go)} GO annotations, e.g. {go or '-'}; {len(value.targets)} targets; "
            f"{len(value.regulators)} regulators. {value.description[:200]}"
        )
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "citations"):
        lines = [
            f"{i}. [{p.kind}] {p.title} — cite: {' | '.join(p.citations[:2])}"
            for i, p in enumerate(value[:rows], 1)
        ]
        return f"{len(value)} passages:\n" + "\n".join(lines)
    if isinstance(value, (list, tuple, set)):
        items = list(value)
        shown = ", ".join(_q(v) if isinstance(v, str) else str(v) for v in items[: rows * 3])
        more = f" ... ({len(items)} in all)" if len(items) > rows * 3 else ""
        return f"list of {len(items)}: {shown}{more}"
    if isinstance(value, dict):
        parts = []
        for k, v in list(value.items())[:20]:
            if isinstance(v, float):
                parts.append(f"{k}: {v:.4g}")
            elif isinstance(v, (int, bool, str)) or v is None:
                parts.append(f"{k}: {_q(v) if isinstance(v, str) else v}")
            else:
                parts.append(f"{k}: {_summarize(v, 3).splitlines()[0]}")
        return "{" + "; ".join(parts) + "}"
    if isinstance(value, str):
        return _q(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return str(value)
    return f"{type(value).__name__} object"


def digest(value: Any) -> str:
    """Short sha256 of a result's canonical text (for the provenance log and replay)."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        text = value.to_csv(float_format="%.6g")
    elif hasattr(value, "obs_names") and hasattr(value, "X"):
        X = value.X
        total = float(X.sum()) if X is not None else 0.0
        text = f"{value.shape}|{list(value.obs_names[:5])}|{list(value.var_names)}|{total:.6g}"
    elif isinstance(value, np.ndarray):
        text = np.array2string(value, precision=6, threshold=10**6)
    elif hasattr(value, "to_dict"):
        text = json.dumps(value.to_dict(), sort_keys=True, default=str)
    elif isinstance(value, (list, tuple)) and value and hasattr(value[0], "to_dict"):
        text = json.dumps([v.to_dict() for v in value], sort_keys=True, default=str)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return sha256_bytes(text)[:16]
