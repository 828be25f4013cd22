"""Shared plumbing, one helper per concern (private; used by every layer).

- :mod:`._arrays` — small array helpers (:func:`unit_rows`).
- :mod:`._atomic` — the atomic writer (temp file in the same folder, fsync, rename).
- :mod:`._docs` — shared parameter descriptions (:func:`doc_params`, :data:`SHARED_PARAMS`).
- :mod:`._checks` — the one argument-range check (:func:`check_number`) and the one output rule (:func:`check_output`).
- :mod:`._engine` — the parallel map (local processes, or a Dask cluster).
- :mod:`._hashing` — sha256 of files and bytes.
- :mod:`._lazy` — lazy package exports (:func:`lazy_exports`) and installed packages found
  without importing them (:func:`package_dir`).
- :mod:`._output` — ``--json`` machine output alone on stdout (:func:`emit_json`).
- :mod:`._progress` — progress bars on terminals, periodic log lines otherwise (stderr).
- :mod:`._registry` — the typed ``name -> callable`` table every namespace uses.
- :mod:`._table` — the markdown table writer.
"""

from ._arrays import unit_rows
from ._atomic import (
    TEMP_MARKER,
    atomic_path,
    atomic_write,
    clean_stale_temps,
    replace_file,
    write_json,
    write_text,
)
from ._checks import check_number, check_output
from ._docs import SHARED_PARAMS, doc_params, documented_params
from ._engine import (
    available_cpus,
    available_memory,
    current_dask,
    dask_client,
    imap_tasks,
    map_tasks,
    n_workers,
    use_dask,
)
from ._hashing import sha256_bytes, sha256_file
from ._lazy import lazy_exports, package_dir
from ._output import emit_json, machine_output
from ._progress import Progress, log, progress
from ._registry import Entry, Registry
from ._table import format_value, markdown_table

__all__ = [
    "SHARED_PARAMS",
    "TEMP_MARKER",
    "Entry",
    "Progress",
    "Registry",
    "atomic_path",
    "atomic_write",
    "available_cpus",
    "available_memory",
    "check_number",
    "check_output",
    "clean_stale_temps",
    "current_dask",
    "dask_client",
    "doc_params",
    "documented_params",
    "emit_json",
    "format_value",
    "imap_tasks",
    "lazy_exports",
    "log",
    "machine_output",
    "map_tasks",
    "markdown_table",
    "n_workers",
    "package_dir",
    "progress",
    "replace_file",
    "sha256_bytes",
    "sha256_file",
    "unit_rows",
    "use_dask",
    "write_json",
    "write_text",
]
