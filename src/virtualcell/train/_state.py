"""Resumable training state on disk, and the rules for re-using an output folder.

A run's folder ``<out>/`` holds the final model (``config.json``, ``model.safetensors``,
``vocab.json``, see :mod:`virtualcell.models`) and ``<out>/checkpoints/``:

* ``step-00000042/`` — one checkpoint: ``model.safetensors`` (weights),
  ``optimizer.safetensors`` (every optimizer tensor, ``state.<param>.<name>``),
  ``rng-rank<r>.safetensors`` (each rank's masking-generator state) and ``state.json``
  (step, data position, optimizer param groups, history, and the run's settings);
* ``latest`` — the name of the newest complete checkpoint.

A checkpoint folder is written under a temporary name and renamed when complete, then
``latest`` is replaced atomically, so a kill at any moment leaves the previous checkpoint
in charge; the temporary folder of a killed writer is deleted by the next run
(:func:`virtualcell._utils.clean_stale_temps`). Nothing is pickled.

Re-using ``<out>`` (:func:`prepare_run`): a folder holding anything else than a run is
refused; a run whose saved settings differ from the new ones is refused with the
differences listed, unless ``resume=True`` (continue it with the new settings) or
``resume=False`` (delete its checkpoints and model, start over).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._errors import DataFormatError, ValidationError
from .._utils import check_output, clean_stale_temps, log, write_text
from ..models import CONFIG_NAME, VOCAB_NAME, WEIGHTS_NAME, safe_member

__all__ = [
    "CHECKPOINTS",
    "check_run_inputs",
    "latest_checkpoint",
    "load_optimizer",
    "optimizer_tensors",
    "prepare_run",
    "read_state_json",
    "write_latest",
]

STATE_FORMAT_VERSION = 1
CHECKPOINTS = "checkpoints"
#: What a run folder may hold (anything else makes it "not a run folder").
RUN_ENTRIES = frozenset({CONFIG_NAME, WEIGHTS_NAME, VOCAB_NAME, CHECKPOINTS})
_STEP = re.compile(r"^step-\d{8}$")


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
    root = Path(out_dir) / CHECKPOINTS
    pointer = root / "latest"
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    if not _STEP.match(name):
        raise DataFormatError(f"{pointer}: names {name[:60]!r}, not a step-NNNNNNNN folder")
    folder = safe_member(root, name, where=str(pointer))
    if not (folder / "state.json").is_file():
        raise DataFormatError(f"{pointer} names {folder.name}, which has no state.json")
    return folder


def write_latest(out_dir: Path, folder: Path, keep: int) -> None:
    """Point ``latest`` at ``folder`` atomically and delete all but the ``keep`` newest."""
    root = out_dir / CHECKPOINTS
    write_text(root / "latest", folder.name)
    steps = sorted(p for p in root.glob("step-*") if p.is_dir() and _STEP.match(p.name))
    for old in steps[: max(0, len(steps) - keep)]:
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def _check(path: Path, ok: bool, what: str) -> None:
    if not ok:
        raise DataFormatError(f"{path}: {what}")


def _nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_state_json(folder: Path) -> dict:
    """``state.json`` of a checkpoint, checked field by field."""
    path = folder / "state.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path}: cannot read training state ({e})") from None
    _check(path, isinstance(state, dict), "expected a JSON object")
    if state.get("format_version") != STATE_FORMAT_VERSION:
        raise DataFormatError(
            f"{path}: unsupported training-state format_version {state.get('format_version')!r}"
        )
    _check(path, _nonneg_int(state.get("step")), "'step' must be a non-negative integer")
    pos = state.get("position")
    _check(
        path,
        isinstance(pos, dict) and set(pos) == {"epoch", "batch"} and all(map(_nonneg_int, pos.values())),
        "'position' must be {'epoch': int >= 0, 'batch': int >= 0}",
    )  # fmt: skip
    opt = state.get("optimizer")
    _check(
        path,
        isinstance(opt, dict) and isinstance(opt.get("param_groups"), list),
        "'optimizer' must hold a 'param_groups' list",
    )
    _check(path, isinstance(state.get("history"), list), "'history' must be a list")
    _check(path, isinstance(state.get("train_config"), dict), "'train_config' must be an object")
    world = state.get("world_size", 1)
    _check(path, _nonneg_int(world) and world >= 1, "'world_size' must be an integer >= 1")
    return state


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def differences(saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``["seed 0 -> 1", ...]``: settings that differ between two run descriptions
    (``train_config.`` is left out of the names)."""
    a, b = _flatten(saved), _flatten(now)
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, "(unset)"), b.get(key, "(unset)")
        if isinstance(va, list) and isinstance(vb, tuple):
            vb = list(vb)
        if va != vb:
            out.append(f"{key.removeprefix('train_config.')} {va!r} -> {vb!r}")
    return out


