"""The main job: an end-to-end pass over the bundled data, stage by stage.

Every stage is a function ``stage(ctx) -> dict`` that loads what it needs, writes its
outputs into ``ctx.out`` and returns the numbers it measured; a stage that fails is
reported (with its error) without hiding the others' results.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__

__all__ = ["DemoResult", "demo"]


@dataclass
class DemoContext:
    """What every stage receives: the output folder, shared settings, and data that one
    stage makes for the next (``sim``: the simulated Perturb-seq)."""

    out: Path
    seed: int = 0
    log: Callable[[str], None] = print
    sim: Any = None


@dataclass
class DemoResult:
    """Outcome of :func:`demo`.

    Attributes
    ----------
    out
        Output folder.
    stages
        Per stage: ``{"status": "ok"|"failed", "seconds": float, ...numbers}``.
    report
        Path of the markdown report.
    """

    out: Path
    stages: dict[str, dict] = field(default_factory=dict)
    report: Path | None = None

    @property
    def ok(self) -> bool:
        """True when every stage succeeded."""
        return all(s.get("status") == "ok" for s in self.stages.values())


def _stages() -> dict[str, Callable[[DemoContext], dict]]:
    from ._stages import STAGES

    return STAGES


def demo(
    out: str | Path = "results/demo",
    *,
    stages: tuple[str, ...] | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Run the main end-to-end job on the bundled data.

    Parameters
    ----------
    out
        Output folder (created); holds ``report.md``, ``results.json``, data and plots.
    stages
        Subset of stage names to run (default: all, in order).
    seed
        Seed passed to every stage.
    log
        Where progress lines go.

    Returns
    -------
    DemoResult
        Per-stage numbers and the report path.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    available = _stages()
    chosen = stages or tuple(available)
    unknown = [s for s in chosen if s not in available]
    if unknown:
        from .._errors import VirtualCellError

        raise VirtualCellError(f"unknown demo stage(s) {unknown}; choose from {list(available)}")
    ctx = DemoContext(out=out, seed=seed, log=log)
    result = DemoResult(out=out)
    for name in chosen:
        log(f"== stage {name} ==")
        start = time.perf_counter()
        try:
            numbers = available[name](ctx)
            status = {"status": "ok", **numbers}
        except Exception as exc:  # a failed stage must not hide the others
            status = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            (out / f"{name}.error.txt").write_text(traceback.format_exc())
            log(f"stage {name} FAILED: {status['error']}")
        status["seconds"] = round(time.perf_counter() - start, 2)
        result.stages[name] = status
    (out / "results.json").write_text(
        json.dumps({"version": __version__, "seed": seed, "stages": result.stages}, indent=2)
    )
    result.report = _write_report(result)
    return result


def _write_report(result: DemoResult) -> Path:
    lines = [f"# virtualcell demo report (v{__version__})", ""]
    for name, numbers in result.stages.items():
        lines.append(f"## {name} — {numbers['status']} ({numbers['seconds']} s)")
        lines.append("")
        for key, value in numbers.items():
            if key in {"status", "seconds", "markdown"}:
                continue
            lines.append(f"- **{key}**: {value}")
        if "markdown" in numbers:
            lines += ["", numbers["markdown"]]
        lines.append("")
    path = result.out / "report.md"
    path.write_text("\n".join(lines))
    return path
