"""How a perturbation prediction is scored (the metrics of ``vc.perturb.evaluate``).

Every method's predictions are scored against the truth in the training expression space
(the control profile ``c`` = mean of the control rows, ``vc.metrics`` control rule):
:class:`Truth` holds the test conditions once per task (and fold), shared by every method;
:func:`score_predictions` scores one method's predictions per condition;
:func:`summaries` / :func:`add_normalized` turn the per-condition table into the method's summary.

**The perturbed genes are left out.** For condition ``i`` with perturbed genes ``T_i``
(``A`` and ``B`` for ``A+B``), every metric below except ``target_abs_error`` is computed
over ``K_i`` = the measured genes *not* in ``T_i``: a method that only knows "the knocked
gene drops" gains nothing from it. ``include_targets=True`` (CLI ``--include-targets``)
uses all genes instead (the numbers before this rule). Per condition
(:func:`vc.metrics.score_profiles`):

==========================  ====================================================================
``pearson_delta``           Pearson of predicted vs true change from control over ``K_i``; NaN
                            when the predicted change is constant or zero to round-off
                            (``no_change``: a zero change has no correlation, by definition)
``pearson_delta_top20_de``  the same over ``D_i`` = the 20 genes of ``K_i`` with the largest
                            ``|true - c|``
``mse``, ``mae``            over ``K_i``
``mse_top20_de``            MSE over ``D_i``
``l2``                      Euclidean distance over the 1,000 genes of ``K_i`` with the highest
                            control mean
``direction_agreement``     share of ``D_i`` where the predicted change has the true sign
``target_abs_error``        mean over the measured genes of ``T_i`` of ``|predicted change -
                            true change|`` (NaN when none is measured); reported apart
``de_overlap``              VCC DE score: Wilcoxon + BH DE genes of the true cells and of cells
                            sampled from the prediction (``Predictor.sample``), both with the
                            genes of ``T_i`` removed, ranked overlap
``de_recall``, ``de_fdp``   recall and false discovery proportion of those DE sets
==========================  ====================================================================

Across conditions: ``pds`` (perturbation discrimination score, L1; ``T_i`` always left
out, as in cell-eval) and ``centroid_accuracy`` (Systema, Euclidean over ``K_i``), both
among the test conditions, one value per condition. DE metrics need at least 3 cells per
condition and 3 control cells (NaN otherwise, e.g. DREAM4). Means are taken over
conditions (NaN ignored), overall, per test subgroup and per interaction stratum; for
doubles also the interaction-mode accuracy (:func:`vc.metrics.interaction_mode`, the
truth and the prediction both fitted on the *observed* single profiles, perturbed genes
left out). ``normalized`` holds cell-eval's baseline-normalised score of every metric
against the task's reference baseline (``additive`` for doubles, ``train_mean`` for unseen
singles).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data import split_perturbation
from ..metrics import PROFILE_METRICS
from ._data import expression_matrix, row_roles

if TYPE_CHECKING:  # pragma: no cover
    from ._tasks import Task

__all__ = [
    "METRIC_BEST",
    "PERTURB_METRICS",
    "Truth",
    "add_normalized",
    "interaction_report",
    "score_predictions",
    "summaries",
]

#: Every per-condition metric of the perturbation tasks: the profile metrics of
#: :func:`vc.metrics.score_profiles` and the DE-set metrics computed here from sampled
#: cells (directions in ``vc.metrics.METRIC_SPECS``).
PERTURB_METRICS = (*PROFILE_METRICS, "de_overlap", "de_recall", "de_fdp")


def _best() -> dict[str, str]:
    from ..metrics import higher_is_better

    return {m: "one" if higher_is_better(m) else "zero" for m in PERTURB_METRICS}


#: Direction of every reported metric in cell-eval's words (its normalisation rule needs
#: it), read from ``vc.metrics.METRIC_SPECS``.
METRIC_BEST = _best()
_MIN_CELLS = 3
#: Sampled values (cells x genes) held at once when scoring the DE metrics.
_SAMPLE_BLOCK = 2**25


class Truth:
    """Pseudobulk truth, control and (optionally) cells of every test condition of a
    :class:`Task`, in the expression space of the predictors (``counts``: the data came in
    as counts, so the space is ``log1p`` of counts per 10,000)."""

    def __init__(self, task: Task, counts: bool) -> None:
        truth = task.truth
        labels, role, _ = row_roles(truth, perturbation_type=task.perturbation_type)
        x, _ = expression_matrix(truth, counts=counts)
        self.genes = [str(g) for g in truth.var_names]
        self.conditions = task.conditions
        ctrl = np.flatnonzero(role == "control")
        self.control = _mean(x, ctrl)
        self.profiles = np.vstack([_mean(x, np.flatnonzero(labels == c)) for c in self.conditions])
        self.n_cells = np.array([(labels == c).sum() for c in self.conditions])
        self.cells_ok = len(ctrl) >= _MIN_CELLS and bool((self.n_cells >= _MIN_CELLS).all())
        self.x, self.labels, self.ctrl_rows = x, labels, ctrl
        self.counts = counts
        self._true_de: dict[str, list[str]] = {}
        self._de_ref: Any = None
        self._pred_de: dict[Any, dict] = {}

    def cells(self, cond: str) -> Any:
        return self.x[np.flatnonzero(self.labels == cond)]

    @property
    def de_reference(self) -> Any:
        """The control cells prepared once for every DE test of every method
        (:class:`vc.metrics.DEReference`, equal to ``de_test`` against them)."""
        if self._de_ref is None:
            from ..metrics import DEReference

            self._de_ref = DEReference(self.x[self.ctrl_rows], genes=self.genes)
        return self._de_ref

    def true_de(self, cond: str) -> list[str]:
        from ..metrics import de_genes

        if cond not in self._true_de:
            self._true_de[cond] = de_genes(self.de_reference.test(self.cells(cond)))
        return self._true_de[cond]


def _mean(x: Any, rows: np.ndarray) -> np.ndarray:
    sub = x[rows]
    return np.asarray(sub.mean(axis=0), dtype=np.float64).ravel()


def score_predictions(
    truth: Truth,
    predicted: np.ndarray,
    *,
    predictor: Any = None,
    seed: int = 0,
    include_targets: bool = False,
) -> pd.DataFrame:
    """Per-condition metrics of ``predicted`` (conditions x genes, rows in
    ``truth.conditions`` order); see the module docstring. ``predictor`` (fitted) enables
    the DE metrics (cells sampled from the prediction); ``include_targets`` keeps the
    perturbed genes in every metric.

    Parameters
    ----------
    truth
        The observed test conditions (profiles, control, genes, cells when present).
    predicted
        Predicted mean profiles, conditions x genes, rows in ``truth.conditions`` order.
    predictor
        The fitted :class:`Predictor` whose ``sample`` draws cells for the DE metrics
        (``None``: DE metrics are NaN).
    seed
        Seed of the cell sampling.
    include_targets
        Keep the perturbed genes in every metric (default: scored without them).

    Returns
    -------
    pandas.DataFrame
        One row per condition, one column per metric (:data:`PERTURB_METRICS`).
    """
    from ..metrics import de_fdp, de_genes, de_overlap, de_recall, score_profiles

    table = score_profiles(
        truth.profiles,
        predicted,
        truth.control,
        labels=truth.conditions,
        genes=truth.genes,
        include_targets=include_targets,
    )
    table["de_overlap"] = table["de_recall"] = table["de_fdp"] = np.nan
    if truth.cells_ok and predictor is not None:
        import anndata as ad

        reference = truth.de_reference
        memo = _de_memo(truth, predictor, seed)
        n_sample = int(truth.n_cells.max())
        conds = list(truth.conditions)
        # The base class's sample draws condition after condition from one random
        # stream (np.random.default_rng(seed), which passes a Generator through): called
        # on blocks of conditions with the same Generator it gives exactly the cells of
        # one call, without holding every sampled cell at once (a large screen's
        # 125 conditions x 360 cells x 5,000 genes are GBs). Other samplers: one call.
        if memo is not None:
            block = max(1, _SAMPLE_BLOCK // max(1, n_sample * len(truth.genes)))
            stream: Any = np.random.default_rng(seed)
        else:
            block, stream = len(conds), seed
        pred_all: list[list[str]] = []
        for lo in range(0, len(conds), block):
            part = conds[lo : lo + block]
            sample_in = ad.AnnData(
                X=np.asarray(predicted[lo : lo + block], dtype=np.float64),
                obs=pd.DataFrame({"perturbation": part}, index=part),
                var=pd.DataFrame(index=truth.genes),
            )  # fmt: skip
            cells = predictor.sample(sample_in, n_cells=n_sample, seed=stream)
            px, _ = expression_matrix(cells, counts=truth.counts)
            plab = cells.obs["perturbation"].astype(str).to_numpy()
            del cells
            for j, cond in enumerate(part):
                i = lo + j
                key = None if memo is None else (i, np.asarray(predicted[i], np.float64).tobytes())
                if memo is not None and key in memo:
                    pred_all.append(memo[key])
                    continue
                sel = np.flatnonzero(plab == cond)[: truth.n_cells[i]]
                found = de_genes(reference.test(px[sel]))
                if memo is not None:
                    memo[key] = found
                pred_all.append(found)
            del px
        for i, cond in enumerate(conds):
            pred_de = pred_all[i]
            true_de = truth.true_de(cond)
            if not include_targets:
                targets = set(split_perturbation(cond))
                pred_de = [g for g in pred_de if g not in targets]
                true_de = [g for g in true_de if g not in targets]
            table.loc[i, "de_overlap"] = de_overlap(true_de, pred_de)
            table.loc[i, "de_recall"] = de_recall(true_de, pred_de)
            table.loc[i, "de_fdp"] = de_fdp(true_de, pred_de)
    return table


def _de_memo(truth: Truth, predictor: Any, seed: int) -> dict | None:
    """DE genes of sampled cells already computed for the same prediction of a condition:
    :meth:`Predictor.sample` draws the cells of condition ``i`` from the same random
    stream position whatever the predicted values, so the same predicted row, seed and
    control cells give the same cells and the same DE genes (methods that fall back to
    the training mean share them). Only for the base class's ``sample``."""
    from ._base import Predictor

    if type(predictor).sample is not Predictor.sample:
        return None
    data = predictor.data_
    cells, library = data.control_cells, data.control_library
    digest = hashlib.sha256(np.ascontiguousarray(cells).tobytes())
    if library is not None:
        digest.update(np.ascontiguousarray(library).tobytes())
    key = (seed, int(truth.n_cells.max()), cells.shape, digest.hexdigest())
    return truth._pred_de.setdefault(key, {})


