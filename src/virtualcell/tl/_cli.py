"""``vcell embed`` (thin wrapper over :func:`virtualcell.tl.embed`)."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer

from .._cli_types import (
    FormatName,
    OrientationName,
    data_argument,
    device_option,
    format_option,
    input_path,
    orientation_option,
    output_path,
    overwrite_option,
)
from ..models import PUBLISHED_FORMATS
from ._embed import embed

_DEFAULT = {k: p.default for k, p in inspect.signature(embed).parameters.items()}

__all__ = ["register"]

#: Output formats of ``vcell embed`` (the suffix of ``--out`` decides).
EMBED_SUFFIXES = (".h5ad", ".zarr")


def embed_command(
    data: str = data_argument("Cells: a file or a registry name."),
    model: str = input_path(
        ...,
        "--model",
        help="Checkpoint folder, or a published one: geneformer:PATH, scgpt:PATH.",
        file_okay=False,
        what="a checkpoint folder",
        prefixes=PUBLISHED_FORMATS,
    ),
    out: Path = output_path(
        ...,
        "--out",
        help="Output AnnData with .obsm[KEY]: .h5ad or .zarr (written atomically).",
        suffixes=EMBED_SUFFIXES,
    ),
    key_added: str = typer.Option(
        _DEFAULT["key_added"], "--key-added", "--key", help="obsm key to write."
    ),
    batch_size: int = typer.Option(
        _DEFAULT["batch_size"], "--batch-size", min=1, help="Cells per forward pass."
    ),
    layer: str | None = typer.Option(
        None,
        "--layer",
        help="Matrix to read: 'raw' = adata.raw.X, a name = adata.layers[name]; default X.",
    ),
    format: FormatName | None = format_option(),
    orientation: OrientationName = orientation_option(),
    device_name: str | None = device_option(None, "auto, cpu, cuda, cuda:N or mps (default: cpu)."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Embed cells with a checkpoint and write an AnnData with the embedding in .obsm."""
    from .._utils import atomic_path, clean_stale_temps
    from ..datasets import read

    adata = read(data, format=format, orientation=orientation)
    emb = embed(
        adata, model, key_added=key_added, batch_size=batch_size, layer=layer, device=device_name
    )
    clean_stale_temps(out.parent if str(out.parent) else ".")  # leftovers of a killed run
    with atomic_path(out) as part:
        if out.suffix.lower() == ".zarr":
            adata.write_zarr(part)
        else:
            adata.write_h5ad(part)
    typer.echo(f"wrote {out} with obsm[{key_added!r}] of shape {emb.shape}")


def register(app: typer.Typer) -> None:
    """Add the ``embed`` command to the ``vcell`` app."""
    app.command("embed")(embed_command)
