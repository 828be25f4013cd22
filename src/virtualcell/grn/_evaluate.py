"""Scoring an inferred network against ground truth (BEELINE conventions), and its
stability across seeds / cell subsamples.

Candidate edges are every ordered pair ``(r, t)``, ``r`` in ``regulators`` (default: all
genes), ``t`` in ``genes``, ``r != t``. True edges outside that set (self-loops, unknown
genes) are dropped and counted. Candidate pairs missing from the prediction get a score
below every predicted one (ties). The ranking metrics come from
:mod:`virtualcell.metrics` (``auprc``, ``auroc``, ``auprc_ratio``, ``epr``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..metrics import EvalResult

__all__ = ["evaluate", "jaccard_top_k", "normalize_edges", "stability"]


def normalize_edges(edges: pd.DataFrame, *, what: str = "edge table") -> pd.DataFrame:
    """Edge table with columns ``regulator, target[, score][, sign]`` in the one edge-table
    format (:mod:`virtualcell.data._edges`: ``Gene1, Gene2, Type`` and the other aliases
    accepted), without the rows with ``label == 0``."""
    from ..data import normalize_edge_table

    df = normalize_edge_table(edges, what=what)
    if "label" in df.columns:
        df = df[df["label"].astype(int) == 1]
    return df.reset_index(drop=True)


def evaluate(
    edges: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    genes: Sequence[str],
    regulators: Iterable[str] | None = None,
    method: str | None = None,
    dataset: str = "data",
    split: str = "all",
    seed: int | None = None,
) -> EvalResult:
    """Score predicted edges against a ground-truth network.

    Parameters
    ----------
    edges
        Output of :func:`infer` (``regulator, target, score[, sign]``).
    truth
        True edges (``regulator, target[, sign]``, or BEELINE ``Gene1, Gene2, Type``).
    genes
        All genes of the data set (defines the candidate pairs).
    regulators
        Candidate regulators (e.g. the TFs the method was restricted to); default all
        genes. True edges from other regulators are dropped (counted).
    method, dataset, split, seed
        What the edges came from: they only label the rows of the result's table
        (``method`` default ``"edges"``; ``baseline`` is read from :data:`METHODS` when
        ``method`` is registered there).

    Returns
    -------
    EvalResult
        The evaluation contract (``vc.metrics.EvalResult``, task ``"grn"``): its
        ``table`` has one row per ranking metric (``auprc_ratio``, ``epr``, ``auroc``,
        ``auprc``; unit ``"network"``; direction from ``vc.metrics.METRIC_SPECS``); it
        reads as the mapping of every score (its ``report``): ``auprc``, ``auroc``, ``auprc_ratio`` (AUPRC / edge density), ``epr`` (precision
        in the top-k, k = number of true edges, over the density), ``early_precision``,
        ``density``, ``signed_accuracy`` (share of signed true edges whose predicted sign
        matches, among those with a predicted sign; None when either side has no signs),
        ``n_true_edges``, ``n_candidates``, ``n_truth_dropped`` (true edges outside the
        candidate pairs: self-loops, unknown genes, non-candidate regulators), and the hub
        enrichment scores of :mod:`virtualcell.metrics` as ``regulator_enrichment``,
        ``target_enrichment``, ``centrality_enrichment`` (1 = random; None if undefined).
    """
    from .. import metrics

    genes = [str(g) for g in genes]
    gset = set(genes)
    regs = (
        genes
        if regulators is None
        else list(dict.fromkeys(str(r) for r in regulators if str(r) in gset))
    )
    if not regs:
        raise ValidationError("none of the regulators is among the genes")
    rset = set(regs)
    tr = normalize_edges(truth, what="truth")
    keep = tr["regulator"].isin(rset) & tr["target"].isin(gset) & (tr["regulator"] != tr["target"])
    kept = tr[keep].drop_duplicates(["regulator", "target"])
    if kept.empty:
        raise ValidationError(
            "no true edge lies among the candidate pairs (check gene names / regulators); "
            f"truth genes e.g. {tr['regulator'].head(3).tolist()}, data genes e.g. {genes[:3]}"
        )
    pr = normalize_edges(edges, what="edges")
    if "score" not in pr.columns:
        raise ValidationError("edges lack a 'score' column")
    pr = pr[pr["regulator"].isin(rset) & pr["target"].isin(gset)]
    pr = pr.drop_duplicates(["regulator", "target"]).reset_index(drop=True)
    kw = {"genes": genes, "regulators": regs, "outside": "drop"}
    t_cols = ["regulator", "target"]
    out: dict[str, Any] = {
        "auprc": float(metrics.auprc(kept[t_cols], pr, **kw)),
        "auroc": float(metrics.auroc(kept[t_cols], pr, **kw)),
        "auprc_ratio": float(metrics.auprc_ratio(kept[t_cols], pr, **kw)),
        "epr": float(metrics.epr(kept[t_cols], pr, **kw)),
        "early_precision": float(metrics.early_precision(kept[t_cols], pr, **kw)),
    }
    n_cand = len(regs) * len(genes) - len(regs)
    out["density"] = len(kept) / n_cand
    out.update(n_true_edges=len(kept), n_candidates=n_cand, n_truth_dropped=int((~keep).sum()))
    for name in ("regulator_hub_enrichment", "target_hub_enrichment", "centrality_enrichment"):
        value = float(getattr(metrics, name)(kept[t_cols], pr, **kw))
        out[name.replace("_hub", "")] = None if np.isnan(value) else value
    out["signed_accuracy"] = None
    if "sign" in kept.columns and "sign" in pr.columns and (kept["sign"] != 0).any():
        acc = float(metrics.signed_accuracy(kept[[*t_cols, "sign"]], pr[[*t_cols, "sign"]]))
        out["signed_accuracy"] = None if np.isnan(acc) else acc
    return _result(out, method=method, dataset=dataset, split=split, seed=seed)


#: The ranking metrics of :func:`evaluate` in its result table (the leaderboard's order).
TABLE_METRICS = ("auprc_ratio", "epr", "auroc", "auprc")


def _result(
    scores: dict[str, Any], *, method: str | None, dataset: str, split: str, seed: int | None
) -> EvalResult:
    from ._methods import METHODS

    name = method or "edges"
    baseline = METHODS.entry(name).baseline if name in METHODS else False
    rows = [
        {"method": name, "baseline": baseline, "dataset": dataset, "split": split,
         "seed": seed, "unit": "network", "metric": m, "value": scores[m]}
        for m in TABLE_METRICS
    ]  # fmt: skip
    meta = {k: scores[k] for k in ("n_true_edges", "n_candidates", "n_truth_dropped", "density")}
    return EvalResult.from_rows("grn", rows, meta=meta, report=scores)


def jaccard_top_k(a: pd.DataFrame, b: pd.DataFrame, k: int) -> float:
    """Jaccard index of the top-``k`` directed edges of two edge tables (tables are
    assumed sorted by score, as :func:`infer` returns them).

    Parameters
    ----------
    a
        An edge table sorted by score (``regulator``, ``target`` ...).
    b
        Another such table.
    k
        How many top edges of each are compared.
    """
    sa = set(zip(a["regulator"].head(k), a["target"].head(k), strict=True))
    sb = set(zip(b["regulator"].head(k), b["target"].head(k), strict=True))
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


def stability(
    data: Any,
    *,
    method: str = "genie3",
    seeds: Sequence[int] = (0, 1, 2),
    subsample: float = 0.8,
    top_k: int = 100,
    **kwargs: Any,
) -> dict[str, Any]:
    """Stability of a method across seeds and cell subsamples.

    For each seed, ``subsample`` of the cells are drawn without replacement (all cells
    when ``subsample == 1``) and the method is run with that seed; the result is the
    Jaccard index of the top-``top_k`` edges for every pair of runs.

    Parameters
    ----------
    data
        AnnData, a path or a registry name (:func:`load_dataset`).
    method
        GRN method of :data:`METHODS`.
    seeds
        One subsample and one run per seed.
    subsample
        Share of the cells drawn without replacement per run (1: all).
    top_k
        Top edges compared between runs.

    Returns
    -------
    dict
        ``mean_jaccard``, ``min_jaccard``, ``pairwise`` (list), ``top_k``, ``seeds``.
    """
    from ._base import prepare
    from ._infer import infer

    if not 0 < subsample <= 1:
        raise ValidationError(f"subsample must be in (0, 1], got {subsample}")
    base = prepare(data, genes=kwargs.pop("genes", None), regulators=kwargs.pop("regulators", None))
    regs = [base.genes[i] for i in base.regulators]
    tables = []
    for sd in seeds:
        rows = np.arange(base.X.shape[0])
        if subsample < 1:
            rng = np.random.default_rng(sd)
            rows = np.sort(
                rng.choice(rows, size=max(3, round(subsample * len(rows))), replace=False)
            )
        sub = base.subset_cells(rows)
        import anndata as ad

        adata = ad.AnnData(sub.X, obs=sub.obs if len(sub.obs.columns) else None)
        adata.var_names = sub.genes
        tables.append(infer(adata, method=method, regulators=regs, seed=sd, **kwargs))
    pairs = [jaccard_top_k(a, b, top_k) for a, b in combinations(tables, 2)]
    return {
        "mean_jaccard": float(np.mean(pairs)) if pairs else 1.0,
        "min_jaccard": float(np.min(pairs)) if pairs else 1.0,
        "pairwise": pairs,
        "top_k": top_k,
        "seeds": list(seeds),
    }
