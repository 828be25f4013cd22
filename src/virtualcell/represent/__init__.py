"""Cellular representation (``vc.represent``): embeddings, annotation, novel types,
clustering and batch integration.

* :func:`embed` — cells to vectors from any source (:func:`list_embeddings`: PCA on HVGs,
  pretrained oracles, GenePT, cell sentences, scVI);
* :func:`annotate` — label transfer from a labelled reference (:func:`list_methods`:
  kNN / centroid / linear probe in any embedding, oracle fine-tuning, and the baselines
  L1 logistic regression and CellTypist), calibrated confidence and an unknown score;
* :func:`evaluate_annotation`, :func:`evaluate_novel`, :func:`evaluate_embedding` —
  seeds x methods annotation scores, held-out-type AUROC, an embedding vs known types;
  each returns a :class:`virtualcell.metrics.EvalResult` (the evaluation contract);
* :func:`cluster` — Leiden with a resolution sweep;
* :func:`integrate`, :func:`score_integration` — batch correction (Harmony, a conditional
  VAE, per-batch centring, scVI) scored with the scIB metrics before and after.

>>> import virtualcell as vc
>>> res = vc.represent.annotate(ref, query=query, label_key="cell_type", method="knn")  # doctest: +SKIP
>>> query.obs[["vc_label", "vc_confidence", "vc_unknown_score"]]  # doctest: +SKIP
"""

from ._annotate import AnnotationResult, annotate, split_reference, trivial_macro_f1
from ._cluster import cluster
from ._embeddings import EmbeddingSource, embed
from ._evaluate import evaluate_annotation, evaluate_embedding, evaluate_novel
from ._features import HVGScaler, expression, labels_of, log_expression
from ._integrate import INTEGRATION_METHODS, integrate, list_integrations, score_integration
from ._methods import Annotator, EmbeddingAnnotator
from ._registry import (
    ANNOTATION_METHODS,
    EMBEDDINGS,
    get_embedding,
    get_method,
    list_embeddings,
    list_methods,
)

__all__ = [
    "ANNOTATION_METHODS",
    "EMBEDDINGS",
    "INTEGRATION_METHODS",
    "AnnotationResult",
    "Annotator",
    "EmbeddingAnnotator",
    "EmbeddingSource",
    "HVGScaler",
    "annotate",
    "cluster",
    "embed",
    "evaluate_annotation",
    "evaluate_embedding",
    "evaluate_novel",
    "expression",
    "get_embedding",
    "get_method",
    "integrate",
    "labels_of",
    "list_embeddings",
    "list_integrations",
    "list_methods",
    "log_expression",
    "score_integration",
    "split_reference",
    "trivial_macro_f1",
]
