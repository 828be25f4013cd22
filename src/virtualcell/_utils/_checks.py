"""The one argument-range check of the library (the CLI checks at parse time with
:mod:`virtualcell._cli_types`; library calls check here, with the same words)."""

from __future__ import annotations

import math
import numbers

from .._errors import ValidationError

__all__ = ["check_number"]


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    """Raise :class:`ValidationError` unless ``value`` is a finite number (an integer
    when ``integer``) within the bounds.

    >>> check_number("seed", 0, low=0, integer=True)
    >>> check_number("hill_n", -2.0, low=0, low_open=True)
    Traceback (most recent call last):
    ...
    virtualcell._errors.ValidationError: hill_n must be a finite number > 0, got -2.0
    """
    kind = "an integer" if integer else "a finite number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    rule = f"{name} must be {kind}" + (f" {' and '.join(bounds)}" if bounds else "")
    ok_type = isinstance(value, numbers.Integral) if integer else isinstance(value, numbers.Real)
    if isinstance(value, bool) or not ok_type:
        raise ValidationError(f"{rule}, got {type(value).__name__} {value!r}")
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValidationError(f"{rule}, got {value!r}")
    if low is not None and (number <= low if low_open else number < low):
        raise ValidationError(f"{rule}, got {value!r}")
    if high is not None and (number >= high if high_open else number > high):
        raise ValidationError(f"{rule}, got {value!r}")
