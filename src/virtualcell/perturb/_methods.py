"""The table of built-in perturbation predictors (one place; :data:`METHODS`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._utils import Entry, Registry

if TYPE_CHECKING:  # pragma: no cover
    from ._base import Predictor

__all__ = [
    "COST_CHEAP",
    "COST_MINUTES",
    "COST_PRETRAINS",
    "COST_TRAINS",
    "METHODS",
    "make_predictor",
    "resolved_options",
]

#: Cost tiers, one tag per registry entry (``vc.perturb.method_cost``; ``vcell perturb
#: --list-methods``): seconds on pseudobulks; minutes at screen scale (a model per gene
#: or over the gene network); pretrains an encoder first (not in the default list of
#: ``vc.perturb.evaluate``, run when named); trains a small neural network (torch, CPU
#: seconds; not in the default list either, run when named).
COST_CHEAP = "cost:cheap"
COST_MINUTES = "cost:minutes"
COST_PRETRAINS = "cost:pretrains"
COST_TRAINS = "cost:trains"


def _builtins() -> Iterator[Entry[type[Predictor]]]:
    from ._baselines import (
        Additive,
        LinearModel,
        LinearRotation,
        MatchingMean,
        NoChange,
        TrainMean,
        TrainMeanKO,
    )
    from ._features import FeatureForest, FeatureRidge, GenePTRidge
    from ._gears import GearsGraph
    from ._network import NetworkModel
    from ._oracle import OracleHead, OracleISP
    from ._primed import PrimedNetworkModel

    baselines = (NoChange, TrainMean, TrainMeanKO, MatchingMean, Additive, LinearModel,
                 LinearRotation, GenePTRidge, FeatureRidge, FeatureForest)  # fmt: skip
    for cls in baselines:
        tags = ("unseen_genes",) if cls.uses_features else ()
        cost = COST_MINUTES if cls is FeatureForest else COST_CHEAP
        yield Entry(cls.name, cls, _doc(cls), baseline=True, tags=("baseline", *tags, cost))
    yield Entry(
        NetworkModel.name,
        NetworkModel,
        _doc(NetworkModel),
        tags=("mechanistic", "unseen_genes", COST_MINUTES),
    )
    yield Entry(
        PrimedNetworkModel.name, PrimedNetworkModel, _doc(PrimedNetworkModel),
        tags=("mechanistic", "knowledge", "unseen_genes", COST_MINUTES),
    )  # fmt: skip
    yield Entry(
        GearsGraph.name, GearsGraph, _doc(GearsGraph),
        tags=("graph", "knowledge", "unseen_genes", "torch", COST_TRAINS),
    )  # fmt: skip
    for cls in (OracleISP, OracleHead):
        yield Entry(
            cls.name, cls, _doc(cls), tags=("oracle", "unseen_genes", "torch", COST_PRETRAINS)
        )


def _doc(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0]


#: Perturbation predictors by name (``Predictor`` subclasses); baselines have ``baseline=True``.
METHODS: Registry[type[Predictor]] = Registry("perturbation predictor", _builtins)


def _init_options(cls: type) -> set[str]:
    """The keyword-only options of ``cls`` and its bases' ``__init__``."""
    import inspect

    allowed: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            allowed |= {
                p.name
                for p in inspect.signature(klass.__init__).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY
            }
    return allowed


def resolved_options(name: str, **options: Any) -> dict[str, Any]:
    """Every option of predictor ``name`` as a new instance holds it (``options`` given,
    the rest at their defaults as the method resolves them, e.g. ``primed_network``'s
    ``components`` and ``knowledge_size="auto"``): what a stored result is keyed on, so
    a changed default is never resumed as the old one."""
    model = make_predictor(name, **options)
    return {k: getattr(model, k) for k in sorted(_init_options(type(model))) if hasattr(model, k)}


def make_predictor(name: str, **options: Any) -> Predictor:
    """A new, unfitted predictor ``name`` of :data:`METHODS` with ``options``.

    Unknown options raise :class:`~virtualcell.ValidationError` naming them.

    Parameters
    ----------
    name
        A name of :data:`METHODS` (``vcell perturb --list-methods``); unknown names are
        refused with the list of valid ones.
    **options
        Keyword-only options of the method's class (e.g. ``perturbation_type``, ``seed``).

    Returns
    -------
    Predictor
        The unfitted predictor; call ``fit(adata)`` then ``predict([...])``.
    """
    from .._errors import ValidationError

    cls = METHODS.get(name)
    allowed = _init_options(cls)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValidationError(
            f"method {name!r} has no option(s) {unknown}; its options are {sorted(allowed)}"
        )
    return cls(**options)
