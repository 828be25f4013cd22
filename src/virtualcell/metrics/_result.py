"""One evaluation contract for every task: metric directions defined once and a typed,
tidy result (:class:`EvalResult`).

Every task package's ``evaluate`` (``vc.perturb``, ``vc.grn``, ``vc.represent``,
``vc.design``, ``vc.agent``) returns an :class:`EvalResult`: a long table with one row per
``(method, dataset, split, seed, unit, metric)`` — a *unit* is what the metric was computed
on (a perturbation, a cell set, a network, a task instance, or ``"all"`` for metrics taken
over the whole split) — plus run metadata and the task's detailed report. The benchmark
consumes that table through this public type only.

Metric direction and bound live in :data:`METRIC_SPECS` (one entry per reported metric
name); :func:`metric_spec` looks one up and :func:`higher_is_better` reads its direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError

__all__ = [
    "EVAL_COLUMNS",
    "METRIC_SPECS",
    "EvalResult",
    "MetricSpec",
    "higher_is_better",
    "metric_spec",
]

#: Columns of :attr:`EvalResult.table`, in order.
EVAL_COLUMNS = (
    "method",
    "baseline",
    "dataset",
    "split",
    "seed",
    "unit",
    "metric",
    "value",
    "higher_is_better",
)


@dataclass(frozen=True)
class MetricSpec:
    """One reported metric.

    Attributes
    ----------
    name
        The metric's name in every result table.
    higher_is_better
        Direction (errors, losses and distances: ``False``).
    bound
        Best attainable value (1.0 for correlations, AUROC, accuracy; 0.0 for errors);
        ``None`` when unbounded (AUPRC ratio, counts).
    description
        One line for tables and reports; the exact definition lives in ``docs/metrics.md``.
    """

    name: str
    higher_is_better: bool = True
    bound: float | None = None
    description: str = ""


def _specs(*rows: tuple[str, bool, float | None, str]) -> dict[str, MetricSpec]:
    return {r[0]: MetricSpec(*r) for r in rows}


#: Direction, bound and one-line description of every metric a task reports.
METRIC_SPECS: dict[str, MetricSpec] = _specs(
    # perturbation (target genes excluded by default; docs/perturb.md)
    ("pearson_delta", True, 1.0, "Pearson of predicted vs true change from control"),
    ("pearson_delta_top20_de", True, 1.0, "Pearson-delta over the 20 largest true changes"),
    ("mse", False, 0.0, "mean squared error of the profile"),
    ("mae", False, 0.0, "mean absolute error of the profile"),
    ("mse_top20_de", False, 0.0, "MSE over the 20 genes with the largest true change"),
    ("l2", False, 0.0, "Euclidean distance to the truth, 1,000 most expressed genes"),
    ("direction_agreement", True, 1.0, "sign agreement of the change, top-20 true DE genes"),
    ("de_overlap", True, 1.0, "VCC DE overlap (Wilcoxon + BH DE genes; cells only)"),
    ("de_recall", True, 1.0, "recall of the true DE genes"),
    ("de_fdp", False, 0.0, "false discovery proportion of the predicted DE genes"),
    ("pds", True, 1.0, "perturbation discrimination score (L1, target genes left out)"),
    (
        "pds_targets_out",
        True,
        1.0,
        "pds with every compared condition's target genes left out of every row "
        "(a constant prediction scores chance)",
    ),
    ("centroid_accuracy", True, 1.0, "Systema: share of other conditions farther away"),
    ("target_abs_error", False, 0.0, "|predicted - true| change of the perturbed gene(s)"),
    # network inference
    ("auprc_ratio", True, None, "AUPRC / edge density (1 = random ranking)"),
    ("epr", True, None, "early precision ratio: precision in the top-k / density"),
    ("auroc", True, 1.0, "area under the ROC curve (0.5 = random)"),
    ("auprc", True, 1.0, "average precision"),
    # representation
    ("avg_bio", True, 1.0, "(NMI + ARI + ASW_label) / 3 (scIB AvgBIO)"),
    ("nmi", True, 1.0, "NMI of clusters vs labels (Leiden best resolution; niches: k-means)"),
    ("ari", True, 1.0, "ARI of clusters vs labels (Leiden best resolution; niches: k-means)"),
    ("asw", True, 1.0, "cell-type silhouette width rescaled to [0, 1]"),
    ("accuracy", True, 1.0, "share of query cells labelled correctly"),
    ("macro_f1", True, 1.0, "unweighted mean of per-class F1"),
    ("ece", False, 0.0, "expected calibration error (15 equal-width bins)"),
    ("novel_flagged", True, 1.0, "share of a held-out type's cells flagged unknown"),
    ("known_flagged", False, 0.0, "share of known-type cells flagged unknown (false alarms)"),
    ("known_accuracy", True, 1.0, "known-type cells labelled correctly and not flagged"),
    # multi-omic (docs/multiomic.md)
    (
        "protein_pearson",
        True,
        1.0,
        "imputed vs measured CLR protein: Pearson across held-out cells, mean over proteins "
        "(constant prediction = 0)",
    ),
    ("protein_rmse", False, 0.0, "RMSE of imputed vs measured CLR protein, held-out cells"),
    (
        "foscttm",
        False,
        0.0,
        "fraction of cells closer than the true match, one modality embedded alone vs the "
        "other (0.5 = unrelated spaces)",
    ),
    ("modality_asw", True, 1.0, "batch ASW with modality as batch, per-modality embeddings"),
    # closed-loop design
    ("hit_rate", True, 1.0, "share of the true hits measured within the budget"),
    ("discovery_auc", True, 1.0, "mean of the discovery curve over the rounds"),
    ("hits", True, None, "distinct true hits measured within the budget"),
    # agents
    ("success_rate", True, 1.0, "share of tasks whose verified answer passes the checker"),
    ("valid_call_rate", True, 1.0, "tool calls that validated and ran / non-answer replies"),
)


def metric_spec(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of ``name``; a clear error names unknown metrics.

    Parameters
    ----------
    name
        A reported metric's name (a key of :data:`METRIC_SPECS`).

    Returns
    -------
    Its direction, bound and one-line description.
    """
    try:
        return METRIC_SPECS[name]
    except KeyError:
        raise ValidationError(
            f"unknown metric {name!r}; known: {', '.join(sorted(METRIC_SPECS))}"
        ) from None


