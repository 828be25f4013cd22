"""Plotting (``vc.pl``): every figure function of the package, in one namespace.

Every function has the form ``f(obj, *, ax=None, path=None, ...) -> Figure``
(:mod:`virtualcell.pl._base`): it draws what the task functions computed, into ``ax``
or a new figure (no pyplot state, no backend switch), and saves it atomically when
given ``path=`` (an existing file only with ``overwrite=True``). Modules by topic: ``_sim``, ``_grn``, ``_perturb``, ``_represent``, ``_design``,
``_bench``.
"""

from ._bench import bench_figures, bench_heatmap, bench_leaderboard, bench_runtime
from ._design import discovery_curves
from ._grn import grn_heatmap
from ._perturb import interaction_confusion, perturbation_bars, perturbation_scatter
from ._represent import (
    annotation_embedding,
    confusion_matrix,
    integration_scores,
    per_class_f1,
    reliability_diagram,
)
from ._sim import network, perturbation_heatmap, umap

__all__ = [
    "annotation_embedding",
    "bench_figures",
    "bench_heatmap",
    "bench_leaderboard",
    "bench_runtime",
    "confusion_matrix",
    "discovery_curves",
    "grn_heatmap",
    "integration_scores",
    "interaction_confusion",
    "network",
    "per_class_f1",
    "perturbation_bars",
    "perturbation_heatmap",
    "perturbation_scatter",
    "reliability_diagram",
    "umap",
]
