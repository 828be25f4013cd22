"""The tables of screen environments (:data:`ENVS`) and design policies (:data:`POLICIES`).

Both hold factories ``f(*, seed=0, **options)``. The LLM agent policy is not listed here:
it lives one layer up, in :mod:`virtualcell.agent`, which adds it to :data:`POLICIES`
(as ``agent``) when it is imported — design never imports the agent layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .._utils import Entry, Registry

__all__ = ["ENVS", "POLICIES", "make_env", "make_policy"]


def _doc(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring, on one line."""
    first = (obj.__doc__ or "").strip().split("\n\n", 1)[0]
    return " ".join(first.split())


def _env_builtins() -> Iterator[Entry[Any]]:
    from ._dream4 import Dream4Screen
    from ._sim import SimKnockoutScreen, SimPairScreen, SimProgramScreen

    for cls in (SimKnockoutScreen, SimProgramScreen, SimPairScreen, Dream4Screen):
        yield Entry(cls.name, cls, _doc(cls), tags=(cls.kind,))


def _active(acquisition: str):
    def factory(**options: Any) -> Any:
        from ._active import ActivePolicy

        return ActivePolicy(acquisition=acquisition, **options)

    return factory


def _policy_builtins() -> Iterator[Entry[Any]]:
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
ENVS: Registry[Any] = Registry("screen environment", _env_builtins)
#: Design policies by name (``vcell design --list-policies``); ``agent`` is added by
#: :mod:`virtualcell.agent`.
POLICIES: Registry[Any] = Registry("design policy", _policy_builtins)


def make_env(name: str, *, seed: int = 0, **options: Any) -> Any:
    """A new environment ``name`` of :data:`ENVS` for ``seed`` with ``options``."""
    return ENVS.get(name)(seed=seed, **options)


def make_policy(name: str, *, seed: int = 0, **options: Any) -> Any:
    """A new policy ``name`` of :data:`POLICIES` for ``seed`` with ``options``.

    ``agent`` is registered by :mod:`virtualcell.agent`; import it first (the ``vcell``
    command does).
    """
    from .._errors import ValidationError

    key = str(name).strip().lower()
    if key == "agent" and key not in POLICIES:
        raise ValidationError(
            "the 'agent' policy is provided by virtualcell.agent: import virtualcell.agent "
            "(or pass vc.agent.AgentPolicy(...) as the policy)"
        )
    return POLICIES.get(name)(seed=seed, **options)
