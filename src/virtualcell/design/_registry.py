"""The tables of screen environments (:data:`ENVS`) and design policies (:data:`POLICIES`).

Both hold factories ``f(*, seed=0, **options)``, filled here and only here (nothing
registers from another package). The LLM agent policy is not listed: it lives one layer
up (``vc.agent.AgentPolicy``, a :class:`~virtualcell.design.Policy`); pass an instance
as the policy, or ``vcell design --policy agent``, which builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._utils import Entry, Registry

if TYPE_CHECKING:  # pragma: no cover
    from ._env import ScreenEnv
    from ._policies import Policy

__all__ = ["ENVS", "POLICIES", "make_env", "make_policy"]


def _doc(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring, on one line."""
    first = (obj.__doc__ or "").strip().split("\n\n", 1)[0]
    return " ".join(first.split())


def _env_builtins() -> Iterator[Entry[type[ScreenEnv]]]:
    from ._dream4 import Dream4Screen
    from ._sim import SimKnockoutScreen, SimPairScreen, SimProgramScreen

    for cls in (SimKnockoutScreen, SimProgramScreen, SimPairScreen, Dream4Screen):
        yield Entry(cls.name, cls, _doc(cls), tags=(cls.kind,))


def _active(acquisition: str) -> Callable[..., Policy]:
    def factory(**options: Any) -> Policy:
        from ._active import ActivePolicy

        return ActivePolicy(acquisition=acquisition, **options)

    return factory


def _policy_builtins() -> Iterator[Entry[Callable[..., Policy]]]:
    from ._policies import PriorPolicy, RandomPolicy

    yield Entry("random", RandomPolicy, _doc(RandomPolicy), baseline=True)
    yield Entry("prior", PriorPolicy, _doc(PriorPolicy), baseline=True)
    what = {
        "ucb": "upper confidence bound",
        "thompson": "Thompson sampling",
        "ei": "expected improvement",
    }
    for acq, text in what.items():
        yield Entry(
            f"active_{acq}",
            _active(acq),
            f"Model-based active learning, {text}, with the virtual cell's predictions",
            tags=("model",),
        )


#: Screen environments by name (``vcell design --list-envs``).
ENVS: Registry[type[ScreenEnv]] = Registry("screen environment", _env_builtins)
#: Design policies by name (``vcell design --list-policies``): factories of
#: :class:`~virtualcell.design.Policy` subclasses.
POLICIES: Registry[Callable[..., Policy]] = Registry("design policy", _policy_builtins)

#: The name ``vcell design --policy`` gives the LLM agent policy (``vc.agent.AgentPolicy``).
AGENT_POLICY = "agent"


def make_env(name: str, *, seed: int = 0, **options: Any) -> ScreenEnv:
    """A new environment ``name`` of :data:`ENVS` for ``seed`` with ``options``.

    Parameters
    ----------
    name
        Name in :data:`ENVS`.
    seed
        Seed of the environment's truth and noise.
    """
    return ENVS.get(name)(seed=seed, **options)


def make_policy(name: str, *, seed: int = 0, **options: Any) -> Policy:
    """A new policy ``name`` of :data:`POLICIES` for ``seed`` with ``options``.

    ``"agent"`` is not in this table (design does not import the agent layer): pass
    ``vc.agent.AgentPolicy(...)`` as the policy instead.

    Parameters
    ----------
    name
        Name in :data:`POLICIES`.
    seed
        Seed of the policy's draws.
    """
    key = str(name).strip().lower()
    if key == AGENT_POLICY and key not in POLICIES:
        raise ValidationError(
            "the 'agent' policy is vc.agent.AgentPolicy: pass vc.agent.AgentPolicy(...) as "
            "the policy (vcell design --policy agent builds it)"
        )
    return POLICIES.get(name)(seed=seed, **options)
