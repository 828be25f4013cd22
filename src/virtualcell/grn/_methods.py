"""The GRN method table: every built-in inference method, by name, in one place.

A method is a function ``fn(data: GRNInput, *, n_jobs, seed, **options) -> Scores``.
:data:`METHODS` lists the built-ins (the method modules do not import this table; it
imports them, lazily, on first use). Methods that combine other methods by name
(``ensemble``, ``perturbation``, ``prior``, ``pidc_leadlag``) take the lookup as their
``resolve`` argument, bound here. Users add their own with
``vc.grn.METHODS.register("name")``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .._utils import Entry, Registry
from ._base import Scores

__all__ = ["METHODS", "MethodFn"]

#: What a GRN method is: ``fn(data: GRNInput, *, n_jobs, seed, **options) -> Scores``.
MethodFn = Callable[..., Scores]


def _composite(fn: Callable[..., Scores]) -> MethodFn:
    """``fn`` with its ``resolve`` argument bound to this table's lookup."""
    bound = partial(fn, resolve=lambda name: METHODS.get(name))
    bound.__doc__ = fn.__doc__
    return bound


def _builtins() -> list[Entry[MethodFn]]:
    from . import (
        _correlation,
        _ensemble,
        _information,
        _oracle,
        _perturbation,
        _primed,
        _prior,
        _pseudotime,
        _trees,
    )

    return [
        Entry(
            "pearson", _correlation.pearson, "Pearson correlation; score |r|, sign of r.",
            baseline=True,
        ),
        Entry(
            "spearman", _correlation.spearman,
            "Spearman rank correlation; score |rho|, sign of rho.", baseline=True,
        ),
        Entry(
            "partial_correlation", _correlation.partial_correlation,
            "Partial correlation from a Ledoit-Wolf-shrunk precision matrix.",
        ),
        Entry(
            "mutual_information", _information.mutual_information,
            "Binned mutual information (undirected).",
        ),
        Entry("pidc", _information.pidc, "PIDC partial information decomposition (undirected)."),
        Entry("genie3", _trees.genie3, "GENIE3: random-forest importances per target."),
        Entry("genie3_et", _trees.genie3_et, "GENIE3 with extra-trees (faster)."),
        Entry(
            "grnboost2", _trees.grnboost2,
            "GRNBoost2-style gradient boosting with early stopping (lightgbm).",
        ),
        Entry(
            "pseudotime", _pseudotime.pseudotime,
            "Pseudotime-lagged extra-trees regression of expression change.",
        ),
        Entry(
            "pidc_leadlag", _composite(_pseudotime.pidc_leadlag),
            "PIDC association plus pseudotime-lagged correlation (needs PseudoTime).",
        ),
        Entry(
            "perturbation", _composite(_perturbation.perturbation),
            "Perturbation z-scores (knockouts/knockdowns/Perturb-seq) blended with a base method.",
        ),
        Entry(
            "prior", _composite(_prior.prior),
            "Base method blended with known TF -> target edges (knowledge store).",
        ),
        Entry(
            "primed", _primed.primed,
            "Knowledge-primed signed ridge network: known edges as a prior the data can overrule.",
        ),
        Entry(
            "ensemble", _composite(_ensemble.ensemble),
            "Rank average of several methods (default pidc + grnboost2 + pearson).",
        ),
        Entry(
            "attention", _oracle.attention,
            "Attention of a (self-)pretrained CellEncoder: masked target -> regulator.",
        ),
        Entry(
            "in_silico_deletion", _oracle.in_silico_deletion,
            "Knock each regulator out in a (self-)pretrained CellEncoder; signed effect on targets.",
        ),
    ]  # fmt: skip


#: GRN inference methods by name (``vcell grn --list-methods``).
METHODS: Registry[MethodFn] = Registry("GRN method", builtins=_builtins)
