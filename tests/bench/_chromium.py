"""Open a local HTML file in headless Chromium over the DevTools protocol (CDP).

A small client for the tests (no Playwright, no browser download): it starts Debian's
``chromium`` with ``--remote-debugging-port=0`` bound to 127.0.0.1, talks CDP over a
websocket (tornado's client, which ``distributed`` brings), loads the page, and returns
what the page did: console messages and uncaught exceptions, every network request,
the images with their decoded sizes, and a full-page PNG screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PageReport", "chromium_path", "render"]


def chromium_path() -> str | None:
    """The Chromium executable, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What :func:`render` saw."""

    console: list[dict] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    title: str = ""
    text: str = ""
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions."""
        errs = [c["text"] for c in self.console if c["level"] in ("error", "assert")]
        return errs + self.exceptions


async def _session(ws_url: str, page: Path, timeout_s: float) -> PageReport:
    from tornado.websocket import websocket_connect

    conn = await websocket_connect(ws_url, max_message_size=256 * 2**20)
    report = PageReport()
    ids = iter(range(1, 10**6))
    pending: dict[int, asyncio.Future] = {}
    loaded = asyncio.get_running_loop().create_future()

    async def reader() -> None:
        while True:
            msg = await conn.read_message()
            if msg is None:
                return
            data = json.loads(msg)
            if "id" in data and data["id"] in pending:
                pending.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params["args"]
                )
                report.console.append({"level": params["type"], "text": text})
            elif method == "Log.entryAdded":
                e = params["entry"]
                report.console.append({"level": e["level"], "text": e.get("text", "")})
            elif method == "Runtime.exceptionThrown":
                report.exceptions.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Network.requestWillBeSent":
                report.requests.append(params["request"]["url"])
            elif method == "Page.loadEventFired" and not loaded.done():
                loaded.set_result(True)

    async def call(method: str, **params):
        i = next(ids)
        fut = asyncio.get_running_loop().create_future()
        pending[i] = fut
        conn.write_message(json.dumps({"id": i, "method": method, "params": params}))
        res = await asyncio.wait_for(fut, timeout_s)
        if "error" in res:
            raise RuntimeError(f"CDP {method}: {res['error']}")
        return res.get("result", {})

    task = asyncio.create_task(reader())
    try:
        for domain in ("Runtime", "Log", "Network", "Page"):
            await call(f"{domain}.enable")
        await call("Page.navigate", url=page.resolve().as_uri())
        await asyncio.wait_for(loaded, timeout_s)
        probe = (
            "JSON.stringify({title: document.title, text: document.body.innerText,"
            " images: Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,"
            " width: i.naturalWidth, height: i.naturalHeight, src: i.src.slice(0, 30)}))})"
        )
        res = await call("Runtime.evaluate", expression=probe, returnByValue=True)
        page_info = json.loads(res["result"]["value"])
        report.title, report.text = page_info["title"], page_info["text"]
        report.images = page_info["images"]
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        report.screenshot = base64.b64decode(shot["data"])
        await asyncio.sleep(0.2)  # late console messages
    finally:
        task.cancel()
        conn.close()
    return report


def render(page: Path, *, timeout_s: float = 60.0, width: int = 1280) -> PageReport:
    """Load ``page`` in headless Chromium and report what happened (see the module)."""
    exe = chromium_path()
    if exe is None:
        raise FileNotFoundError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="vc-chromium-") as profile:
        proc = subprocess.Popen(
            [
                exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0", f"--user-data-dir={profile}",
                f"--window-size={width},900", "about:blank",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            port = None
            deadline = time.monotonic() + timeout_s
            assert proc.stderr is not None
            while time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line and proc.poll() is not None:
                    raise RuntimeError(f"chromium exited with {proc.returncode}")
                m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
                if m:
                    port = int(m.group(1))
                    break
            if port is None:
                raise TimeoutError("chromium did not open its DevTools port")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.loads(r.read())
            ws = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
            return asyncio.run(_session(ws, page, timeout_s))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
