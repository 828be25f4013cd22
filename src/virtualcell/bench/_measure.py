"""Wall time, CPU time and peak memory of one benchmark cell, measured in its worker.

* ``runtime_s``: wall-clock seconds of the task's ``run`` call (data loading excluded;
  it is measured separately as ``load_s``).
* ``cpu_s``: CPU seconds of the worker process during the call (all its threads); on a
  shared machine this is the load-robust figure.
* ``peak_mb``: peak resident set size (RSS) of the worker process during the call, in
  MiB — what the cell needs the machine to have; sampled every 20 ms by a thread, and at
  the start and the end.
* ``py_peak_mb`` (only with ``trace=True``): peak of the memory the call allocated
  through Python's allocators (``tracemalloc``: Python objects and numpy arrays, not
  torch tensors or native libraries' own buffers), in MiB. Tracing slows allocation-
  heavy Python code 2-4x (measured on GENIE3's per-tree loop), so it is off unless asked.
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Measurement", "measure", "rss_mb"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except OSError:  # pragma: no cover - not Linux
        try:
            import psutil

            return psutil.Process().memory_info().rss / 2**20
        except ImportError:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Measurement:
    """Filled in by :func:`measure` when its block ends."""

    runtime_s: float = 0.0
    cpu_s: float = 0.0
    peak_mb: float = 0.0
    py_peak_mb: float = 0.0


@contextmanager
def measure(*, interval_s: float = 0.02, trace: bool = False) -> Iterator[Measurement]:
    """Measure the block (see the module docstring)."""
    result = Measurement()
    peak = [rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, name="vc-rss-sampler", daemon=True)
    started_trace = trace and not tracemalloc.is_tracing()
    if started_trace:
        tracemalloc.start(1)
    if trace:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
    sampler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield result
    finally:
        result.runtime_s = time.perf_counter() - t0
        result.cpu_s = time.process_time() - c0
        stop.set()
        sampler.join()
        result.peak_mb = max(peak[0], rss_mb())
        if trace:
            result.py_peak_mb = max(0.0, (tracemalloc.get_traced_memory()[1] - base) / 2**20)
        if started_trace:
            tracemalloc.stop()
