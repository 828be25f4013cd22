"""Cell-cell communication in the benchmark: ``vc.spatial``'s communication methods on
simulated tissue sections, scored by AUPRC against the simulator's truth.

A cell simulates the section of its dataset for ``seed`` (:func:`virtualcell.sim.
simulate_tissue`, built once per worker and shared by the methods that worker runs, so
every method faces the same tissue), runs the method ``method`` with the same ``seed``
and scores its ranking of every (pair, sender, receiver) row of
``uns["true_communication"]`` (:func:`virtualcell.spatial.evaluate_communication`).
Seeds are therefore different tissues.

Datasets
    * ``tissue_small`` (quick): 600 cells, 60 genes, 6 candidate pairs (3 signalling).
    * ``tissue_1k`` (demo): 1,000 cells, 100 genes, 10 pairs (5 signalling); about 15 CPU-seconds
      for its 18 cells (6 methods x 3 seeds), report included.
    * ``tissue_5k`` (full): 5,000 cells, 100 genes, 10 pairs: ``vcell sim --preset
      spatial``'s section.

Methods: every entry of ``vc.spatial.COMMUNICATION_METHODS`` (baselines ``permutation``
and ``coexpression`` as flagged there).

Metrics: AUPRC (primary), AUROC (``vc.metrics``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from ..metrics import metric_spec
from ._task import Dataset, Method, RunContext, Task, UserData, data_facts, eval_rows

__all__ = ["SPATIAL_COMM_TASK"]

METRICS = tuple(metric_spec(name) for name in ("auprc", "auroc"))

#: Simulator options of the quick and demo sections.
TISSUE_QUICK = {"grn": 60, "n_cells": 600, "n_lr_pairs": 6, "n_signalling": 3}
TISSUE_DEMO = {"grn": 100, "n_cells": 1000}
TISSUE_FULL = {"grn": 100, "n_cells": 5000}
#: Permutations of the permutation test (and of the response method's) per preset.
_N_PERM = {"quick": 200, "demo": 1000, "full": 1000}


@dataclass
class TissueRecipe:
    """What the loaders return: the simulator's options (the section is built per seed
    in the worker)."""

    options: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=3)
def _section(options_json: str, seed: int) -> Any:
    from .. import sim

    opts = json.loads(options_json)
    return sim.simulate_tissue(opts.pop("grn"), seed=seed, **opts)


def load_recipe(options: dict[str, Any]) -> TissueRecipe:
    """The recipe; its facts come from the seed-0 section (kept for the seed-0 cells)."""
    adata = _section(json.dumps(options, sort_keys=True), 0)
    truth = adata.uns["true_communication"]
    facts = {
        "cells": adata.n_obs,
        "genes": adata.n_vars,
        "cell types": int(adata.obs["cell_type"].nunique()),
        "niches": int(adata.obs["niche"].nunique()),
        "candidate pairs": len(adata.uns["lr_pairs"]),
        "active rows (seed 0)": f"{int(truth['active'].sum())} of {len(truth)}",
    }
    return TissueRecipe(dict(options), facts)


def datasets(preset: str, user: UserData | None) -> list[Dataset]:
    """Simulated sections of ``preset`` (the task takes no user data: it needs a truth)."""
    if user is not None:
        return []
    return [
        Dataset(
            "tissue_small",
            functools.partial(load_recipe, TISSUE_QUICK),
            "simulated section: 600 cells, 60 genes, 6 candidate pairs (3 signalling)",
            "simulated",
            presets=("quick",),
        ),
        Dataset(
            "tissue_1k",
            functools.partial(load_recipe, TISSUE_DEMO),
            "simulated section: 1,000 cells, 100 genes, 10 candidate pairs (5 signalling)",
            "simulated",
            presets=("demo",),
        ),
        Dataset(
            "tissue_5k",
            functools.partial(load_recipe, TISSUE_FULL),
            "simulated section: 5,000 cells, 100 genes, 10 candidate pairs (5 signalling)",
            "simulated",
            presets=("full",),
        ),
    ]


def methods() -> list[Method]:
    """Every communication method, baselines as ``COMMUNICATION_METHODS`` flags them."""
    from ..spatial import COMMUNICATION_METHODS

    out = []
    for entry in COMMUNICATION_METHODS.entries():
        opts = {}
        if entry.name in ("permutation", "response"):
            opts = {p: {"n_perm": n} for p, n in _N_PERM.items()}
        out.append(
            Method(entry.name, baseline=entry.baseline, options=opts,
                   description=entry.description)
        )  # fmt: skip
    return out


def run(
    data: TissueRecipe,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Simulate the section for ``seed``, run ``method`` and score it (AUPRC, AUROC)."""
    from ..spatial import evaluate_communication

    adata = _section(json.dumps(data.options, sort_keys=True), seed)
    res = evaluate_communication(
        adata, methods=[method], seeds=(seed,), options={method: options}, baselines=False
    )
    return eval_rows(res, METRICS)


SPATIAL_COMM_TASK = Task(
    name="spatial_communication",
    version="1",
    description="Cell-cell communication: ligand -> receptor pairs between cell types "
    "on simulated tissue (AUPRC)",
    metrics=METRICS,
    datasets=datasets,
    methods=methods,
    run=run,
    describe=data_facts,
)
