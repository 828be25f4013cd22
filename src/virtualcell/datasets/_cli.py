"""``vcell datasets ...`` (registry) and ``vcell genes`` (identifier coverage) commands."""

from __future__ import annotations

from typing import Literal

import typer

from .._cli_types import (
    FormatName,
    OrientationName,
    data_argument,
    format_option,
    json_option,
    non_negative_int,
    orientation_option,
)

__all__ = ["register"]

datasets_app = typer.Typer(
    name="datasets",
    help="List, describe and fetch registry datasets.",
    no_args_is_help=True,
)


def _dataset_name(value: str) -> str:
    from ._registry import entry

    try:
        entry(value)
    except Exception as exc:  # DatasetNotAvailableError: unknown name, names listed
        raise typer.BadParameter(str(exc)) from None
    return value


_NAME = typer.Argument(..., help="Registry dataset name.", callback=_dataset_name, metavar="NAME")


@datasets_app.command("list")
def list_command(as_json: bool = json_option()) -> None:
    """Table of registry datasets: name, kind, size, shape, checksum, local status."""
    from .._utils import emit_json
    from ._registry import table

    frame = table()
    if as_json:
        emit_json(frame.to_dict(orient="records"))
        return
    typer.echo(frame.drop(columns="title").to_string(index=False))


@datasets_app.command("info")
def info_command(name: str = _NAME) -> None:
    """Print everything the registry knows about NAME as JSON (URLs, file names, sha256)."""
    from .._utils import emit_json
    from ._registry import info

    emit_json(info(name))


@datasets_app.command("fetch")
def fetch_command(name: str = _NAME, as_json: bool = json_option()) -> None:
    """Make NAME available locally (mirror, cache or download) and print its files."""
    from .._utils import emit_json, sha256_file
    from ._download import fetch
    from ._registry import entry

    e = entry(name)
    files = [] if e.kind == "bundled" else [fetch(remote, name=name) for remote in e.files]
    if as_json:
        emit_json(
            {"name": name, "kind": e.kind,
             "files": [{"path": str(p), "sha256": sha256_file(p)} for p in files]}
        )  # fmt: skip
        return
    if e.kind == "bundled":
        typer.echo(f"{name}: bundled with an installed package; nothing to fetch")
    for path in files:
        typer.echo(f"{path}\tsha256={sha256_file(path)}")


def genes_command(
    source: str = data_argument(),
    gene_key: str | None = typer.Option(
        None, "--gene-key", "--key", help="var column holding the identifiers (default: var_names)."
    ),
    to: Literal["symbol", "ensembl", "entrez"] = typer.Option(
        "symbol", "--to", help="Target identifier."
    ),
    show: int = non_negative_int(10, "--show", help="How many examples to list per category."),
    format: FormatName | None = format_option(),
    orientation: OrientationName = orientation_option(),
    as_json: bool = json_option(),
) -> None:
    """Gene-identifier coverage report: how many genes map to current symbols, which not."""
    from .._cli_types import read_data
    from .._utils import emit_json
    from ..data import harmonize_genes

    adata = read_data(source, format=format, orientation=orientation)
    report = harmonize_genes(adata, gene_key=gene_key, to=to)
    if as_json:
        emit_json(report.to_dict())
        return
    typer.echo(report.summary(max_list=show))


def register(app: typer.Typer) -> None:
    """Add ``vcell datasets`` and ``vcell genes`` to the root app."""
    app.add_typer(datasets_app, name="datasets")
    app.command("genes")(genes_command)
