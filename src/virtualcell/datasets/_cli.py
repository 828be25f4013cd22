"""``vcell datasets ...`` (registry) and ``vcell genes`` (identifier coverage) commands."""

from __future__ import annotations

import json

import typer

__all__ = ["register"]

datasets_app = typer.Typer(
    name="datasets",
    help="List, describe and fetch registry datasets.",
    no_args_is_help=True,
)


@datasets_app.command("list")
def list_command() -> None:
    """Table of registry datasets: name, kind, size, shape, checksum, local status."""
    from ._registry import table

    typer.echo(table().drop(columns="title").to_string(index=False))


@datasets_app.command("info")
def info_command(name: str = typer.Argument(..., help="Registry dataset name.")) -> None:
    """Print everything the registry knows about NAME as JSON (URLs, file names, sha256)."""
    from ._registry import info

    typer.echo(json.dumps(info(name), indent=2))


@datasets_app.command("fetch")
def fetch_command(name: str = typer.Argument(..., help="Registry dataset name.")) -> None:
    """Make NAME available locally (mirror, cache or download) and print its files."""
    from ._download import fetch, sha256sum
    from ._registry import entry

    e = entry(name)
    if e.kind == "bundled":
        typer.echo(f"{name}: bundled with an installed package; nothing to fetch")
        return
    for remote in e.files:
        path = fetch(remote, name=name)
        typer.echo(f"{path}\tsha256={sha256sum(path)}")


def genes_command(
    source: str = typer.Argument(..., help="A file, a folder or a registry dataset name."),
    key: str | None = typer.Option(None, "--key", help="var column holding the identifiers."),
    to: str = typer.Option("symbol", "--to", help="Target: symbol, ensembl or entrez."),
    show: int = typer.Option(10, "--show", help="How many examples to list per category."),
) -> None:
    """Gene-identifier coverage report: how many genes map to current symbols, which not."""
    from ..data import harmonize_genes, read

    adata = read(source)
    report = harmonize_genes(adata, key=key, to=to)  # type: ignore[arg-type]
    typer.echo(report.summary(max_list=show))


def register(app: typer.Typer) -> None:
    """Add ``vcell datasets`` and ``vcell genes`` to the root app."""
    app.add_typer(datasets_app, name="datasets")
    app.command("genes")(genes_command)
