"""Workers die with their parent: SIGKILL the process that started a pool (local
processes, or a local Dask cluster) while tasks run; no process it started may survive
10 s (before the fix, idle loky workers of a killed ``vcell bench`` held memory for half
an hour)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {src!r})
    from virtualcell._utils import map_tasks

    def work(i, folder):
        open(os.path.join(folder, str(os.getpid())), "w").close()
        time.sleep(300)

    if __name__ == "__main__":
        map_tasks(work, range(4), shared={{"folder": {folder!r}}}, n_jobs=2,
                  dask={dask}, description=None)
    """
)


def _run_and_kill(tmp_path: Path, dask: str | None) -> tuple[list[int], list[int]]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    folder = tmp_path / "pids"
    folder.mkdir()
    script = tmp_path / "parent.py"
    script.write_text(SCRIPT.format(src=src, folder=str(folder), dask=repr(dask)))
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.iterdir())) < 2:  # two tasks running in two workers
            assert proc.poll() is None, "the parent ended before its workers started"
            assert time.monotonic() < deadline, "the workers did not start in 120 s"
            time.sleep(0.2)
        started = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        alive = started
        while alive and time.monotonic() < deadline:
            time.sleep(0.25)
            alive = [
                pid for pid in started
                if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
            ]  # fmt: skip
        return started, alive
    finally:
        if proc.poll() is None:
            proc.kill()


def _cleanup(pids: list[int]) -> None:
    for pid in pids:  # only the processes this test started
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.timeout(180)
def test_local_workers_die_with_their_parent(tmp_path):
    started, alive = _run_and_kill(tmp_path, None)
    _cleanup(alive)
    assert len(started) >= 2, started
    assert not alive, f"{len(alive)} of {len(started)} processes survived their parent: {alive}"


@pytest.mark.timeout(240)
def test_dask_local_cluster_dies_with_its_parent(tmp_path):
    pytest.importorskip("distributed")
    started, alive = _run_and_kill(tmp_path, "local")
    _cleanup(alive)
    assert len(started) >= 2, started
    assert not alive, f"{len(alive)} of {len(started)} processes survived their parent: {alive}"
