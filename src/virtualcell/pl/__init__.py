"""Plotting (``vc.pl``): every figure function of the package, in one namespace.

Each function is implemented beside the logic it draws and re-exported here; all return
a matplotlib ``Figure`` and save it when given ``path=``.
"""

from ..grn import plot_summary_heatmap as grn_heatmap
from ..sim import plot_heatmap as perturbation_heatmap
from ..sim import plot_network as network
from ..sim import plot_umap as umap
from ._perturb import interaction_confusion, perturbation_bars, perturbation_scatter

__all__ = [
    "grn_heatmap",
    "interaction_confusion",
    "network",
    "perturbation_bars",
    "perturbation_heatmap",
    "perturbation_scatter",
    "umap",
]
