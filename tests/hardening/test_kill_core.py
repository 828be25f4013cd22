"""Kill test: ``vcell sim`` and ``vcell kb build`` killed with SIGKILL at seeded random
moments leave the final file either as it was before (or absent) or complete, never
broken; the next run removes the killed run's temporary file and succeeds.

Each command first runs once to completion (its duration sets the kill window and its
file is the "previous" output); then it is started again with other settings and killed
after a seeded random fraction of that duration; the file is checked by opening it
(``vc.data.validate`` / ``vc.knowledge.load``); finally a clean re-run must succeed and
leave no temporary file. Run with ``-s`` to see the kill points and outcomes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from virtualcell._utils import TEMP_MARKER, sha256_file

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")

SEED = 20251125
KILLS = 3


def _vcell(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    code = "import sys; from virtualcell.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(VIRTUALCELL_OFFLINE="1", VIRTUALCELL_CACHE=str(tmp_path / "cache"))
    return env


def _run(args: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    proc = _vcell(args, env)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return time.monotonic() - t0


def _kill_after(args: list[str], env: dict[str, str], seconds: float) -> bool:
    """Start, SIGKILL after ``seconds``; True if it was still running when killed."""
    proc = _vcell(args, env)
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        return True


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_MARKER in p.name)


def _kill_points(duration: float, n: int, salt: int) -> list[float]:
    rng = np.random.default_rng([SEED, salt])
    return sorted(float(f) * duration for f in rng.uniform(0.25, 1.0, size=n))


def test_sim_killed_leaves_old_or_complete_file(tmp_path, capsys):
    import virtualcell as vc

    env = _env(tmp_path)
    out = tmp_path / "sim.h5ad"
    base = ["sim", "--genes", "40", "--cells-per-condition", "40", "--singles", "10",
            "--doubles", "5", "--out", str(out), "--overwrite"]  # fmt: skip
    duration = _run([*base, "--seed", "0"], env)
    old = sha256_file(out)
    outcomes = []
    for i, at in enumerate(_kill_points(duration, KILLS, salt=1)):
        killed = _kill_after([*base, "--seed", str(i + 1)], env, at)
        state = "old" if sha256_file(out) == old else "new"
        report = vc.data.validate(out)  # opens and scans the whole file
        assert report.ok, f"kill at {at:.2f} s left a broken file: {report}"
        assert report.summary["n_genes"] == 40
        leftovers = _temps(tmp_path)
        outcomes.append((round(at, 2), killed, state, len(leftovers)))
    _run([*base, "--seed", "9"], env)  # a clean re-run: succeeds, removes the leftovers
    assert vc.data.validate(out).ok
    assert _temps(tmp_path) == []
    with capsys.disabled():
        print(f"\nvcell sim ({duration:.1f} s): (kill at s, killed, file, temps left) {outcomes}")


def test_kb_build_killed_leaves_old_or_complete_store(tmp_path, capsys):
    import importlib.util

    import virtualcell as vc

    spec = importlib.util.spec_from_file_location(
        "_kbdata", Path(__file__).resolve().parents[1] / "knowledge" / "_kbdata.py"
    )
    kbdata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kbdata)
    write_sources = kbdata.write_sources

    env = _env(tmp_path)
    sources = write_sources(tmp_path / "src")
    out = tmp_path / "kb" / "knowledge.sqlite"
    out.parent.mkdir()
    args = ["kb", "build", "--source", str(sources), "--out", str(out), "--no-defaults",
            "--overwrite"]  # fmt: skip
    duration = _run(args, env)
    old = sha256_file(out)
    outcomes = []
    for at in _kill_points(duration, KILLS, salt=2):
        killed = _kill_after(args, env, at)
        state = "old" if sha256_file(out) == old else "new"
        with vc.knowledge.load(out) as kb:  # opens the store and reads it
            assert kb.counts["genes"] > 0 and kb.gene("KLF1").symbol == "KLF1"
        outcomes.append((round(at, 2), killed, state, len(_temps(out.parent))))
    _run(args, env)
    with vc.knowledge.load(out) as kb:
        assert kb.counts["annotations"] > 0
    assert _temps(out.parent) == []
    with capsys.disabled():
        print(
            f"\nvcell kb build ({duration:.1f} s): (kill at s, killed, file, temps left) {outcomes}"
        )
