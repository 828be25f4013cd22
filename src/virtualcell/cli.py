"""The ``vcell`` command line: thin, it parses arguments and calls the library.

One style for every command:

- each namespace that offers commands has a private ``_cli.py`` module with a
  ``register(app)`` function (a sub-app per namespace, or a top-level command for the
  main verbs); this file lists those modules once, in ``--help`` order;
- options are declared with the parse-time checked types of
  :mod:`virtualcell._cli_types` (ranges, choices, input and output paths), so a bad
  value stops the command before any work starts;
- one exit path (:func:`main`): usage errors exit 2 with click's one-line ``Error:``;
  errors raised on purpose (:class:`~virtualcell.VirtualCellError`) print
  ``error: ...`` and exit 2; an interrupt exits 130; anything else is a bug (exit 1,
  traceback saved); bare ``vcell`` (or a bare command group) prints its help, exit 0;
- ``--json`` output goes alone on stdout: :func:`main` reserves stdout for
  :func:`virtualcell._utils.emit_json` and sends every other write to stderr.
"""

from __future__ import annotations

import importlib
import sys

import typer

from ._cli_types import use_checked_commands
from ._errors import VirtualCellError
from ._version import __version__

__all__ = ["app", "main"]

#: Modules whose ``register(app)`` adds commands, in the order shown by ``--help``.
_COMMAND_MODULES = (
    "virtualcell.bench._cli",  # bench: the main job
    "virtualcell.data._cli",
    "virtualcell.datasets._cli",
    "virtualcell.train._cli",
    "virtualcell.tl._cli",
    "virtualcell.sim._cli",
    "virtualcell.grn._cli",
    "virtualcell.represent._cli",
    "virtualcell.multiomic._cli",
    "virtualcell.text._cli",
    "virtualcell.spatial._cli",
    "virtualcell.perturb._cli",
    "virtualcell.design._cli",
    "virtualcell.knowledge._cli",
    "virtualcell.agent._cli",
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
    debug: bool = typer.Option(
        False, "--debug", help="Print full tracebacks of errors (for bug reports)."
    ),
) -> None:
    """virtualcell command line."""
    if quiet:
        from ._settings import settings

        settings.verbosity = 0


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)
#: One example per command, shown as the last line of its ``--help`` (a test checks that
#: every command has one and that it parses).
EXAMPLES: dict[str, str] = {
    "bench": "vcell bench --preset quick --out results/bench",
    "genes": "vcell genes cells.h5ad --to ensembl",
    "pretrain": "vcell pretrain cells.h5ad --out run --max-steps 200",
    "finetune": "vcell finetune cells.h5ad --model run --label-key cell_type --out tuned",
    "embed": "vcell embed cells.h5ad --model run --out embedded.h5ad",
    "sim": "vcell sim --genes 50 --singles 10 --doubles 5 --out sim.h5ad",
    "grn": "vcell grn sim.h5ad --method pearson --out edges.csv",
    "annotate": "vcell annotate ref.h5ad --label-key cell_type --query-fraction 0.3 "
    "--out query.h5ad",
    "integrate": "vcell integrate cells.h5ad --batch-key batch --method harmony",
    "cluster": "vcell cluster cells.h5ad --resolutions 0.5,1,2 --label-key cell_type",
    "spatial niches": "vcell spatial niches tissue.h5ad --n-domains 5 --json",
    "design": "vcell design --env sim_knockout --policy random --rounds 5 --batch 4",
    "ask": 'vcell ask "Which genes does TP53 regulate?" --backend local',
    "mcp": "vcell mcp --http 8765",
    "data validate": "vcell data validate cells.h5ad --strict",
    "data info": "vcell data info expression.csv --orientation genes_x_cells",
    "datasets list": "vcell datasets list",
    "datasets info": "vcell datasets info pbmc68k_reduced",
    "datasets fetch": "vcell datasets fetch adamson2016",
    "text train": "vcell text train cells.h5ad --label-key cell_type --out bridge",
    "text eval": "vcell text eval cells.h5ad --label-key cell_type --holdout-types 3",
    "text annotate": 'vcell text annotate cells.h5ad --model bridge --label "B cell" '
    '--label "T cell"',
    "text search": 'vcell text search cells.h5ad --model bridge --query "cytotoxic T cell"',
    "text describe": "vcell text describe cells.h5ad --groupby leiden --group 3",
    "text c2s-train": "vcell text c2s-train cells.h5ad --label-key cell_type --out c2s",
    "text c2s-eval": "vcell text c2s-eval cells.h5ad --label-key cell_type",
    "text generate": 'vcell text generate --model c2s --cell-type "B cell" --out generated.h5ad',
    "perturb evaluate": "vcell perturb evaluate norman2019 --task doubles --out results",
    "perturb score": (
        "vcell perturb score predicted.h5ad real.h5ad --perturbation-key perturbation "
        "--control control --json"
    ),
    "perturb predict": "vcell perturb predict sim.h5ad -p G1+G2 --out predicted.h5ad",
    "spatial communication": "vcell spatial communication tissue.h5ad --json",
    "kb build": "vcell kb build --source knowledge-files --out kb.sqlite",
    "kb search": 'vcell kb search "erythrocyte differentiation" -k 5',
    "kb gene": "vcell kb gene KLF1",
    "kb verify": 'vcell kb verify "KLF1 regulates erythrocyte differentiation"',
    "agent bench": "vcell agent bench --backend scripted --tasks 8",
    "agent tools": "vcell agent tools --json",
    "agent replay": "vcell agent replay run/provenance.jsonl",
    "agent memory list": "vcell agent memory list --json",
    "agent memory clear": "vcell agent memory clear --path memory.json",
    "agent memory export": "vcell agent memory export --out verified-runs.json",
    "multiomic embed": "vcell multiomic embed cells.h5mu --modalities rna,protein --json",
    "multiomic impute": "vcell multiomic impute cells.h5mu --test-fraction 0.3 --json",
}

