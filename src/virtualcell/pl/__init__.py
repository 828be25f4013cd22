"""Plotting (``vc.pl``): every figure function of the package, in one namespace.

Each function is implemented beside the logic it draws and re-exported here; all return
a matplotlib ``Figure`` and save it when given ``path=``.
"""

from ..grn import plot_summary_heatmap as grn_heatmap
from ..sim import plot_heatmap as perturbation_heatmap
from ..sim import plot_network as network
from ..sim import plot_umap as umap
from ._represent import (
    annotation_embedding,
    confusion_matrix,
    integration_scores,
    per_class_f1,
    reliability_diagram,
)

__all__ = [
    "annotation_embedding",
    "confusion_matrix",
    "grn_heatmap",
    "integration_scores",
    "network",
    "per_class_f1",
    "perturbation_heatmap",
    "reliability_diagram",
    "umap",
]
