"""Evaluation protocols: annotation over seeds and methods; held-out (novel) cell types;
an embedding against known cell types. Each returns the evaluation contract's
:class:`virtualcell.metrics.EvalResult` (a tidy table of metric rows; metric directions
from ``vc.metrics.METRIC_SPECS``); the historic wide table is ``result["rows"]`` (records:
``pd.DataFrame(result["rows"])``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import doc_params, log
from ..metrics import EvalResult
from ._annotate import annotate, split_reference
from ._features import labels_of

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["evaluate_annotation", "evaluate_embedding", "evaluate_novel", "summarize"]

#: Metrics of each protocol in its result table (the others stay in ``result["rows"]``).
ANNOTATION_METRICS = ("accuracy", "macro_f1", "ece")
NOVEL_METRICS = ("auroc", "novel_flagged", "known_flagged", "known_accuracy")
EMBEDDING_METRICS = ("avg_bio", "nmi", "ari", "asw")


@doc_params
def evaluate_annotation(
    adata: AnnData,
    *,
    label_key: str,
    methods: Sequence[str] = ("knn", "linear_probe", "l1_logreg", "celltypist"),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    query_fraction: float = 0.3,
    query: Any = None,
    method_options: dict[str, dict[str, Any]] | None = None,
    dataset: str = "data",
    **annotate_options: Any,
) -> EvalResult:
    """Every method on every seed, side by side: one row per (method, seed).

    Each seed draws its own stratified reference/query split of ``adata``
    (``query_fraction``) — or, with ``query`` given, uses ``adata`` as the reference and
    ``query`` as the query for every seed (the seed then drives the calibration split and
    the methods).

    Parameters
    ----------
    methods
        Annotation methods of :data:`ANNOTATION_METHODS` to compare.
    seeds
        One reference/query split and one run per seed.
    query_fraction
        Share of the cells of each type held out as the query.
    query
        Separate query cells (AnnData): ``adata`` is then the whole reference.
    method_options
        Options per method name (``{"knn": {"k": 15}}``).
    dataset
        Dataset name recorded in the result table.

    Returns
    -------
    EvalResult
        Task ``"represent/annotation"``; table rows ``accuracy``, ``macro_f1``, ``ece``
        per (method, seed), unit ``"query"``, split ``"query"``, dataset ``dataset``;
        ``result["rows"]``: one record per (method, seed) with ``method``, ``baseline``,
        ``seed``, ``accuracy``, ``macro_f1``, ``majority_macro_f1``, ``prior_macro_f1``
        (the trivial baselines on the same query), ``ece``, ``ece_raw``, ``n_query``
        (:func:`summarize` of ``pd.DataFrame(result["rows"])`` gives mean ± sd;
        ``result.summary()`` the same for the table's metrics).
    """
    from ._registry import ANNOTATION_METHODS

    rows = []
    for seed in seeds:
        if query is None:
            ref, qry, _ = split_reference(
                adata, label_key=label_key, query_fraction=query_fraction, seed=seed
            )
        else:
            ref, qry = adata, query
        for name in methods:
            opts = (method_options or {}).get(name)
            log(f"evaluate_annotation: {name}, seed {seed}", level=1)
            res = annotate(
                ref,
                query=qry.copy(),
                label_key=label_key,
                method=name,
                seed=seed,
                method_options=opts,
                **annotate_options,
            )
            rows.append(
                {
                    "method": name,
                    "baseline": ANNOTATION_METHODS.entry(name).baseline,
                    "seed": seed,
                    **{
                        k: res.metrics.get(k, np.nan)
                        for k in (
                            "accuracy",
                            "macro_f1",
                            "majority_macro_f1",
                            "prior_macro_f1",
                            "ece",
                            "ece_raw",
                            "n_query",
                        )
                    },
                }
            )
    return _wide_result(
        "represent/annotation", rows, ANNOTATION_METRICS, dataset=dataset, split="query",
        unit="query",
    )  # fmt: skip


def _wide_result(
    task: str,
    rows: list[dict[str, Any]],
    metrics: Sequence[str],
    *,
    dataset: str,
    split: str,
    unit: str,
    meta: dict[str, Any] | None = None,
) -> EvalResult:
    """An :class:`EvalResult` from wide records (one column per metric); the records are
    the report's ``rows``."""
    wide = pd.DataFrame(rows)
    if unit not in wide:
        wide[unit] = unit
    return EvalResult.from_wide(
        task, wide, metrics=metrics, unit=unit, constants={"dataset": dataset, "split": split},
        meta=meta, report={"rows": [dict(r) for r in rows]},
    )  # fmt: skip


@doc_params
def evaluate_embedding(
    adata: AnnData,
    *,
    label_key: str,
    embedding: Any = None,
    seed: int = 0,
    method: str = "embedding",
    baseline: bool = False,
    dataset: str = "data",
) -> EvalResult:
    """An embedding against known cell types (unsupervised; scIB's bio-conservation).

    Parameters
    ----------
    adata
        The cells (labels in ``obs[label_key]``).
    embedding
        ``n_cells x d`` array, or the name of an ``adata.obsm`` entry (default
        ``"X_vc"``).
    seed
        Seed of the Leiden clusterings.
    method, baseline, dataset
        Labels of the result's rows.

    Returns
    -------
    EvalResult
        Task ``"represent/embedding"``, unit ``"all"``: ``nmi`` and ``ari`` of the Leiden
        clusters at the best resolution vs the labels (:func:`vc.metrics.leiden_nmi_ari`),
        ``asw`` (cell-type silhouette rescaled to [0, 1]) and ``avg_bio`` =
        ``(nmi + ari + asw) / 3`` (equal to :func:`vc.metrics.avg_bio`, which runs the
        clusterings again); ``result["avg_bio"]`` etc. read the scores.
    """
    from .. import metrics

    labels = labels_of(adata, label_key)
    if embedding is None or isinstance(embedding, str):
        key = embedding or "X_vc"
        if key not in adata.obsm:
            raise ValidationError(f"adata.obsm has no {key!r} (have {list(adata.obsm)})")
        embedding = adata.obsm[key]
    emb = np.asarray(embedding, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != adata.n_obs:
        raise ValidationError(
            f"embedding has shape {emb.shape}; expected ({adata.n_obs}, d) for {adata.n_obs} cells"
        )
    scores = metrics.avg_bio_parts(labels, emb, seed=seed)
    rows = [
        {"method": method, "baseline": baseline, "dataset": dataset, "split": "all",
         "seed": seed, "unit": "all", "metric": m, "value": scores[m]}
        for m in EMBEDDING_METRICS
    ]  # fmt: skip
    return EvalResult.from_rows("represent/embedding", rows, report=scores)


def summarize(table: pd.DataFrame, *, by: Sequence[str] = ("method",)) -> pd.DataFrame:
    """Mean and sample standard deviation of every numeric column per group."""
    num = [
        c
        for c in table.columns
        if c not in (*by, "seed", "baseline", "held_out")
        and pd.api.types.is_numeric_dtype(table[c])
    ]
    g = table.groupby(list(by), sort=False)[num]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd"))
    out["n"] = g.size()
    return out


@doc_params
def evaluate_novel(
    adata: AnnData,
    *,
    label_key: str,
    method: str = "knn",
    query_fraction: float = 0.3,
    seed: int = 0,
    min_cells: int = 5,
    types: Sequence[str] | None = None,
    dataset: str = "data",
    **annotate_options: Any,
) -> EvalResult:
    """Hold out each cell type in turn: how well does the unknown score find it?

    One stratified split (``query_fraction``, ``seed``); for each type ``t`` with at
    least ``min_cells`` query cells, the reference loses every ``t`` cell and the whole
    query is annotated. Columns per held-out type:

    * ``auroc`` — AUROC of ``vc_unknown_score`` for "is ``t``" over the query cells;
      ``auroc_confidence`` / ``auroc_distance`` — the same for its two parts alone
      (``1 - confidence``, distance CDF);
    * ``novel_flagged`` — share of ``t`` cells flagged unknown at the threshold (95th
      percentile of held-out reference scores);
    * ``known_flagged`` — share of known-type query cells flagged (false alarms);
    * ``known_accuracy`` — share of known-type query cells labelled correctly *and* not
      flagged; ``known_accuracy_closed`` — labelled correctly, flags ignored.

    Parameters
    ----------
    method
        Annotation method of :data:`ANNOTATION_METHODS`.
    query_fraction
        Share of the cells of each type held out as the query.
    min_cells
        Cell types with fewer query cells are not held out.
    types
        Cell types to hold out (default: every type with ``min_cells``).
    dataset
        Dataset name recorded in the result table.

    Returns
    -------
    EvalResult
        Task ``"represent/novel"``: table rows ``auroc``, ``novel_flagged``,
        ``known_flagged``, ``known_accuracy`` with the held-out type as the unit (method
        ``method``, split ``"novel"``); ``result["rows"]``: the records above, one per
        held-out type (with ``n_novel`` and the other columns).
    """
    from ..metrics import auroc

    labels_of(adata, label_key)
    ref, qry, _ = split_reference(
        adata, label_key=label_key, query_fraction=query_fraction, seed=seed
    )
    truth = qry.obs[label_key].astype(str).to_numpy()
    counts = pd.Series(truth).value_counts()
    candidates = sorted(counts.index[counts >= min_cells]) if types is None else list(types)
    if not candidates:
        raise ValidationError(f"no cell type has >= {min_cells} query cells")
    rows = []
    y_ref = ref.obs[label_key].astype(str).to_numpy()
    for t in candidates:
        keep = y_ref != t
        if len(np.unique(y_ref[keep])) < 2:
            continue
        log(f"evaluate_novel: holding out {t!r}", level=1)
        res = annotate(
            ref[keep].copy(),
            query=qry.copy(),
            label_key=label_key,
            method=method,
            seed=seed,
            **annotate_options,
        )
        novel = truth == t
        known = ~novel
        correct = res.labels == truth
        rows.append(
            {
                "held_out": t,
                "n_novel": int(novel.sum()),
                "auroc": auroc(novel.astype(int), res.unknown_score),
                "auroc_confidence": auroc(novel.astype(int), 1 - res.confidence),
                "auroc_distance": auroc(novel.astype(int), res.distance_score),
                "novel_flagged": float(res.unknown[novel].mean()),
                "known_flagged": float(res.unknown[known].mean()),
                "known_accuracy": float((correct & ~res.unknown)[known].mean()),
                "known_accuracy_closed": float(correct[known].mean()),
            }
        )
    for r in rows:
        r.update(method=method, baseline=False, seed=seed)
    return _wide_result(
        "represent/novel", rows, NOVEL_METRICS, dataset=dataset, split="novel", unit="held_out"
    )
