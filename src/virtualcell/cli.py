"""The ``vcell`` command line: thin, it parses arguments and calls the library.

Each namespace that offers commands has a private ``_cli.py`` module with a
``register(app)`` function; this file only lists those modules. Errors raised on purpose
(:class:`~virtualcell.VirtualCellError`) are printed as one clear line and exit non-zero.
"""

from __future__ import annotations

import importlib
import sys

import typer

from ._errors import VirtualCellError
from ._version import __version__

__all__ = ["app", "main"]

#: Modules whose ``register(app)`` adds commands, in the order shown by ``--help``.
_COMMAND_MODULES = (
    "virtualcell.bench._cli",  # demo: the main job
    "virtualcell.data._cli",
    "virtualcell.datasets._cli",
    "virtualcell.models._cli",
    "virtualcell.sim._cli",
    "virtualcell.grn._cli",
    "virtualcell.knowledge._cli",
)

app = typer.Typer(
    name="vcell",
    help="virtualcell: build and use virtual cells (tokenizers, oracles, agents, benchmarks).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"virtualcell {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """virtualcell command line."""
    if quiet:
        from ._settings import settings

        settings.verbosity = 0


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vcell`` console script; returns the exit code."""
    try:
        # without standalone mode click returns the code of ``typer.Exit(n)``
        code = app(args=argv, prog_name="vcell", standalone_mode=False)
    except VirtualCellError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
