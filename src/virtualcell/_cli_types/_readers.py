"""Reader options shared by every command that reads data, and :func:`read_data`, which
reads the data argument with them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ..data import Format, Orientation

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "FormatName",
    "OrientationName",
    "format_option",
    "layer_option",
    "orientation_option",
    "read_data",
]


#: ``--format`` choices: the readers of :func:`virtualcell.data.read` (its ``Format``).
FormatName = Format
#: ``--orientation`` choices for tables (``read_table``'s ``Orientation``).
OrientationName = Orientation


def format_option() -> Any:
    """``--format``: force a reader instead of detecting it."""
    return typer.Option(
        None, "--format", help="Reader to use instead of detecting it from the file.",
        show_default=False,
    )  # fmt: skip


def orientation_option() -> Any:
    """``--orientation``: how a text table is laid out (``auto`` refuses to guess)."""
    return typer.Option(
        "auto",
        "--orientation",
        help="Tables only: cells_x_genes or genes_x_cells (auto: detect from the labels; "
        "an undecidable table is an error until this is given).",
    )


def layer_option(help: str | None = None) -> Any:
    """``--layer``: use ``adata.layers[NAME]`` (``raw``: ``adata.raw.X``) instead of ``X``."""
    return typer.Option(
        None,
        "--layer",
        help=help or "Use this layer instead of X (raw: adata.raw.X).",
        show_default=False,
    )


def read_data(
    source: str,
    *,
    format: FormatName | None = None,
    orientation: OrientationName = "auto",
    **kwargs: Any,
) -> AnnData:
    """Read a command's data argument (a path or a registry name) with its reader options."""
    from ..datasets import read

    return read(source, format=format, orientation=orientation, **kwargs)
