"""The closed loop: propose -> measure -> record, round by round, then score the discovery
curve against the hidden hits (:mod:`virtualcell.metrics` discovery metrics)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import check_number, log
from .._version import __version__
from ..metrics import EvalResult
from ._env import History, ScreenEnv, canonical_label
from ._registry import make_env, make_policy

__all__ = ["ScreenResult", "compare", "evaluate", "run_screen", "summarize"]

#: Version of the result format (``ScreenResult.to_dict``).
RESULT_FORMAT = 1


@dataclass
class ScreenResult:
    """The outcome of one screen run (``to_dict()`` is the ``--json`` output).

    Attributes
    ----------
    env, policy, seed, rounds, batch
        What was run.
    curve
        Cumulative hit rate after each round (:func:`vc.metrics.discovery_curve`).
    hits, n_true_hits, hit_rate
        Distinct true hits found, how many there are, and ``hits / n_true_hits``.
    auc
        Area under the discovery curve (:func:`vc.metrics.discovery_auc`).
    n_measured
        Distinct candidates measured.
    proposals
        The perturbations measured in each round.
    seconds, prompt_tokens, completion_tokens
        Per round: wall seconds of ``propose`` and LLM tokens (0 for non-LLM policies).
    found
        The true hits found (labels), in order of discovery.
    spec
        The environment spec (``EnvSpec.to_dict``).
    notes
        What the policy reported (e.g. the prior's source, LLM proposal counts).
    """

    env: str
    policy: str
    seed: int
    rounds: int
    batch: int
    curve: list[float]
    hits: int
    n_true_hits: int
    hit_rate: float
    auc: float
    n_measured: int
    proposals: list[list[str]]
    seconds: list[float]
    prompt_tokens: list[int]
    completion_tokens: list[int]
    found: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "policy": self.policy,
            "seed": self.seed,
            "rounds": self.rounds,
            "batch": self.batch,
            "hit_rate": self.hit_rate,
            "hits": self.hits,
            "n_true_hits": self.n_true_hits,
            "curve": list(self.curve),
            "auc": self.auc,
            "n_measured": self.n_measured,
            "proposals": self.proposals,
            "found": self.found,
            "seconds_per_round": [round(s, 3) for s in self.seconds],
            "prompt_tokens_per_round": self.prompt_tokens,
            "completion_tokens_per_round": self.completion_tokens,
            "spec": self.spec,
            "notes": self.notes,
            "format": RESULT_FORMAT,
            "version": __version__,
        }


def _validate(proposals: Any, history: History, budget: int, repeats: str, name: str) -> list[str]:
    if isinstance(proposals, str) or not isinstance(proposals, Iterable):
        raise ValidationError(f"policy {name!r} must return a list of labels, got {proposals!r}")
    labels = [canonical_label(p) for p in proposals]
    if len(labels) > budget:
        raise ValidationError(
            f"policy {name!r} proposed {len(labels)} perturbations; the batch is {budget}"
        )
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise ValidationError(f"policy {name!r} proposed {dup[:5]} more than once in a round")
    candidates = set(history.screen.candidates)
    unknown = [lab for lab in labels if lab not in candidates]
    if unknown:
        raise ValidationError(
            f"policy {name!r} proposed {len(unknown)} perturbation(s) that are not candidates "
            f"of this screen: {unknown[:5]}"
        )
    again = [lab for lab in labels if lab in history.measured()]
    if again and repeats == "refuse":
        raise ValidationError(
            f"policy {name!r} re-proposed measured perturbation(s) {again[:5]} "
            "(repeats='refuse'; use repeats='replicate' to measure them again)"
        )
    return labels


def run_screen(
    env: str | ScreenEnv,
    policy: Any,
    *,
    rounds: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    repeats: Literal["replicate", "refuse"] = "replicate",
    env_options: dict[str, Any] | None = None,
    policy_options: dict[str, Any] | None = None,
) -> ScreenResult:
    """Run one closed-loop screen: ``rounds`` rounds of ``batch`` proposals.

    Parameters
    ----------
    env
        A name of :data:`ENVS` (built with ``seed`` and ``env_options``) or an environment.
    policy
        A name of :data:`POLICIES` (built with ``seed`` and ``policy_options``) or an
        object with ``propose(history, budget) -> list of labels``.
    rounds, batch
        The budget (default: the environment's spec).
    seed
        Seed of the environment (hidden truth and measurement noise) and of the policy.
    repeats
        A proposal that was already measured: ``replicate`` measures it again (it costs
        budget, its replicates are averaged, it cannot add a new hit); ``refuse`` raises.
    env_options
        Options of the environment when ``env`` is a name.
    policy_options
        Options of the policy when ``policy`` is a name.

    Returns
    -------
    ScreenResult
    """
    from ..metrics import discovery_auc, discovery_curve

    check_number("seed", seed, low=0, integer=True)
    if repeats not in ("replicate", "refuse"):
        raise ValidationError(f"repeats must be 'replicate' or 'refuse', got {repeats!r}")
    screen_env = make_env(env, seed=seed, **(env_options or {})) if isinstance(env, str) else env
    if not isinstance(screen_env, ScreenEnv):
        raise ValidationError(f"env must be an environment name or a ScreenEnv, got {env!r}")
    pol = (
        make_policy(policy, seed=seed, **(policy_options or {}))
        if isinstance(policy, str)
        else policy
    )
    if not callable(getattr(pol, "propose", None)):
        raise ValidationError(f"policy must have a propose(history, budget) method, got {pol!r}")
    n_rounds = screen_env.spec.rounds if rounds is None else rounds
    n_batch = screen_env.spec.batch if batch is None else batch
    check_number("rounds", n_rounds, low=1, integer=True)
    check_number("batch", n_batch, low=1, integer=True)
    name = str(getattr(pol, "name", type(pol).__name__))
    history = History(screen_env.view(), budget=(int(n_rounds), int(n_batch)))
    first, cells = screen_env.initial()
    history.add(first, cells)
    seconds, ptok, ctok = [], [], []
    for r in range(1, int(n_rounds) + 1):
        t0 = time.perf_counter()
        proposed = pol.propose(history, int(n_batch))
        seconds.append(time.perf_counter() - t0)
        usage = dict(getattr(pol, "usage", {}) or {})
        ptok.append(int(usage.get("prompt_tokens", 0)))
        ctok.append(int(usage.get("completion_tokens", 0)))
        labels = _validate(proposed, history, int(n_batch), repeats, name)
        measured, cells = screen_env.measure(labels, round=r, history=history)
        history.add(measured, cells)
        history.rounds.append(labels)
        log(f"design: {screen_env.spec.name} / {name} round {r}: measured {len(labels)} "
            f"({seconds[-1]:.1f} s to propose)")  # fmt: skip
    true_hits = screen_env.hits
    curve = discovery_curve(true_hits, history.rounds)
    hit_set = set(true_hits)
    found: list[str] = []
    for labels in history.rounds:
        found += [lab for lab in labels if lab in hit_set and lab not in found]
    notes = dict(getattr(pol, "notes", {}) or {})
    if getattr(pol, "source", None):
        notes["prior_source"] = pol.source
    return ScreenResult(
        env=screen_env.spec.name,
        policy=name,
        seed=int(screen_env.spec.seed),
        rounds=int(n_rounds),
        batch=int(n_batch),
        curve=[float(v) for v in curve],
        hits=len(found),
        n_true_hits=len(true_hits),
        hit_rate=float(curve[-1]),
        auc=discovery_auc(true_hits, history.rounds),
        n_measured=len(history.measured()),
        proposals=[list(r) for r in history.rounds],
        seconds=seconds,
        prompt_tokens=ptok,
        completion_tokens=ctok,
        found=found,
        spec=screen_env.spec.to_dict(),
        notes=notes,
    )


def compare(
    envs: Sequence[str],
    policies: Sequence[Any],
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    rounds: int | None = None,
    batch: int | None = None,
    env_options: dict[str, dict[str, Any]] | None = None,
    policy_options: dict[str, dict[str, Any]] | None = None,
) -> list[ScreenResult]:
    """Run every policy on every environment and seed (one environment object per
    environment and seed, shared by the policies so that they face the same truth).

    ``policies`` are registry names or ``(label, factory)`` pairs where ``factory(seed)``
    returns a policy; ``env_options`` / ``policy_options`` map names to options.

    Parameters
    ----------
    envs
        Environment names (:data:`ENVS`).
    policies
        Policy names (:data:`POLICIES`) or ``(label, factory)`` pairs.
    seeds
        One screen per seed (environment truth, noise and policy).
    rounds
        Rounds per screen (default: each environment's).
    batch
        Perturbations per round (default: each environment's).
    env_options
        Options per environment name.
    policy_options
        Options per policy name.
    """
    results = []
    for env_name in envs:
        for seed in seeds:
            env = make_env(env_name, seed=seed, **(env_options or {}).get(env_name, {}))
            for pol in policies:
                if isinstance(pol, tuple):
                    label, factory = pol
                    obj = factory(seed)
                    obj.name = label
                else:
                    obj = make_policy(pol, seed=seed, **(policy_options or {}).get(pol, {}))
                results.append(run_screen(env, obj, rounds=rounds, batch=batch, seed=seed))
    return results


#: Metrics of a screen in :func:`evaluate`'s table (``discovery_auc`` is ``ScreenResult.auc``).
EVAL_METRICS = ("hit_rate", "discovery_auc", "hits")


def evaluate(results: ScreenResult | Sequence[ScreenResult]) -> EvalResult:
    """Screen results in the evaluation contract (:class:`vc.metrics.EvalResult`, task
    ``"design"``): per screen (unit ``"screen"``; dataset and split = the environment,
    method = the policy, ``baseline`` as :data:`POLICIES` flags it) the rows ``hit_rate``,
    ``discovery_auc`` and ``hits`` (directions from ``vc.metrics.METRIC_SPECS``);
    ``result["results"]`` is the list of ``ScreenResult.to_dict()``.

    Parameters
    ----------
    results
        One or more :class:`ScreenResult`.
    """
    from ._registry import POLICIES

    items = [results] if isinstance(results, ScreenResult) else list(results)
    if not items:
        raise ValidationError("no screen results to evaluate")
    rows = []
    for r in items:
        baseline = POLICIES.entry(r.policy).baseline if r.policy in POLICIES else False
        values = {"hit_rate": r.hit_rate, "discovery_auc": r.auc, "hits": float(r.hits)}
        rows.extend(
            {"method": r.policy, "baseline": baseline, "dataset": r.env, "split": r.env,
             "seed": r.seed, "unit": "screen", "metric": m, "value": float(values[m])}
            for m in EVAL_METRICS
        )  # fmt: skip
    report = {"results": [r.to_dict() for r in items]}
    return EvalResult.from_rows("design", rows, meta={"n_screens": len(items)}, report=report)


def summarize(results: Sequence[ScreenResult]) -> pd.DataFrame:
    """Mean and sd over seeds per environment and policy: ``hit_rate``, ``hits``, ``auc``,
    ``seconds_per_round``, ``tokens_per_round``, and ``ratio_vs_random`` (mean hit rate
    over the random policy's on the same environment, when it ran).

    Parameters
    ----------
    results
        One or more :class:`ScreenResult`.
    """
    if not results:
        raise ValidationError("no results to summarize")
    rows = pd.DataFrame(
        [
            {
                "env": r.env,
                "policy": r.policy,
                "seed": r.seed,
                "hit_rate": r.hit_rate,
                "hits": r.hits,
                "auc": r.auc,
                "seconds_per_round": float(np.mean(r.seconds)),
                "tokens_per_round": float(np.mean(np.add(r.prompt_tokens, r.completion_tokens))),
            }
            for r in results
        ]
    )
    agg = rows.groupby(["env", "policy"], sort=False).agg(
        n_seeds=("seed", "nunique"),
        hit_rate=("hit_rate", "mean"),
        hit_rate_sd=("hit_rate", "std"),
        hits=("hits", "mean"),
        auc=("auc", "mean"),
        auc_sd=("auc", "std"),
        seconds_per_round=("seconds_per_round", "mean"),
        tokens_per_round=("tokens_per_round", "mean"),
    )
    agg = agg.reset_index()
    base = agg[agg["policy"] == "random"].set_index("env")["hit_rate"]
    agg["ratio_vs_random"] = [
        r.hit_rate / base[r.env] if r.env in base and base[r.env] > 0 else np.nan
        for r in agg.itertuples()
    ]
    return agg
