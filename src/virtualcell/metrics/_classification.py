"""Classification metrics: accuracy, precision, recall, macro-F1.

All take ``(truth, prediction)`` label arrays (any hashable labels). The label set is the
union of the labels seen in ``truth`` and ``prediction`` (as in scikit-learn), unless
``labels`` is given. A class that is never predicted has precision 0 and a class that
never occurs has recall 0 (scikit-learn's ``zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np

from .._errors import ValidationError
from .._utils import doc_params
from ._checks import Labels, encode_labels, paired_labels

__all__ = ["accuracy", "macro_f1", "precision", "recall"]

Average = Literal["macro", "micro", "weighted"]

#: Parameters shared by the classification metrics.
CLASSIFICATION_PARAMS = {
    "truth": "True labels, one per item (any hashable values; missing values are an error).",
    "prediction": "Predicted labels, one per item, in the order of ``truth``.",
    "labels": (
        "Classes to score, in order (default: the union of the labels in ``truth`` and "
        "``prediction``, sorted); items whose label is not among them count for no class."
    ),
}
_documented = doc_params(**CLASSIFICATION_PARAMS)


@_documented
def accuracy(truth: Labels, prediction: Labels) -> float:
    """Fraction of items whose predicted label equals the true label.

    ``accuracy = (1/n) * sum_i [truth_i == prediction_i]``; in [0, 1], higher is better
    (``METRIC_SPECS["accuracy"]``).

    Returns
    -------
    The share of items labelled correctly.
    """
    t, p = paired_labels(truth, prediction, ("truth", "prediction"))
    return float(np.mean(t == p))


def _counts(
    truth: Labels, prediction: Labels, labels: Sequence[Hashable] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class true positives, predicted counts and true counts."""
    t, p = paired_labels(truth, prediction, ("truth", "prediction"))
    if labels is None:
        classes, (ti, pi) = encode_labels(t, p)
    else:
        classes = list(labels)
        if len(classes) == 0:
            raise ValidationError("labels is empty")
        lookup = {c: i for i, c in enumerate(classes)}
        ti = np.array([lookup.get(v, -1) for v in t])
        pi = np.array([lookup.get(v, -1) for v in p])
    k = len(classes)
    tp = np.bincount(ti[(ti == pi) & (ti >= 0)], minlength=k)[:k].astype(float)
    n_pred = np.bincount(pi[pi >= 0], minlength=k)[:k].astype(float)
    n_true = np.bincount(ti[ti >= 0], minlength=k)[:k].astype(float)
    return tp, n_pred, n_true


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _average(per_class: np.ndarray, n_true: np.ndarray, average: Average) -> float:
    if average == "macro":
        return float(per_class.mean())
    if average == "weighted":
        total = n_true.sum()
        return float((per_class * n_true).sum() / total) if total > 0 else 0.0
    raise ValidationError(f"average must be 'macro', 'micro' or 'weighted', got {average!r}")


@_documented
def precision(
    truth: Labels,
    prediction: Labels,
    *,
    average: Average = "macro",
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Precision ``TP_c / (TP_c + FP_c)`` per class ``c``, averaged.

    Parameters
    ----------
    truth, prediction
        True and predicted labels, equal length.
    average
        ``"macro"``: unweighted mean over classes; ``"weighted"``: mean weighted by the
        number of true items of each class; ``"micro"``: global ``sum TP / sum (TP+FP)``
        (equals accuracy when every item has one label from ``labels``).
    labels
        Classes to score (default: union of observed labels, sorted).

    Returns
    -------
    The averaged precision, in [0, 1], higher is better; a class never predicted scores
    0 (scikit-learn's ``zero_division=0``).
    """
    tp, n_pred, n_true = _counts(truth, prediction, labels)
    if average == "micro":
        return float(tp.sum() / n_pred.sum()) if n_pred.sum() > 0 else 0.0
    return _average(_ratio(tp, n_pred), n_true, average)


@_documented
def recall(
    truth: Labels,
    prediction: Labels,
    *,
    average: Average = "macro",
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Recall ``TP_c / (TP_c + FN_c)`` per class ``c``, averaged (see :func:`precision`).

    Parameters
    ----------
    average
        ``"macro"``: unweighted mean over classes; ``"weighted"``: mean weighted by the
        number of true items of each class; ``"micro"``: global ``sum TP / sum (TP + FN)``
        (equals accuracy when every item has one label from ``labels``).

    Returns
    -------
    The averaged recall, in [0, 1], higher is better; a class that never occurs scores 0
    (scikit-learn's ``zero_division=0``).
    """
    tp, _, n_true = _counts(truth, prediction, labels)
    if average == "micro":
        return float(tp.sum() / n_true.sum()) if n_true.sum() > 0 else 0.0
    return _average(_ratio(tp, n_true), n_true, average)


@_documented
def macro_f1(
    truth: Labels, prediction: Labels, *, labels: Sequence[Hashable] | None = None
) -> float:
    """Unweighted mean over classes of ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)``.

    A class with no true and no predicted items scores 0 (only possible with ``labels``).
    This is the mean of per-class F1, not the F1 of mean precision and mean recall.

    Returns
    -------
    Macro-F1, in [0, 1], higher is better (``METRIC_SPECS["macro_f1"]``).
    """
    tp, n_pred, n_true = _counts(truth, prediction, labels)
    return float(_ratio(2 * tp, n_pred + n_true).mean())
