"""Plotting (``vc.pl``): every figure function of the package, in one namespace.

Each function is implemented beside the logic it draws and re-exported here; all return
a matplotlib ``Figure`` and save it when given ``path=``.
"""

from ..grn import plot_summary_heatmap as grn_heatmap
from ..sim import plot_heatmap as perturbation_heatmap
from ..sim import plot_network as network
from ..sim import plot_umap as umap
from ._bench import bench_figures, bench_heatmap, bench_leaderboard, bench_runtime

__all__ = [
    "bench_figures",
    "bench_heatmap",
    "bench_leaderboard",
    "bench_runtime",
    "grn_heatmap",
    "network",
    "perturbation_heatmap",
    "umap",
]
