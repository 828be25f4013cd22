"""The bad-input battery: one format for every case, one runner, one table.

A case is data (:class:`Case`): an id, what is called (a ``vcell`` command line or a
library call), the expected outcome (exit code; ``raises`` for library calls) and a
regular expression the one-line message must match. :func:`run_case` runs it in a fresh
folder and checks, for every case:

- the exit code (library calls: a :class:`virtualcell.VirtualCellError` is raised);
- exactly one message line naming the problem (``Error: ...`` for usage errors,
  ``error: ...`` for package errors, ``invalid: ...`` for failed validation; a library
  error's text is one line) that matches ``message``;
- no ``Traceback`` and no ``internal error`` anywhere in the output;
- every input file unchanged (sha256 before and after);
- no partial output: the paths in ``outputs`` do not exist and no temporary file of the
  atomic writer is left;
- no process left: no child process started by the case is alive afterwards;
- ``output`` (optional): a regular expression the whole output must match (for cases
  that succeed but must say something, e.g. an answer marked unverified).

Every failure falls in one category (:data:`CATEGORIES`): a traceback, an internal error
(a bug: exit 1 with "internal error", or a library error that is not a
``VirtualCellError``), a silent acceptance (exit 0 where an error was due), an input
changed, a process left, or a wrong outcome (another exit code or message); the table
script counts them.

Batteries live in ``cases_<area>.py`` modules as a ``CASES`` list; ``test_battery_<area>.py``
runs them, and ``scripts/hardening_table.py`` renders every battery into one table
(``docs/hardening.md``): id, call, expected, got, message, pass.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CATEGORIES", "Case", "Result", "categorize", "render_markdown", "run_case"]

RAISES = "raises"

#: Failure categories, in the order the summary shows them.
CATEGORIES = (
    "tracebacks",
    "internal errors",
    "silent acceptances",
    "inputs changed",
    "processes left",
    "unbounded work",
    "wrong outcome",
)


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes
    ----------
    id
        Stable name (``area-what``), shown in the table.
    call
        What is run, as shown in the table: ``vcell ...`` arguments with ``{tmp}`` for
        the case's folder, or a Python expression for a library call.
    expect
        Expected exit code of the command (``2`` usage or package error, ``1`` failed
        validation), or ``"raises"`` for a library call.
    message
        Regular expression the one-line message must contain (``re.search``).
    setup
        Builds the case's inputs in its folder (optional).
    run
        For library calls: a function of the folder that makes the call.
    outputs
        Paths (relative to the folder) that must not exist afterwards.
    """

    id: str
    call: str
    expect: int | str
    message: str
    setup: Callable[[Path], Any] | None = None
    run: Callable[[Path], Any] | None = None
    outputs: tuple[str, ...] = field(default_factory=tuple)
    output: str | None = None
    max_s: float | None = None

    @property
    def is_cli(self) -> bool:
        return self.run is None

    def argv(self, folder: Path) -> list[str]:
        import shlex

        words = shlex.split(self.call)
        if words and words[0] == "vcell":
            words = words[1:]
        return [w.replace("{tmp}", str(folder)) for w in words]


@dataclass
class Result:
    """What running a case gave."""

    case: Case
    got: int | str
    message: str
    output: str
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def categories(self) -> set[str]:
        return categorize(self)


def categorize(result: Result) -> set[str]:
    """The failure categories of ``result`` (empty when it passed)."""
    out: set[str] = set()
    if result.passed:
        return out
    text = result.output
    if "Traceback" in text:
        out.add("tracebacks")
    if "internal error" in text or "not a VirtualCellError" in str(result.got):
        out.add("internal errors")
    if result.got in (0, "returned") and result.case.expect not in (0, "returned"):
        out.add("silent acceptances")
    if any(f.startswith("input files changed") for f in result.failures):
        out.add("inputs changed")
    if any(f.startswith("processes left") for f in result.failures):
        out.add("processes left")
    if result.got == "timeout":
        out.add("unbounded work")
    if not out:
        out.add("wrong outcome")
    return out


def _children() -> set[int]:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with the test extras
        return set()
    return {p.pid for p in psutil.Process().children(recursive=True) if p.is_running()}


