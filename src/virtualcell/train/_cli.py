"""``vcell pretrain`` and ``vcell finetune`` (thin wrappers over :mod:`virtualcell.train`).

Option defaults are read from :class:`TrainConfig` / :data:`FINETUNE_CONFIG` (architecture
options left out fall back to the model config's defaults); every value is checked while
the arguments are parsed, before any data is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import typer

from .._cli_types import config_field, device_option, input_path, output_path, seed_option
from ._config import FINETUNE_CONFIG, TrainConfig

__all__ = ["FINETUNE_TASKS", "PRETRAIN_OBJECTIVES", "TOKENIZER_KINDS", "register"]

#: ``--tokenizer`` choices (the kinds :func:`make_tokenizer` builds; a test keeps them equal).
TOKENIZER_KINDS = Literal["rank", "bin", "continuous", "sentence"]
#: ``--objective`` names (``OBJECTIVES.names(tag="pretraining")``; a test keeps them equal);
#: ``mlm``, ``mvc`` and ``views`` also combine as weighted sums, e.g. ``mlm+mvc+views``.
PRETRAIN_OBJECTIVES = Literal["mae", "mlm", "mvc", "ntp", "views"]
#: ``--task`` choices (``OBJECTIVES.names(tag="finetuning")``; a test keeps them equal).
FINETUNE_TASKS = Literal["classification", "regression"]

_DEFAULT = TrainConfig()
_FINETUNE = FINETUNE_CONFIG


def _open(data: str) -> Any:
    """A streamable path (.h5ad / .zarr) is passed through; anything else goes to vc.data.read."""
    p = Path(data)
    if p.exists() and (p.suffix in (".h5ad", ".zarr")):
        return p
    from ..datasets import read

    return read(data)


def _fixed_mmap_threshold(nbytes: int = 4 << 20) -> None:
    """Fix glibc's mmap threshold for this CLI process (no-op elsewhere).

    Training allocates tensors of varying shapes; glibc's *dynamic* mmap threshold then
    moves large buffers onto the heap, whose fragmentation grows the resident set with the
    number of steps (benchmarks/streaming_memory.py). A fixed threshold keeps it flat.
    It is 4 MiB, not 128 KiB: at 128 KiB every per-step tensor above it (a batch's counts,
    the decoder's logits) was a fresh ``mmap`` + page faults + ``munmap``: 4-6x the page
    faults and 1.14-1.29x the time of the same run (benchmarks/pretrain_cli_speed.py);
    4 MiB keeps the resident set as flat (benchmarks/streaming_memory.py).
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, nbytes)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _resume_flag(resume: bool, overwrite: bool) -> bool | None:
    if resume and overwrite:
        raise typer.BadParameter("give --resume or --overwrite, not both", param_hint="--resume")
    return True if resume else False if overwrite else None


_LAYER_HELP = "Matrix to read: 'raw' = adata.raw.X, a name = adata.layers[name]; default X."
_RESUME_HELP = "Continue the run in --out even if its settings changed (new ones apply)."
_OVERWRITE_HELP = "Delete the run in --out (checkpoints and model) and start over."


def _check_objective(value: str) -> str:
    """``--objective``: one pretraining objective or a weighted sum (``mlm+0.5*mvc``)."""
    from .._errors import ValidationError
    from ._pretrain import check_objective

    try:
        check_objective(value)
    except ValidationError as e:
        raise typer.BadParameter(str(e), param_hint="--objective") from None
    return value


def _check_objective_options(values: list[str]) -> list[str]:
    for v in values:
        name, _, rest = v.partition(".")
        field, eq, value = rest.partition("=")
        if not (name and field and eq and value):
            raise typer.BadParameter(
                f"{v!r} is not NAME.FIELD=VALUE (e.g. views.mask_prob=0.4)",
                param_hint="--objective-option",
            )
        try:
            float(value)
        except ValueError:
            raise typer.BadParameter(
                f"{v!r}: {value!r} is not a number", param_hint="--objective-option"
            ) from None
    return values


