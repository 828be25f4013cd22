"""Perturbation response prediction: single, combinatorial and unseen-gene perturbations.

One contract for every method (:class:`Predictor`: ``fit(adata_train)`` then
``predict(["KLF1", "CEBPE+KLF1"])`` -> AnnData of predicted mean profiles), a registry of
methods with the baselines every evaluation reports (:data:`METHODS`), and the evaluation
driver (:func:`evaluate`) on leak-checked splits of DREAM4, simulated or real Perturb-seq
data::

    import virtualcell as vc
    model = vc.perturb.make_predictor("network").fit(train)
    pred = model.predict(["G001+G017"])
    report = vc.perturb.evaluate("path/to/insilico_size100_1", task="doubles", seed=0)

See ``docs/perturb.md`` for every definition and the measured results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._base import Predictor
from ._data import SPACE_INPUT, SPACE_LOG, TrainingData, prepare_training
from ._evaluate import default_methods, evaluate, method_cost
from ._knowledge import tf_target_edges
from ._labels import read_capped, read_data, standardize_labels
from ._methods import METHODS, make_predictor
from ._norman import read_norman_gi
from ._score import score
from ._scoring import METRIC_BEST, PERTURB_METRICS, Truth, score_predictions
from ._tasks import TASKS, Task, load_task

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "METHODS",
    "METRIC_BEST",
    "PERTURB_METRICS",
    "SPACE_INPUT",
    "SPACE_LOG",
    "TASKS",
    "Predictor",
    "Task",
    "TrainingData",
    "Truth",
    "default_methods",
    "evaluate",
    "list_methods",
    "load_task",
    "make_predictor",
    "method_cost",
    "predict_perturbation",
    "prepare_training",
    "read_capped",
    "read_data",
    "read_norman_gi",
    "score",
    "score_predictions",
    "standardize_labels",
    "steady_state_rows",
    "tf_target_edges",
]


def list_methods(*, baseline: bool | None = None) -> dict[str, str]:
    """``{name: one-line description}`` of the registered predictors, in name order.

    Parameters
    ----------
    baseline
        ``True``: only the baselines; ``False``: only the other methods; ``None``: all.

    Returns
    -------
    dict mapping each method name of :data:`METHODS` to its description (the same
    one-line descriptions ``vcell perturb --list-methods`` prints).
    """
    return {e.name: e.description for e in METHODS.entries()
            if baseline is None or e.baseline == baseline}  # fmt: skip


def predict_perturbation(
    adata: AnnData,
    *,
    perturbations: Sequence[str],
    method: str = "network",
    perturbation_type: str | None = "auto",
    on_unsupported: str = "raise",
    time: Any = None,
    **options: Any,
) -> AnnData:
    """Fit ``method`` on ``adata`` and predict ``perturbations`` (the task entry point).

    Parameters
    ----------
    adata
        Training cells (or profiles) with ``obs["perturbation"]`` (``control``, ``A``,
        ``A+B``); counts or non-negative expression. Not modified. Time-series rows are
        left out (:func:`steady_state_rows`).
    perturbations
        Conditions to predict, e.g. ``["KLF1", "CEBPE+KLF1"]``.
    method
        A name of :data:`METHODS` (:func:`list_methods`).
    perturbation_type
        Which perturbed rows to learn (``"auto"``: the most frequent type).
    on_unsupported
        ``raise`` (default) or ``flag`` (see :meth:`Predictor.predict`).
    time
        ``None``: time-pooled profiles; ``"all"``, a time point or a list of them: one row
        per condition x time point of ``obs["time"]`` (see :meth:`Predictor.predict`).
    **options
        Options of the method.

    Returns
    -------
    AnnData
        Predicted mean profiles (see :meth:`Predictor.predict`).
    """
    model = make_predictor(method, perturbation_type=perturbation_type, **options)
    model.fit(steady_state_rows(adata))
    return model.predict(perturbations, on_unsupported=on_unsupported, time=time)


def steady_state_rows(adata: AnnData) -> AnnData:
    """``adata`` without time-series rows (``obs["experiment"] == "timeseries"``, as
    DREAM4's): they are not steady states, so no predictor learns from them (the rule of
    :func:`predict_perturbation`, ``vcell perturb predict`` and the evaluation tasks).

    Parameters
    ----------
    adata
        Profiles or cells; ``obs["experiment"]`` (when present) marks time series.

    Returns
    -------
    AnnData
        ``adata`` itself when nothing is left out, else a copy without those rows.
    """
    if "experiment" not in adata.obs:
        return adata
    keep = (adata.obs["experiment"].astype(str) != "timeseries").to_numpy()
    return adata if keep.all() else adata[keep].copy()
