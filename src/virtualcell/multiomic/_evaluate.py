"""Scoring multi-omic embeddings and protein imputation against the truth.

``evaluate_embedding`` embeds the cells with every method (baselines included, the same
modalities and dimensions for all) and scores each embedding by the same clustering sweep:
scIB AvgBIO on ``obs[label_key]`` (:func:`virtualcell.metrics.avg_bio`; its parts NMI,
ARI, ASW reported too). Only the scorer reads the labels. Methods that can embed each
modality alone into their shared space are also scored for modality mixing
(:func:`virtualcell.metrics.foscttm`, :func:`virtualcell.metrics.modality_asw`); the
others are reported as not applicable.

``evaluate_imputation`` splits the cells at random (``test_fraction`` held out per seed),
imputes the held-out cells' protein from their RNA with every method trained on the rest,
and scores against their measured protein on the CLR scale: ``protein_pearson`` (mean over
proteins of the Pearson correlation across held-out cells; a constant prediction, such as
the ``mean`` baseline's, counts 0 — it carries no information about which cells have more)
and ``protein_rmse`` (root mean squared error over all held-out cells and proteins).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ValidationError
from .._utils import check_number, log
from ..metrics import EvalResult, avg_bio_parts, foscttm, modality_asw, pearson, rmse
from ._embed import EMBED_METHODS, embed_per_modality, method_applicable
from ._impute import IMPUTE_METHODS, impute_protein
from ._modality import normalized, pick_modalities

if TYPE_CHECKING:  # pragma: no cover
    import mudata as md

__all__ = ["evaluate_embedding", "evaluate_imputation"]


def _labels(mdata: md.MuData, label_key: str) -> np.ndarray:
    if label_key not in mdata.obs:
        raise ValidationError(
            f"no obs column {label_key!r} with the true labels; columns: "
            f"{', '.join(map(str, mdata.obs.columns)) or '(none)'}"
        )
    lab = mdata.obs[label_key]
    if lab.isna().any():
        raise ValidationError(f"obs[{label_key!r}] has missing labels")
    return lab.astype(str).to_numpy()


def _dataset(mdata: md.MuData) -> str:
    src = mdata.uns.get("vc", {}).get("source", {}) if isinstance(mdata.uns, dict) else {}
    return str(src.get("path", "data")) if isinstance(src, dict) else "data"


def evaluate_embedding(
    mdata: md.MuData,
    *,
    methods: Sequence[str] | None = None,
    modalities: Sequence[str] | str | None = None,
    seeds: Sequence[int] = (0,),
    label_key: str = "cell_type",
    n_comps: int = 20,
    dataset: str | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> EvalResult:
    """Score every embedding method (baselines included) by AvgBIO on the true labels.

    Parameters
    ----------
    mdata
        Paired modalities with ``obs[label_key]``.
    methods
        Names in :data:`EMBED_METHODS` (default: every method that runs on
        ``modalities``).
    modalities
        Modalities to embed (default: every known modality of ``mdata``).
    seeds
        Random states of the decompositions and of the clustering; one row set each.
    label_key
        ``obs`` column of the true cell types (read by the scorer only).
    n_comps
        Dimensions of each PCA / LSI.
    dataset
        Name in the result table (default: the file the data came from).
    method_options
        ``{method: {option: value}}`` passed to :func:`embed` (e.g.
        ``{"joint_vae": {"n_steps": 300}}``).

    Returns
    -------
    EvalResult
        Task ``multiomic_embed``; metrics ``avg_bio``, ``nmi``, ``ari``, ``asw`` and, for
        methods that embed each modality alone into their space
        (:data:`~virtualcell.multiomic.PER_MODALITY`), the modality mixing ``foscttm``
        (lower is better) and ``modality_asw``; ``report["results"]`` lists ``{"method",
        "baseline", "score"}`` with the AvgBIO mean over seeds, ``report["mixing"]``
        ``{"method", "baseline", "foscttm", "modality_asw"}`` (means over seeds, or
        ``"not applicable"``).
    """
    lab = _labels(mdata, label_key)
    names = pick_modalities(mdata, modalities)
    if methods is None:
        methods = [m for m in EMBED_METHODS.names() if method_applicable(m, names)]
    else:
        methods = [str(m) for m in methods]
        for m in methods:
            EMBED_METHODS.get(m)
            if not method_applicable(m, names):
                raise ValidationError(f"method {m!r} cannot run on modalities {', '.join(names)}")
    if not seeds:
        raise ValidationError("seeds must name at least one seed")
    dataset = dataset or _dataset(mdata)
    rows = []
    for seed in seeds:
        for method in methods:
            entry = EMBED_METHODS.entry(method)
            z, parts = embed_per_modality(
                mdata,
                method=method,
                modalities=names,
                n_comps=n_comps,
                seed=int(seed),
                method_options=(method_options or {}).get(method),
            )
            mdata.obsm[f"X_{method}"] = z
            values = avg_bio_parts(lab, z, seed=int(seed))
            if parts is not None:
                values.update(mixing_scores(parts, lab))
            log(f"multiomic embed {method} seed {seed}: avg_bio {values['avg_bio']:.4f}")
            for metric, value in values.items():
                rows.append(
                    {
                        "method": method,
                        "baseline": entry.baseline,
                        "dataset": dataset,
                        "split": "all",
                        "seed": int(seed),
                        "unit": "all",
                        "metric": metric,
                        "value": float(value),
                    }
                )
    result = EvalResult.from_rows("multiomic_embed", rows)
    report = result.score_report("avg_bio")
    report.update(_best(report["results"]))
    report["mixing"] = _mixing_report(result, methods)
    meta = {"modalities": names, "seeds": [int(s) for s in seeds], "label_key": label_key}
    return EvalResult("multiomic_embed", result.table, meta=meta, report=report)


#: The modality-mixing metrics of ``evaluate_embedding`` (docs/multiomic.md).
MIXING_METRICS = ("foscttm", "modality_asw")


def mixing_scores(parts: Mapping[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """FOSCTTM and modality ASW of per-modality embeddings in one space; with more than
    two modalities, the mean over the modality pairs."""
    names = list(parts)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    return {
        "foscttm": float(np.mean([foscttm(parts[a], parts[b]) for a, b in pairs])),
        "modality_asw": float(
            np.mean([modality_asw(parts[a], parts[b], labels=labels) for a, b in pairs])
        ),
    }


def _mixing_report(result: EvalResult, methods: Sequence[str]) -> list[dict[str, Any]]:
    """Per method the mixing metrics' means over seeds, or "not applicable"."""
    s = result.summary(by=("method", "metric"))
    means = {(r.method, r.metric): float(r.mean) for r in s.itertuples()}
    out = []
    for method in methods:
        row: dict[str, Any] = {
            "method": method,
            "baseline": EMBED_METHODS.entry(method).baseline,
        }
        for metric in MIXING_METRICS:
            row[metric] = means.get((method, metric), NOT_APPLICABLE)
        out.append(row)
    return out


