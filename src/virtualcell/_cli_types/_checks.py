"""Options checked by the library's own rule (:func:`checked`), a config field, a device,
names from a registry, and ``--json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from .._errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from .._utils import Registry

__all__ = [
    "checked",
    "config_field",
    "device_option",
    "json_option",
    "key_value_pairs",
    "registry_list",
    "registry_option",
]


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
    from ..models import check_device

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


def key_value_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """Repeated ``KEY=VALUE`` options as a dict: a value is read as JSON when it parses
    (numbers, ``true`` / ``false``, ``null``, ``["a", "b"]``), otherwise kept as text;
    ``what`` (the option's name) is in the one-line error for a pair without ``=``."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"{what} must be KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
