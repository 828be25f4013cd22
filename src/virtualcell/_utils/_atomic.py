"""The one atomic writer: every file virtualcell writes goes through here.

A file is written to a temporary sibling (same folder, so the final ``os.replace`` is an
atomic rename on the same file system), flushed and fsync'ed, then renamed over the
target; on any error, or a signal that unwinds the stack, the temporary file is removed
and the target is left exactly as it was. Temporary names carry the writer's PID
(``.NAME.vctmp-PID-RANDOM``) so that :func:`clean_stale_temps` can delete the leftovers
of a process that was killed outright (SIGKILL) without touching a live writer's file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "TEMP_MARKER",
    "atomic_path",
    "atomic_write",
    "clean_stale_temps",
    "replace_file",
    "write_json",
    "write_text",
]

#: Substring that marks a temporary file of the atomic writer.
TEMP_MARKER = ".vctmp-"


def _temp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _fsync_path(path: Path) -> None:
    if path.is_file():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    elif path.is_dir():
        for child in path.rglob("*"):
            if child.is_file():
                _fsync_path(child)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is renamed to ``path``.

    For libraries that write by file name (``AnnData.write_h5ad``, safetensors,
    parquet, zarr folders). The temporary path keeps the final suffix so that writers
    that dispatch on it behave the same. The parent folder must exist.

    Examples
    --------
    >>> with atomic_path(tmp / "x.h5ad") as part:          # doctest: +SKIP
    ...     adata.write_h5ad(part)
    """
    target = Path(path)
    if not target.parent.is_dir():
        from .._errors import ValidationError

        raise ValidationError(f"folder {target.parent} does not exist (for output {target.name})")
    tmp = _temp_sibling(target)
    tmp = tmp.with_name(tmp.name + target.suffix)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        # directories cannot be replaced atomically over a non-empty one: replace_file swaps
        replace_file(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def replace_file(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Move a finished file (or folder) ``src`` over ``dst`` durably: fsync, rename in the
    same folder, fsync the folder. For writers that must keep a stable temporary name
    (a resumable download's ``.part`` file); everything else uses :func:`atomic_path`."""
    source, target = Path(src), Path(dst)
    _fsync_path(source)
    if target.is_dir() and source.is_dir():
        old = _temp_sibling(target)
        os.replace(target, old)
        os.replace(source, target)
        _remove(old)
    else:
        os.replace(source, target)
    _fsync_dir(target.parent)
    return target


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: Literal["w", "wb"] = "w",
    *,
    encoding: str | None = "utf-8",
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    Parameters
    ----------
    path
        Final file. Its parent folder must exist.
    mode
        ``"w"`` (text) or ``"wb"`` (binary).
    encoding
        Text encoding (ignored in binary mode).
    """
    with atomic_path(path) as tmp:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with open(tmp, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_write(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (sorted keys stay as given; NaN refused) atomically."""
    text = json.dumps(obj, indent=indent, allow_nan=False, default=_json_default)
    return write_text(path, text + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


def clean_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files left in ``folder`` by writers that no longer run.

    Returns the removed paths. Temporary files of live processes are kept.
    """
    root = Path(folder)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for child in root.iterdir():
        name = child.name
        if TEMP_MARKER not in name:
            continue
        try:
            pid = int(name.split(TEMP_MARKER, 1)[1].split("-", 1)[0])
        except ValueError:
            continue
        if not _pid_alive(pid):
            _remove(child)
            removed.append(child)
    return removed
