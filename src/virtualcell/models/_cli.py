"""``vcell pretrain``, ``vcell embed``, ``vcell finetune`` (thin wrappers over the library)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]


def _open(data: str) -> Any:
    """A streamable path (.h5ad / .zarr) is passed through; anything else (another file,
    a registry name) goes to vc.datasets.read."""
    p = Path(data)
    if p.exists() and (p.suffix in (".h5ad", ".zarr")):
        return p
    from ..datasets import read

    return read(data)


def _fixed_mmap_threshold(nbytes: int = 131072) -> None:
    """Fix glibc's mmap threshold for this CLI process (no-op elsewhere).

    Training allocates tensors of varying shapes; glibc's *dynamic* mmap threshold then
    moves large buffers onto the heap, whose fragmentation grows the resident set with the
    number of steps (benchmarks/streaming_memory.py). A fixed threshold keeps it flat.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, nbytes)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def pretrain_command(
    data: str = typer.Argument(
        ..., help="Cells: .h5ad / .zarr path (streamed) or a registry name."
    ),
    tokenizer: str = typer.Option("rank", "--tokenizer", help="rank | bin | continuous | sentence"),
    objective: str = typer.Option("mlm", "--objective", help="mlm | mae | ntp"),
    out: Path = typer.Option(..., "--out", help="Checkpoint folder to write."),
    max_steps: int = typer.Option(1000, "--max-steps"),
    seed: int = typer.Option(0, "--seed"),
    batch_size: int = typer.Option(32, "--batch-size"),
    grad_accum: int = typer.Option(1, "--grad-accum"),
    lr: float = typer.Option(1e-3, "--lr"),
    d_model: int = typer.Option(256, "--d-model"),
    n_layers: int = typer.Option(4, "--n-layers"),
    n_heads: int = typer.Option(4, "--n-heads"),
    max_len: int = typer.Option(256, "--max-len", help="Gene tokens per cell."),
    layer: str | None = typer.Option(None, "--layer", help="Expression layer ('raw' = adata.raw)."),
    checkpoint_every: int = typer.Option(
        0, "--checkpoint-every", help="Resumable checkpoint every N steps."
    ),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Pretrain a CellEncoder (mlm/mae) or CellGPT (ntp) and write a checkpoint folder.

    Re-running with the same --out resumes from the latest checkpoint.
    """
    from ..train import TrainConfig, make_tokenizer, pretrain

    _fixed_mmap_threshold()
    tc = TrainConfig(
        max_steps=max_steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        lr=lr,
        seed=seed,
        warmup_steps=min(100, max(1, max_steps // 10)),
        checkpoint_every=checkpoint_every,
        device=device,
    )
    model, result = pretrain(
        _open(data),
        tokenizer=make_tokenizer(tokenizer, max_len=max_len),
        objective=objective,  # type: ignore[arg-type]
        model_config={"d_model": d_model, "n_layers": n_layers, "n_heads": n_heads},
        train_config=tc,
        out_dir=out,
        layer=layer,
    )
    last = result.history[-1]["loss"] if result.history else float("nan")
    typer.echo(
        f"{model!r}: {result.steps} steps, final loss {last:.4f}, "
        f"{result.cells_per_s:.0f} cells/s -> {out}"
    )


def embed_command(
    data: str = typer.Argument(..., help="Cells: a file or a registry name."),
    model: Path = typer.Option(..., "--model", help="Checkpoint folder."),
    out: Path = typer.Option(..., "--out", help="Output .h5ad with .obsm[KEY]."),
    key: str = typer.Option("X_vc", "--key"),
    batch_size: int = typer.Option(64, "--batch-size"),
    layer: str | None = typer.Option(None, "--layer"),
) -> None:
    """Embed cells with a checkpoint and write an .h5ad with the embedding in .obsm."""
    import anndata as ad

    from ._embed import embed

    src = _open(data)
    adata = ad.read_h5ad(src) if isinstance(src, Path) and src.suffix == ".h5ad" else src
    if isinstance(adata, Path):
        adata = ad.read_zarr(adata)
    emb = embed(adata, model, key=key, batch_size=batch_size, layer=layer)
    adata.write_h5ad(out)
    typer.echo(f"wrote {out} with obsm[{key!r}] of shape {emb.shape}")


def finetune_command(
    data: str = typer.Argument(..., help="Labelled cells: a file or a registry name."),
    model: Path = typer.Option(..., "--model", help="Pretrained checkpoint folder."),
    label: str = typer.Option(..., "--label", help="obs column to predict."),
    out: Path = typer.Option(..., "--out", help="Folder for the fine-tuned checkpoint."),
    task: str = typer.Option("classification", "--task", help="classification | regression"),
    max_steps: int = typer.Option(200, "--max-steps"),
    batch_size: int = typer.Option(32, "--batch-size"),
    lr: float = typer.Option(3e-4, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    layer: str | None = typer.Option(None, "--layer"),
) -> None:
    """Fine-tune a pretrained model with a classification or regression head."""
    from ._finetune import finetune

    tuned = finetune(
        _open(data),
        model,
        label_key=label,
        task=task,  # type: ignore[arg-type]
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        layer=layer,
        out_dir=out,
    )
    typer.echo(f"{tuned!r} -> {out}")


def register(app: typer.Typer) -> None:
    """Add the model commands to the ``vcell`` app."""
    app.command("pretrain")(pretrain_command)
    app.command("embed")(embed_command)
    app.command("finetune")(finetune_command)
