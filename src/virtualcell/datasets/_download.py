"""Checksummed, resumable, atomic downloads with a mirror folder and a local cache.

Look-up order for a file named ``FILENAME``:

1. the mirror folder ``settings.data_dir`` (``VIRTUALCELL_DATA``): ``<mirror>/FILENAME``
   then ``<mirror>/datasets/FILENAME``;
2. the cache ``settings.cache_dir / "datasets" / FILENAME``;
3. a download (unless ``settings.offline``), streamed to ``FILENAME.part`` (resumed with
   an HTTP ``Range`` request when a partial file exists and the server honours it),
   checked against the sha256 and moved into place with :func:`os.replace`.

Checksums: when a registry entry has no published sha256 (``sha256=None``), the first
download is trusted, its sha256 is printed and stored in ``<cache>/datasets/lock.json``;
later uses are checked against that recorded value ("trust on first use").
"""

from __future__ import annotations

import contextlib
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .._errors import ChecksumError, DatasetNotAvailableError
from .._settings import settings
from .._utils import Progress, log, replace_file, sha256_file, write_json

if TYPE_CHECKING:  # pragma: no cover
    from ._entries import DatasetEntry

__all__ = ["cache_folder", "fetch", "read_lock", "sha256sum"]

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_USER_AGENT = "virtualcell-downloader"


def cache_folder() -> Path:
    """Folder holding downloaded datasets (``settings.cache_dir / "datasets"``)."""
    return Path(settings.cache_dir) / "datasets"


def _lock_path() -> Path:
    return cache_folder() / "lock.json"


def read_lock() -> dict[str, dict]:
    """Contents of the cache's ``lock.json`` (file name -> url, sha256, size, date)."""
    path = _lock_path()
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _write_lock(filename: str, record: dict) -> None:
    lock = read_lock()
    lock[filename] = record
    path = _lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, dict(sorted(lock.items())))


#: Hex sha256 of a file: the shared :func:`virtualcell._utils.sha256_file`.
sha256sum = sha256_file


def _expected_sha(filename: str, sha256: str | None) -> str | None:
    """Registered sha256, else the one recorded on first download (lock.json)."""
    if sha256:
        return sha256.lower()
    recorded = read_lock().get(filename, {}).get("sha256")
    return recorded.lower() if recorded else None


def _verified(path: Path, filename: str, expected: str | None, where: str) -> Path:
    """Check ``path`` against ``expected`` (memoised by size and mtime in lock.json)."""
    if expected is None:
        return path
    stat = path.stat()
    memo = read_lock().get(f"verified:{path.resolve()}", {})
    if memo.get("size") == stat.st_size and memo.get("mtime_ns") == stat.st_mtime_ns:
        if memo.get("sha256") == expected:
            return path
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{where} file {path} does not match its sha256 (expected {expected}, "
            f"got {actual}); delete it (or replace it with a good copy of {filename}) "
            "and try again"
        )
    with contextlib.suppress(OSError):
        _write_lock(
            f"verified:{path.resolve()}",
            {"sha256": actual, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        )
    return path


def _mirror_candidates(filename: str) -> list[Path]:
    if settings.data_dir is None:
        return []
    root = Path(settings.data_dir)
    return [root / filename, root / "datasets" / filename]


def fetch(
    source: DatasetEntry | str,
    *,
    sha256: str | None = None,
    filename: str | None = None,
    name: str | None = None,
) -> Path:
    """Local path of a dataset file: mirror, else cache, else a verified download.

    Parameters
    ----------
    source
        A registry entry (its ``url``, ``sha256``, ``filename`` and ``name`` are used) or
        a URL.
    sha256
        Expected hex digest (ignored when ``source`` is an entry). ``None``: trust the
        first download and record its digest in ``lock.json``.
    filename
        File name in the mirror and cache (default: last part of the URL).
    name
        Dataset name used in messages (default: ``filename``).

    Returns
    -------
    Path
        Path of the verified file.

    Raises
    ------
    DatasetNotAvailableError
        Offline (``settings.offline``) and the file is neither mirrored nor cached, or the
        download failed / was interrupted (a partial file is kept for resuming).
    ChecksumError
        The file does not match its sha256 (a bad partial download is deleted).
    """
    if isinstance(source, str):
        url = source
        filename = filename or url.rstrip("/").split("/")[-1].split("?")[0]
    else:
        url = source.url or ""
        sha256 = source.sha256
        filename = filename or source.filename
        name = name or source.name
    if not filename:
        raise DatasetNotAvailableError(f"no file name known for {url!r}")
    label = name or filename
    expected = _expected_sha(filename, sha256)

    for candidate in _mirror_candidates(filename):
        if candidate.is_file():
            return _verified(candidate, filename, expected, "mirror")
    target = cache_folder() / filename
    if target.is_file():
        return _verified(target, filename, expected, "cached")

    if settings.offline or not url:
        mirror = (
            f"{Path(settings.data_dir) / 'datasets'} (VIRTUALCELL_DATA)"
            if settings.data_dir is not None
            else "a folder named by VIRTUALCELL_DATA (e.g. <folder>/datasets/)"
        )
        why = "offline mode is on (VIRTUALCELL_OFFLINE)" if settings.offline else "no URL"
        raise DatasetNotAvailableError(
            f"dataset {label!r} is not available: {why}. Download {url or '(no URL)'} "
            f"and save it as {filename!r} in {mirror} or in the cache folder {cache_folder()}"
        )
    _download(url, target, expected, sha256_registered=bool(sha256), label=label)
    return target


def _open(url: str, offset: int):
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=_TIMEOUT_S)


