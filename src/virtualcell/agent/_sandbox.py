"""The only way model-written code may run: a separate, sandboxed process.

The ``run_python`` tool is **off by default** (a :class:`~virtualcell.agent.Toolbox`
offers it only with ``allow_code=True``). When on, each call:

* writes the code into a new throw-away folder (deleted afterwards) which is the working
  directory and ``HOME`` of the child;
* starts a fresh interpreter (``python -I``: no user site, no ``PYTHON*`` variables) with
  an empty environment, in a new session (its whole process group is killed on timeout);
* limits it with ``setrlimit``: address space (``memory_mb``), CPU seconds, file size
  (16 MB) and open files (64), plus a wall-clock ``timeout_s``;
* cuts the network: in a new user + network namespace (``unshare -rn``; only a loopback
  interface that is down) where the system allows it, and in every case an audit hook in
  the child refuses ``socket`` connections/binds/lookups and starting other programs
  (``subprocess``, ``os.system``, ``os.exec*``, ``os.fork``).

Nothing of the child's state reaches the agent's process except its stdout, stderr and
exit code.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .._errors import ValidationError
from .._utils import write_text

__all__ = ["network_isolation", "run_python"]

_GUARD = r"""
import sys
_BLOCK = ("socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
          "socket.sendto", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
          "os.fork", "os.forkpty", "pty.spawn", "ctypes.dlopen", "os.kill")
def _hook(event, args):
    if event.startswith(_BLOCK):
        raise PermissionError(f"sandbox: {event} is not allowed")
sys.addaudithook(_hook)
del _hook
_code = open("main.py", encoding="utf-8").read()
exec(compile(_code, "main.py", "exec"), {"__name__": "__main__"})
"""


@functools.lru_cache(maxsize=1)
def network_isolation() -> bool:
    """Whether ``unshare -rn`` (new user + network namespace) works on this system."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _limits(memory_mb: int, cpu_s: int):
    def apply() -> None:  # runs in the child between fork and exec
        import resource

        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    return apply


def run_python(code: str, *, timeout_s: float = 10.0, memory_mb: int = 512) -> dict:
    """Run Python code in a separate sandboxed process (no network, limits, temp folder).

    Parameters
    ----------
    code
        The program text.
    timeout_s
        Wall-clock limit in seconds (CPU time is limited to the same).
    memory_mb
        Address-space limit of the child in MiB.

    Returns
    -------
    dict
        ``returncode``, ``stdout``, ``stderr`` (each cut to 4000 characters),
        ``timed_out``, ``network_isolated`` (whether a network namespace was used).
    """
    if not isinstance(code, str) or not code.strip():
        raise ValidationError("run_python: empty code")
    if not 0 < timeout_s <= 300:
        raise ValidationError(f"run_python: timeout_s must be in (0, 300], got {timeout_s}")
    if not 64 <= memory_mb <= 8192:
        raise ValidationError(f"run_python: memory_mb must be in [64, 8192], got {memory_mb}")
    folder = Path(tempfile.mkdtemp(prefix="vc-sandbox-"))
    isolated = network_isolation()
    try:
        write_text(folder / "main.py", code)
        cmd = [sys.executable, "-I", "-c", _GUARD]
        if isolated:
            cmd = [shutil.which("unshare") or "unshare", "-rn", *cmd]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(folder),
            "TMPDIR": str(folder),
            "LANG": "C.UTF-8",
        }
        timed_out = False
        proc = subprocess.Popen(
            cmd,
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            preexec_fn=_limits(memory_mb, max(1, int(timeout_s) + 1)),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            out, err = proc.communicate()
            err = (err or "") + f"\nsandbox: killed after {timeout_s} s"
        rc = proc.returncode
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "returncode": rc,
        "stdout": out[-4000:],
        "stderr": err[-4000:],
        "timed_out": timed_out,
        "network_isolated": isolated,
    }


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, 9)
    except OSError:
        pass
