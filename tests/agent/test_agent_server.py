"""The ``openai`` backend against a real OpenAI-compatible server: ``transformers serve``
with the local SmolLM2 GGUF on 127.0.0.1, a 2-task benchmark through it, then stopped.

Slow (the server loads the model in its own process and decodes without our prefix cache;
minutes on 2 busy cores, 15-minute request timeout): run with ``--runslow``. Skipped with the reason when the server cannot start here (no fastapi, no
local model, no ``transformers`` CLI, or no health answer in time)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import virtualcell as vc

START_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_model(tmp_path):
    """``(base_url, model)`` of a running ``transformers serve`` (stopped afterwards)."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        pytest.skip(
            "transformers serve needs fastapi and uvicorn (pip install 'virtualcell[agent]')"
        )
    try:
        gguf = vc.agent.local_model_file()
    except vc.VirtualCellError as err:
        pytest.skip(f"no local model to serve: {err}")
    cli = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which(
        "transformers"
    )
    if cli is None:
        pytest.skip("the transformers CLI is not installed")
    model = f"{gguf.parent}:{gguf.name}"  # transformers serve's name of a local GGUF file
    port = _free_port()
    log = open(tmp_path / "serve.log", "w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [cli, "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                tail = (tmp_path / "serve.log").read_text()[-300:]
                pytest.skip(f"transformers serve exited ({proc.returncode}): {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - t0 > START_TIMEOUT_S:
                pytest.skip(f"transformers serve gave no health answer in {START_TIMEOUT_S} s")
            time.sleep(2)
        yield f"http://127.0.0.1:{port}/v1", model
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
def test_openai_backend_runs_the_bench_against_transformers_serve(served_model, kb, tmp_path):
    base_url, model = served_model
    res = vc.agent.run_benchmark(
        "openai", kb=kb, folder=tmp_path / "bench", seed=0, n_tasks=2,
        counts={"qa_targets": 1, "claims": 1}, max_steps=1,
        base_url=base_url, model=model, timeout_s=900,
    )  # fmt: skip
    assert res["backend"] == "openai" and res["tasks"] == 2
    assert res["model"] == model and res["seconds_per_task"] > 0
    assert {"keyword_router", "reference_solver"} <= set(res["baselines"])
    rows = __import__("json").loads((tmp_path / "bench" / "results-openai.json").read_text())
    replies = [
        line
        for r in rows["rows"]
        for line in (tmp_path / "bench" / "runs" / "openai" / r["task"] / "provenance.jsonl")
        .read_text()
        .splitlines()
        if '"event": "reply"' in line
    ]
    assert replies and all('"model": "openai:' in line for line in replies)  # the server answered
