"""``annotate``: label query cells from a labelled reference, calibrated, with an unknown score.

Protocol (every method, so numbers are comparable):

1. the reference is split, stratified by label and seeded, into a *fit* part and a
   held-out *calibration* part (``calibration_fraction``, default 20 %; a label with a
   single cell stays in the fit part);
2. the method (and its embedding) is fitted on the fit part only;
3. its scores on the calibration part fit the calibration (``temperature`` /
   ``isotonic``) and the unknown-score scale (:mod:`._novel`);
4. query cells get the argmax label, the calibrated confidence and the unknown score.

With ``calibration="none"`` nothing is held out (the method sees the whole reference)
and the unknown score uses the raw confidence; its distance scale and threshold then
come from leave-self-out distances within the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import doc_params, log
from ._calibrate import CalibrationMethod, Calibrator, softmax
from ._features import labels_of
from ._novel import NoveltyScorer

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["AnnotationResult", "annotate", "split_reference", "trivial_macro_f1"]

#: ``obs`` columns written to the query.
LABEL_KEY, CONFIDENCE_KEY, UNKNOWN_KEY, UNKNOWN_FLAG_KEY = (
    "vc_label",
    "vc_confidence",
    "vc_unknown_score",
    "vc_unknown",
)


@dataclass
class AnnotationResult:
    """What :func:`annotate` produced.

    Attributes
    ----------
    query
        The annotated query AnnData (the split-off part when ``query_fraction`` was used).
    labels, confidence, raw_confidence, unknown_score, unknown
        Per query cell: predicted label, calibrated confidence, uncalibrated confidence
        (largest softmax probability), unknown score and the flag ``unknown_score >
        threshold``.
    distance_score
        The distance part of the unknown score (calibration CDF of the mean distance to
        the 10 nearest reference cells).
    probabilities
        Calibrated class probabilities (cells x classes).
    threshold
        Unknown-score threshold (95th percentile of held-out reference cells).
    metrics
        When the query has the label column: ``accuracy``, ``macro_f1``, ``ece``
        (calibrated), ``ece_raw`` (uncalibrated), ``n_query`` — over query cells whose
        label occurs in the reference (``n_unseen`` counts the others) — and the macro-F1
        of two trivial predictors on the same cells (:func:`trivial_macro_f1`):
        ``majority_macro_f1`` and ``prior_macro_f1``.
    warnings
        Plain-language warnings, e.g. that the method's macro-F1 does not beat a trivial
        baseline (also logged, and in ``info["warnings"]``).
    info
        Method, embedding, calibration, split and sizes (also in ``uns["vc"]["annotate"]``).
    """

    query: Any
    labels: np.ndarray
    confidence: np.ndarray
    raw_confidence: np.ndarray
    unknown_score: np.ndarray
    unknown: np.ndarray
    probabilities: pd.DataFrame
    threshold: float
    distance_score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@doc_params
def split_reference(
    adata: AnnData, *, label_key: str, query_fraction: float, seed: int = 0
) -> tuple[Any, Any, Any]:
    """Stratified, seeded split of one labelled dataset into ``(reference, query, split)``.

    Uses :func:`virtualcell.data.splits.stratified_split` with fractions
    ``(1 - f, 0, f)``: the query is its ``test`` part.

    Parameters
    ----------
    query_fraction
        Share of the cells of each type held out as the query.
    """
    from ..data.splits import stratified_split

    if not 0 < query_fraction < 1:
        raise ValidationError(f"query_fraction must be in (0, 1), got {query_fraction}")
    labels_of(adata, label_key)
    split = stratified_split(
        adata,
        label_key=label_key,
        fractions=(1 - query_fraction, 0.0, query_fraction),
        seed=seed,
        key_added=None,
    )
    q = split.mask("test")
    if not q.any() or q.all():
        raise ValidationError(
            f"query_fraction={query_fraction} leaves an empty reference or query "
            f"({adata.n_obs} cells)"
        )
    return adata[~q].copy(), adata[q].copy(), split


def _uns_safe(d: dict[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values (h5ad cannot store them), recursively."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if v is None:
            continue
        out[k] = _uns_safe(v) if isinstance(v, dict) else v
    return out


def _batches(adata: AnnData, batch_key: str | None) -> np.ndarray | None:
    if batch_key is None:
        return None
    if batch_key not in adata.obs:
        raise ValidationError(
            f"batch_key {batch_key!r} not in obs columns {list(adata.obs.columns)[:20]}"
        )
    return adata.obs[batch_key].astype(str).to_numpy()


def annotate(
    adata: AnnData,
    *,
    query: AnnData | None = None,
    label_key: str,
    method: str = "knn",
    embedding: str = "pca",
    model: Any = None,
    batch_key: str | None = None,
    layer: str | None = None,
    calibration: CalibrationMethod = "temperature",
    calibration_fraction: float = 0.2,
    query_fraction: float | None = None,
    unknown_quantile: float = 0.95,
    seed: int = 0,
    method_options: dict[str, Any] | None = None,
) -> AnnotationResult:
    """Annotate query cells from a labelled reference (see the module docstring).

    Parameters
    ----------
    adata
        The labelled reference (counts or log-normalised expression in ``X`` / ``layer``).
    query
        AnnData to annotate, or ``None`` with ``query_fraction`` to split ``adata``.
    label_key
        ``obs`` column of the reference labels (also used to score the query if present).
    method
        Annotation method (:func:`list_methods`): ``knn``, ``centroid``,
        ``linear_probe``, ``finetune``, ``l1_logreg`` (baseline), ``celltypist`` (baseline).
    embedding
        Embedding source of the embedding-based methods (:func:`list_embeddings`).
    model
        Pretrained checkpoint for ``embedding="oracle"`` or ``method="finetune"``.
    batch_key
        ``obs`` column of batches: features are centred and scaled within each batch
        (reference and query separately) before the classifier; not used by
        ``celltypist`` / ``finetune``.
    layer
        Expression layer (``"raw"`` = ``adata.raw``).
    calibration
        ``temperature``, ``isotonic`` or ``none`` (see :mod:`._calibrate`).
    calibration_fraction
        Share of the reference held out for calibration and the unknown score.
    query_fraction
        Split ``adata`` into reference and query (stratified, seeded); the split is
        saved in ``query.uns["vc"]["annotate"]["split"]``.
    unknown_quantile
        Quantile of held-out reference scores used as the unknown threshold.
    seed
        Seed of the splits and of the method.
    method_options
        Extra options of the method (e.g. ``{"k": 30}`` for ``knn``).

    Returns
    -------
    AnnotationResult
        Also written to the query: ``obs["vc_label"]``, ``obs["vc_confidence"]``,
        ``obs["vc_unknown_score"]``, ``obs["vc_unknown"]`` and ``uns["vc"]["annotate"]``.
    """
    reference = adata
    from ..metrics import accuracy, ece, macro_f1
    from ._registry import ANNOTATION_METHODS

    entry = ANNOTATION_METHODS.entry(method)
    split_info = None
    if query is None:
        if query_fraction is None:
            raise ValidationError("give a query, or query_fraction to split the reference")
        reference, query, split = split_reference(
            reference, label_key=label_key, query_fraction=query_fraction, seed=seed
        )
        split_info = {**split.to_dict(), "query_fraction": float(query_fraction)}
    elif query_fraction is not None:
        raise ValidationError("query_fraction splits the reference: do not also give a query")
    elif getattr(query, "is_view", False):
        query = query.copy()
    y_ref = labels_of(reference, label_key)
    b_ref, b_query = _batches(reference, batch_key), _batches(query, batch_key)
    opts = dict(method_options or {})
    opts.setdefault("seed", seed)
    if "embedding" in _init_params(entry.obj):
        opts.setdefault("embedding", embedding)
    if model is not None:
        opts["model"] = model
    try:
        annotator = entry.obj(**opts)
    except TypeError as err:
        raise ValidationError(f"method {method!r}: {err}") from None

    hold = np.zeros(reference.n_obs, dtype=bool)
    if calibration != "none":
        if not 0 < calibration_fraction < 1:
            raise ValidationError(
                f"calibration_fraction must be in (0, 1), got {calibration_fraction}"
            )
        hold = _holdout(y_ref, calibration_fraction, seed)
        if not hold.any():
            raise ValidationError(
                "the reference is too small to hold out calibration cells; use calibration='none'"
            )
    fit_ref = reference[~hold].copy() if hold.any() else reference

    def sub(b: np.ndarray | None, m: np.ndarray) -> np.ndarray | None:
        return None if b is None else b[m]

    n_fit, n_cal = int((~hold).sum()), int(hold.sum())
    if n_cal:
        log(
            f"annotate: {method} fitted on {n_fit} of {reference.n_obs} reference cells; "
            f"{n_cal} held out (calibration_fraction={calibration_fraction:g}, stratified) "
            "to calibrate the confidence and the unknown score (calibration='none' fits "
            "on all)",
            level=1,
        )
    else:
        log(f"annotate: {method} fitted on all {n_fit} reference cells (no calibration)", level=1)
    annotator.fit(fit_ref, y_ref[~hold], layer=layer, batches=sub(b_ref, ~hold))
    classes = np.asarray(annotator.classes_)

    q_logits, q_space = annotator.predict(query, layer=layer, batches=b_query)
    calibrator = Calibrator(calibration)
    novelty = NoveltyScorer(quantile=unknown_quantile)
    fit_space = getattr(annotator, "fit_space_", None)
    if fit_space is None:
        fit_space = annotator.space(fit_ref, layer=layer, batches=sub(b_ref, ~hold))
    if hold.any():
        cal = reference[hold].copy()
        cal_logits, cal_space = annotator.predict(cal, layer=layer, batches=sub(b_ref, hold))
        pos = {c: i for i, c in enumerate(classes)}
        y_cal = np.array([pos.get(v, -1) for v in y_ref[hold]])
        seen = y_cal >= 0
        calibrator.fit(cal_logits[seen], y_cal[seen])
        novelty.fit(fit_space, cal_space, calibrator.confidence(cal_logits))
    else:
        ref_logits = annotator.logits(fit_ref, layer=layer, batches=b_ref)
        novelty.fit(fit_space, fit_space, calibrator.confidence(ref_logits), same=True)

    probs = calibrator.probabilities(q_logits)
    pred = classes[probs.argmax(1)]
    conf = calibrator.confidence(q_logits)
    raw_conf = softmax(q_logits).max(1)
    unknown_score = novelty.score(q_space, conf)
    unknown = unknown_score > novelty.threshold

    query.obs[LABEL_KEY] = pd.Categorical(pred, categories=classes)
    query.obs[CONFIDENCE_KEY] = conf.astype(np.float32)
    query.obs[f"{CONFIDENCE_KEY}_raw"] = raw_conf.astype(np.float32)
    query.obs[UNKNOWN_KEY] = unknown_score.astype(np.float32)
    query.obs[UNKNOWN_FLAG_KEY] = unknown

    metrics: dict[str, float] = {}
    warnings: list[str] = []
    if label_key in query.obs and not query.obs[label_key].isna().any():
        truth = query.obs[label_key].astype(str).to_numpy()
        known = np.isin(truth, classes)
        metrics["n_query"] = int(known.sum())
        metrics["n_unseen"] = int((~known).sum())
        if known.any():
            t, p = truth[known], pred[known]
            metrics["accuracy"] = accuracy(truth=t, prediction=p)
            metrics["macro_f1"] = macro_f1(truth=t, prediction=p)
            metrics["ece"] = ece(t, p, confidence=conf[known])
            metrics["ece_raw"] = ece(t, p, confidence=raw_conf[known])
            trivial = trivial_macro_f1(t, y_ref[~hold], seed=seed)
            metrics.update(trivial)
            best = max(trivial.values())
            if metrics["macro_f1"] <= best:
                warnings.append(
                    f"{entry.name} macro-F1 {metrics['macro_f1']:.3f} does not beat a trivial "
                    f"baseline on this query (majority class {trivial['majority_macro_f1']:.3f}, "
                    f"stratified prior {trivial['prior_macro_f1']:.3f})"
                )
    for text in warnings:
        log(f"annotate: warning: {text}", level=1)
    info = {
        "method": entry.name,
        "baseline": entry.baseline,
        "embedding": getattr(annotator, "embedding", None),
        "label_key": label_key,
        "batch_key": batch_key,
        "layer": layer,
        "seed": int(seed),
        "classes": classes.tolist(),
        "n_reference_fit": int((~hold).sum()),
        "n_calibration": int(hold.sum()),
        "n_query": int(query.n_obs),
        "calibration": calibrator.to_dict(),
        "unknown_threshold": float(novelty.threshold),
        "unknown_quantile": float(unknown_quantile),
        "metrics": metrics,
        "warnings": warnings,
        "split": split_info,
    }
    query.uns.setdefault("vc", {})["annotate"] = _uns_safe(info)
    return AnnotationResult(
        query=query,
        labels=pred,
        confidence=conf,
        raw_confidence=raw_conf,
        unknown_score=unknown_score,
        unknown=unknown,
        probabilities=pd.DataFrame(probs, index=query.obs_names, columns=classes),
        threshold=float(novelty.threshold),
        distance_score=novelty.distance_part(q_space),
        metrics=metrics,
        info=info,
        warnings=warnings,
    )


@doc_params
def trivial_macro_f1(
    truth: np.ndarray, reference_labels: np.ndarray, *, seed: int = 0, draws: int = 200
) -> dict[str, float]:
    """Macro-F1 on ``truth`` of two predictors that ignore the cells.

    * ``majority_macro_f1``: every cell gets the most frequent reference label (ties:
      the first in sorted order);
    * ``prior_macro_f1``: every cell gets a label drawn independently from the reference
      label frequencies — the mean over ``draws`` seeded draws.

    Both use :func:`virtualcell.metrics.macro_f1` (mean over the classes that occur in
    the truth or the prediction), the definition the methods are scored with.

    Parameters
    ----------
    truth
        True labels of the query cells.
    reference_labels
        Labels of the reference (the class frequencies the trivial rules use).
    draws
        Random draws averaged for the prior-sampling rule.
    """
    from ..metrics import macro_f1

    truth = np.asarray(truth, dtype=str)
    classes, counts = np.unique(np.asarray(reference_labels, dtype=str), return_counts=True)
    majority = np.full(len(truth), classes[int(np.argmax(counts))])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 23]))
    prior = counts / counts.sum()
    draws_f1 = [
        macro_f1(truth=truth, prediction=classes[rng.choice(len(classes), len(truth), p=prior)])
        for _ in range(int(draws))
    ]
    return {
        "majority_macro_f1": macro_f1(truth=truth, prediction=majority),
        "prior_macro_f1": float(np.mean(draws_f1)),
    }


def _init_params(cls: Any) -> set[str]:
    import inspect

    names: set[str] = set()
    for klass in getattr(cls, "__mro__", [cls]):
        init = klass.__dict__.get("__init__")
        if init is not None:
            names |= set(inspect.signature(init).parameters)
    return names


def _holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Stratified held-out mask: per label ``round(fraction * n)`` cells, none for a label
    with fewer than 2 cells (the same allocation as ``stratified_split``)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 5]))
    hold = np.zeros(len(labels), dtype=bool)
    for value in sorted(set(labels)):
        idx = np.flatnonzero(labels == value)
        if len(idx) < 2:
            continue
        n = min(len(idx) - 1, round(fraction * len(idx)))
        hold[rng.permutation(idx)[:n]] = True
    return hold
