"""Resume after a hard kill: SIGKILL a running benchmark, rerun it, and check that no
finished cell is recomputed and the final table is the one an uninterrupted run gives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from virtualcell._utils import TEMP_MARKER

HERE = Path(__file__).resolve().parent
SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import virtualcell as vc
from _toy import TOY
vc.bench.TASKS.add("toy", TOY, replace=True)
res = vc.bench.run("quick", out=sys.argv[1], tasks=["toy"], n_jobs=1, report=False)
print(f"reused {{res.reused}} computed {{res.computed}}", flush=True)
"""


def _run(script: Path, out: Path, sleep: str) -> subprocess.Popen:
    env = {**os.environ, "VC_TOY_SLEEP": sleep}
    return subprocess.Popen(
        [sys.executable, str(script), str(out)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finished(out: Path) -> dict[Path, tuple[int, str]]:
    return {
        p: (p.stat().st_mtime_ns, p.read_text())
        for p in (out / "runs").rglob("*.json")
        if TEMP_MARKER not in p.name and '"status": "failed"' not in p.read_text()
    }


def _values(out: Path) -> pd.DataFrame:
    t = pd.read_parquet(out / "results.parquet")
    cols = ["task", "dataset", "split", "method", "seed", "metric", "value", "status", "key"]
    return t[cols].sort_values(cols[:6]).reset_index(drop=True)


def test_sigkill_then_rerun_recomputes_nothing_finished(tmp_path):
    script = tmp_path / "bench.py"
    script.write_text(SCRIPT.format(here=str(HERE)))
    out = tmp_path / "out"
    proc = _run(script, out, sleep="0.25")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "runs").is_dir() and len(_finished(out)) >= 6:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    before = _finished(out)
    assert 6 <= len(before) < 64, len(before)  # killed in the middle
    assert not (out / "results.parquet").exists()
    # the rerun says how many it reused, and rewrites none of them
    again = _run(script, out, sleep="0")
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    reused = int(stdout.split("reused ")[1].split()[0])
    assert reused == len(before)
    assert f"reused {reused} finished" in stderr
    for path, (mtime, text) in before.items():
        assert path.stat().st_mtime_ns == mtime and path.read_text() == text
    assert not [p for p in out.rglob("*") if TEMP_MARKER in p.name]  # killed writes cleaned
    # identical to an uninterrupted run
    clean = tmp_path / "clean"
    ref = _run(script, clean, sleep="0")
    ref.communicate(timeout=120)
    pd.testing.assert_frame_equal(_values(out), _values(clean))
