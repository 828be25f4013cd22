"""Checkpoint folders: ``config.json`` + ``model.safetensors`` + ``vocab.json``; never pickle.

Layout (``format_version`` 1)::

    folder/
      config.json        {"format_version", "architecture", "model": {...}, "tokenizer": {...},
                          "training": {...}, "files": {name: {"sha256", "size"}}, ...}
      model.safetensors  the network's state dict (safetensors: tensors only, no code)
      vocab.json         the tokenizer (``Tokenizer.save``: kind, parameters, vocabulary)

Loading verifies every file listed under ``files`` (present, same size, same sha256) and
that the tensors match the shapes the config implies; any problem is a
:class:`~virtualcell.DataFormatError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._errors import DataFormatError
from .._utils import sha256_file

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "VOCAB_NAME",
    "WEIGHTS_NAME",
    "check_state_dict",
    "config_fields",
    "read_config",
    "read_tensors",
    "sha256_file",
    "write_folder",
]

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
VOCAB_NAME = "vocab.json"


def config_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` after checking every key is a field of the dataclass ``cls``;
    raises ``ValueError`` naming the unknown keys (used by the configs' ``from_dict``)."""
    import dataclasses

    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {unknown}")
    return dict(data)


def write_folder(
    folder: str | Path,
    config: dict[str, Any],
    tensors: dict[str, Any],
    *,
    tokenizer: Any | None = None,
) -> Path:
    """Write a checkpoint folder; ``config`` gets ``format_version`` and file checksums.

    Files are written to temporary names and renamed, so an interrupted save never leaves
    a folder whose ``config.json`` describes half-written weights.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, folder / WEIGHTS_NAME)
    names = [WEIGHTS_NAME]
    if tokenizer is not None:
        tokenizer.save(folder / VOCAB_NAME)
        names.append(VOCAB_NAME)
    for name in names:
        p = folder / name
        files[name] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    from .._version import __version__

    full = {
        "format_version": FORMAT_VERSION,
        **config,
        "files": files,
        "virtualcell_version": __version__,
    }
    tmp = folder / (CONFIG_NAME + ".tmp")
    tmp.write_text(json.dumps(full, indent=2, sort_keys=False))
    os.replace(tmp, folder / CONFIG_NAME)
    return folder


def read_config(folder: str | Path) -> dict[str, Any]:
    """Read and verify ``config.json`` and the files it lists (size, sha256)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"checkpoint folder not found: {folder}")
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        raise DataFormatError(f"{cfg_path}: missing; not a virtualcell checkpoint folder")
    try:
        config = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{cfg_path}: not valid JSON ({e}); the file is corrupt") from None
    if not isinstance(config, dict):
        raise DataFormatError(f"{cfg_path}: expected a JSON object")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise DataFormatError(
            f"{cfg_path}: unsupported checkpoint format_version {version!r} "
            f"(this virtualcell reads {FORMAT_VERSION})"
        )
    for key in ("architecture", "model", "files"):
        if key not in config:
            raise DataFormatError(f"{cfg_path}: missing required key {key!r}")
    for name, meta in config["files"].items():
        p = folder / name
        if not p.is_file():
            raise DataFormatError(f"{p}: listed in {CONFIG_NAME} but missing")
        size = p.stat().st_size
        if size != meta.get("size"):
            raise DataFormatError(
                f"{p}: size {size} bytes, {CONFIG_NAME} records {meta.get('size')} "
                "(truncated or replaced file)"
            )
        digest = sha256_file(p)
        if digest != meta.get("sha256"):
            raise DataFormatError(
                f"{p}: sha256 {digest[:12]}... does not match {meta.get('sha256', '')[:12]}... "
                f"recorded in {CONFIG_NAME} (the file was modified or is corrupt)"
            )
    if WEIGHTS_NAME not in config["files"]:
        raise DataFormatError(f"{cfg_path}: no {WEIGHTS_NAME} listed under 'files'")
    return config


def read_tensors(folder: str | Path) -> dict[str, Any]:
    """Load ``model.safetensors`` (CPU tensors); corrupt files raise DataFormatError."""
    from safetensors.torch import load_file

    path = Path(folder) / WEIGHTS_NAME
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # safetensors raises its own error types
        raise DataFormatError(f"{path}: cannot be read as safetensors ({e})") from None


def check_state_dict(expected: dict[str, Any], found: dict[str, Any], path: Path) -> None:
    """Raise DataFormatError if tensor names or shapes in ``found`` differ from ``expected``."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise DataFormatError(
            f"{path}: weights do not match config.json: missing tensors {missing[:5]}, "
            f"unexpected tensors {extra[:5]}"
        )
    for name, tensor in expected.items():
        if tuple(found[name].shape) != tuple(tensor.shape):
            raise DataFormatError(
                f"{path}: tensor {name!r} has shape {tuple(found[name].shape)} but config.json "
                f"implies {tuple(tensor.shape)} (config and weights do not match)"
            )
