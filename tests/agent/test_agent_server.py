"""The ``openai`` backend against a real OpenAI-compatible server on 127.0.0.1 serving
the local SmolLM2 GGUF offline: llama.cpp's server (``python -m llama_cpp.server``, from
llama-cpp-python, which honours a JSON schema through its grammar) when it is installed,
else ``transformers serve`` (which ignores ``response_format``); one constrained reply,
then a 2-task benchmark through the backend, then the server is stopped.

Slow (``--runslow``): the server loads the model in its own process; ``transformers
serve`` takes minutes per reply on 2 busy cores. ``VIRTUALCELL_TEST_SERVER=llama.cpp``
or ``=transformers`` picks one. Skipped with the reason when no server can start here
(llama-cpp-python not built, no fastapi, no local model, no ``transformers`` CLI, or no
answer in time)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import virtualcell as vc
from virtualcell.agent import OpenAIBackend, action_schema

START_TIMEOUT_S = 300
LLAMA_SERVER_DEPS = (
    "fastapi",
    "uvicorn",
    "pydantic_settings",
    "sse_starlette",
    "starlette_context",
)


@dataclass
class Served:
    kind: str  # "llama.cpp" or "transformers serve"
    base_url: str
    model: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _llama_cpp(gguf: Path, port: int) -> tuple[list[str] | None, str, str]:
    """(command, health path, model name), or (None, why not, "")."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None, "llama-cpp-python is not installed (a native build: see docs/agent.md)", ""
    missing = [m for m in LLAMA_SERVER_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        return None, f"llama-cpp-python's server needs {', '.join(missing)}", ""
    probe = subprocess.run(
        [sys.executable, "-c", "import llama_cpp"], capture_output=True, text=True, timeout=120
    )
    if probe.returncode != 0:  # the native library does not load here
        return None, f"llama_cpp does not import: {probe.stderr.strip()[-200:]}", ""
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
           "--model_alias", "smollm2-135m", "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "4096", "--n_threads", "1", "--logits_all", "false"]  # fmt: skip
    return cmd, "/v1/models", "smollm2-135m"


def _transformers(gguf: Path, port: int) -> tuple[list[str] | None, str, str]:
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        return None, "transformers serve needs fastapi and uvicorn ('virtualcell[agent]')", ""
    cli = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which(
        "transformers"
    )
    if cli is None:
        return None, "the transformers CLI is not installed", ""
    model = f"{gguf.parent}:{gguf.name}"  # transformers serve's name of a local GGUF file
    cmd = [cli, "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    return cmd, "/health", model


SERVERS = {"llama.cpp": _llama_cpp, "transformers serve": _transformers}


@pytest.fixture
def served(tmp_path):
    """A running server (:class:`Served`), stopped afterwards: llama.cpp's when it can
    start, else ``transformers serve``."""
    try:
        gguf = vc.agent.local_model_file()
    except vc.VirtualCellError as err:
        pytest.skip(f"no local model to serve: {err}")
    wanted = os.environ.get("VIRTUALCELL_TEST_SERVER", "")
    kinds = [k for k in SERVERS if k.startswith(wanted)] if wanted else list(SERVERS)
    port = _free_port()
    reasons = []
    for kind in kinds:
        cmd, health, model = SERVERS[kind](gguf, port)
        if cmd is None:
            reasons.append(f"{kind}: {health}")
            continue
        break
    else:
        pytest.skip("no OpenAI-compatible server can start here: " + "; ".join(reasons))
    log_path = tmp_path / "serve.log"
    log = open(log_path, "w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)  # fmt: skip
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text()[-300:]
                pytest.skip(f"{kind} exited ({proc.returncode}): {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - t0 > START_TIMEOUT_S:
                pytest.skip(f"{kind} gave no answer on {health} in {START_TIMEOUT_S} s")
            time.sleep(2)
        yield Served(kind, f"http://127.0.0.1:{port}/v1", model)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
def test_openai_backend_against_a_real_server(served, kb, tmp_path):
    # one reply under a schema: llama.cpp's server honours it (in llama-cpp-python's
    # json_object + schema form, after a 422 on json_schema); transformers serve ignores
    # it, which the backend detects (the reply does not validate, or is cut by the limit)
    schema = action_schema([], answer=True, answers=["erythrocyte differentiation", "apoptosis"])
    b = OpenAIBackend(served.base_url, model=served.model, timeout_s=900)
    msgs = [{"role": "user", "content": "Which process is KLF1 a regulator of? Answer."}]
    reply = b.chat(msgs, schema=schema, max_tokens=32)
    st = b.schema_stats
    if served.kind == "llama.cpp":
        assert b.structured == "json_object_schema" and st["refused"] == 1
        assert st["checked"] == 1 and st["violations"] == 0
        assert (
            json.loads(reply.text)["answer"][0] in schema["properties"]["answer"]["items"]["enum"]
        )
    else:
        assert st["violations"] + st["truncated"] == 1

    res = vc.agent.run_benchmark(
        "openai", kb=kb, folder=tmp_path / "bench", seed=0, n_tasks=2,
        counts={"qa_targets": 1, "claims": 1}, max_steps=1,
        base_url=served.base_url, model=served.model, timeout_s=900,
    )  # fmt: skip
    assert res["backend"] == "openai" and res["tasks"] == 2
    assert res["model"] == served.model and res["seconds_per_task"] > 0
    assert {"keyword_router", "reference_solver"} <= set(res["baselines"])
    st = res["schema_stats"]  # the bench's own backend: its structured-output counts
    assert sum(st["requests"].values()) >= 2 and st["level"] in st["requests"]
    assert st["checked"] + st["truncated"] <= sum(st["requests"].values())
    rows = json.loads((tmp_path / "bench" / "results-openai.json").read_text())
    events = [
        [e for line in (tmp_path / "bench" / "runs" / "openai" / r["task"] /
                        "provenance.jsonl").read_text().splitlines()
         if (e := json.loads(line))["event"] != "prompt"]
        for r in rows["rows"]
    ]  # fmt: skip
    replies = [e for ev in events for e in ev if e["event"] == "reply"]
    assert replies and all(r["model"].startswith("openai:") for r in replies)  # it answered
    if served.kind == "llama.cpp":
        # constrained: every reply but the free-text plan (a reply followed by another
        # reply) is one JSON object; strict=False: llama.cpp's grammar admits raw
        # control characters inside strings (docs/agent.md)
        actions = [e for ev in events for e, nxt in itertools.pairwise(ev)
                   if e["event"] == "reply" and nxt["event"] != "reply"]  # fmt: skip
        assert actions
        assert all(isinstance(json.loads(a["text"], strict=False), dict) for a in actions)
