"""Machine output: ``--json`` results go alone on stdout, everything else on stderr.

A command with ``--json`` prints its result with :func:`emit_json` and nothing else.
``cli.main`` wraps every run that asks for ``--json`` in :func:`machine_output`: the
real stdout is kept for :func:`emit_json` and ``sys.stdout`` is pointed at stderr for
the duration, so a stray ``print`` / ``typer.echo`` of any layer can never corrupt the
JSON (progress and logs already go to stderr, see :mod:`._progress`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

from ._atomic import _json_default

__all__ = ["emit_json", "machine_output"]

_STREAMS: list[IO[str]] = []


@contextlib.contextmanager
def machine_output(stream: IO[str] | None = None) -> Iterator[IO[str]]:
    """Reserve ``stream`` (default: the current ``sys.stdout``) for :func:`emit_json`
    and send every other write to stdout to stderr until the block ends."""
    target = stream if stream is not None else sys.stdout
    _STREAMS.append(target)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield target
    finally:
        _STREAMS.pop()


def emit_json(obj: Any, *, indent: int | None = 2) -> None:
    """Print ``obj`` as one JSON document on the machine-output stream (stdout).

    NaN / infinity become ``null`` (JSON has no NaN); numpy scalars and arrays, paths
    and other objects with a ``to_dict`` are converted.
    """
    text = json.dumps(_finite(obj), indent=indent, allow_nan=False, default=_default)
    stream = _STREAMS[-1] if _STREAMS else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _finite(obj.to_dict())
    try:
        return _finite(_json_default(obj))
    except TypeError:
        return str(obj)


def _finite(obj: Any) -> Any:
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return obj
    if isinstance(obj, np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    return obj