def _objective_options(values: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for v in values:
        name, _, rest = v.partition(".")
        field, _, value = rest.partition("=")
        out.setdefault(name, {})[field] = float(value)
    return out


def _opt(config: TrainConfig, name: str, flag: str, help: str = "") -> Any:
    return typer.Option(
        getattr(config, name), flag, help=help, callback=config_field(TrainConfig, name)
    )


def pretrain_command(
    data: str = typer.Argument(
        ..., help="Cells: .h5ad / .zarr path (streamed) or a registry name."
    ),
    tokenizer: TOKENIZER_KINDS = typer.Option("rank", "--tokenizer", help="Tokenizer kind."),
    objective: str = typer.Option(
        "mlm",
        "--objective",
        help="mlm / mae / mvc / views: CellEncoder; ntp: CellGPT; or a weighted sum of "
        "mlm, mvc and views such as mlm+mvc+views or mlm+0.5*mvc.",
        callback=_check_objective,
    ),
    objective_option: list[str] = typer.Option(
        [],
        "--objective-option",
        help="NAME.FIELD=VALUE option of one objective part, e.g. views.mask_prob=0.4 "
        "(repeatable).",
        callback=_check_objective_options,
    ),
    pooling: Literal["cls", "mean"] | None = typer.Option(
        None, "--pooling", help="CellEncoder cell embedding (default: the model config's, cls)."
    ),
    out: Path = output_path(
        ..., "--out", help="Run folder to write.", kind="folder", existing="resume"
    ),
    max_steps: int = _opt(_DEFAULT, "max_steps", "--max-steps", "Optimizer steps to train for."),
    seed: int = seed_option(_DEFAULT.seed),
    batch_size: int = _opt(_DEFAULT, "batch_size", "--batch-size", "Cells per batch."),
    grad_accum: int = _opt(
        _DEFAULT, "grad_accum", "--grad-accum", "Batches whose gradients add up to one step."
    ),
    lr: float = _opt(_DEFAULT, "lr", "--lr", "Peak learning rate."),
    warmup_steps: int | None = typer.Option(
        None,
        "--warmup-steps",
        help="Default: 10% of --max-steps, at most 100.",
        callback=config_field(TrainConfig, "warmup_steps"),
    ),
    d_model: int | None = typer.Option(None, "--d-model", help="Default: the model config's."),
    n_layers: int | None = typer.Option(None, "--n-layers", help="Default: the model config's."),
    n_heads: int | None = typer.Option(None, "--n-heads", help="Default: the model config's."),
    max_len: int | None = typer.Option(
        None, "--max-len", min=1, help="Gene tokens per cell (default: the tokenizer's)."
    ),
    layer: str | None = typer.Option(None, "--layer", help=_LAYER_HELP),
    checkpoint_every: int = _opt(
        _DEFAULT, "checkpoint_every", "--checkpoint-every", "Checkpoint every N steps (0: off)."
    ),
    checkpoint_minutes: float = _opt(
        _DEFAULT,
        "checkpoint_minutes",
        "--checkpoint-minutes",
        "Also checkpoint every M minutes (0: off).",
    ),
    device_name: str = device_option(_DEFAULT.device),
    resume: bool = typer.Option(False, "--resume", help=_RESUME_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=_OVERWRITE_HELP),
) -> None:
    """Pretrain a CellEncoder (mlm/mae/mvc/views and their sums) or CellGPT (ntp) and
    write a checkpoint folder.

    Checkpoints are saved every --checkpoint-every steps, every --checkpoint-minutes and
    on Ctrl-C / SIGTERM; re-running the same command resumes from the newest one.
    """
    from ..train import make_tokenizer, pretrain

    how = _resume_flag(resume, overwrite)
    _fixed_mmap_threshold()
    tc = TrainConfig(
        max_steps=max_steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        lr=lr,
        seed=seed,
        warmup_steps=warmup_steps
        if warmup_steps is not None
        else min(100, max(1, max_steps // 10)),
        checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes,
        device=device_name,
    )
    arch = {"d_model": d_model, "n_layers": n_layers, "n_heads": n_heads, "pooling": pooling}
    model, result = pretrain(
        _open(data),
        tokenizer=make_tokenizer(tokenizer, **({"max_len": max_len} if max_len else {})),
        objective=objective,
        objective_options=_objective_options(objective_option) or None,
        model_config={k: v for k, v in arch.items() if v is not None},
        train_config=tc,
        out_dir=out,
        layer=layer,
        resume=how,
    )
    last = result.history[-1]["loss"] if result.history else float("nan")
    typer.echo(
        f"{model!r}: {result.steps} steps, final loss {last:.4f}, "
        f"{result.cells_per_s:.0f} cells/s -> {out}"
    )


def finetune_command(
    data: str = typer.Argument(..., help="Labelled cells: a file or a registry name."),
    model: Path = input_path(
        ...,
        "--model",
        help="Pretrained checkpoint folder.",
        file_okay=False,
        what="a checkpoint folder",
    ),
    label: str = typer.Option(..., "--label-key", "--label", help="obs column to predict."),
    out: Path = output_path(
        ...,
        "--out",
        help="Folder for the fine-tuned checkpoint.",
        kind="folder",
        existing="resume",
    ),
    task: FINETUNE_TASKS = typer.Option(
        "classification",
        "--task",
        help="classification (categorical --label-key) or regression (numeric).",
    ),
    max_steps: int = _opt(_FINETUNE, "max_steps", "--max-steps", "Optimizer steps to train for."),
    batch_size: int = _opt(_FINETUNE, "batch_size", "--batch-size", "Cells per batch."),
    lr: float = _opt(_FINETUNE, "lr", "--lr", "Peak learning rate."),
    seed: int = seed_option(_FINETUNE.seed),
    layer: str | None = typer.Option(None, "--layer", help=_LAYER_HELP),
    device_name: str = device_option(_FINETUNE.device),
    resume: bool = typer.Option(False, "--resume", help=_RESUME_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=_OVERWRITE_HELP),
) -> None:
    """Fine-tune a pretrained model with a classification or regression head."""
    from ..train import finetune

    how = _resume_flag(resume, overwrite)
    tc = FINETUNE_CONFIG.replace(
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        warmup_steps=min(FINETUNE_CONFIG.warmup_steps, max_steps // 10),
        device=device_name,
    )
    tuned = finetune(
        _open(data),
        model,
        label_key=label,
        task=task,
        train_config=tc,
        layer=layer,
        out_dir=out,
        resume=how,
    )
    typer.echo(f"{tuned!r} -> {out}")


def register(app: typer.Typer) -> None:
    """Add the training commands to the ``vcell`` app."""
    app.command("pretrain")(pretrain_command)
    app.command("finetune")(finetune_command)
