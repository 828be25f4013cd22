"""Spatial niches in the benchmark: niche embeddings -> spatial domains, scored against
the simulated true niches (``vc.spatial.evaluate_niches``).

A cell embeds the section with one method of ``vc.spatial.NICHE_EMBEDDINGS`` (seeded
with the cell's seed), clusters it with k-means into as many domains as the section has
true niches (the same count for every method) and scores the domains against
``obs["niche"]``. Unsupervised: one split, ``all``.

Datasets (``vc.sim.simulate_tissue``, one section per dataset, simulation seed fixed)
    * ``sim_tissue_small`` (quick): 800 cells, 3 niches, the fast simulator.
    * ``sim_tissue`` (demo, full): 3,000 cells, 4 niches, the fast simulator.
    * ``sim_tissue_5k`` (full): the simulator's defaults (5,000 cells, 4 niches).
    * user data: ``--data FILE --label-key COLUMN`` (``obsm["spatial"]``, the true niches
      in ``obs[COLUMN]``) [``--layer``].

Methods: ``expression`` and ``neighbor_pca`` (baselines), ``composition``, ``multihop``
and the oracle option ``niche_transformer`` (a small transformer pretrained on the
section's niche profiles; 20 steps in ``quick``, 1,000 in ``full``, not in ``demo``: its
pretraining would take most of the demo's budget).

Metrics: ARI (primary) and NMI of the domains against the true niches (``vc.metrics``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from ..metrics import metric_spec
from ._task import (
    PRESET_NAMES,
    Dataset,
    Method,
    RunContext,
    Task,
    UserData,
    data_facts,
    eval_rows,
    layer_as_x,
)

__all__ = ["SPATIAL_NICHES_TASK"]

METRICS = tuple(metric_spec(name) for name in ("ari", "nmi"))

#: Pretraining budget of ``niche_transformer`` per preset.
_TRANSFORMER = {"quick": {"steps": 20}, "full": {"steps": 1000}}


@dataclass
class Section:
    """What the niches adapter's loaders return: a section and the key of its truth."""

    adata: Any
    truth_key: str = "niche"
    facts: dict[str, Any] = field(default_factory=dict)


def _facts(adata: Any, truth_key: str, what: str) -> dict[str, Any]:
    return {
        "section": what,
        "cells": int(adata.n_obs),
        "genes": int(adata.n_vars),
        "niches": int(adata.obs[truth_key].nunique()),
    }


def load_sim_tissue(n_cells: int, n_niches: int, method: str, seed: int = 7) -> Section:
    """A simulated section (``vc.sim.simulate_tissue``)."""
    from .. import sim

    adata = sim.simulate_tissue(n_cells=n_cells, n_niches=n_niches, method=method, seed=seed)
    what = f"vc.sim.simulate_tissue(n_cells={n_cells}, n_niches={n_niches}, seed={seed})"
    return Section(adata, "niche", _facts(adata, "niche", what))


def load_user(path: str, truth_key: str, layer: str | None) -> Section:
    """The user's section (``--data FILE --label-key COLUMN``)."""
    from ..data import read

    adata = layer_as_x(read(path), layer, source=path)
    return Section(adata, truth_key, _facts(adata, truth_key, path))


def datasets(preset: str, user: UserData | None) -> list[Dataset]:
    """Simulated sections of ``preset``, or the user's."""
    if user is not None:
        opts = dict(user.options)
        load = functools.partial(load_user, user.path, opts.get("label_key") or "niche",
                                 opts.get("layer"))  # fmt: skip
        return [Dataset("user", load, user.path, "user")]
    sections = (
        ("sim_tissue_small", 800, 3, "fast", ("quick",), "simulated section: 800 cells, 3 niches"),
        ("sim_tissue", 3000, 4, "fast", ("demo", "full"),
         "simulated section: 3,000 cells, 4 niches"),
        ("sim_tissue_5k", 5000, 4, "cle", ("full",),
         "simulated section: 5,000 cells, 4 niches (simulator defaults)"),
    )  # fmt: skip
    return [
        Dataset(name, functools.partial(load_sim_tissue, n, k, how), what, "simulated",
                presets=presets)
        for name, n, k, how, presets, what in sections
    ]  # fmt: skip


def methods() -> list[Method]:
    """Every niche embedding of ``vc.spatial.NICHE_EMBEDDINGS`` (baselines flagged)."""
    from .. import spatial

    out = []
    for entry in spatial.NICHE_EMBEDDINGS.entries():
        options = {p: {"method_options": o} for p, o in _TRANSFORMER.items()}
        out.append(
            Method(
                entry.name,
                baseline=entry.baseline,
                description=entry.description,
                options=options if entry.name == "niche_transformer" else {},
                # the oracle's pretraining (~1 min per seed) stays out of the demo's budget
                presets=("quick", "full") if entry.name == "niche_transformer" else PRESET_NAMES,
            )
        )
    return out


def run(
    data: Section,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Embed, cluster into the true number of niches, score ARI and NMI."""
    from .. import spatial

    extra = dict(options.get("method_options") or {})
    if method == "niche_transformer" and context.device != "auto":
        extra.setdefault("device", context.device)
    res = spatial.evaluate_niches(
        data.adata,
        methods=[method],
        seeds=(seed,),
        truth_key=data.truth_key,
        include_baselines=False,
        method_options={method: extra} if extra else None,
    )
    return eval_rows(res, METRICS)


SPATIAL_NICHES_TASK = Task(
    name="spatial_niches",
    version="1",
    description="Spatial niches: domains from niche embeddings vs the simulated true niches",
    metrics=METRICS,
    datasets=datasets,
    methods=methods,
    run=run,
    describe=data_facts,
    user_flags=("label_key", "layer"),
)
