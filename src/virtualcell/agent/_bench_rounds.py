"""Memory rounds of the agent benchmark: success over successive rounds of fresh task
instances with the memory of verified runs off vs on (issue 24, "memory / self-improvement").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._utils import log, write_json
from ._bench_rows import agent_row, summarize_rows, tasks_for
from ._tasks import Task

__all__ = ["memory_rounds"]


def memory_rounds(
    backend: str,
    llm: Any,
    store: Any,
    folder: Path,
    *,
    seed: int,
    n_tasks: int | None,
    counts: dict[str, int] | None,
    rounds: int,
    memory: str | Path | bool | None,
    first: list[dict[str, Any]],
    first_tasks: list[Task],
    preload: Any,
    agent_opts: dict[str, Any],
) -> list[dict[str, Any]]:
    """Success over ``rounds`` rounds of fresh task instances (seeds ``seed``,
    ``seed + 1``, ...), memory off vs on, on the same instances in each round.

    The memory starts empty (a new file in ``folder``) unless ``memory`` is a path; it
    stores only runs that passed the agent's own verification (:class:`Memory`) and never
    returns a run with the same question, so round r can only use what earlier instances
    taught. Round 0's memory-off arm is the main run (``first``)."""
    from ._memory import Memory

    if isinstance(memory, (str, Path)):
        mem = Memory(memory)
    else:
        path = folder / "memory.json"
        if path.exists():
            path.unlink()
        mem = Memory(path)
    out = []
    for r in range(rounds):
        s = seed + r
        if r == 0:
            tasks_r, off = first_tasks, first
        else:
            tasks_r = tasks_for(store, folder, s, counts, n_tasks)
            off = [
                agent_row(
                    t,
                    llm,
                    store,
                    folder / "rounds" / f"{r}-off",
                    preload,
                    {**agent_opts, "seed": s},
                )
                for t in tasks_r
            ]
        size = len(mem)
        on = []
        for t in tasks_r:
            on.append(
                agent_row(
                    t,
                    llm,
                    store,
                    folder / "rounds" / f"{r}-on",
                    preload,
                    {**agent_opts, "seed": s},
                    memory=mem,
                )
            )
            log(f"round {r} memory on {t.id}: {'ok' if on[-1]['success'] else 'fail'}")
        out.append(
            {
                "round": r,
                "seed": s,
                "tasks": len(tasks_r),
                "memory_off": summarize_rows(off)["success_rate"],
                "memory_on": summarize_rows(on)["success_rate"],
                "valid_call_rate_on": summarize_rows(on)["valid_call_rate"],
                "memory_size_before": size,
                "stored": sum(bool(x["remembered"]) for x in on),
                "memory_choices": sum(x.get("memory_choices", 0) for x in on),
                "memory_flips": sum(x.get("memory_flips", 0) for x in on),
                "by_task": [
                    {
                        "task": a["task"],
                        "family": a["family"],
                        "off": a["success"],
                        "on": b["success"],
                        "tools_off": a.get("tools", []),
                        "tools_on": b.get("tools", []),
                        "memory_choices": b.get("memory_choices", 0),
                        "memory_flips": b.get("memory_flips", 0),
                        "stored": bool(b["remembered"]),
                    }
                    for a, b in zip(off, on, strict=True)
                ],
            }
        )
        write_json(folder / f"rounds-{backend}.json", out)
    return out
