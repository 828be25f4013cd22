"""Evaluation protocols: annotation over seeds and methods; held-out (novel) cell types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import log
from ._annotate import annotate, split_reference
from ._features import labels_of

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["evaluate_annotation", "evaluate_novel", "summarize"]


def evaluate_annotation(
    adata: AnnData,
    *,
    label_key: str,
    methods: Sequence[str] = ("knn", "linear_probe", "l1_logreg", "celltypist"),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    query_fraction: float = 0.3,
    query: Any = None,
    method_options: dict[str, dict[str, Any]] | None = None,
    **annotate_options: Any,
) -> pd.DataFrame:
    """Every method on every seed, side by side: one row per (method, seed).

    Each seed draws its own stratified reference/query split of ``adata``
    (``query_fraction``) — or, with ``query`` given, uses ``adata`` as the reference and
    ``query`` as the query for every seed (the seed then drives the calibration split and
    the methods). Columns: ``method``, ``baseline``, ``seed``, ``accuracy``, ``macro_f1``,
    ``majority_macro_f1``, ``prior_macro_f1`` (the trivial baselines on the same query),
    ``ece``, ``ece_raw``, ``n_query``. Use :func:`summarize` for mean ± sd.
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
    return pd.DataFrame(rows)


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


def evaluate_novel(
    adata: AnnData,
    *,
    label_key: str,
    method: str = "knn",
    query_fraction: float = 0.3,
    seed: int = 0,
    min_cells: int = 5,
    types: Sequence[str] | None = None,
    **annotate_options: Any,
) -> pd.DataFrame:
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
    return pd.DataFrame(rows)