def higher_is_better(name: str) -> bool:
    """Direction of metric ``name`` (from :data:`METRIC_SPECS`).

    Parameters
    ----------
    name
        A reported metric's name (a key of :data:`METRIC_SPECS`; unknown names are a
        :class:`~virtualcell.ValidationError`).

    Returns
    -------
    ``True`` when larger values are better, ``False`` for errors and distances.
    """
    return metric_spec(name).higher_is_better


@dataclass
class EvalResult(Mapping[str, Any]):
    """What every task's ``evaluate`` returns.

    Attributes
    ----------
    task
        The task's name (``"perturb/unseen_singles"``, ``"grn"``, ``"agent"``, ...).
    table
        Tidy long table, columns :data:`EVAL_COLUMNS` (``value`` NaN where a metric is
        undefined for a unit, e.g. a correlation of a constant prediction).
    meta
        Run metadata (version, seconds, options, leakage checks ...).
    report
        The task's detailed report (its historic shape; what ``--json`` prints). The
        result reads as this mapping too (``result["results"]``), so code written for the
        report keeps working.
    """

    task: str
    table: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in EVAL_COLUMNS if c not in self.table.columns]
        if missing:
            raise ValidationError(f"EvalResult table lacks column(s) {missing}")
        extra = [c for c in self.table.columns if c not in EVAL_COLUMNS]
        self.table = self.table.loc[:, [*EVAL_COLUMNS, *extra]].reset_index(drop=True)

    # -- the report as a read-only mapping ----------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.report[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.report)

    def __len__(self) -> int:
        return len(self.report)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_rows(
        cls,
        task: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        meta: Mapping[str, Any] | None = None,
        report: Mapping[str, Any] | None = None,
    ) -> EvalResult:
        """Build from dict rows; ``higher_is_better`` is filled from :data:`METRIC_SPECS`
        when a row leaves it out, ``unit`` defaults to ``"all"``."""
        out = []
        for r in rows:
            row = dict(r)
            row.setdefault("unit", "all")
            if row.get("higher_is_better") is None:
                row["higher_is_better"] = higher_is_better(str(row["metric"]))
            out.append(row)
        table = pd.DataFrame(out, columns=None if out else list(EVAL_COLUMNS))
        for c in EVAL_COLUMNS:
            if c not in table:
                table[c] = pd.Series(dtype=object)
        table["value"] = pd.to_numeric(table["value"], errors="coerce").astype(float)
        return cls(task=task, table=table, meta=dict(meta or {}), report=dict(report or {}))

    @classmethod
    def from_wide(
        cls,
        task: str,
        wide: pd.DataFrame,
        *,
        metrics: Sequence[str],
        unit: str,
        constants: Mapping[str, Any],
        meta: Mapping[str, Any] | None = None,
        report: Mapping[str, Any] | None = None,
    ) -> EvalResult:
        """Melt a wide per-unit table (one column per metric, the unit in column
        ``unit``) into rows; ``constants`` fills the other identifying columns (a column
        of ``wide`` with the same name wins)."""
        keep = [c for c in EVAL_COLUMNS if c in wide.columns and c not in ("metric", "value")]
        present = [m for m in metrics if m in wide.columns]
        long = wide.melt(
            id_vars=[unit, *[c for c in keep if c != unit]],
            value_vars=present,
            var_name="metric",
            value_name="value",
        ).rename(columns={unit: "unit"})
        for k, v in constants.items():
            if k not in long.columns:
                long[k] = v
        return cls.from_rows(task, long.to_dict("records"), meta=meta, report=report)

    @classmethod
    def concat(cls, results: Sequence[EvalResult], *, task: str | None = None) -> EvalResult:
        """One result from several (the tables stacked; meta and report of the first)."""
        if not results:
            raise ValidationError("no results to concatenate")
        table = pd.concat([r.table for r in results], ignore_index=True)
        first = results[0]
        return cls(task=task or first.task, table=table, meta=dict(first.meta),
                   report=dict(first.report))  # fmt: skip

    # -- aggregates ---------------------------------------------------------------------
    def summary(
        self, by: Sequence[str] = ("method", "baseline", "dataset", "split", "metric")
    ) -> pd.DataFrame:
        """Mean over units (NaN ignored) within each seed, then mean, sample sd and number
        of seeds over seeds; one row per ``by`` group."""
        t = self.table
        if t.empty:
            cols = [*by, "higher_is_better", "mean", "sd", "n_seeds", "n_units"]
            return pd.DataFrame(columns=cols)
        keys = [*by, "higher_is_better"]
        per_seed = (
            t.groupby([*keys, "seed"], dropna=False, sort=False)["value"]
            .agg(value=_nanmean, n_units="count")
            .reset_index()
        )
        agg = per_seed.groupby(keys, dropna=False, sort=False).agg(
            mean=("value", _nanmean),
            sd=("value", _nansd),
            n_seeds=("value", lambda v: int(np.isfinite(v.to_numpy(dtype=float)).sum())),
            n_units=("n_units", "sum"),
        )
        return agg.reset_index()

    def brief(self) -> str:
        """A compact one-line form (what an agent tool shows of a result): the scalar
        entries of :attr:`report`, else the mean of each method's metrics."""
        parts = []
        for k, v in self.report.items():
            if isinstance(v, float):
                parts.append(f"{k}: {v:.4g}")
            elif isinstance(v, (int, bool, str)) or v is None:
                parts.append(f"{k}: {v}")
        if not parts:
            s = self.summary(by=("method", "metric"))
            parts = [f"{r.method} {r.metric}: {r.mean:.4g}" for r in s.itertuples()]
        return f"{self.task} evaluation {{" + "; ".join(parts[:20]) + "}"

    def score_report(self, metric: str) -> dict[str, Any]:
        """The one-metric form a task command prints with ``--json``.

        Parameters
        ----------
        metric
            A metric of :attr:`table` (its direction comes from :data:`METRIC_SPECS`).

        Returns
        -------
        dict
            ``{"metric": metric, "higher_is_better": bool, "results": [{"method",
            "baseline", "score"}, ...]}``: one entry per method in the order the table
            first lists it; ``score`` is the mean over seeds of each seed's mean over units
            (as :meth:`summary`).
        """
        t = self.table
        if metric not in set(t["metric"]):
            known = ", ".join(sorted(set(t["metric"]))) or "none"
            raise ValidationError(f"no metric {metric!r} in this result (metrics: {known})")
        s = self.summary(by=("method", "baseline", "metric"))
        s = s[s["metric"] == metric]
        results = [
            {"method": str(r.method), "baseline": bool(r.baseline), "score": float(r.mean)}
            for r in s.itertuples()
        ]
        return {"metric": metric, "higher_is_better": higher_is_better(metric), "results": results}

    def value(self, method: str, metric: str) -> float:
        """Mean of ``metric`` for ``method`` over units, then over seeds (NaN if absent)."""
        s = self.summary(by=("method", "metric"))
        hit = s[(s["method"] == method) & (s["metric"] == metric)]
        return float(hit["mean"].iloc[0]) if len(hit) else math.nan


def _nanmean(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


def _nansd(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.std(ddof=1)) if arr.size > 1 else math.nan
