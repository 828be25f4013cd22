"""Gene regulatory network inference and evaluation.

One entry point, :func:`infer`, runs any method of :data:`METHODS` and returns a ranked
edge table ``regulator, target, score[, sign]``; :func:`evaluate` scores it against a
ground-truth network with the BEELINE metrics of :mod:`virtualcell.metrics` and returns
the evaluation contract's :class:`virtualcell.metrics.EvalResult` (which also reads as
the historic dict of scores: ``result["auprc_ratio"]``). The
AnnData-in shortcut that also stores the edges is :func:`virtualcell.tl.infer_grn`; the
summary heatmap is :func:`virtualcell.pl.grn_heatmap`.

>>> import virtualcell as vc
>>> adata = vc.data.read_beeline("path/to/GSD_2000_0")       # doctest: +SKIP
>>> edges = vc.grn.infer(adata, method="grnboost2", n_jobs=2)  # doctest: +SKIP
>>> vc.grn.evaluate(edges, adata.uns["true_network"], genes=adata.var_names)  # doctest: +SKIP
"""

from ._base import GRNInput, Scores
from ._evaluate import evaluate, jaccard_top_k, stability
from ._infer import infer
from ._io import load_dataset, read_regulators, write_edges
from ._methods import METHODS, MethodFn
from ._primed import PrimedNetwork, fit_primed_network, knowledge_prior_or_none
from ._primed_rows import add_regulator_rows
from ._pseudotime import pseudotime_columns
from ._sergio import read_sergio
from ._stream import (
    PerturbedSet,
    PrimedStatistics,
    fit_primed_network_stream,
    primed_statistics,
    solve_primed,
    statistics_without,
)

__all__ = [
    "METHODS",
    "GRNInput",
    "MethodFn",
    "PerturbedSet",
    "PrimedNetwork",
    "PrimedStatistics",
    "Scores",
    "add_regulator_rows",
    "evaluate",
    "fit_primed_network",
    "fit_primed_network_stream",
    "infer",
    "jaccard_top_k",
    "knowledge_prior_or_none",
    "load_dataset",
    "primed_statistics",
    "pseudotime_columns",
    "read_regulators",
    "read_sergio",
    "solve_primed",
    "stability",
    "statistics_without",
    "write_edges",
]