def interaction_report(task: Task, truth: Truth, predicted: np.ndarray) -> dict[str, Any] | None:
    """Interaction-mode accuracy over doubles whose singles are observed (anywhere)."""
    from ..metrics import INTERACTION_MODES, interaction_mode

    if task.singles is None:
        return None
    labels, role, _ = row_roles(task.singles, perturbation_type=task.perturbation_type)
    x, _ = expression_matrix(task.singles, counts=truth.counts)
    single = {
        lab: _mean(x, np.flatnonzero(labels == lab)) for lab in set(labels[role == "primary"])
    }
    gidx = {g: i for i, g in enumerate(truth.genes)}
    true_modes, pred_modes, conds = [], [], []
    for i, cond in enumerate(truth.conditions):
        genes = split_perturbation(cond)
        if len(genes) < 2 or not all(g in single for g in genes):
            continue
        ex = [gidx[g] for g in genes if g in gidx]
        singles = [single[g] for g in genes]
        true_modes.append(
            interaction_mode(truth.profiles[i], singles, control=truth.control, exclude=ex)
        )
        pred_modes.append(
            interaction_mode(predicted[i], singles, control=truth.control, exclude=ex)
        )
        conds.append(cond)
    if not conds:
        return None
    modes = list(INTERACTION_MODES)
    confusion = pd.crosstab(
        pd.Categorical(true_modes, categories=modes), pd.Categorical(pred_modes, categories=modes),
        dropna=False,
    )  # fmt: skip
    return {
        "n": len(conds),
        "accuracy": float(np.mean(np.array(true_modes) == np.array(pred_modes))),
        "modes": modes,
        "confusion": confusion.to_numpy().tolist(),  # rows = truth, columns = prediction
        "truth": dict(zip(conds, true_modes, strict=True)),
        "predicted": dict(zip(conds, pred_modes, strict=True)),
    }