#: What the report says for a method that cannot embed one modality alone.
NOT_APPLICABLE = "not applicable"


def _best(results: list[dict[str, Any]], higher: bool = True) -> dict[str, Any]:
    """Scalar entries naming the best method and the best baseline (what an agent sees)."""
    out: dict[str, Any] = {}
    for key, rows in (
        ("best_method", [r for r in results if not r["baseline"]]),
        ("best_baseline", [r for r in results if r["baseline"]]),
    ):
        finite = [r for r in rows if np.isfinite(r["score"])]
        if finite:
            top = max(finite, key=lambda r: r["score"] if higher else -r["score"])
            out[key] = top["method"]
            out[f"{key}_score"] = float(top["score"])
    return out


def _subset(mdata: md.MuData, rows: np.ndarray) -> md.MuData:
    import mudata

    with mudata.set_options(pull_on_update=False):
        return mdata[rows].copy()


def _protein_pearson(truth: np.ndarray, pred: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant predictions: counted 0
        r = np.asarray(pearson(truth, pred, axis=0), dtype=float)
    return float(np.nan_to_num(r, nan=0.0).mean())


def evaluate_imputation(
    mdata: md.MuData,
    *,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    test_fraction: float = 0.3,
    rna: str = "rna",
    protein: str = "protein",
    n_comps: int = 20,
    k: int = 15,
    dataset: str | None = None,
) -> EvalResult:
    """Score protein imputation from RNA on held-out cells, baselines included.

    Parameters
    ----------
    mdata
        Paired RNA and protein counts.
    methods
        Names in :data:`IMPUTE_METHODS` (default: all).
    seeds
        One random split (and method seed) each.
    test_fraction
        Share of the cells held out.
    rna, protein
        Modality names.
    n_comps, k
        PCA dimensions and neighbours of ``knn`` (:func:`impute_protein`).
    dataset
        Name in the result table (default: the file the data came from).

    Returns
    -------
    EvalResult
        Task ``multiomic_impute``; metrics ``protein_pearson`` and ``protein_rmse``;
        ``report["results"]`` lists ``{"method", "baseline", "score"}`` with the
        ``protein_pearson`` mean over seeds.
    """
    check_number("test_fraction", test_fraction, low=0, high=1, low_open=True, high_open=True)
    methods = list(methods) if methods is not None else IMPUTE_METHODS.names()
    for m in methods:
        IMPUTE_METHODS.get(m)
    if not seeds:
        raise ValidationError("seeds must name at least one seed")
    pick_modalities(mdata, [rna, protein])
    n = mdata.n_obs
    n_test = round(test_fraction * n)
    if n_test < 2 or n - n_test < 2:
        raise ValidationError(f"{n} cells are too few to hold out {test_fraction:g} of them")
    dataset = dataset or _dataset(mdata)
    rows = []
    for seed in seeds:
        perm = np.random.default_rng(int(seed)).permutation(n)
        test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        mtrain = _subset(mdata, train)
        query = mdata.mod[rna][mdata.obs_names[test]]
        truth = normalized(mdata.mod[protein][mdata.obs_names[test]].X, "protein", scale=False)
        for method in methods:
            pred = impute_protein(
                mtrain,
                query,
                method=method,
                rna=rna,
                protein=protein,
                n_comps=n_comps,
                k=k,
                seed=int(seed),
            ).to_numpy()
            values = {
                "protein_pearson": _protein_pearson(truth, pred),
                "protein_rmse": float(rmse(truth, pred)),
            }
            for metric, value in values.items():
                rows.append(
                    {
                        "method": method,
                        "baseline": IMPUTE_METHODS.entry(method).baseline,
                        "dataset": dataset,
                        "split": f"random_{test_fraction:g}",
                        "seed": int(seed),
                        "unit": "all",
                        "metric": metric,
                        "value": value,
                    }
                )
    result = EvalResult.from_rows("multiomic_impute", rows)
    report = result.score_report("protein_pearson")
    report.update(_best(report["results"]))
    meta = {"seeds": [int(s) for s in seeds], "test_fraction": float(test_fraction)}
    return EvalResult("multiomic_impute", result.table, meta=meta, report=report)
