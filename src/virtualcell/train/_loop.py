"""The one training loop (pretraining and fine-tuning alike).

AdamW, linear warm-up then cosine decay, gradient accumulation, gradient-norm clipping,
bf16 autocast on CUDA (CPU runs in float32), a progress bar with loss and cells/s,
checkpoints every N steps and exact resume, distributed data parallel. What is learned
is decided by the ``objective`` strategy object, never by branches in this loop.

Determinism: weights are initialised from the model seed; masking draws from a private
``torch.Generator`` (state checkpointed); dropout draws from the global RNG inside
``torch.random.fork_rng`` re-seeded from ``(seed, step, rank)`` each step, so the global
random state of the caller is left untouched and resumed runs see the same numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._errors import ValidationError
from .._settings import settings
from . import _state
from ._data import CellBatches, DataPosition
from ._distributed import DistInfo, barrier, init_distributed, resolve_device

__all__ = ["TrainConfig", "TrainResult", "lr_at", "train"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (saved in checkpoints and ``config.json``).

    Attributes
    ----------
    max_steps
        Optimizer steps to run in total (a resumed run continues up to this).
    batch_size
        Cells per micro-batch and process; the effective batch is
        ``batch_size * grad_accum * world_size``.
    grad_accum
        Micro-batches accumulated per optimizer step.
    lr, min_lr_ratio, warmup_steps
        Peak learning rate; linear warm-up over ``warmup_steps`` then cosine decay to
        ``lr * min_lr_ratio`` at ``max_steps``.
    weight_decay, beta1, beta2
        AdamW parameters (weight decay on matrices only, not biases / norms).
    clip_norm
        Maximum global gradient norm (0 = no clipping).
    seed
        Seed of data order, masking and dropout.
    chunk_size
        Rows read from disk at once when streaming.
    checkpoint_every
        Save a resumable checkpoint every N steps (0 = only at the end).
    keep_checkpoints
        How many recent checkpoints to keep.
    amp
        bf16 autocast when training on CUDA (ignored on CPU).
    device
        ``auto`` (GPU of this rank if available, else CPU), ``cpu`` or ``cuda[:i]``.
    """

    max_steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.98
    clip_norm: float = 1.0
    seed: int = 0
    chunk_size: int = 1024
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    amp: bool = True
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainResult:
    """What a :func:`train` call did.

    ``history`` holds one dict per optimizer step: ``step``, ``loss``, ``lr`` (and any
    metric the objective reports). ``cells_per_s`` counts this process's cells over the
    steps run in this call (not counting a resumed prefix).
    """

    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    wall_time_s: float = 0.0
    cells: int = 0
    tokens: int = 0
    resumed_from: int | None = None

    @property
    def cells_per_s(self) -> float:
        return self.cells / self.wall_time_s if self.wall_time_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_time_s if self.wall_time_s > 0 else 0.0


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based): warm-up then cosine."""
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.lr * config.min_lr_ratio
    return floor + 0.5 * (config.lr - floor) * (1.0 + math.cos(math.pi * progress))


def _param_groups(network: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for _, p in network.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _stream(data: CellBatches, position: DataPosition) -> Iterator[tuple[DataPosition, dict]]:
    while True:
        yield from data.iterate(position)
        position = DataPosition(position.epoch + 1, 0)


def _save(
    out_dir: Path,
    step: int,
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    position: DataPosition,
    history: list[dict],
    config: TrainConfig,
    info: DistInfo,
    extra: dict[str, Any],
) -> None:
    from safetensors.torch import save_file

    folder = out_dir / "checkpoints" / f"step-{step:08d}"
    if info.is_main:
        folder.mkdir(parents=True, exist_ok=True)
    barrier(info)
    save_file(
        {"torch_generator": generator.get_state()}, str(folder / f"rng-rank{info.rank}.safetensors")
    )
    if info.is_main:
        state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        tensors, meta = _state.optimizer_tensors(optimizer)
        save_file(tensors, str(folder / "optimizer.safetensors"))
        doc = {
            "format_version": _state.STATE_FORMAT_VERSION,
            "step": step,
            "position": dataclasses.asdict(position),
            "optimizer": meta,
            "history": history,
            "train_config": config.to_dict(),
            "world_size": info.world_size,
            **extra,
        }
        (folder / "state.json").write_text(json.dumps(doc))
    barrier(info)
    if info.is_main:
        _state.write_latest(out_dir, folder, config.keep_checkpoints)
    barrier(info)


def _restore(
    folder: Path,
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    info: DistInfo,
) -> tuple[int, DataPosition, list[dict]]:
    from safetensors.torch import load_file

    from ..models._checkpoint import check_state_dict

    state = _state.read_state_json(folder)
    if state.get("world_size", 1) != info.world_size:
        raise ValidationError(
            f"{folder} was written by {state.get('world_size')} processes; resuming with "
            f"{info.world_size} would change the data order"
        )
    weights = load_file(str(folder / "model.safetensors"))
    check_state_dict(network.state_dict(), weights, folder / "model.safetensors")
    network.load_state_dict(weights)
    _state.load_optimizer(
        optimizer, load_file(str(folder / "optimizer.safetensors")), state["optimizer"]
    )
    rng = load_file(str(folder / f"rng-rank{info.rank}.safetensors"))
    generator.set_state(rng["torch_generator"])
    return int(state["step"]), DataPosition(**state["position"]), list(state["history"])


def train(
    network: torch.nn.Module,
    data: CellBatches,
    objective: Any,
    config: TrainConfig,
    *,
    out_dir: str | Path | None = None,
    resume: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    checkpoint_extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``network`` on ``data`` with ``objective`` (in place); returns a :class:`TrainResult`.

    Parameters
    ----------
    network
        The torch module (its forward must return what ``objective`` needs).
    data
        :class:`CellBatches` of this process (rank-sharded when distributed).
    objective
        A strategy object from :mod:`virtualcell.train` (e.g. ``MaskedTokenObjective()``).
    config
        :class:`TrainConfig`.
    out_dir
        Folder for checkpoints (``out_dir/checkpoints``); None = no checkpoints.
    resume
        Continue from the latest checkpoint in ``out_dir`` if there is one.
    callback
        Called as ``callback(step, metrics)`` after each optimizer step (an exception
        raised there stops training; the last checkpoint stays valid).
    checkpoint_extra
        JSON metadata stored in each checkpoint's ``state.json``.
    """
    if config.max_steps < 1 or config.grad_accum < 1:
        raise ValidationError("max_steps and grad_accum must be >= 1")
    info = init_distributed()
    device = resolve_device(config.device, info)
    network.to(device)
    network.train()
    model: Any = network
    if info.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            network,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    optimizer = torch.optim.AdamW(
        _param_groups(network, config.weight_decay),
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        foreach=False,
    )
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + info.rank)
    step, position, history = 0, DataPosition(), []
    resumed_from = None
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and resume:
        folder = _state.latest_checkpoint(out)
        if folder is not None:
            step, position, history = _restore(folder, network, optimizer, generator, info)
            resumed_from = step
    use_amp = config.amp and device.type == "cuda"
    stream = _stream(data, position)
    result = TrainResult(steps=step, history=history, resumed_from=resumed_from)
    bar = _Bar(config.max_steps, step, enabled=info.is_main and settings.verbosity > 0)

    def checkpoint(folder: Path) -> None:
        """Save the current step (reads ``step`` and ``position`` when called)."""
        _save(folder, step, network, optimizer, generator, position, history, config, info,
              checkpoint_extra or {})  # fmt: skip

    t0 = time.perf_counter()
    try:
        while step < config.max_steps:
            lr = lr_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            metrics_sum: dict[str, float] = {}
            fork_devices = [device.index or 0] if device.type == "cuda" else []
            with torch.random.fork_rng(devices=fork_devices):
                torch.manual_seed(hash((config.seed, step, info.rank)) & 0x7FFFFFFF)
                for micro in range(config.grad_accum):
                    position, batch = next(stream)
                    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    sync = micro == config.grad_accum - 1 or info.world_size == 1
                    ctx = model.no_sync() if not sync else _null()
                    with ctx, torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                        loss, metrics = objective.loss(model, batch, generator)
                        (loss / config.grad_accum).backward()
                    for k, v in metrics.items():
                        metrics_sum[k] = metrics_sum.get(k, 0.0) + v / config.grad_accum
                    result.cells += int(batch["input_ids"].shape[0])
                    result.tokens += int(batch["attention_mask"].sum())
            if config.clip_norm > 0:
                norm = torch.nn.utils.clip_grad_norm_(network.parameters(), config.clip_norm)
                metrics_sum["grad_norm"] = float(norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            record = {"step": step, "lr": lr, **metrics_sum}
            history.append(record)
            result.steps = step
            result.wall_time_s = time.perf_counter() - t0
            bar.update(step, metrics_sum.get("loss", float("nan")), result.cells_per_s)
            if out is not None and config.checkpoint_every and step % config.checkpoint_every == 0:
                checkpoint(out)
            if callback is not None:
                callback(step, record)
        if out is not None and (not config.checkpoint_every or step % config.checkpoint_every):
            checkpoint(out)
    finally:
        bar.close()
        result.wall_time_s = time.perf_counter() - t0
    network.eval()
    return result


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _Bar:
    """Rich progress bar showing loss and cells/s (silent when disabled)."""

    def __init__(self, total: int, start: int, *, enabled: bool) -> None:
        self._progress = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[cps]:.0f} cells/s"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=total, completed=start, loss=float("nan"), cps=0.0
        )

    def update(self, step: int, loss: float, cps: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step, loss=loss, cps=cps)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
