"""Number and choice options: ranges, seeds, comma-separated lists, worker counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer

from .._errors import ValidationError
from ._checks import checked

__all__ = [
    "SEED_MAX",
    "choice_list",
    "float_list",
    "int_range",
    "n_jobs_option",
    "non_negative_int",
    "open_fraction",
    "positive_float",
    "positive_int",
    "probability",
    "seed_list",
    "seed_option",
]

T = TypeVar("T")


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


def _comma_separated(text: str, parse: Callable[[str], T], what: str) -> list[T]:
    """``parse`` of every non-empty comma-separated word of ``text`` (it raises
    :class:`~virtualcell.ValidationError` for a bad one); at least one is needed."""
    values = [parse(word) for word in (w.strip() for w in str(text).split(",")) if word]
    if not values:
        raise ValidationError(f"give at least one {what} (comma-separated)")
    return values


def seed_list(default: Any, *decls: str, help: str) -> Any:
    """Comma-separated seeds (``0,1,2``), each in ``0 .. 2**32 - 1``; a ``list[int]``."""

    def parse(word: str) -> int:
        try:
            seed = int(word)
        except ValueError:
            raise ValidationError(f"{word!r} is not an integer") from None
        if not 0 <= seed <= SEED_MAX:
            raise ValidationError(f"seed {seed} is not in [0, {SEED_MAX}]")
        return seed

    def check(text: str) -> list[int]:
        seeds = _comma_separated(text, parse, "seed")
        if len(set(seeds)) != len(seeds):
            raise ValidationError(f"seeds repeat: {text}")
        return seeds

    return typer.Option(default, *decls, help=help, callback=checked(check))


def float_list(default: Any, *decls: str, help: str, low: float = 0.0) -> Any:
    """Comma-separated finite numbers > ``low`` (``0.5,1,2``), returned as ``list[float]``
    (``nan``, ``inf`` and values <= ``low`` are refused)."""
    import math

    def parse(word: str) -> float:
        try:
            value = float(word)
        except ValueError:
            raise ValidationError(f"{word!r} is not a number") from None
        if not math.isfinite(value) or value <= low:
            raise ValidationError(f"{word} is not a finite number > {low:g}")
        return value

    return typer.Option(
        default, *decls, help=help,
        callback=checked(lambda text: _comma_separated(text, parse, "number")),
    )  # fmt: skip


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
