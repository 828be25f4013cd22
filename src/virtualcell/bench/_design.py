"""Closed-loop experiment design in the benchmark: ``vc.design``'s policies on its
screen environments, scored by the share of the hidden hits they find within the budget.

A cell runs one screen (``vc.design.run_screen``): the environment of the dataset is
built for ``seed`` (hidden truth and measurement noise), the policy ``method`` (seeded
with ``seed``) proposes ``rounds`` batches of ``batch`` perturbations, and the discovery
curve is scored against the true hits. One environment per dataset and seed is built in
a worker and shared by the policies that worker runs (as in ``vc.design.compare``:
the measurements depend only on the seed and the round, so every policy faces the same
truth and noise, and a cell equals a fresh ``run_screen``).

Datasets (the environments of ``vc.design.ENVS``; the split is the environment's name)
    * ``sim_knockout_small`` (quick): a 50-gene simulated knockout screen, 3 rounds x 5.
    * ``sim_knockout_100`` (demo, full): 100 genes, expected readout from 500 cells per
      knockout, 4 rounds x 5 (20 of 100 candidates, 5 hits).
    * ``full``: the four environments at their defaults (``sim_knockout``,
      ``sim_program``: 200 genes, 6 x 8; ``sim_pairs``: 190 pairs, 6 x 8; ``dream4``: a
      DREAM4 size-100 network from the reference data, 4 x 4).

Methods: every non-LLM policy of ``vc.design.POLICIES``, baselines as that table flags
them (``random``, ``prior``); ``agent_scripted`` (``vc.agent.AgentPolicy`` with the
deterministic ``expert`` backend: the agent loop calling the virtual cell, no LLM); and
``agent_local`` (SmolLM2-135M on CPU, ``full`` only, DREAM4 only: each round takes 11-15
minutes on the shared 2-core machine).

Metrics: hit rate (primary), discovery AUC, hits (``vc.metrics``; ``docs/design.md``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from ..metrics import metric_spec
from ._task import (
    Dataset,
    Method,
    RunContext,
    Task,
    UserData,
    data_facts,
    eval_rows,
    reference_missing,
)

__all__ = ["DESIGN_TASK"]

METRICS = tuple(metric_spec(name) for name in ("hit_rate", "discovery_auc", "hits"))

#: Environment options of the quick and demo screens (simulated knockout screens).
ENV_QUICK = {"n_genes": 50, "truth_cells": 200, "observational_cells": 200,
             "control_cells": 100, "cells": 50, "rounds": 3, "batch": 5}  # fmt: skip
ENV_DEMO = {"n_genes": 100, "truth_cells": 500, "rounds": 4, "batch": 5}
#: The agent policies (``vc.agent.AgentPolicy``) by method name and their options.
_AGENTS: dict[str, dict[str, Any]] = {
    "agent_scripted": {"backend": "expert"},
    "agent_local": {"backend": "local", "max_steps": 2, "max_seconds": 300.0},
}
#: Environments the local LLM agent runs on (rounds of minutes: DREAM4's 4 x 4 only).
_LOCAL_ENVS = ("dream4",)


@dataclass
class DesignScreen:
    """What the design adapter's loaders return: an environment and its options (the
    environment itself is built per seed in the worker)."""

    env: str
    options: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)


def load_screen(env: str, options: dict[str, Any]) -> DesignScreen:
    """The screen's recipe; its facts come from the seed-0 environment (kept for the
    cells of seed 0)."""
    screen = _environment(env, json.dumps(options, sort_keys=True), 0)
    spec = screen.spec
    facts = {
        "environment": f"{env} v{spec.version} ({spec.kind})",
        "candidates": len(screen.candidates),
        "true hits (seed 0)": screen.n_hits,
        "budget": f"{spec.rounds} rounds x {spec.batch}",
        "options": ", ".join(f"{k}={v}" for k, v in options.items() if k not in
                             ("rounds", "batch")) or "defaults",
    }  # fmt: skip
    return DesignScreen(env, dict(options), facts)


@functools.lru_cache(maxsize=2)
def _environment(env: str, options_json: str, seed: int) -> Any:
    """The environment of one dataset and seed (built once per worker)."""
    from .. import design

    return design.make_env(env, seed=seed, **json.loads(options_json))


def datasets(preset: str, user: UserData | None) -> list[Dataset]:
    """Screens of ``preset`` (the design task takes no user data)."""
    if user is not None:
        return []
    simulated = (
        ("sim_knockout_small", "sim_knockout", ENV_QUICK, ("quick",),
         "simulated knockout screen: 50 genes, 3 rounds x 5"),
        ("sim_knockout_100", "sim_knockout", ENV_DEMO, ("demo", "full"),
         "simulated knockout screen: 100 genes, 500-cell truth, 4 rounds x 5"),
        ("sim_knockout", "sim_knockout", {}, ("full",),
         "simulated knockout screen, 200 genes, 6 rounds x 8 (defaults)"),
        ("sim_program", "sim_program", {}, ("full",),
         "simulated program screen, 200 genes, 6 rounds x 8 (defaults)"),
        ("sim_pairs", "sim_pairs", {}, ("full",),
         "simulated pair screen, 190 pairs of 20 genes of 100, 6 rounds x 8 (defaults)"),
    )  # fmt: skip
    out = [
        Dataset(
            name,
            functools.partial(load_screen, env, opts),
            what,
            "simulated",
            splits=(env,),
            presets=presets,
        )
        for name, env, opts, presets, what in simulated
    ]
    out.append(
        Dataset(
            "dream4",
            functools.partial(load_screen, "dream4", {}),
            "knockout screen on a DREAM4 size-100 network (network 1 + seed % 3), 4 x 4",
            "reference",
            splits=("dream4",),
            presets=("full",),
            unavailable=reference_missing("grn", "dream4/DREAM4_InSilico_Size100"),
        )
    )
    return out


def methods() -> list[Method]:
    """The non-LLM policies of ``vc.design.POLICIES`` (baselines as flagged there), the
    scripted agent and the local LLM agent (full only)."""
    from .. import design
    from ._agent import _local_model

    out = [
        Method(entry.name, baseline=entry.baseline, description=entry.description)
        for entry in design.POLICIES.entries()
        if entry.name != "agent" and "llm" not in entry.tags
    ]
    out.append(
        Method(
            "agent_scripted",
            description="the agent loop with the deterministic expert backend (calls the "
            "virtual cell's predict_candidates, proposes its top rows; no LLM)",
        )
    )
    out.append(
        Method(
            "agent_local",
            requires=("transformers", "gguf"),
            probe=_local_model,
            presets=("full",),
            description="the agent loop with SmolLM2-135M on CPU (max 2 steps, 300 s per "
            "round; 11-15 min per round on the shared 2-core machine: full, DREAM4 only)",
        )
    )
    return out


def applicable(data: DesignScreen, split: str, method: str) -> str | None:
    """The local LLM agent runs only on DREAM4 (minutes per round)."""
    if method == "agent_local" and data.env not in _LOCAL_ENVS:
        return f"agent_local runs only on {', '.join(_LOCAL_ENVS)} (minutes per round)"
    return None


def _policy(method: str, seed: int, options: dict[str, Any]) -> Any:
    from .. import design

    if method in _AGENTS:
        from ..agent import AgentPolicy

        policy = AgentPolicy(seed=seed, kb=None, **{**_AGENTS[method], **options})
        policy.name = method
        return policy
    return design.make_policy(method, seed=seed, **options)


def run(
    data: DesignScreen,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Run the screen of ``data`` for ``seed`` with the policy ``method`` at the
    environment's budget; hit rate, discovery AUC and hits."""
    from .. import design

    env = _environment(data.env, json.dumps(data.options, sort_keys=True), seed)
    res = design.run_screen(env, _policy(method, seed, options), seed=seed)
    return eval_rows(design.evaluate(res), METRICS)


DESIGN_TASK = Task(
    name="design",
    version="1",
    description="Closed-loop experiment design: hit rate of screen policies at a budget",
    metrics=METRICS,
    datasets=datasets,
    methods=methods,
    run=run,
    applicable=applicable,
    describe=data_facts,
)
