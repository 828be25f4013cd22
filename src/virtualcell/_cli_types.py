"""Shared option types of the ``vcell`` commands: every value is checked at parse time.

A command declares its options with these factories instead of bare ``typer.Option``;
a bad value then stops the command before any work starts, with click's usage error
(``Error: Invalid value for '--genes': ...``, exit 2, no traceback; see ``cli.main``):

- numbers: :func:`int_range`, :func:`positive_int` (>= 1), :func:`non_negative_int` (>= 0),
  :func:`positive_float` (> 0), :func:`probability` (0..1), :func:`open_fraction`, :func:`seed_option`
  (0..2**32-1), :func:`seed_list`, :func:`float_list`, :func:`n_jobs_option`;
- names from a registry: :func:`registry_option` (one name) and :func:`registry_list`
  (comma-separated names); the message names the closest matches and every valid name;
- library checks: :func:`checked` turns a function that raises
  :class:`~virtualcell.ValidationError` into an option check (:func:`config_field`: a
  config dataclass's own rule for one field; :func:`device_option`: a device this
  machine has);
- files: :func:`data_argument` (an existing path or a registry dataset name),
  :func:`input_path` and :func:`input_argument` (an existing regular file / folder; FIFOs and devices are refused
  without opening them), :func:`output_path` (its folder exists and is writable, its
  suffix is one the command can write, it is not an existing folder when a file is
  expected, it is never an input, and an existing output is replaced only with
  :func:`overwrite_option`'s ``--overwrite``: the one output rule,
  :func:`virtualcell._utils.check_output`);
- reader options shared by every command that reads data: :func:`format_option`,
  :func:`orientation_option`, :func:`layer_option`, and :func:`read_data`, which reads
  the argument with them; :func:`json_option` for ``--json`` (print with
  :func:`virtualcell._utils.emit_json`).

Choice options use ``Literal[...]`` annotations (typer turns them into real choices).
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from ._errors import ValidationError
from .data import Format, Orientation

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ._utils import Registry

__all__ = [
    "CheckedCommand",
    "CheckedGroup",
    "FormatName",
    "OrientationName",
    "checked",
    "choice_list",
    "config_field",
    "data_argument",
    "device_option",
    "float_list",
    "format_option",
    "input_argument",
    "input_path",
    "int_range",
    "json_option",
    "layer_option",
    "n_jobs_option",
    "non_negative_int",
    "open_fraction",
    "orientation_option",
    "output_path",
    "overwrite_option",
    "positive_float",
    "positive_int",
    "probability",
    "read_data",
    "registry_list",
    "registry_option",
    "seed_list",
    "seed_option",
    "use_checked_commands",
]

#: ``--format`` choices: the readers of :func:`virtualcell.data.read` (its ``Format``).
FormatName = Format
#: ``--orientation`` choices for tables (``read_table``'s ``Orientation``).
OrientationName = Orientation


# ------------------------------------------------------------------------------- numbers
def _bound(check: Callable[[float], bool], rule: str) -> Callable[[Any], Any]:
    def callback(value: Any) -> Any:
        if value is not None and not check(value):
            raise typer.BadParameter(f"{value} is not {rule}")
        return value

    return callback


def int_range(
    default: Any, *decls: str, help: str, low: int, high: int | None = None, **kw: Any
) -> Any:
    """An ``int`` option within ``[low, high]``."""
    rule = f">= {low}" if high is None else f"in [{low}, {high}]"
    return typer.Option(
        default, *decls, help=help,
        callback=_bound(lambda v: v >= low and (high is None or v <= high), rule), **kw,
    )  # fmt: skip


def positive_int(default: Any, *decls: str, help: str, **kw: Any) -> Any:
    """An ``int`` option that must be >= 1."""
    return int_range(default, *decls, help=help, low=1, **kw)


def non_negative_int(default: Any, *decls: str, help: str, **kw: Any) -> Any:
    """An ``int`` option that must be >= 0."""
    return int_range(default, *decls, help=help, low=0, **kw)


def positive_float(default: Any, *decls: str, help: str, **kw: Any) -> Any:
    """A finite ``float`` option that must be > 0."""
    import math

    return typer.Option(
        default, *decls, help=help,
        callback=_bound(lambda v: math.isfinite(v) and v > 0, "a finite number > 0"), **kw,
    )  # fmt: skip


def probability(default: Any, *decls: str, help: str, **kw: Any) -> Any:
    """A ``float`` option in [0, 1]."""
    return typer.Option(
        default, *decls, help=help, callback=_bound(lambda v: 0 <= v <= 1, "in [0, 1]"), **kw
    )


#: The largest seed: numpy's legacy ``RandomState`` (scikit-learn's ``random_state``)
#: takes seeds in ``0 .. 2**32 - 1``; every ``--seed`` is checked against it.
SEED_MAX = 2**32 - 1


def seed_option(default: int = 0, *decls: str, help: str | None = None) -> Any:
    """``--seed``: an ``int`` in ``0 .. 2**32 - 1`` (:data:`SEED_MAX`; numpy's and
    scikit-learn's generators refuse anything else)."""
    return int_range(
        default, *(decls or ("--seed",)),
        help=help or "Random seed, 0 .. 2**32-1 (same seed, same result).",
        low=0, high=SEED_MAX,
    )  # fmt: skip


def seed_list(default: Any, *decls: str, help: str) -> Any:
    """Comma-separated seeds (``0,1,2``), each in ``0 .. 2**32 - 1``; a ``list[int]``."""

    def check(text: str) -> list[int]:
        seeds = []
        for word in (w.strip() for w in str(text).split(",")):
            if not word:
                continue
            try:
                seed = int(word)
            except ValueError:
                raise ValidationError(f"{word!r} is not an integer") from None
            if not 0 <= seed <= SEED_MAX:
                raise ValidationError(f"seed {seed} is not in [0, {SEED_MAX}]")
            seeds.append(seed)
        if not seeds:
            raise ValidationError("give at least one seed (comma-separated)")
        if len(set(seeds)) != len(seeds):
            raise ValidationError(f"seeds repeat: {text}")
        return seeds

    return typer.Option(default, *decls, help=help, callback=checked(check))


def float_list(default: Any, *decls: str, help: str, low: float = 0.0) -> Any:
    """Comma-separated finite numbers > ``low`` (``0.5,1,2``), returned as ``list[float]``
    (``nan``, ``inf`` and values <= ``low`` are refused)."""
    import math

    def check(text: str) -> list[float]:
        values = []
        for word in (w.strip() for w in str(text).split(",")):
            if not word:
                continue
            try:
                value = float(word)
            except ValueError:
                raise ValidationError(f"{word!r} is not a number") from None
            if not math.isfinite(value) or value <= low:
                raise ValidationError(f"{word} is not a finite number > {low:g}")
            values.append(value)
        if not values:
            raise ValidationError("give at least one number (comma-separated)")
        return values

    return typer.Option(default, *decls, help=help, callback=checked(check))


def open_fraction(default: Any, *decls: str, help: str, **kw: Any) -> Any:
    """A ``float`` option strictly between 0 and 1 (a share of cells or genes)."""
    import math

    return typer.Option(
        default, *decls, help=help,
        callback=_bound(lambda v: math.isfinite(v) and 0 < v < 1, "in (0, 1)"), **kw,
    )  # fmt: skip


def n_jobs_option(default: int = -1, *decls: str, help: str | None = None) -> Any:
    """``--n-jobs/-j``: worker processes, ``-1`` (every CPU) or ``1 .. 1024``."""

    def check(value: int) -> int:
        if value != -1 and not 1 <= value <= 1024:
            raise typer.BadParameter(f"{value} is not -1 (all CPUs) or in [1, 1024]")
        return value

    return typer.Option(
        default, *(decls or ("--n-jobs", "-j")),
        help=help or "Worker processes: -1 (one per CPU) or 1 .. 1024.",
        callback=lambda v: v if v is None else check(v),
    )  # fmt: skip


def choice_list(*decls: str, choices: Sequence[str], help: str) -> Any:
    """A repeatable option whose every value is one of ``choices`` (typer has no
    ``list[Literal[...]]``)."""

    def callback(values: list[str] | None) -> list[str] | None:
        bad = [v for v in values or [] if v not in choices]
        if bad:
            raise typer.BadParameter(
                f"{', '.join(map(repr, bad))} not one of {', '.join(map(repr, choices))}"
            )
        return values

    return typer.Option(None, *decls, help=f"{help} ({', '.join(choices)})", callback=callback)


# ----------------------------------------------------------------------- library checks
def checked(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Callback from a library check: ``check(value)`` returns the value to use or raises
    :class:`~virtualcell.ValidationError`, which becomes a usage error of the option (the
    library and the command line then share one rule and one message)."""

    def callback(value: Any) -> Any:
        if value is None:
            return value
        try:
            return check(value)
        except ValidationError as err:
            raise typer.BadParameter(str(err)) from None

    return callback


def config_field(config_cls: type, name: str) -> Callable[[Any], Any]:
    """Callback: the value must be valid for ``config_cls``'s field ``name`` (checked by
    constructing the config with that one value)."""

    def check(value: Any) -> Any:
        config_cls(**{name: value})
        return value

    return checked(check)


def _check_device(value: str) -> str:
    from .models._device import check_device

    return check_device(value)


def device_option(default: str | None, help: str = "auto, cpu, cuda, cuda:N or mps.") -> Any:
    """``--device``: a device this machine has (``auto``, ``cpu``, ``cuda[:N]``, ``mps``)."""
    return typer.Option(default, "--device", help=help, callback=checked(_check_device))


def registry_option(
    default: Any, *decls: str, registry: Callable[[], Registry[Any]], help: str, **kw: Any
) -> Any:
    """An option naming one entry of ``registry()`` (called at parse time, so the table
    is imported lazily); an unknown name is refused with the closest matches and every
    valid name (:meth:`~virtualcell._utils.Registry.entry`)."""
    return typer.Option(
        default, *decls, help=help, callback=checked(lambda v: registry().entry(v).name), **kw
    )


def _split_names(registry: Callable[[], Registry[Any]]) -> Callable[[Any], Any]:
    def check(text: str) -> list[str] | None:
        names = [t.strip() for t in str(text).split(",") if t.strip()]
        if not names:
            raise ValidationError("give at least one name (comma-separated)")
        table = registry()
        return [table.entry(n).name for n in names]

    return checked(check)


def registry_list(
    default: Any, *decls: str, registry: Callable[[], Registry[Any]], help: str
) -> Any:
    """A comma-separated list of names of ``registry()`` (``a,b``), returned as a
    ``list[str]``; each name is checked like :func:`registry_option`."""
    return typer.Option(default, *decls, help=help, callback=_split_names(registry))


def json_option(help: str = "Print the result as JSON on stdout (logs stay on stderr).") -> Any:
    """``--json``: machine output alone on stdout (print it with ``emit_json``)."""
    return typer.Option(False, "--json", help=help)


# --------------------------------------------------------------------------------- paths
def _not_regular(path: Path) -> str | None:
    """Why ``path`` cannot be read as data (``None`` when it can), without opening it."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"{path} cannot be opened ({exc.strerror or exc})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    what = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file"
    return f"{path} is {what}, not a data file"


def _check_input(
    value: Any, *, file_okay: bool, dir_okay: bool, hint: str = "", what: str = ""
) -> Any:
    if value is None:
        return value
    path = Path(value).expanduser()
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist{hint}")
    problem = _not_regular(path)
    if problem:
        raise typer.BadParameter(problem)
    if path.is_dir() and not dir_okay:
        raise typer.BadParameter(f"{path} is a folder, not {what or 'a file'}")
    if path.is_file() and not file_okay:
        raise typer.BadParameter(f"{path} is a file, not {what or 'a folder'}")
    return value


def _strip_prefix(value: Any, prefixes: Sequence[str]) -> Any:
    """``value`` without a leading ``PREFIX:`` of ``prefixes`` (case-insensitive)."""
    if value is None or not prefixes:
        return value
    head, sep, rest = str(value).partition(":")
    return rest if sep and head.lower() in {p.lower() for p in prefixes} else value


def input_path(
    default: Any,
    *decls: str,
    help: str,
    file_okay: bool = True,
    dir_okay: bool = True,
    missing_hint: str = "",
    what: str = "",
    prefixes: Sequence[str] = (),
) -> Any:
    """An option naming an existing regular file or folder (no FIFOs, sockets, devices);
    ``missing_hint`` is appended to the message for a path that does not exist, ``what``
    names the expected kind (``"a checkpoint folder"``) when the other kind is given.
    ``prefixes`` (e.g. ``("geneformer", "scgpt")``): the path may stand behind
    ``PREFIX:``; the check applies to the path and the value is returned as given."""

    def callback(ctx, param, value):  # untyped: typer passes (ctx, param, value)
        path = _strip_prefix(value, prefixes)
        _check_input(path, file_okay=file_okay, dir_okay=dir_okay, hint=missing_hint, what=what)
        _remember(ctx, _INPUTS, param, path)
        return value

    return typer.Option(default, *decls, help=help, callback=callback)


def input_argument(
    default: Any, *, help: str, file_okay: bool = True, dir_okay: bool = True, what: str = ""
) -> Any:
    """An argument naming an existing regular file or folder (the checks of
    :func:`input_path`)."""

    def callback(ctx, param, value):  # untyped: typer passes (ctx, param, value)
        value = _check_input(value, file_okay=file_okay, dir_okay=dir_okay, what=what)
        _remember(ctx, _INPUTS, param, value)
        return value

    return typer.Argument(default, help=help, callback=callback)


#: Output formats that are folders on disk (written like a file: atomically, replaced whole).
FOLDER_FORMATS = (".zarr",)

_INPUTS = "virtualcell.inputs"
_OUTPUTS = "virtualcell.outputs"
_PENDING = "virtualcell.pending"


def _command_base() -> type:
    from typer.core import TyperCommand

    return TyperCommand


def _flags_as_flags(params: list[Any]) -> None:
    """Help shows a flag (``--json``) without a value type (typer prints ``<bool>``)."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
            param.metavar = ""


class CheckedCommand(_command_base()):  # type: ignore[misc]
    """The click command class of every ``vcell`` command (set by ``cli.py``): after all
    arguments are parsed, and before the command runs, it applies the checks that need
    every value at once (the output rule: an output is never an input, an existing
    output needs ``--overwrite``). Its help shows flags as flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _flags_as_flags(self.params)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        for check in ctx.meta.pop(_PENDING, []):
            check()
        return rest


def _group_base() -> type:
    from typer.core import TyperGroup

    return TyperGroup


class CheckedGroup(_group_base()):  # type: ignore[misc]
    """The click group class of ``vcell`` and its command groups: flags shown as flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _flags_as_flags(self.params)


def use_checked_commands(app: typer.Typer, examples: dict[str, str] | None = None) -> None:
    """Make :class:`CheckedCommand` the class of every command of ``app`` and its
    sub-apps (and :class:`CheckedGroup` of every group), help text plain text (a
    ``[text]`` in a help is shown, not read as markup), and add each command's example
    from ``examples`` (``{"kb build": "vcell kb build --out kb.sqlite"}``) as the last
    paragraph of its help (called once by ``cli.py``)."""
    _checked(app, (), examples or {})


def _checked(app: typer.Typer, path: tuple[str, ...], examples: dict[str, str]) -> None:
    from typer.core import TyperCommand, TyperGroup

    app.rich_markup_mode = None
    if app.info.cls is None or app.info.cls is TyperGroup or not isinstance(app.info.cls, type):
        app.info.cls = CheckedGroup
    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand:
            info.cls = CheckedCommand
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        example = examples.get(" ".join((*path, name)))
        if example and not info.epilog:
            info.epilog = f"\b\nExample: {example}"  # \b: click keeps the line whole
    for group in app.registered_groups:
        if group.typer_instance is not None:
            name = group.name or group.typer_instance.info.name or ""
            _checked(group.typer_instance, (*path, name), examples)


def _label(param: Any) -> str:
    """How a parameter is named in messages (``--out``, ``DATA``)."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    if opts:
        return opts[0]
    return (getattr(param, "human_readable_name", None) or str(param.name)).upper()


def _remember(ctx: Any, key: str, param: Any, value: Any) -> None:
    """Record a parsed input or output path on the context (for the output rule, applied
    by :class:`CheckedCommand` once every argument is parsed)."""
    if ctx is None or value is None:
        return
    ctx.meta.setdefault(key, []).append((_label(param), Path(value).expanduser()))


def overwrite_option(
    help: str = "Replace outputs that exist already (an output that is also an input is "
    "refused even so).",
) -> Any:
    """``--overwrite``: the one way to replace an existing output (parsed before every
    other option, so that :func:`output_path` knows it)."""
    return typer.Option(False, "--overwrite", help=help, is_eager=True)


def _overwrite_hint(ctx: Any) -> tuple[bool, str]:
    """(``--overwrite`` given, what to tell the user) for the command of ``ctx``."""
    params = getattr(getattr(ctx, "command", None), "params", []) or []
    has_flag = any(getattr(p, "name", None) == "overwrite" for p in params)
    given = bool(ctx.params.get("overwrite")) if ctx is not None else False
    hint = "pass --overwrite to replace it" if has_flag else "choose another name"
    return given, hint


def _check_output(
    ctx: Any,
    param: Any,
    value: Any,
    *,
    suffixes: Sequence[str] | None,
    kind: Literal["file", "folder"],
    existing: Literal["refuse", "resume"],
    parents: bool = False,
) -> Any:
    if value is None:
        return value
    path = Path(value).expanduser()
    parent = path.parent
    if parents:  # the command creates missing folders: check the nearest existing one
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            raise typer.BadParameter(f"{parent} is a file; {path} cannot be created in it")
    if not parent.is_dir():
        raise typer.BadParameter(f"folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise typer.BadParameter(f"folder {parent} is not writable")
    if kind == "file":
        suffix = path.suffix.lower()
        if suffixes is not None and suffix not in suffixes:
            got = path.suffix or "no suffix"
            raise typer.BadParameter(
                f"cannot write {path.name!r}: its suffix ({got}) must be one of "
                f"{', '.join(suffixes)} (the format follows the suffix)"
            )
        if path.is_dir() and suffix not in FOLDER_FORMATS:
            raise typer.BadParameter(f"{path} is a folder; give a file name")
    elif path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} is a file; give a folder")
    _remember(ctx, _OUTPUTS, param, value)

    def rule() -> None:  # after every argument is parsed (CheckedCommand)
        from ._utils import check_output

        overwrite, hint = _overwrite_hint(ctx)
        if existing == "resume":  # the library continues or refuses an existing run
            overwrite = True
        try:
            check_output(
                path, overwrite=overwrite, kind=kind, name=_label(param), hint=hint,
                inputs=ctx.meta.get(_INPUTS, []),
            )  # fmt: skip
        except ValidationError as err:
            raise typer.BadParameter(
                str(err).removeprefix(f"{_label(param)} "), ctx=ctx, param=param
            ) from None

    if ctx is not None:
        ctx.meta.setdefault(_PENDING, []).append(rule)
    return value


def output_path(
    default: Any,
    *decls: str,
    help: str,
    suffixes: Sequence[str] | None = None,
    kind: Literal["file", "folder"] = "file",
    existing: Literal["refuse", "resume"] = "refuse",
    parents: bool = False,
) -> Any:
    """An output option, checked by the one output rule
    (:func:`virtualcell._utils.check_output`) before any work starts: its parent folder
    exists and is writable, a file's suffix is one of ``suffixes`` (the suffix decides
    the format), a file is not an existing folder (except folder formats such as
    ``.zarr``) and a folder is not an existing file; it is never one of the command's
    inputs; an existing output (a file, a folder that is not empty) is refused unless
    the command's ``--overwrite`` (:func:`overwrite_option`) is given.
    ``existing="resume"``: the command continues the run an existing folder holds
    (its library refuses what it cannot resume). ``parents``: missing folders above the
    output are created by the command (only the nearest existing one is checked)."""
    allowed = tuple(s.lower() for s in suffixes) if suffixes is not None else None

    def callback(ctx, param, value):  # untyped: typer passes (ctx, param, value)
        return _check_output(
            ctx, param, value, suffixes=allowed, kind=kind, existing=existing, parents=parents
        )

    return typer.Option(default, *decls, help=help, callback=callback)


def _check_source(value: str | None) -> str | None:
    if value is None:
        return value
    path = Path(value).expanduser()
    if path.exists() or path.is_symlink():
        problem = _not_regular(path)
        if problem:
            raise typer.BadParameter(problem)
        return value
    from .data import looks_like_path
    from .datasets import names

    if looks_like_path(value):
        raise typer.BadParameter(f"{path} does not exist")
    known = names()
    if value not in known:
        close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise typer.BadParameter(
            f"{value!r} is neither an existing file or folder nor a registry dataset.{hint} "
            "(`vcell datasets list` shows the registry)"
        )
    return value


def data_argument(
    help: str = "A file, a folder or a registry dataset name.",
    default: Any = ...,
    metavar: str = "DATA",
) -> Any:
    """The data argument of a command: an existing path or a registry dataset name."""

    def callback(ctx, param, value):  # untyped: typer passes (ctx, param, value)
        value = _check_source(value)
        if value is not None and Path(value).expanduser().exists():
            _remember(ctx, _INPUTS, param, value)
        return value

    return typer.Argument(
        default, help=help, callback=callback, show_default=False, metavar=metavar
    )


# ------------------------------------------------------------------------ reader options
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
    from .datasets import read

    return read(source, format=format, orientation=orientation, **kwargs)