# every command applies the checks that need all of its values (the output rule), shows
# flags as flags and ends its help with an example
use_checked_commands(app, EXAMPLES)


def _no_args_help_type() -> tuple[type[BaseException], ...]:
    """The error click raises after printing a group's help for a bare invocation."""
    try:
        from typer._click.exceptions import NoArgsIsHelpError
    except ImportError:  # pragma: no cover - other typer/click layouts
        try:
            from click.exceptions import NoArgsIsHelpError  # type: ignore[no-redef]
        except ImportError:
            return ()
    return (NoArgsIsHelpError,)


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """The exception classes click/typer raise for usage errors (typer >= 0.20 bundles
    its own click, whose errors are not ``click.ClickException``)."""
    types: list[type[BaseException]] = []
    try:
        from typer.exceptions import TyperException

        types.append(TyperException)
    except ImportError:  # pragma: no cover - older typer
        pass
    try:
        import click

        types.append(click.ClickException)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def _report_bug(exc: BaseException) -> str:
    """Save the traceback of an unexpected error; return where it went."""
    import datetime
    import traceback

    from ._settings import settings
    from ._utils import write_text

    text = "".join(traceback.format_exception(exc))
    folder = settings.cache_dir / "crash-reports"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = folder / f"vcell-{stamp}.txt"
        write_text(path, f"vcell {__version__}\nargv: {sys.argv}\n\n{text}")
        return str(path)
    except OSError:  # pragma: no cover - unwritable cache
        return "(could not save the traceback; rerun with --debug)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vcell`` console script; returns the exit code.

    One error path for every command: usage errors (unknown command or option, bad
    value) print one line and exit 2; errors raised on purpose by the library
    (:class:`~virtualcell.VirtualCellError`) print ``error: ...`` and exit 2; an
    interrupt exits 130; anything else is a bug: one line naming the saved traceback and
    exit 1 (``--debug`` shows the traceback instead). Bare ``vcell`` prints the help and
    exits 0. With ``--json`` only the JSON result reaches stdout.
    """
    import contextlib

    from ._utils import machine_output

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    usage_errors = _usage_error_types()
    bare_help = _no_args_help_type()
    machine = machine_output() if "--json" in args else contextlib.nullcontext()
    try:
        with machine:
            # without standalone mode click returns the code of ``typer.Exit(n)``
            code = app(args=args, prog_name="vcell", standalone_mode=False)
    except bare_help as exc:  # bare ``vcell`` / ``vcell data``: help was asked for
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        return 0
    except VirtualCellError as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
        if debug:
            raise
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        return 130
    except usage_errors as exc:
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:  # pragma: no cover
            typer.echo(f"Error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2) or 2)
    except Exception as exc:
        if debug:
            raise
        where = _report_bug(exc)
        typer.secho(
            f"internal error: {type(exc).__name__}: {exc} (this is a bug in virtualcell; "
            f"the traceback is in {where}; rerun with --debug to print it)",
            err=True,
            fg=typer.colors.RED,
        )
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
