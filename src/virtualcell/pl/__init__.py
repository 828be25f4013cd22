"""Plotting (``vc.pl``): every figure function of the package, in one namespace.

Each function is implemented beside the logic it draws and re-exported here; all return
a matplotlib ``Figure`` and save it when given ``path=``.
"""

from ..sim import plot_heatmap as perturbation_heatmap
from ..sim import plot_network as network
from ..sim import plot_umap as umap
from ._grn import grn_heatmap

__all__ = ["grn_heatmap", "network", "perturbation_heatmap", "umap"]
