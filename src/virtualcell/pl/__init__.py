"""Plotting (``vc.pl``): every figure function of the package, in one namespace.

Every function has the form ``f(obj, *, ax=None, path=None, ...) -> Figure``
(:mod:`virtualcell.pl._base`): it draws what the task functions computed, into ``ax``
or a new figure (no pyplot state, no backend switch), and saves it atomically when
given ``path=``. Modules by topic: ``_sim`` (simulations).
"""

from ..grn import plot_summary_heatmap as grn_heatmap
from ._sim import network, perturbation_heatmap, umap

__all__ = ["grn_heatmap", "network", "perturbation_heatmap", "umap"]
