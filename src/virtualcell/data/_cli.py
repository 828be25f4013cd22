"""``vcell data ...`` commands: ``validate`` and ``info`` (thin wrappers over the library)."""

from __future__ import annotations

from pathlib import Path

import click
import typer

__all__ = ["register"]


class _ValidationFailed(click.ClickException):
    """Exit with code 1 after the report was printed (prints nothing more itself).

    ``typer.Exit(1)`` would be swallowed by ``cli.main`` (click returns the code instead
    of raising it in non-standalone mode); a ClickException reaches ``main`` as an exit
    code in both modes.
    """

    exit_code = 1

    def show(self, file=None) -> None:  # the report is already printed
        return None


data_app = typer.Typer(
    name="data",
    help="Read and check data files, folders and registry datasets.",
    no_args_is_help=True,
)


def _read_vocabulary(path: Path) -> list[str]:
    from .._errors import DataFormatError

    if not path.is_file():
        raise DataFormatError(f"no such vocabulary file: {path}")
    text = path.read_text().replace(",", "\n").replace("\t", "\n")
    return [line.strip() for line in text.splitlines() if line.strip()]


@data_app.command("validate")
def validate_command(
    source: str = typer.Argument(..., help="A file, a folder or a registry dataset name."),
    counts: bool | None = typer.Option(
        None,
        "--counts/--no-counts",
        help="Require raw counts / skip count checks (default: check when X looks like counts).",
    ),
    vocabulary: Path | None = typer.Option(
        None, "--vocabulary", help="File of gene names (one per line) the data should use."
    ),
    min_vocab_fraction: float = typer.Option(
        0.5, "--min-vocab-fraction", help="Smallest fraction of genes found in --vocabulary."
    ),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Check a dataset; exit 0 when valid, 1 with the problem named first when not.

    The input is only read, never modified.
    """
    from ._validate import validate

    vocab = _read_vocabulary(vocabulary) if vocabulary is not None else None
    report = validate(
        source,
        expect_counts=counts,
        vocabulary=vocab,
        min_vocab_fraction=min_vocab_fraction,
        strict=strict,
    )
    if as_json:
        typer.echo(report.to_json())
    elif report.ok:
        typer.echo(str(report))
    else:
        first = report.errors[0]
        typer.secho(f"invalid: {source}: {first.message}", fg=typer.colors.RED)
        for problem in report.problems[1:]:
            typer.echo(f"  {problem.severity} [{problem.code}] {problem.message}")
        if report.summary:
            typer.echo(f"  summary: {report.describe()}")
    if not report.ok:
        raise _ValidationFailed("validation failed")


@data_app.command("info")
def info_command(
    source: str = typer.Argument(..., help="A file, a folder or a registry dataset name."),
) -> None:
    """Print shape, matrix type, obs/var columns, layers and provenance of a dataset."""
    import numpy as np
    from scipy import sparse

    from ._io import read

    adata = read(source)
    X = adata.X
    kind = "none" if X is None else ("sparse " + X.format if sparse.issparse(X) else "dense")
    dtype = "" if X is None else f" {np.dtype(X.dtype)}"
    source_info = adata.uns.get("vc", {}).get("source", {})
    lines = [
        f"{source}: {adata.n_obs:,} cells x {adata.n_vars:,} genes ({kind}{dtype})",
        f"format: {source_info.get('format', '?')}",
    ]

    def columns(frame) -> str:
        if frame.shape[1] == 0:
            return "(none)"
        parts = []
        for name in frame.columns:
            col = frame[name]
            parts.append(f"{name} [{col.dtype}, {col.nunique(dropna=True)} values]")
        return ", ".join(parts)

    lines.append(f"obs: {columns(adata.obs)}")
    lines.append(f"var: {columns(adata.var)}")
    lines.append(f"layers: {', '.join(adata.layers.keys()) or '(none)'}")
    lines.append(f"obsm: {', '.join(adata.obsm.keys()) or '(none)'}")
    lines.append(f"uns: {', '.join(adata.uns.keys()) or '(none)'}")
    lines.append(f"first genes: {', '.join(map(str, adata.var_names[:8]))}")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the root ``vcell`` app."""
    app.add_typer(data_app, name="data")