def _alive(pids: set[int], wait_s: float = 5.0) -> list[int]:
    """The pids still running after up to ``wait_s`` seconds."""
    import time

    import psutil

    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            return sorted(alive)
        time.sleep(0.2)


def _hashes(folder: Path) -> dict[str, str]:
    from virtualcell._utils import sha256_file

    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(folder))] = sha256_file(path)
    return out


def _message_lines(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(("Error:", "error:", "invalid:"))
    ]


def run_case(case: Case, folder: Path) -> Result:
    """Run ``case`` in ``folder`` (created) and check it (module documentation)."""
    from virtualcell import VirtualCellError
    from virtualcell._utils import TEMP_MARKER

    folder.mkdir(parents=True, exist_ok=True)
    if case.setup is not None:
        case.setup(folder)
    before = _hashes(folder)
    children_before = _children()
    import time

    if case.is_cli:
        from virtualcell.cli import main  # imported before the clock starts

    t0 = time.perf_counter()
    failures: list[str] = []
    if case.is_cli:
        from virtualcell.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            got: int | str = main(case.argv(folder))
        output = out.getvalue() + err.getvalue()
        lines = _message_lines(output)
        message = lines[0] if lines else ""
        if got != case.expect:
            failures.append(f"exit {got}, expected {case.expect}")
        if case.expect == 0:
            pass
        elif case.expect == 2 and len(lines) != 1:
            failures.append(f"{len(lines)} message lines, expected 1")
        if case.expect == 1 and not lines:
            failures.append("no line names the problem ('error: ...' or 'invalid: ...')")
    else:
        assert case.run is not None
        output, message, got = "", "", "returned"
        try:
            case.run(folder)
        except VirtualCellError as exc:
            got, message = RAISES, f"{type(exc).__name__}: {exc}"
            output = message
            if "\n" in str(exc).strip():
                failures.append("the message has several lines")
        except Exception as exc:  # a bug: not a package error
            got, message = f"{type(exc).__name__} (not a VirtualCellError)", str(exc)
            output = message
        if got != case.expect:
            failures.append(f"{got}, expected {case.expect}")
    seconds = time.perf_counter() - t0
    if case.max_s is not None and seconds > case.max_s:
        failures.append(f"took {seconds:.1f} s, more than {case.max_s:g} s (work before the check)")
    if not re.search(case.message, message):
        failures.append(f"message {message!r} does not match {case.message!r}")
    if case.output is not None and not re.search(case.output, output):
        failures.append(f"the output does not match {case.output!r}")
    left = _alive(_children() - children_before)
    if left:
        failures.append(f"processes left: {left}")
    if "Traceback" in output or "internal error" in output:
        failures.append("a traceback / internal error was printed")
    after = _hashes(folder)
    changed = sorted(k for k in before if after.get(k) != before[k])
    if changed:
        failures.append(f"input files changed or removed: {changed}")
    for rel in case.outputs:
        if (folder / rel).exists():
            failures.append(f"partial output left: {rel}")
    temps = [str(p.relative_to(folder)) for p in folder.rglob(f"*{TEMP_MARKER}*")]
    if temps:
        failures.append(f"temporary files left: {temps}")
    where = str(folder)
    return Result(case, got, message.replace(where, "{tmp}"), output.replace(where, "{tmp}"),
                  failures)  # fmt: skip


def _cell(text: object) -> str:
    return str(text).replace("\n", " ")


def render_markdown(results: Sequence[Result], *, title: str = "") -> str:
    """The battery table: one row per case (id, call, expected, got, message, pass)."""
    from virtualcell._utils import markdown_table

    rows = [
        {
            "id": r.case.id,
            "call": f"`{_cell(r.case.call)}`",
            "expected": r.case.expect,
            "got": r.got,
            "message": _cell(r.message[:160] + ("..." if len(r.message) > 160 else "")),
            "pass": "yes" if r.passed else "NO: " + "; ".join(r.failures),
        }
        for r in results
    ]
    head = f"{title}\n\n" if title else ""
    return head + markdown_table(rows, align={"expected": "c", "got": "c"})


def fifo(path: Path) -> None:
    """Make a named pipe (the reader must refuse it without opening it)."""
    os.mkfifo(path)