def _download(
    url: str, target: Path, expected: str | None, *, sha256_registered: bool, label: str
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    try:
        try:
            response = _open(url, offset)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not offset:  # 416: the partial file is unusable
                raise
            part.unlink(missing_ok=True)
            offset = 0
            response = _open(url, offset)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise DatasetNotAvailableError(
            f"could not download dataset {label!r} from {url}: {exc}; save the file as "
            f"{target.name!r} in {target.parent} (or the VIRTUALCELL_DATA mirror) instead"
        ) from exc
    with response:
        status = getattr(response, "status", 200)
        resumed = offset > 0 and status == 206
        if not resumed:
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        try:
            with open(part, "ab" if resumed else "wb") as handle:
                for _ in _stream(response, handle, total=total, done=offset, label=label):
                    pass
        except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
            raise DatasetNotAvailableError(
                f"download of dataset {label!r} from {url} was interrupted ({exc}); "
                f"the partial file {part} is kept and the next attempt resumes it"
            ) from exc
    size = part.stat().st_size
    if total is not None and size < total:
        raise DatasetNotAvailableError(
            f"download of dataset {label!r} from {url} stopped at {size} of {total} bytes; "
            f"the partial file {part} is kept and the next attempt resumes it"
        )
    actual = sha256_file(part)
    if expected is not None and actual != expected:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"download of dataset {label!r} from {url} does not match its sha256 "
            f"(expected {expected}, got {actual}); the bad file was deleted"
        )
    replace_file(part, target)
    if not sha256_registered and expected is None:
        log(f"{target.name}: no published sha256; recorded sha256={actual} in {_lock_path()}")
    _write_lock(
        target.name,
        {
            "url": url,
            "sha256": actual,
            "size": size,
            "sha256_source": "registry" if sha256_registered else "first download",
            "downloaded": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def _stream(
    response, handle: IO[bytes], *, total: int | None, done: int, label: str
) -> Iterator[int]:
    """Copy the response body to ``handle`` chunk by chunk, reporting progress in bytes
    (a bar on a terminal, periodic lines otherwise; always on stderr)."""
    with Progress(total, description=f"downloading {label}", completed=done, unit="bytes") as bar:
        while block := response.read(_CHUNK):
            handle.write(block)
            bar.advance(len(block))
            yield len(block)
