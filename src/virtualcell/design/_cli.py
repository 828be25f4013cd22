"""``vcell design``: run one closed-loop screen (an environment, a policy, a budget), or
list the environments and policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .._cli_types import (
    int_range,
    json_option,
    key_value_pairs,
    output_path,
    overwrite_option,
    seed_option,
)
from .._utils import emit_json
from ._registry import AGENT_POLICY

__all__ = ["register"]

#: Upper limits of ``vcell design`` (a screen measures at most rounds x batch genes).
MAX_ROUNDS = 1_000
MAX_BATCH = 10_000
#: How ``--list-policies`` describes ``agent`` (``vc.agent.AgentPolicy``).
AGENT_DESCRIPTION = "LLM agent (BioDiscoveryAgent-style) with the virtual cell as a tool"


def _policies() -> dict[str, str]:
    """``vc.design.POLICIES`` plus the agent policy the command builds itself."""
    from . import POLICIES

    return {**POLICIES.describe(), AGENT_POLICY: AGENT_DESCRIPTION}


def _listing(described: dict[str, str], as_json: bool) -> None:
    if as_json:
        emit_json([{"name": k, "description": v} for k, v in described.items()])
        return
    for name, text in described.items():
        typer.echo(f"{name:18s} {text}")


def design_command(
    env: str | None = typer.Option(None, "--env", "-e", help="Environment (see --list-envs)."),
    policy: str | None = typer.Option(None, "--policy", "-p", help="Policy (see --list-policies)."),
    rounds: int | None = int_range(
        None,
        "--rounds",
        "-r",
        low=1,
        high=MAX_ROUNDS,
        help=f"Rounds, 1 .. {MAX_ROUNDS:,} (default: the environment's).",
    ),
    batch: int | None = int_range(
        None,
        "--batch",
        "-b",
        low=1,
        high=MAX_BATCH,
        help=f"Perturbations per round, 1 .. {MAX_BATCH:,} (default: the environment's).",
    ),
    seed: int = seed_option(help="Seed of the environment (truth, noise) and the policy."),
    env_option: list[str] | None = typer.Option(
        None, "--env-option", help="Environment option KEY=VALUE (repeatable), e.g. n_genes=50."
    ),
    policy_option: list[str] | None = typer.Option(
        None, "--policy-option", help="Policy option KEY=VALUE (repeatable), e.g. kappa=2."
    ),
    backend: str | None = typer.Option(
        None,
        "--backend",
        help="LLM backend of the agent policy: local (SmolLM2-135M), openai, or expert "
        "(a deterministic script, no LLM). Default: local.",
    ),
    out: Path | None = output_path(
        None, "--out", "-o", help="Also write the full result as JSON here.", suffixes=(".json",)
    ),
    overwrite: bool = overwrite_option(),
    list_envs: bool = typer.Option(False, "--list-envs", help="List environments and exit."),
    list_policies: bool = typer.Option(False, "--list-policies", help="List policies and exit."),
    as_json: bool = json_option(),
) -> None:
    """Run a closed-loop screen: the policy proposes, the environment measures, round by
    round; print the discovery curve and the hit rate against the hidden hits."""
    from .._errors import ValidationError
    from .._utils import write_json
    from . import ENVS, POLICIES, run_screen

    if list_envs or list_policies:
        if list_envs and list_policies:
            raise ValidationError("give --list-envs or --list-policies, not both")
        _listing(ENVS.describe() if list_envs else _policies(), as_json)
        return
    if env is None or policy is None:
        raise ValidationError("give --env and --policy (see --list-envs, --list-policies)")
    ENVS.entry(env)  # unknown names fail here, with the list
    is_agent = policy.strip().lower() == AGENT_POLICY
    if not is_agent:
        POLICIES.entry(policy)
    popts = key_value_pairs(policy_option, "--policy-option")
    if backend is not None:
        if not is_agent:
            raise ValidationError(f"--backend is an option of the agent policy, not {policy!r}")
        popts["backend"] = backend
    chosen: Any = policy
    if is_agent:  # the command layer may import upward: build the agent's policy here
        from ..agent import AgentPolicy

        chosen, popts = AgentPolicy(seed=seed, **popts), {}
    result = run_screen(
        env, chosen, rounds=rounds, batch=batch, seed=seed,
        env_options=key_value_pairs(env_option, "--env-option"), policy_options=popts,
    )  # fmt: skip
    data = result.to_dict()
    if out is not None:
        write_json(out, data)
    if as_json:
        emit_json(data)
        return
    curve = " ".join(f"{v:.2f}" for v in result.curve)
    typer.echo(
        f"{result.env} / {result.policy} seed {result.seed}: {result.hits} of "
        f"{result.n_true_hits} hits in {result.rounds} x {result.batch} "
        f"(hit rate {result.hit_rate:.3f}, AUC {result.auc:.3f})\ncurve: {curve}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``design`` command to the ``vcell`` app."""
    app.command("design")(design_command)
