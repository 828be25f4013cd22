"""The click classes of every ``vcell`` command and group: checks that need every parsed
value at once (the output rule), flags shown as flags, each command's example in its help;
and the record of a command's input and output paths those checks read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["CheckedCommand", "CheckedGroup", "use_checked_commands"]


#: Keys of ``ctx.meta``: the parsed input and output paths ``[(label, path)]`` and the
#: checks :class:`CheckedCommand` runs once every argument is parsed.
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
