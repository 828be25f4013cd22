"""The combination rules of ``primed_network`` (``vc.perturb``): its components, the
anchors the unseen-gene prediction stands on, the gates that weigh the components, the
groups of training genes held out to learn the weights, and the weights themselves.

``pred(g) = ctrl + sum_c a_c * component_c(g)``. The anchor (component ``mean``) always
has weight 1: the fallback where nothing else is known.

* ``average`` (default): the knowledge regressors that know ``g`` (``neighbours``,
  ``text``) are averaged with weight 1 (:func:`knowledge_weights`; learning their gains
  from a handful of training genes was noise); the network components (``data``,
  ``prior``, ``association``, ``network``) get non-negative weights by least squares
  on what the anchor and that average leave;
* ``stack`` (before 2026-12-07): every weight but the anchor's by non-negative least
  squares (all of them with ``learn_mean``).

The least squares run over the *training* perturbed genes only, each predicted with
itself held out (the network, neighbours and anchor refitted without its cells; beyond
``stack_groups`` training genes, that many seeded groups are held out instead:
:func:`stack_groups`), on every gene but the perturbed one; each training gene's rows
are divided by the norm of its change, so every gene weighs the same. Where a component
predicts nothing useful its weight goes to 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .._utils import Entry, Registry

__all__ = [
    "ANCHORS",
    "AVERAGE_COMPONENTS",
    "AVERAGE_KNOWLEDGE_SIZE",
    "AVERAGE_PARALOG",
    "COMPONENTS",
    "DEFAULT_COMPONENTS",
    "GATES",
    "KNOWLEDGE",
    "NETWORK_PARTS",
    "PARALOG_QUANTILE",
    "gate_weights",
    "knowledge_weights",
    "stack_groups",
]

COMPONENTS = ("mean", "data", "prior", "association", "neighbours", "text", "network")
#: Components of the ``stack`` gate by default (``network`` is the engine of seen
#: combinations only: as an unseen-gene component its leave-one-gene-out refits cost ~10x
#: the rest).
DEFAULT_COMPONENTS = ("mean", "data", "prior", "association", "neighbours")
#: Components of the ``average`` gate (the default) by default: the text regressor is the
#: knowledge part, the GO forest (``neighbours``) is named when wanted (the declared check
#: on RENGE fold seeds 90-99, ``docs/perturb.md``).
AVERAGE_COMPONENTS = ("mean", "data", "prior", "association", "text")
#: ``knowledge_size`` of the ``average`` gate by default (``knowledge_size="auto"``); the
#: ``stack`` gate keeps the regressors' own size.
AVERAGE_KNOWLEDGE_SIZE = 0.25
#: The knowledge regressors (gene features -> training changes).
KNOWLEDGE = ("neighbours", "text")
#: The components read from the fitted network (``vc.grn.PrimedNetwork``); ``network`` is
#: the separate engine of the ``network`` method.
NETWORK_PARTS = ("data", "prior", "association")
#: ``paralog``: two genes are near-duplicates when the cosine of their GenePT embeddings
#: is above this quantile of the cosines between the measured genes' embeddings (a
#: property of the gene panel and the text, no perturbation data).
PARALOG_QUANTILE = 0.99
#: ``paralog`` of the ``average`` gate by default (``paralog="auto"``; 0 with ``stack``):
#: the declared check on RENGE fold seeds 120-139 (``docs/perturb.md``).
AVERAGE_PARALOG = 0.5
#: How the components are combined: ``average`` (knowledge regressors averaged with weight
#: 1, network components learned) or ``stack`` (every weight but the anchor's learned).
GATES = ("average", "stack")


def _trimmed_mean(deltas: np.ndarray) -> np.ndarray:
    from scipy.stats import trim_mean

    return np.asarray(trim_mean(deltas, 0.25, axis=0), dtype=np.float64)


def _anchors() -> Iterator[Entry[Callable[[np.ndarray], np.ndarray]]]:
    yield Entry("mean", lambda d: d.mean(axis=0), "Mean of the training changes (train_mean).")
    yield Entry("median", lambda d: np.median(d, axis=0), "Coordinate-wise median.")
    yield Entry("trim25", _trimmed_mean, "25% trimmed mean (each end).")


#: Locations of the training changes the ``mean`` component may stand on (``anchor``).
ANCHORS: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("anchor", _anchors)


def stack_groups(n: int, n_groups: int, seed: int) -> np.ndarray:
    """Group of each of ``n`` training genes in the held-out refits of the stack: each
    gene alone (leave-one-gene-out) up to ``n_groups`` genes, else ``n_groups`` random
    groups (seeded), so the network is refitted at most that many times."""
    if n <= n_groups:
        return np.arange(n)
    order = np.random.default_rng(seed).permutation(n)
    group = np.empty(n, dtype=int)
    for g, part in enumerate(np.array_split(order, n_groups)):
        group[part] = g
    return group


def knowledge_weights(
    gene: str | None, train: Sequence[str], tables: dict, components: Sequence[str]
) -> dict[str, float]:
    """``average`` gate: equal weights (summing to 1) of the knowledge regressors that
    know ``gene`` (it has features in ``tables[c]`` and at least 3 of ``train`` have
    them; ``None``: any gene); none when no regressor knows it (the prediction is then
    the anchor, plus the network)."""
    know = [
        c for c in KNOWLEDGE if c in components and tables.get(c) is not None
        and (gene is None or gene in tables[c].index)
        and sum(h in tables[c].index for h in train) >= 3
    ]  # fmt: skip
    return {c: 1.0 / len(know) for c in know}


def gate_weights(
    names: list[str], a: np.ndarray, y: np.ndarray, fixed: np.ndarray, *, gate: str,
    learn_mean: bool = False,
) -> dict[str, float]:  # fmt: skip
    """Weights of the components ``names`` (columns of ``a``) from the held-out design
    ``a``, ``y`` (and, for the ``average`` gate, ``fixed`` = the anchor plus the knowledge
    average, not learned): ``average`` learns the network components on ``y - fixed``;
    ``stack`` fixes the anchor's weight at 1 and learns the rest on ``y - anchor`` (all of
    them on ``y`` with ``learn_mean``). The knowledge weights of ``average`` are left 0
    here (they are per gene: :func:`knowledge_weights`)."""
    from scipy.optimize import nnls

    w = np.zeros(len(names))
    if gate == "average":
        learned = [i for i, c in enumerate(names) if c not in ("mean", *KNOWLEDGE)]
        if learned:
            w[learned], _ = nnls(a[:, learned], y - fixed)
        w[names.index("mean")] = 1.0
        return {c: float(v) for c, v in zip(names, w, strict=True)}
    if learn_mean:
        w, _ = nnls(a, y)
        return {c: float(v) for c, v in zip(names, w, strict=True)}
    # the mean enters with weight 1 (the fallback): learn what the rest adds to it
    rest = [i for i, c in enumerate(names) if c != "mean"]
    m = names.index("mean")
    w[m] = 1.0
    if rest:
        w[rest], _ = nnls(a[:, rest], y - a[:, m])
    return {c: float(v) for c, v in zip(names, w, strict=True)}
