"""The one training loop (pretraining and fine-tuning alike).

AdamW, linear warm-up then cosine decay, gradient accumulation, gradient-norm clipping,
bf16 autocast on CUDA (CPU runs in float32), progress with loss and cells/s on stderr,
checkpoints and exact resume, distributed data parallel. What is learned is decided by
the ``objective`` strategy object, never by branches in this loop.

Checkpoints (when ``out_dir`` is given): every ``checkpoint_every`` steps (default 500),
every ``checkpoint_minutes`` minutes (default 10), at the end, and when the process gets
SIGINT (Ctrl-C) or SIGTERM: the loop finishes the current step, saves, says how to
resume and raises ``KeyboardInterrupt`` (the CLI exits 130). A second signal stops at
once. Re-running into the same ``out_dir`` resumes from the newest checkpoint and says
"resumed from step N" (see :func:`~virtualcell.train._state.prepare_run` for the rules).

Determinism: weights are initialised from the model seed; masking draws from a private
``torch.Generator`` (state checkpointed); dropout draws from the global RNG inside
``torch.random.fork_rng`` re-seeded from ``(seed, step, rank)`` each step, so the global
random state of the caller is left untouched and resumed runs see the same numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from .._errors import ValidationError
from .._utils import Progress, atomic_path, log, write_json
from . import _state
from ._config import TrainConfig
from ._data import Batches, DataPosition
from ._distributed import DistInfo, all_ranks_max, barrier, init_distributed, resolve_device
from ._objectives import Objective

__all__ = ["TrainConfig", "TrainResult", "lr_at", "run_description", "train"]


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
    """Learning rate for optimizer step ``step`` (0-based): warm-up then cosine.

    Parameters
    ----------
    step
        Optimizer step, counted from 0.
    config
        Its ``lr``, ``warmup_steps`` (linear warm-up), ``max_steps`` and ``min_lr_ratio``
        (the cosine's floor as a share of ``lr``) are read.

    Returns
    -------
    float
        The learning rate of that step.
    """
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


def _rows(batch: Mapping[str, torch.Tensor]) -> int:
    """Examples in a batch: rows of ``input_ids`` (token batches) or of its first tensor
    (feature batches, e.g. the contrastive objective's ``cells`` / ``texts``)."""
    first = batch["input_ids"] if "input_ids" in batch else next(iter(batch.values()))
    return int(first.shape[0])


def _stream(data: Batches, position: DataPosition) -> Iterator[tuple[DataPosition, dict]]:
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
    run: dict[str, Any],
    device: torch.device,
) -> Path:
    """Write ``checkpoints/step-N`` (all files, then one rename) and point ``latest`` at it."""
    from safetensors.torch import save_file

    states = _gather_generator_states(generator, info, device)
    root = out_dir / _state.CHECKPOINTS
    final = root / f"step-{step:08d}"
    if info.is_main:
        root.mkdir(parents=True, exist_ok=True)
        with atomic_path(final) as part:
            part.mkdir()
            for rank, rng in enumerate(states):
                save_file({"torch_generator": rng}, str(part / f"rng-rank{rank}.safetensors"))
            weights = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
            save_file(weights, str(part / "model.safetensors"))
            tensors, meta = _state.optimizer_tensors(optimizer)
            save_file(tensors, str(part / "optimizer.safetensors"))
            doc = {
                "format_version": _state.STATE_FORMAT_VERSION,
                "step": step,
                "position": dataclasses.asdict(position),
                "optimizer": meta,
                "history": history,
                "train_config": config.to_dict(),
                "world_size": info.world_size,
                "run": run,
            }
            write_json(part / "state.json", doc, indent=None)
        _state.write_latest(out_dir, final, config.keep_checkpoints)
    barrier(info)
    return final


def _gather_generator_states(
    generator: torch.Generator, info: DistInfo, device: torch.device
) -> list[torch.Tensor]:
    """Every rank's masking-generator state, in rank order (on every rank)."""
    state = generator.get_state()
    if info.world_size == 1:
        return [state]
    import torch.distributed as dist

    local = state.to(device)
    parts = [torch.empty_like(local) for _ in range(info.world_size)]
    dist.all_gather(parts, local)
    return [p.cpu() for p in parts]


def _restore(
    folder: Path,
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    info: DistInfo,
) -> tuple[int, DataPosition, list[dict]]:
    from safetensors.torch import load_file

    from ..models import check_state_dict

    state = _state.read_state_json(folder)
    if state.get("world_size", 1) != info.world_size:
        raise ValidationError(
            f"{folder} was written by {state.get('world_size')} processes; resuming with "
            f"{info.world_size} would change the data order"
        )
    try:
        weights = load_file(str(folder / "model.safetensors"))
        opt = load_file(str(folder / "optimizer.safetensors"))
        rng = load_file(str(folder / f"rng-rank{info.rank}.safetensors"))
    except Exception as e:  # safetensors raises its own error types
        from .._errors import DataFormatError

        raise DataFormatError(f"{folder}: cannot read the checkpoint ({e})") from None
    check_state_dict(network.state_dict(), weights, folder / "model.safetensors")
    network.load_state_dict(weights)
    _state.load_optimizer(optimizer, opt, state["optimizer"])
    generator.set_state(rng["torch_generator"])
    return int(state["step"]), DataPosition(**state["position"]), list(state["history"])


def run_description(config: TrainConfig, run: Mapping[str, Any] | None) -> dict[str, Any]:
    """What identifies a run: its settings (:meth:`TrainConfig.run_settings`) plus ``run``."""
    return {"train_config": config.run_settings(), **dict(run or {})}


class _Signals:
    """SIGINT / SIGTERM set a flag (the loop saves and stops after the current step); the
    previous handlers come back after the first signal, so a second one acts at once."""

    NAMES: ClassVar[dict[int, str]] = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}

    def __init__(self, enabled: bool) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()

    def __enter__(self) -> _Signals:
        if self._enabled:
            for sig in self.NAMES:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def train(
    network: torch.nn.Module,
    data: Batches,
    objective: Objective,
    config: TrainConfig,
    *,
    out_dir: str | Path | None = None,
    resume: bool | None = None,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    run: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``network`` on ``data`` with ``objective`` (in place); returns a :class:`TrainResult`.

    Parameters
    ----------
    network
        The torch module (its forward must return what ``objective`` needs).
    data
        The batches of this process (rank-sharded when distributed): a
        :class:`CellBatches`, :class:`TensorBatches` or any :class:`Batches`.
    objective
        A strategy object from :data:`OBJECTIVES` (e.g. ``MaskedTokenObjective()``).
    config
        :class:`TrainConfig`.
    out_dir
        Folder for checkpoints (``out_dir/checkpoints``); None = no checkpoints.
    resume
        What to do with a run already in ``out_dir``: ``None`` resumes it when its
        settings (``config`` and ``run``) are the same and refuses when they differ;
        ``True`` resumes it with the new settings; ``False`` deletes it and starts over.
    callback
        Called as ``callback(step, metrics)`` after each optimizer step (an exception
        raised there stops training; the last checkpoint stays valid).
    run
        JSON description of what is trained (objective, model and tokenizer settings ...),
        stored in each checkpoint and compared when resuming.
    """
    if not isinstance(config, TrainConfig):
        raise ValidationError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(objective, Objective):
        raise ValidationError(
            f"objective must have a name and a loss(model, batch, generator) method, got "
            f"{type(objective).__name__}"
        )
    if not isinstance(data, Batches):
        raise ValidationError(
            f"data must be batches with an iterate(position) method (CellBatches, "
            f"TensorBatches), got {type(data).__name__}"
        )
    info = init_distributed()
    device = resolve_device(config.device, info)
    run_doc = run_description(config, run)
    out = Path(out_dir) if out_dir is not None else None
    latest = None
    if out is not None:
        latest = _state.prepare_run(out, run_doc, resume=resume, is_main=info.is_main)
        barrier(info)
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
    if latest is not None:
        step, position, history = _restore(latest, network, optimizer, generator, info)
        resumed_from = step
        if step > config.max_steps:
            raise ValidationError(
                f"the checkpoint in {out} is at step {step}, past max_steps={config.max_steps}; "
                f"give max_steps > {step} to train on, or start over (--overwrite)"
            )
        if info.is_main:
            done = "; nothing left to train" if step == config.max_steps else ""
            log(f"resumed from step {step} of {config.max_steps} ({latest}){done}")
    use_amp = config.amp and device.type == "cuda"
    stream = _stream(data, position)
    result = TrainResult(steps=step, history=history, resumed_from=resumed_from)
    bar = None
    if info.is_main:
        bar = Progress(
            config.max_steps,
            description="train",
            completed=step,
            fields={"loss": float("nan"), "cells/s": 0},
            transient=False,
        )
    last_saved = step if latest is not None else None
    last_save_time = time.monotonic()

    def checkpoint() -> Path:
        """Save the current step (reads ``step`` and ``position`` when called)."""
        nonlocal last_saved, last_save_time
        assert out is not None
        folder = _save(out, step, network, optimizer, generator, position, history, config,
                       info, run_doc, device)  # fmt: skip
        last_saved, last_save_time = step, time.monotonic()
        return folder

    t0 = time.perf_counter()
    with _Signals(enabled=out is not None) as signals, bar or contextlib.nullcontext():
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
                        ctx = model.no_sync() if not sync else contextlib.nullcontext()
                        with ctx, torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                            loss, metrics = objective.loss(model, batch, generator)
                            (loss / config.grad_accum).backward()
                        for k, v in metrics.items():
                            metrics_sum[k] = metrics_sum.get(k, 0.0) + v / config.grad_accum
                        result.cells += _rows(batch)
                        if "attention_mask" in batch:
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
                if bar is not None:
                    bar.update(
                        step,
                        loss=metrics_sum.get("loss", float("nan")),
                        **{"cells/s": round(result.cells_per_s)},
                    )
                if out is not None:
                    by_steps = bool(config.checkpoint_every) and step % config.checkpoint_every == 0
                    by_time = config.checkpoint_minutes > 0 and (
                        time.monotonic() - last_save_time >= 60 * config.checkpoint_minutes
                    )
                    stop, by_time = all_ranks_max(
                        info, device, signals.received is not None, by_time
                    )
                    if by_steps or by_time or stop:
                        folder = checkpoint()
                    if stop:
                        if info.is_main:
                            name = _Signals.NAMES.get(signals.received or 0, "a signal")
                            log(
                                f"interrupted ({name}) at step {step} of {config.max_steps}; "
                                f"checkpoint saved in {folder}. To resume, run the same command "
                                "again (same --out): it continues from this step."
                            )
                        raise KeyboardInterrupt
                if callback is not None:
                    callback(step, record)
            if out is not None and last_saved != step:
                checkpoint()
        finally:
            result.wall_time_s = time.perf_counter() - t0
    network.eval()
    return result
