"""The one parallel-execution engine: map a function over tasks, locally or on Dask.

Every loop that fans out over independent tasks (the GRN tree methods' targets, the
benchmark grid) goes through :func:`map_tasks` / :func:`imap_tasks`. Where the work runs
is chosen by two options that every caller passes through unchanged:

``n_jobs``
    Local worker processes (``1``: in this process, no pool; ``-1``: one per CPU the
    process may use). The local pool is joblib's reusable ``loky`` executor: workers
    survive between calls, large numpy arrays in ``shared`` reach them as read-only
    memory maps instead of one pickled copy per task, and BLAS threads in each worker
    are limited so that ``n_jobs`` workers do not oversubscribe the machine.
``dask``
    A Dask cluster instead of local processes (arboreto's design for GRNBoost2): a
    scheduler address (``"tcp://host:8786"``), ``"local"`` for a ``LocalCluster`` of
    ``n_jobs`` single-threaded worker processes started for the call and closed after
    it, or a ``distributed.Client``. ``shared`` objects are scattered to every worker
    once (broadcast), tasks are submitted one per item, results stream back as they
    finish. :func:`use_dask` makes a cluster the default for a block of code, so that
    calls deep inside a library (``vc.grn.infer``) use it without new arguments.

Workers die with their parent on every backend: a local worker sets the Linux
parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, when the pool is started from
the main thread) and, everywhere, runs a watchdog thread that exits the worker once its
parent is gone (:func:`die_with_parent`); the processes of a ``dask="local"`` cluster
(nannies and workers) run the same watchdog on the process that started the cluster. A
``vcell bench`` killed with SIGKILL leaves no worker behind (``tests/hardening``).

Tasks are ``fn(item, **shared)``; ``fn`` must be importable (a module-level function) so
that worker processes can unpickle it. Results are the same whichever backend runs them
as long as ``fn`` seeds itself from its item, never from global state. Progress goes to
stderr through :func:`~virtualcell._utils.Progress`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ._progress import Progress

__all__ = [
    "available_cpus",
    "current_dask",
    "dask_client",
    "die_with_parent",
    "imap_tasks",
    "map_tasks",
    "n_workers",
    "use_dask",
]

R = TypeVar("R")

#: The cluster made the default by :func:`use_dask` (a ``distributed.Client``) or None.
_DEFAULT_CLIENT: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "virtualcell_dask_client", default=None
)


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes of memory the machine can still give (Linux ``MemAvailable``, else psutil's
    ``available``), or ``None`` when neither can tell."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    try:  # pragma: no cover - not Linux
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover
        return None


def current_dask() -> Any:
    """The client made the default by :func:`use_dask`, or ``None``."""
    return _DEFAULT_CLIENT.get()


def n_workers(*, n_jobs: int = 1, dask: str | Any | None = None) -> int:
    """How many tasks run at once with these options (a connected Dask client: its
    current number of workers; ``"local"``: ``n_jobs`` or the CPU count)."""
    client = dask if dask is not None else _DEFAULT_CLIENT.get()
    if client is None:
        return _workers(n_jobs)
    if isinstance(client, str):
        return _workers(n_jobs) if n_jobs not in (None, 1) else available_cpus()
    try:
        return max(1, len(client.scheduler_info()["workers"]))
    except Exception:  # pragma: no cover - a client that cannot answer
        return 1


def _workers(n_jobs: int) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, available_cpus() + 1 + n_jobs)
    return int(n_jobs)


def _need_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:  # pragma: no cover - dask is a dependency
        from .._errors import ValidationError

        raise ValidationError(
            "running on Dask needs the 'distributed' package: pip install 'dask[distributed]'"
        ) from err
    return distributed


@contextlib.contextmanager
def dask_client(
    address: str | Any,
    *,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    timeout_s: float = 15.0,
) -> Iterator[Any]:
    """A ``distributed.Client`` for ``address``; closed (with its cluster) on exit.

    Parameters
    ----------
    address
        ``"local"`` starts a ``LocalCluster`` of ``n_workers`` processes (default: one per
        available CPU) bound to 127.0.0.1 without a dashboard; any other string is a
        scheduler address; a ``Client`` is used as is (and not closed).
    n_workers
        Workers of a local cluster.
    threads_per_worker
        Threads per local worker (1: tasks are single-threaded, parallelism comes from
        processes, as with the local pool).
    timeout_s
        How long to try to reach a scheduler before giving up.
    """
    distributed = _need_distributed()
    if isinstance(address, distributed.Client):
        yield address
        return
    if not isinstance(address, str) or not address.strip():
        from .._errors import ValidationError

        raise ValidationError(f"dask must be 'local' or a scheduler address, got {address!r}")
    address = address.strip()
    if address == "local":
        import logging

        cluster = distributed.LocalCluster(
            n_workers=n_workers or available_cpus(),
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = distributed.Client(cluster)
        parent = os.getpid()
        with contextlib.suppress(Exception):  # nannies and workers die with this process
            client.run(die_with_parent, parent, False, nanny=True)
            client.run(die_with_parent, parent, False)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = distributed.Client(address, timeout=f"{timeout_s}s")
    except OSError as err:
        from .._errors import ValidationError

        raise ValidationError(f"cannot reach the Dask scheduler at {address}: {err}") from err
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def use_dask(
    address: str | Any, *, n_workers: int | None = None, threads_per_worker: int = 1
) -> Iterator[Any]:
    """Make a Dask cluster the default of :func:`map_tasks` inside the ``with`` block.

    Examples
    --------
    >>> from virtualcell._utils import use_dask          # doctest: +SKIP
    >>> with use_dask("local", n_workers=2):             # doctest: +SKIP
    ...     edges = vc.grn.infer(adata, method="grnboost2")
    """
    with dask_client(address, n_workers=n_workers, threads_per_worker=threads_per_worker) as c:
        token = _DEFAULT_CLIENT.set(c)
        try:
            yield c
        finally:
            _DEFAULT_CLIENT.reset(token)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


def die_with_parent(parent_pid: int, pdeathsig: bool = True, interval_s: float = 0.5) -> None:
    """Make this (worker) process exit when ``parent_pid`` ends.

    Two mechanisms: on Linux, when ``pdeathsig`` and ``parent_pid`` is this process's
    parent, the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the
    worker is killed the moment its parent dies, even by SIGKILL); on every platform, a
    daemon thread that checks every ``interval_s`` whether the parent still exists (the
    parent pid changes when an orphan is re-parented) and ends the process if not.
    Used as the initializer of local workers and run on the processes of a local Dask
    cluster.
    """
    import sys
    import threading
    import time

    if pdeathsig and sys.platform.startswith("linux") and os.getppid() == parent_pid:
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog
            pass
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)
    direct = os.getppid() == parent_pid

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            gone = os.getppid() != parent_pid if direct else not _pid_alive(parent_pid)
            if gone:
                os._exit(1)

    if not any(t.name == "virtualcell-parent-watchdog" for t in threading.enumerate()):
        threading.Thread(target=watch, name="virtualcell-parent-watchdog", daemon=True).start()


def _local_worker(parent_pid: int, pdeathsig: bool) -> None:
    """Initializer of a local (loky) worker: it dies with its parent
    (:func:`die_with_parent`), and it is not restarted when its memory grows.

    loky treats 300 MB of growth as a leak: it stops the worker, starts a new one and warns
    "A worker stopped while some jobs were given to the executor" (a UserWarning on every
    bench run, nothing a user can act on). Here the growth is on purpose (a worker keeps
    the data it loaded for the next task on the same data), so the restart only loses
    that data; the worker's own copy of the bound is raised (this process only).
    """
    import sys

    die_with_parent(parent_pid, pdeathsig)
    try:
        from joblib.externals.loky import process_executor
    except ImportError:  # pragma: no cover - another joblib layout: keep its default
        return
    if hasattr(process_executor, "_MAX_MEMORY_LEAK_SIZE"):
        process_executor._MAX_MEMORY_LEAK_SIZE = sys.maxsize


def _indexed(index: int, fn: Callable[..., R], item: Any, shared: Mapping[str, Any]):
    return index, fn(item, **shared)


def imap_tasks(
    fn: Callable[..., R],
    items: Sequence[Any] | Iterable[Any],
    *,
    shared: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
    dask: str | Any | None = None,
    description: str | None = "tasks",
) -> Iterator[tuple[int, R]]:
    """Yield ``(index, fn(items[index], **shared))`` as tasks finish (any order).

    Parameters
    ----------
    fn
        A module-level function ``fn(item, **shared)``.
    items
        One task per item.
    shared
        Keyword arguments common to every task (large arrays are sent once per worker).
    n_jobs
        Local worker processes (see the module docstring); also the size of a
        ``dask="local"`` cluster.
    dask
        ``None`` (the :func:`use_dask` default if any, else local processes),
        ``"local"``, a scheduler address, or a ``distributed.Client``.
    description
        Progress label on stderr (``None``: no progress report).

    Notes
    -----
    An exception in a task is raised here (remaining tasks are cancelled).
    """
    items = list(items)
    shared = dict(shared or {})
    client = dask if dask is not None else _DEFAULT_CLIENT.get()
    bar = Progress(len(items), description=description) if description else None
    if bar is not None:
        bar.start()
    try:
        if client is not None:
            gen = _imap_dask(fn, items, shared, client, n_jobs)
        elif _workers(n_jobs) == 1 or len(items) <= 1:
            gen = (_indexed(i, fn, item, shared) for i, item in enumerate(items))
        else:
            gen = _imap_local(fn, items, shared, _workers(n_jobs))
        for pair in gen:
            if bar is not None:
                bar.advance()
            yield pair
    finally:
        if bar is not None:
            bar.close()


def map_tasks(
    fn: Callable[..., R],
    items: Sequence[Any] | Iterable[Any],
    *,
    shared: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
    dask: str | Any | None = None,
    description: str | None = "tasks",
) -> list[R]:
    """``[fn(item, **shared) for item in items]``, run by :func:`imap_tasks` (same options);
    results in the order of ``items``."""
    items = list(items)
    out: list[Any] = [None] * len(items)
    for index, result in imap_tasks(
        fn, items, shared=shared, n_jobs=n_jobs, dask=dask, description=description
    ):
        out[index] = result
    return out


def _imap_local(
    fn: Callable[..., R], items: list[Any], shared: dict[str, Any], workers: int
) -> Iterator[tuple[int, R]]:
    import threading

    from joblib import Parallel, delayed

    # the parent-death signal follows the *thread* that started the worker: only set it
    # when the pool is started from the main thread (the watchdog covers the other cases)
    main = threading.current_thread() is threading.main_thread()
    runner = Parallel(
        n_jobs=min(workers, len(items)),
        backend="loky",
        return_as="generator_unordered",
        initializer=_local_worker,
        initargs=(os.getpid(), main),
    )
    yield from runner(delayed(_indexed)(i, fn, item, shared) for i, item in enumerate(items))


def _imap_dask(
    fn: Callable[..., R], items: list[Any], shared: dict[str, Any], client: Any, n_jobs: int
) -> Iterator[tuple[int, R]]:
    distributed = _need_distributed()
    if isinstance(client, distributed.Client):
        yield from _submit_all(fn, items, shared, client)
        return
    n_workers = _workers(n_jobs) if n_jobs not in (None, 1) else None
    with dask_client(client, n_workers=n_workers) as c:
        yield from _submit_all(fn, items, shared, c)


def _submit_all(
    fn: Callable[..., R], items: list[Any], shared: dict[str, Any], client: Any
) -> Iterator[tuple[int, R]]:
    distributed = _need_distributed()
    # each shared object travels to every worker once; tasks refer to it by key
    # (scattered inside a list: a bare dict or list would be scattered element-wise)
    scattered = {
        key: client.scatter([value], broadcast=True, hash=False)[0] for key, value in shared.items()
    }
    futures = [
        client.submit(_indexed, i, fn, item, scattered, pure=False) for i, item in enumerate(items)
    ]
    try:
        for future in distributed.as_completed(futures):
            yield future.result()
    finally:
        client.cancel(futures)
        for value in scattered.values():
            with contextlib.suppress(Exception):
                client.cancel(value)
