"""``evaluate_niches``: niche embeddings -> spatial domains, scored against the true niches.

Every method gets the same inputs (the expression and the spatial graph only: the
section is copied without ``obs``, so no truth field can reach a method), the same
clustering step (:func:`~._domains.cluster_domains`) and the same number of domains.
Only the scorer reads ``obs[truth_key]``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import ValidationError
from .._utils import log
from ..metrics import EvalResult
from ._domains import _check_n_domains, cluster_domains
from ._graph import DEFAULT_NEIGHBORS, coordinates, neighbors
from ._niches import NicheInputs

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["evaluate_niches"]


def _blind_copy(adata: AnnData, layer: str | None) -> AnnData:
    """The expression and the coordinates of ``adata``, nothing else."""
    import anndata as ad

    from ..represent import expression

    X, genes = expression(adata, layer=layer)
    out = ad.AnnData(X)
    out.var_names = [str(g) for g in genes]
    out.var_names_make_unique()
    out.obsm["spatial"] = coordinates(adata)
    return out


def evaluate_niches(
    adata: AnnData,
    *,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    n_domains: int | None = None,
    n_neighbors: int = DEFAULT_NEIGHBORS,
    domain_method: Literal["kmeans", "leiden"] = "kmeans",
    truth_key: str = "niche",
    layer: str | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    dataset: str = "adata",
    include_baselines: bool = True,
) -> EvalResult:
    """Score niche embeddings by the spatial domains they give against the true niches.

    For every seed and method: the niche embedding (:func:`niche_embed`'s methods), then
    the one clustering step (:func:`cluster_domains`, ``domain_method``) into
    ``n_domains`` domains, scored with :func:`virtualcell.metrics.ari` and
    :func:`virtualcell.metrics.nmi` against ``obs[truth_key]``.

    Parameters
    ----------
    adata
        A section with ``obsm["spatial"]``, counts and the true niche of every cell
        (``obs[truth_key]``, e.g. from :func:`virtualcell.sim.simulate_tissue`).
    methods
        Niche embeddings to score (default: every one of :func:`list_niche_embeddings`);
        the baselines ``expression`` and ``neighbor_pca`` are added (``include_baselines``).
    seeds
        Seeds (of the methods and of k-means).
    n_domains
        Number of domains, the same for every method. ``None`` (default): the true
        number of niches (distinct values of ``obs[truth_key]``), given alike to every
        method — the evaluation then measures how well the domains match the niches, not
        how well a method guesses their number.
    n_neighbors
        Neighbours per cell of the spatial graph.
    domain_method
        ``kmeans`` or ``leiden`` (resolution bisected to ``n_domains``).
    truth_key
        ``obs`` column of the true niches (read by the scorer only).
    layer
        Expression layer (``"raw"`` = ``adata.raw``).
    method_options
        ``{method: {option: value}}`` (e.g. ``{"niche_transformer": {"steps": 100}}``).
    dataset
        Name of the dataset in the result table.
    include_baselines
        Add the baselines ``expression`` and ``neighbor_pca`` to ``methods`` (``False``:
        exactly ``methods``; the benchmark scores one method per grid cell).

    Returns
    -------
    EvalResult
        Task ``spatial/niches``; metrics ``ari`` and ``nmi`` (unit ``all``) per method and
        seed. ``report``: ``{"metric": "ari", "higher_is_better": True, "results":
        [{"method", "baseline", "score"} ...]}`` (score: mean ARI over seeds; what
        ``vcell spatial niches --json`` prints; per method also ``nmi`` and ``seconds``),
        ``ari_<method>`` for each method, ``n_domains``, ``n_domains_from``, ``n_cells``
        and ``seeds``.
    """
    from ..metrics import ari, nmi
    from ._registry import NICHE_EMBEDDINGS

    if truth_key not in adata.obs:
        raise ValidationError(
            f"no obs[{truth_key!r}]: the true niche of every cell is needed to score "
            "(vc.sim.simulate_tissue writes it)"
        )
    truth = adata.obs[truth_key].astype(str).to_numpy()
    if not seeds:
        raise ValidationError("seeds is empty")
    names = [str(m).strip().lower() for m in (NICHE_EMBEDDINGS.names() if methods is None
                                              else methods)]  # fmt: skip
    if include_baselines:  # baselines first, in name order, then the methods as given
        base = NICHE_EMBEDDINGS.names(baseline=True)
        names = base + [n for n in names if n not in base]
    names = list(dict.fromkeys(names))
    if not names:
        raise ValidationError("no niche embedding to evaluate")
    entries = {n: NICHE_EMBEDDINGS.entry(n) for n in names}
    options = {str(k).lower(): dict(v) for k, v in (method_options or {}).items()}
    unknown = sorted(set(options) - set(entries))
    if unknown:
        raise ValidationError(f"method_options for methods not evaluated: {unknown}")
    k = len(np.unique(truth)) if n_domains is None else _check_n_domains(n_domains, adata.n_obs)
    k = _check_n_domains(k, adata.n_obs)

    work = _blind_copy(adata, layer)
    t0 = time.perf_counter()
    neighbors(work, n_neighbors=n_neighbors)
    inputs = NicheInputs.from_adata(work)
    seconds: dict[str, float] = {"graph": time.perf_counter() - t0}
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for name, entry in entries.items():
            t = time.perf_counter()
            z = entry.obj(inputs, seed=int(seed), **options.get(name, {}))
            labels = cluster_domains(z, n_domains=k, method=domain_method, seed=int(seed))
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t
            scores = {"ari": ari(truth=truth, clusters=labels),
                      "nmi": nmi(truth=truth, clusters=labels)}  # fmt: skip
            log(f"niches: {name} seed {seed}: ARI {scores['ari']:.3f} NMI {scores['nmi']:.3f}")
            for metric, value in scores.items():
                rows.append({"method": name, "baseline": entry.baseline, "dataset": dataset,
                             "split": "all", "seed": int(seed), "unit": "all",
                             "metric": metric, "value": float(value)})  # fmt: skip
    result = EvalResult.from_rows("spatial/niches", rows)
    summary = result.summary(by=("method", "metric"))
    mean = {(r.method, r.metric): float(r.mean) for r in summary.itertuples()}
    report = result.score_report("ari")
    for r in report["results"]:
        r["nmi"] = mean[(r["method"], "nmi")]
        r["seconds"] = round(seconds[r["method"]] / len(seeds), 3)
    report |= {
        # one scalar per method, so that a brief view of the result (an agent tool's
        # observation, EvalResult.brief) shows every score
        **{f"ari_{n}": mean[(n, "ari")] for n in entries},
        "n_domains": int(k),
        "n_domains_from": "truth" if n_domains is None else "user",
        "n_cells": int(adata.n_obs),
        "seeds": [int(s) for s in seeds],
    }
    meta = {"seconds": seconds, "n_neighbors": int(n_neighbors), "domain_method": domain_method,
            "method_options": options}  # fmt: skip
    return EvalResult("spatial/niches", result.table, meta=meta, report=report)
