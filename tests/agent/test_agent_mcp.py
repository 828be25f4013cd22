"""The MCP server: the derived tools over the official SDK, in-process, over stdio (a
subprocess) and over streamable HTTP on 127.0.0.1 (a subprocess), each with a real client."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters

import virtualcell as vc
from virtualcell.agent._mcp import make_server


async def _exercise(client) -> dict:
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    hit = await client.call_tool("kb_search", {"query": "erythrocyte differentiation", "k": 2})
    gene = await client.call_tool("tf_targets", {"tf": "TP53"})
    bad = await client.call_tool("tf_targets", {"gene": "TP53"})
    return {"tools": tools, "hit": hit, "gene": gene, "bad": bad}


def _check(out: dict, n_tools: int) -> None:
    tools = out["tools"]
    assert len(tools) == n_tools and "kb_search" in tools and "run_python" not in tools
    schema = tools["kb_search"].input_schema
    assert schema["required"] == ["query"] and schema["properties"]["k"]["default"] == 10
    assert tools["kb_search"].description.startswith("Ranked passages")
    hit = out["hit"]
    assert not hit.is_error and "GO:0030218 erythrocyte differentiation" in hit.content[0].text
    assert hit.structured_content["handle"] == "r1"
    assert "CDKN1A,1,TRRUST v2" in out["gene"].content[0].text
    assert out["bad"].is_error
    assert out["bad"].content[0].text == "error: tf_targets: unknown argument(s) 'gene'; valid: tf"


def test_mcp_in_process(kb):
    tb = vc.agent.Toolbox(kb=kb)

    async def main():
        async with Client(make_server(tb)) as client:
            return await _exercise(client)

    _check(asyncio.run(main()), len(tb))


def _env() -> dict:
    env = dict(os.environ)
    env["VIRTUALCELL_OFFLINE"] = "1"
    return env


def test_mcp_stdio_subprocess(agent_kb_path, kb, tmp_path):
    n = len(vc.agent.Toolbox(kb=kb))
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "virtualcell.cli",
            "mcp",
            "--kb",
            str(agent_kb_path),
            "--workspace",
            str(tmp_path),
        ],
        env=_env(),
    )

    async def main():
        async with Client(params, read_timeout_seconds=120) as client:
            return await _exercise(client)

    _check(asyncio.run(main()), n)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mcp_streamable_http_on_loopback(agent_kb_path, kb, tmp_path):
    n = len(vc.agent.Toolbox(kb=kb))
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "virtualcell.cli",
            "mcp",
            "--http",
            str(port),
            "--kb",
            str(agent_kb_path),
            "--workspace",
            str(tmp_path),
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.3)

        async def main():
            async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=120) as client:
                return await _exercise(client)

        _check(asyncio.run(main()), n)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