def summaries(table: pd.DataFrame, task: Task) -> dict[str, Any]:
    """One method's summary: the mean of every metric over the conditions of ``table``
    (NaN ignored), overall, per test subgroup and (simulated data) per interaction
    stratum."""
    metrics = [m for m in METRIC_BEST if m in table]
    out: dict[str, Any] = {m: _nanmean(table[m]) for m in metrics}
    by_sub = {}
    for name, conds in task.subgroups.items():
        sub = table[table["perturbation"].isin(conds)]
        by_sub[name] = {"n": len(sub), **{m: _nanmean(sub[m]) for m in metrics}}
    out["by_subgroup"] = by_sub
    if task.strata:
        by_stratum: dict[str, Any] = {}
        for name, conds in task.subgroups.items():
            sub = table[table["perturbation"].isin(conds)]
            strata = sub["perturbation"].map(task.strata)
            for stratum in ("additive", "moderate", "strong"):
                part = sub[(strata == stratum).to_numpy()]
                if len(part):
                    by_stratum.setdefault(name, {})[stratum] = {
                        "n": len(part), **{m: _nanmean(part[m]) for m in metrics}
                    }  # fmt: skip
        out["by_stratum"] = by_stratum
    return out


def _nanmean(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def add_normalized(results: list[dict[str, Any]], reference: str) -> None:
    """Add ``normalized`` (cell-eval's baseline-normalised score of every metric against
    the ``reference`` method's) to every result that did not fail, in place."""
    from ..metrics import baseline_normalized

    ref = next((r for r in results if r["method"] == reference and "error" not in r), None)
    for r in results:
        if ref is None or "error" in r:
            continue
        r["normalized"] = {
            "reference": reference,
            **{
                m: baseline_normalized(r[m], ref[m], best=best)
                for m, best in METRIC_BEST.items()
                if m in r and m in ref
            },
        }
