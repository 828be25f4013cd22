"""Shared plumbing of the published-checkpoint readers (``geneformer:PATH``, ``scgpt:PATH``).

* :func:`parse_spec` splits ``"geneformer:/path"`` into ``("geneformer", Path)``;
* :func:`read_json` reads one small JSON file of a published folder;
* :func:`read_state_dict` reads ``*.safetensors`` (tensors only) or a torch pickle with
  ``torch.load(weights_only=True)`` (tensors and plain containers only);
* :func:`gene_identifiers` picks the gene names of the data that match a vocabulary
  (``var_names`` or a ``var`` column);
* :func:`embed_rows` runs a tokenizer + network over the cells in batches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DataFormatError, ValidationError

__all__ = [
    "PUBLISHED_FORMATS",
    "embed_rows",
    "gene_identifiers",
    "load_matched_weights",
    "parse_spec",
    "read_json",
    "read_state_dict",
]

#: ``format:`` prefixes of :func:`virtualcell.models.load`.
PUBLISHED_FORMATS = ("geneformer", "scgpt")

#: Largest JSON file read from a published folder (vocabularies are a few MB).
_MAX_JSON_BYTES = 64 * 1024 * 1024


def parse_spec(spec: Any) -> tuple[str, Path] | None:
    """``("geneformer" | "scgpt", folder)`` for ``"geneformer:PATH"`` / ``"scgpt:PATH"``;
    ``None`` for anything else (a plain checkpoint folder)."""
    text = str(spec)
    for name in PUBLISHED_FORMATS:
        if text.lower().startswith(name + ":"):
            rest = text[len(name) + 1 :]
            if not rest:
                raise ValidationError(f"{text!r}: give the folder after '{name}:'")
            folder = Path(rest).expanduser()
            if not folder.is_dir():
                raise ValidationError(f"{text!r}: {folder} is not a folder")
            return name, folder
    return None


def read_json(path: Path) -> Any:
    """One JSON document (size-capped); a problem is a DataFormatError naming the file."""
    try:
        size = path.stat().st_size
    except OSError:
        raise DataFormatError(f"{path}: missing") from None
    if size > _MAX_JSON_BYTES:
        raise DataFormatError(f"{path}: {size} bytes is too large")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f"{path}: not valid JSON ({e})") from None


def read_state_dict(path: Path) -> dict[str, Any]:
    """Tensors of ``path``: safetensors, or a torch file read with ``weights_only=True``
    (a file that needs any class to load is refused by torch itself)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except Exception as e:  # safetensors raises its own error types
            raise DataFormatError(f"{path}: cannot be read as safetensors ({e})") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for refused globals, RuntimeError for corrupt
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataFormatError(
            f"{path}: refused or unreadable with torch.load(weights_only=True): {first[:200]}"
        ) from None
    if isinstance(obj, Mapping) and len(obj) == 1:
        (only,) = obj.values()
        if isinstance(only, Mapping):  # {"model_state_dict": {...}}
            obj = only
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise DataFormatError(f"{path}: expected a state dict (names -> tensors)")
    return dict(obj)


def gene_identifiers(
    adata: Any, layer: str | None, vocabulary: Mapping[str, Any], gene_column: str | None
) -> tuple[np.ndarray, str]:
    """The data's gene identifiers that best match ``vocabulary``: ``var_names`` or a string
    ``var`` column (``gene_column`` forces one); returns ``(identifiers, where)``."""
    var = None
    if hasattr(adata, "var_names"):
        var = adata.raw.var if layer == "raw" and adata.raw is not None else adata.var
    candidates: dict[str, np.ndarray] = {}
    if var is not None:
        candidates["var_names"] = np.asarray(var.index.astype(str), dtype=object)
        for col in var.columns:
            if var[col].dtype == object or str(var[col].dtype) in ("category", "string"):
                candidates[f"var[{col!r}]"] = np.asarray(var[col].astype(str), dtype=object)
    if gene_column is not None:
        if var is None or gene_column not in var.columns:
            cols = [] if var is None else list(var.columns)
            raise ValidationError(f"gene_column {gene_column!r} is not a var column {cols}")
        candidates = {f"var[{gene_column!r}]": np.asarray(var[gene_column].astype(str))}
    if not candidates:
        from ..data import CellSource

        with CellSource.open(adata, layer=layer) as source:
            candidates["var_names"] = np.asarray(source.var_names, dtype=object)
    scores = {k: int(sum(g in vocabulary for g in v)) for k, v in candidates.items()}
    best = max(scores, key=lambda k: scores[k])
    if scores[best] == 0:
        example = next(iter(vocabulary), "?")
        raise ValidationError(
            f"none of the data's genes ({', '.join(candidates)}) are in the model's "
            f"vocabulary (identifiers like {example!r}); pass gene_column= a var column with "
            "such identifiers"
        )
    return candidates[best], best


def embed_rows(
    adata: Any,
    *,
    layer: str | None,
    batch_size: int,
    encode: Callable[[Any], dict[str, Any]],
    forward: Callable[[dict[str, Any]], Any],
    dim: int,
    counts_for: str | None = None,
) -> np.ndarray:
    """``forward(encode(rows))`` over the cells in batches -> ``(n_obs, dim)`` float32.

    ``counts_for`` (the model's name): the matrix must look like raw counts (judged on its
    first 2,048 cells), else a :class:`ValidationError` names the layers to use."""
    import torch

    from ..data import CellSource, looks_like_counts

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
    out = np.zeros((0, dim), dtype=np.float32)
    parts = []
    with CellSource.open(adata, layer=layer) as source:
        source.check_nonnegative()
        if counts_for is not None and not looks_like_counts(
            source.read(0, min(2048, source.n_obs))
        ):
            where = (
                "X" if layer is None else ("adata.raw.X" if layer == "raw" else f"layer {layer!r}")
            )
            others = [a for a in source.alternatives if a != layer]
            hint = (f"pass the counts: layer={others[0]!r} (vcell embed --layer {others[0]})"
                    if others else "give raw counts")  # fmt: skip
            raise ValidationError(
                f"{counts_for} reads raw counts, but {where} does not look like counts "
                f"(not whole numbers: log-normalised or scaled?); {hint}"
            )
        with torch.no_grad():
            for start in range(0, source.n_obs, batch_size):
                rows = source.read(start, min(start + batch_size, source.n_obs))
                parts.append(forward(encode(rows)).float().cpu().numpy())
    return np.concatenate(parts).astype(np.float32) if parts else out


def load_matched_weights(
    network: Any,
    tensors: Mapping[str, Any],
    path: Any,
    *,
    rename: Callable[[str], str],
    source: str,
) -> None:
    """Copy a published checkpoint's ``tensors`` into ``network``: each name goes through
    ``rename`` to the network's own name; every network tensor must be found with its
    shape (``source``: the files that define the shapes, for the message), else a
    :class:`DataFormatError` names what is missing or mis-shaped."""
    own = network.state_dict()
    found = {}
    for name, t in tensors.items():
        key = rename(name)
        if key in own:
            found[key] = t
    missing = sorted(set(own) - set(found))
    if missing:
        raise DataFormatError(
            f"{path}: not the weights of this {source}: missing {missing[:4]}"
            f"{' ...' if len(missing) > 4 else ''}"
        )
    for key, t in found.items():
        if tuple(t.shape) != tuple(own[key].shape):
            raise DataFormatError(
                f"{path}: tensor {key!r} has shape {tuple(t.shape)}, {source} implies "
                f"{tuple(own[key].shape)}"
            )
    network.load_state_dict({k: v.float() for k, v in found.items()})
