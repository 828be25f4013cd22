"""Checks shared by every config dataclass (models and training): one rule for all.

A config is a frozen dataclass. :func:`check_types` compares every field with its
annotation (``int`` refuses ``bool``, ``float`` and strings; ``float`` accepts ints;
``Literal[...]`` must be one of its values; ``tuple[str, ...]`` a tuple of strings), and
:func:`check_range` names the field and the allowed range. Both raise
:class:`~virtualcell.ValidationError` whose message starts with ``Config.field``, so a
value read from a ``config.json`` or typed on the command line is refused at
construction, before anything is allocated. :func:`from_dict` builds a config from JSON,
refusing unknown keys.

:data:`MAX_PARAMETERS` caps the size of a network that may be built from a config; each
model config estimates its parameter count (``n_parameters()``) from its fields alone, so
a ``config.json`` claiming ``d_model = 2**36`` is refused without allocating anything.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from .._errors import ValidationError

__all__ = ["MAX_PARAMETERS", "check_range", "check_size", "check_types", "from_dict"]

#: Largest network (parameters) built from a config: 2e9 (8 GB of float32 weights).
MAX_PARAMETERS = 2_000_000_000

C = TypeVar("C")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        args = typing.get_args(hint)
        return isinstance(value, tuple) and all(_matches(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # pragma: no cover - annotation kinds configs do not use


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    names = {int: "an integer", float: "a finite number", bool: "true/false", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def check_types(config: Any) -> None:
    """Raise :class:`ValidationError` naming the first field whose value does not match
    its annotation.

    Parameters
    ----------
    config
        A config dataclass instance (its fields are checked against their annotations).
    """
    cls = type(config)
    hints = _hints(cls)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not _matches(value, hints[f.name]):
            raise ValidationError(
                f"{cls.__name__}.{f.name} must be {_describe(hints[f.name])}, got {_show(value)}"
            )


def check_range(
    config: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise :class:`ValidationError` unless ``low <= config.name <= high`` (``<`` with
    ``*_open``).

    Parameters
    ----------
    config
        A config dataclass instance.
    name
        The field to check.
    low, high
        Inclusive bounds (``None``: unbounded on that side).
    low_open, high_open
        Make that bound exclusive.
    """
    value = getattr(config, name)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        allowed = " and ".join(part for part in (lo, hi) if part)
        raise ValidationError(
            f"{type(config).__name__}.{name} must be {allowed}, got {_show(value)}"
        )


def check_size(config: Any) -> None:
    """Refuse a config whose network would exceed :data:`MAX_PARAMETERS` (estimated from
    the fields, before anything is allocated)."""
    n = config.n_parameters()
    if n > MAX_PARAMETERS:
        raise ValidationError(
            f"{type(config).__name__} describes a network of about {n:.3g} parameters, above "
            f"the limit of {MAX_PARAMETERS:.0e} (d_model={getattr(config, 'd_model', '?')}, "
            f"n_layers={getattr(config, 'n_layers', '?')}, "
            f"vocab_size={getattr(config, 'vocab_size', '?')})"
        )


def from_dict(cls: type[C], data: Mapping[str, Any], *, tuples: tuple[str, ...] = ()) -> C:
    """``cls(**data)`` after refusing non-mappings and keys that are not fields of ``cls``;
    JSON lists of the fields named in ``tuples`` become tuples.

    Parameters
    ----------
    cls
        The config dataclass to build.
    data
        Its fields, e.g. read from a ``config.json``; unknown keys and missing required
        fields are refused.
    tuples
        Fields whose JSON lists become tuples.

    Returns
    -------
    C
        The config (its own ``__post_init__`` checks run).
    """
    if not isinstance(data, Mapping):
        raise ValidationError(f"{cls.__name__} must be a JSON object, got {_show(data)}")
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValidationError(f"unknown {cls.__name__} field(s) {unknown}; known: {sorted(fields)}")
    values = dict(data)
    for name in tuples:
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    required = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and f.name not in values
    ]
    if required:
        raise ValidationError(f"{cls.__name__} is missing required field(s) {required}")
    return cls(**values)
