"""Resumable training state on disk: safetensors for tensors, JSON for everything else.

A checkpoint is a folder ``<out>/checkpoints/step-00000042/`` holding

* ``model.safetensors``: the network's weights;
* ``optimizer.safetensors``: every tensor of the optimizer state (``state.<param>.<name>``);
* ``rng-rank<r>.safetensors``: each rank's masking-generator state (uint8 tensor);
* ``state.json``: step, data position, optimizer param groups, history, configs.

``<out>/checkpoints/latest`` names the newest complete checkpoint; it is replaced
atomically after all files are written, so a kill during a save leaves the previous
checkpoint in charge. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .._errors import DataFormatError

__all__ = ["latest_checkpoint", "load_optimizer", "optimizer_tensors", "write_latest"]

STATE_FORMAT_VERSION = 1


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split ``optimizer.state_dict()`` into a tensor dict and a JSON-able dict."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    for idx, items in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(items)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder under ``out_dir/checkpoints``, or None."""
    pointer = Path(out_dir) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    if not (folder / "state.json").is_file():
        raise DataFormatError(f"{pointer} names {folder.name}, which has no state.json")
    return folder


def write_latest(out_dir: Path, folder: Path, keep: int) -> None:
    """Point ``latest`` at ``folder`` atomically and delete all but the ``keep`` newest."""
    root = out_dir / "checkpoints"
    tmp = root / "latest.tmp"
    tmp.write_text(folder.name)
    os.replace(tmp, root / "latest")
    steps = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in steps[: max(0, len(steps) - keep)]:
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def read_state_json(folder: Path) -> dict:
    path = folder / "state.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataFormatError(f"{path}: cannot read training state ({e})") from None
    if state.get("format_version") != STATE_FORMAT_VERSION:
        raise DataFormatError(
            f"{path}: unsupported training-state format_version {state.get('format_version')!r}"
        )
    return state
