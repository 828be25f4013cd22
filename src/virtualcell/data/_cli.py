"""``vcell data ...`` commands: ``validate`` and ``info`` (thin wrappers over the library).

Both read their argument with the shared reader options (``--format``,
``--orientation``; ``--layer`` for ``validate``) from :mod:`virtualcell._cli_types`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .._cli_types import (
    FormatName,
    OrientationName,
    data_argument,
    format_option,
    input_path,
    json_option,
    layer_option,
    orientation_option,
    probability,
)
from ._validate import DEFAULT_MIN_VOCAB_FRACTION

__all__ = ["register"]

data_app = typer.Typer(
    name="data",
    help="Read and check data files, folders and registry datasets.",
    no_args_is_help=True,
)


def _read_vocabulary(path: Path) -> list[str]:
    from .._errors import DataFormatError
    from ._errors_io import reading

    with reading(path, "a vocabulary file (gene names, one per line)"):
        text = path.read_text()
    genes = [g.strip() for g in text.replace(",", "\n").replace("\t", "\n").splitlines()]
    genes = [g for g in genes if g]
    if not genes:
        raise DataFormatError(f"vocabulary file {path} holds no gene names")
    return genes


@data_app.command("validate")
def validate_command(
    source: str = data_argument(),
    counts: bool | None = typer.Option(
        None,
        "--counts/--no-counts",
        help="Require raw counts / skip count checks (default: check when X looks like counts).",
    ),
    vocabulary: Path | None = input_path(
        None,
        "--vocabulary",
        help="File of gene names (one per line) the data should use.",
        dir_okay=False,
    ),
    min_vocab_fraction: float = probability(
        DEFAULT_MIN_VOCAB_FRACTION,
        "--min-vocab-fraction",
        help="Smallest fraction of genes found in --vocabulary.",
    ),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
    layer: str | None = layer_option("Check this layer instead of X (raw: adata.raw.X)."),
    format: FormatName | None = format_option(),
    orientation: OrientationName = orientation_option(),
    as_json: bool = json_option("Print the full report as JSON on stdout."),
) -> None:
    """Check a dataset; exit 0 when valid, 1 with the problem named first when not.

    The input is only read, never modified.
    """
    from .._utils import emit_json
    from ..datasets import is_dataset_name, read
    from ._validate import validate

    vocab = _read_vocabulary(vocabulary) if vocabulary is not None else None
    target = read(source) if is_dataset_name(source) else source
    report = validate(
        target,
        expect_counts=counts,
        vocabulary=vocab,
        min_vocab_fraction=min_vocab_fraction,
        layer=layer,
        strict=strict,
        format=format,
        orientation=orientation,
    )
    report.source = source
    if as_json:
        emit_json(report.to_dict())
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
        raise typer.Exit(1)


@data_app.command("info")
def info_command(
    source: str = data_argument(),
    format: FormatName | None = format_option(),
    orientation: OrientationName = orientation_option(),
    as_json: bool = json_option(),
) -> None:
    """Print shape, matrix type, obs/var columns, layers and provenance of a dataset."""
    from .._cli_types import read_data
    from .._utils import emit_json
    from ._summary import describe_anndata

    adata = read_data(source, format=format, orientation=orientation)
    info = describe_anndata(adata)
    if as_json:
        emit_json({"source": source, **info})
        return
    shape = f"{info['n_obs']:,} cells x {info['n_vars']:,} genes ({info['matrix']})"
    lines = [f"{source}: {shape}", f"format: {info['format']}"]
    for key in ("obs", "var"):
        cols = info[key]
        text = ", ".join(f"{c['name']} [{c['dtype']}, {c['n_values']} values]" for c in cols)
        lines.append(f"{key}: {text or '(none)'}")
    for key in ("layers", "obsm", "uns"):
        lines.append(f"{key}: {', '.join(info[key]) or '(none)'}")
    lines.append(f"raw: {info['raw'] or '(none)'}")
    lines.append(f"first genes: {', '.join(info['first_genes'])}")
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the root ``vcell`` app."""
    app.add_typer(data_app, name="data")
