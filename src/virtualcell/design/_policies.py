"""Design policies: one interface, ``propose(history, budget) -> perturbations``.

* :class:`RandomPolicy` — uniformly random unmeasured candidates;
* :class:`PriorPolicy` — candidates ranked by a prior network, never updated by the
  screen: known TF -> target edges of the knowledge base when the genes are human
  symbols in it (``source="knowledge"``), otherwise a GRN inferred from the observational
  data (``source="inferred"``: Pearson correlation, the ``n_edges`` strongest edges). The
  score depends on the readout (:meth:`Phenotype.prior`): out-strength for impact screens,
  strength into the program, shared targets for pairs. On simulated and DREAM4 gene names
  the knowledge base has nothing, so the prior is the inferred GRN's (logged);
* model-based active learning lives in :mod:`._active`; the LLM agent policy in
  :mod:`virtualcell.agent` (``vc.agent.AgentPolicy``, a :class:`Policy` that is passed as
  an object: it is not in :data:`~virtualcell.design.POLICIES`).
"""

from __future__ import annotations

import abc
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._utils import check_number, log
from ..data import expression
from ._env import History, ScreenView

__all__ = ["Policy", "PriorPolicy", "RandomPolicy", "log_expression", "network_prior"]


class Policy(abc.ABC):
    """The contract of every design policy (:data:`~virtualcell.design.POLICIES` holds
    factories of subclasses; ``vc.agent.AgentPolicy`` is one too).

    ``propose(history, budget)`` returns at most ``budget`` perturbation labels to
    measure next (normally unmeasured candidates; see :func:`run_screen` for repeats).
    A policy may expose ``usage`` (a dict with ``prompt_tokens`` / ``completion_tokens``
    of its last call), which the runner records per round.
    """

    #: Name recorded in screen results.
    name: str = "policy"

    @abc.abstractmethod
    def propose(self, history: History, budget: int) -> list[str]:
        """At most ``budget`` perturbation labels to measure next."""


def log_expression(adata: Any) -> np.ndarray:
    """Dense ``cells x genes`` float64 expression in the space of ``vc.data.expression``
    (count-like values: ``log1p`` of counts per 10,000; logged values as given)."""
    return expression(adata, sparse_output=False, dtype="float64", what="screen data").X


def network_prior(
    screen: ScreenView, *, n_edges: int | None = None, method: str = "pearson"
) -> tuple[pd.DataFrame, str]:
    """The prior network of a screen and where it came from (cached on the view).

    Known TF -> target edges among the genes when a knowledge store is built and at least
    20% of the genes are symbols in it (``"knowledge"``); otherwise the ``n_edges``
    (default ``2 * n_genes``) strongest edges of ``vc.grn.infer(method=...)`` on the
    observational data (``"inferred"``).

    Parameters
    ----------
    screen
        The screen's view (:class:`ScreenView`).
    n_edges
        Edges kept of an inferred network (default ``2 * n_genes``).
    method
        GRN method of ``vc.grn.infer`` for an inferred prior.
    """
    key = f"prior:{n_edges}:{method}"
    if key in screen.cache:
        return screen.cache[key]
    edges, source = None, "inferred"
    try:
        from ..perturb import tf_target_edges

        edges = tf_target_edges(screen.genes)
    except Exception as err:  # a broken or missing store must not stop a screen
        log(f"design: knowledge prior unavailable ({type(err).__name__}: {err})")
        edges = None
    if edges is not None and len(edges):
        source = "knowledge"
        edges = edges.assign(score=1.0)
    else:
        from ..grn import infer

        log(
            "design: no candidate gene has known TF targets in the knowledge base "
            f"(e.g. synthetic names); the prior is a {method} GRN inferred from the "
            "observational data"
        )
        x = log_expression(screen.observational)
        table = pd.DataFrame(x, columns=screen.genes)
        table = table.loc[:, table.std(axis=0) > 0]
        k = int(n_edges) if n_edges is not None else 2 * len(screen.genes)
        edges = infer(table, method=method, seed=0, max_edges=k)
    screen.cache[key] = (edges, source)
    return edges, source


class RandomPolicy(Policy):
    """Uniformly random unmeasured candidates (seeded)."""

    name = "random"

    def __init__(self, *, seed: int = 0) -> None:
        check_number("seed", seed, low=0, integer=True)
        self.seed = int(seed)
        self.usage: dict[str, Any] = {}

    def propose(self, history: History, budget: int) -> list[str]:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 31, history.round]))
        pool = history.remaining()
        k = min(int(budget), len(pool))
        return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)] if k else []


class PriorPolicy(Policy):
    """Candidates ranked by a prior network (knowledge base, else a GRN inferred from
    the observational data); ties broken at random."""

    name = "prior"

    def __init__(
        self, *, seed: int = 0, method: str = "pearson", n_edges: int | None = None
    ) -> None:
        check_number("seed", seed, low=0, integer=True)
        self.seed = int(seed)
        self.method = method
        self.n_edges = n_edges
        self.source: Literal["knowledge", "inferred"] | None = None
        self.usage: dict[str, Any] = {}

    def scores(self, screen: ScreenView) -> pd.Series:
        """The prior score of every candidate."""
        edges, self.source = network_prior(screen, n_edges=self.n_edges, method=self.method)
        values = screen.phenotype.prior(edges, screen.candidates)
        return pd.Series(values, index=screen.candidates, name="prior")

    def propose(self, history: History, budget: int) -> list[str]:
        score = self.scores(history.screen)
        pool = history.remaining()
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 37]))
        jitter = rng.random(len(score)) * 1e-9 * (float(score.abs().max()) or 1.0)
        ranked = (score + jitter).loc[pool].sort_values(ascending=False, kind="stable")
        return list(ranked.index[: int(budget)])
