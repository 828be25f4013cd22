"""Gene regulatory network inference and evaluation.

One entry point, :func:`infer`, runs any registered method (:func:`list_methods`) and
returns a ranked edge table ``regulator, target, score[, sign]``; :func:`evaluate` scores
it against a ground-truth network with the BEELINE metrics of :mod:`virtualcell.metrics`.

>>> import virtualcell as vc
>>> adata = vc.data.read_beeline("path/to/GSD_2000_0")       # doctest: +SKIP
>>> edges = vc.grn.infer(adata, method="grnboost2", n_jobs=2)  # doctest: +SKIP
>>> vc.grn.evaluate(edges, adata.uns["true_network"], genes=adata.var_names)  # doctest: +SKIP
"""

from ._base import GRNInput, Scores, list_methods, register_method
from ._evaluate import evaluate, jaccard_top_k, stability
from ._infer import infer
from ._io import load_dataset, read_regulators, write_edges
from ._plot import plot_summary_heatmap
from ._sergio import read_sergio

__all__ = [
    "GRNInput",
    "Scores",
    "evaluate",
    "infer",
    "jaccard_top_k",
    "list_methods",
    "load_dataset",
    "plot_summary_heatmap",
    "read_regulators",
    "read_sergio",
    "register_method",
    "stability",
    "write_edges",
]