def check_run_inputs(out_dir: str | Path | None, **inputs: object) -> None:
    """The output rule's input half for a run folder, before any work: ``out_dir`` is
    none of the inputs given as paths (an input folder, e.g. the base model's
    checkpoint, is never replaced, with or without ``resume=False``). What an existing
    run folder holds is :func:`prepare_run`'s to decide."""
    if out_dir is None:
        return
    paths = [(name, value) for name, value in inputs.items() if isinstance(value, str | Path)]
    check_output(out_dir, overwrite=True, inputs=paths, kind="folder", name="out_dir")


def prepare_run(
    out_dir: str | Path,
    run: Mapping[str, Any],
    *,
    resume: bool | None,
    is_main: bool = True,
    announce: bool = True,
) -> Path | None:
    """Check ``out_dir`` before training writes there; return the checkpoint to resume.

    Parameters
    ----------
    out_dir
        The run folder.
    run
        The new run's settings (compared with the saved run's).
    resume
        ``None``: resume when the saved settings are the same, refuse when they differ;
        ``True``: resume even with changed settings (refuse when there is nothing to
        resume); ``False``: delete the saved run's checkpoints and model, start over.
    is_main
        Only the main process deletes anything.
    announce
        Log the settings a forced resume changes (an early check before training passes
        False; the training loop's own call says it).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {out} is a file; give a folder for the run")
    if not out.exists():
        if resume is True:
            raise ValidationError(f"nothing to resume: {out} does not exist")
        return None
    if is_main:
        clean_stale_temps(out)
        clean_stale_temps(out / CHECKPOINTS)
    foreign = sorted(
        p.name for p in out.iterdir() if p.name not in RUN_ENTRIES and p.name[0] != "."
    )
    if foreign:
        shown = ", ".join(repr(n) for n in foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise ValidationError(
            f"--out {out} holds files that are not part of a virtualcell run ({shown}); "
            "choose a new or empty folder"
        )
    for name in RUN_ENTRIES:
        entry, want_dir = out / name, name == CHECKPOINTS
        if entry.exists() and (entry.is_dir() != want_dir or entry.is_symlink()):
            kind = "a folder" if want_dir else "a file"
            raise ValidationError(f"--out {out}: {name} should be {kind}; choose another folder")
    latest = latest_checkpoint(out)
    if resume is False:
        if is_main:
            removed = [n for n in sorted(RUN_ENTRIES) if (out / n).exists()]
            shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
            for name in (CONFIG_NAME, WEIGHTS_NAME, VOCAB_NAME):
                (out / name).unlink(missing_ok=True)
            if removed:
                log(f"starting over in {out}: removed the previous run ({', '.join(removed)})")
        return None
    if latest is None:
        if resume is True:
            raise ValidationError(f"nothing to resume: no checkpoint under {out / CHECKPOINTS}")
        if (out / CONFIG_NAME).exists():
            raise ValidationError(
                f"--out {out} already holds a model ({CONFIG_NAME}) and no checkpoint to resume; "
                "pass --overwrite (overwrite=True) to replace it, or choose another folder"
            )
        return None
    saved = read_state_json(latest).get("run")
    if not isinstance(saved, dict):
        saved = {}
    changed = differences(saved, run)
    if changed and resume is None:
        shown = "; ".join(changed[:8]) + (
            f"; and {len(changed) - 8} more" if len(changed) > 8 else ""
        )
        raise ValidationError(
            f"--out {out} holds a run with other settings ({shown}); pass --resume to continue "
            "it with the new settings, --overwrite to start over, or choose another folder"
        )
    if changed and announce and is_main:
        log(f"resuming {out} with changed settings: {'; '.join(changed)}")
    return latest
