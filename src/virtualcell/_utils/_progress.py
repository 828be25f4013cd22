"""The one progress helper: every long loop reports through it.

On a terminal (stderr is a TTY) it draws a rich progress bar on **stderr**; otherwise
(CI logs, pipes, notebooks' captured streams) it writes a plain line to stderr at most
every ``settings.progress_interval_s`` seconds (default 10) and at the end, so that long
work is never silent. Nothing is ever written to stdout, which belongs to machine output
(``--json``). ``settings.verbosity == 0`` silences it.

Three forms:

- ``for x in progress(items, description="genes"): ...``
- ``with Progress(total=n, description="train", fields={"loss": nan}) as bar:
  bar.update(step, loss=...)``
- ``log("built index in 3.2 s")`` — one line on stderr (when verbosity > 0).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar

from .._settings import settings

T = TypeVar("T")

__all__ = ["Progress", "log", "progress"]


def log(message: str, *, level: int = 1) -> None:
    """Print one line to stderr when ``settings.verbosity >= level``."""
    if settings.verbosity >= level:
        print(message, file=sys.stderr, flush=True)


def _fmt_fields(fields: Mapping[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        if isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
        else:
            parts.append(f"{key} {value}")
    return "  ".join(parts)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


class Progress:
    """A progress report for work of known (or unknown) size.

    Parameters
    ----------
    total
        Number of units (``None`` when unknown).
    description
        What is being done (shown first).
    completed
        Units already done (a resumed run starts there).
    fields
        Extra values shown after the count (``loss``, ``cells/s`` ...), updated by
        :meth:`update`.
    unit
        ``"items"`` or ``"bytes"`` (sizes and rates shown in B/KB/MB).
    transient
        Remove the bar from the terminal when done.
    """

    def __init__(
        self,
        total: float | None = None,
        *,
        description: str = "working",
        completed: float = 0,
        fields: Mapping[str, Any] | None = None,
        unit: Literal["items", "bytes"] = "items",
        transient: bool = True,
    ) -> None:
        self.total = total
        self.description = description
        self.completed = completed
        self.fields: dict[str, Any] = dict(fields or {})
        self.unit = unit
        self.transient = transient
        self._enabled = settings.verbosity > 0
        self._rich: Any = None
        self._task: Any = None
        self._t0 = time.monotonic()
        self._last_line = self._t0
        self._start_completed = completed

    # -- context -----------------------------------------------------------------------
    def __enter__(self) -> Progress:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if not self._enabled:
            return
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as RichProgress

            count = (
                (DownloadColumn(), TransferSpeedColumn())
                if self.unit == "bytes"
                else (MofNCompleteColumn(),)
            )
            self._rich = RichProgress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                *count,
                TextColumn("{task.fields[extra]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=self.transient,
                console=Console(file=sys.stderr),
            )
            self._rich.start()
            self._task = self._rich.add_task(
                self.description,
                total=self.total,
                completed=self.completed,
                extra=_fmt_fields(self.fields),
            )

    def update(self, completed: float | None = None, *, advance: float = 0, **fields: Any) -> None:
        """Set the count to ``completed`` (or add ``advance``) and update ``fields``."""
        if completed is not None:
            self.completed = completed
        self.completed += advance
        self.fields.update(fields)
        if not self._enabled:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=self.completed, extra=_fmt_fields(self.fields))
            return
        now = time.monotonic()
        if now - self._last_line >= settings.progress_interval_s:
            self._last_line = now
            log(self.line())

    def advance(self, n: float = 1) -> None:
        """Add ``n`` units."""
        self.update(advance=n)

    def line(self) -> str:
        """The plain-text status line (what non-terminals see)."""
        elapsed = time.monotonic() - self._t0
        show = _fmt_bytes if self.unit == "bytes" else (lambda v: f"{v:,.0f}")
        count = show(self.completed)
        if self.total is not None:
            count += f"/{show(self.total)}"
            if self.total > 0:
                count += f" ({100 * self.completed / self.total:.0f}%)"
        rate = (self.completed - self._start_completed) / elapsed if elapsed > 0 else math.nan
        eta = ""
        if self.total is not None and rate > 0:
            eta = f", ~{(self.total - self.completed) / rate:.0f} s left"
        extra = _fmt_fields(self.fields)
        return f"{self.description}: {count} in {elapsed:.0f} s{eta}" + (
            f"  {extra}" if extra else ""
        )

    def close(self) -> None:
        """Stop the bar (prints a final line when not on a terminal)."""
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
        elif self._enabled and time.monotonic() - self._t0 >= settings.progress_interval_s:
            log(self.line())
        self._enabled = False


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    description: str = "working",
) -> Iterator[T]:
    """Iterate over ``iterable`` while reporting progress (see the module docstring)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if settings.verbosity <= 0:
        yield from iterable
        return
    with Progress(total, description=description) as bar:
        for item in iterable:
            yield item
            bar.advance()
