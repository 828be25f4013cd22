"""Progress bars shared by every long-running loop (rich-based, silent when quiet)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from ._settings import settings

T = TypeVar("T")

__all__ = ["progress"]


def progress(
    iterable: Iterable[T], *, total: int | None = None, description: str = "working"
) -> Iterator[T]:
    """Iterate with a rich progress bar (disabled when ``settings.verbosity == 0``)."""
    if settings.verbosity <= 0:
        yield from iterable
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            bar.advance(task)
