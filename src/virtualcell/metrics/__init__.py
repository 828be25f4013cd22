"""Metrics (``vc.metrics``): every standard virtual-cell metric, defined once.

Each function takes ``(truth, prediction_or_score, ...)`` in scikit-learn order and has
its exact definition in its docstring and in ``docs/metrics.md``. Groups:

* classification — :func:`accuracy`, :func:`precision`, :func:`recall`, :func:`macro_f1`;
* clustering — :func:`nmi`, :func:`ari`, :func:`asw`, :func:`avg_bio` (:func:`avg_bio_parts`),
  :func:`leiden_nmi_ari`;
* regression — :func:`mse`, :func:`rmse`, :func:`pearson`, :func:`spearman`;
* perturbation — :func:`control_mean` (the one control rule), :func:`pearson_delta`,
  :func:`mse_top_de`, :func:`l2_top_expressed`, :func:`de_recall`, :func:`de_fdp`,
  :func:`direction_agreement`, :func:`score_perturbation`, :func:`score_profiles`
  (every per-condition metric, perturbed genes left out by default),
  :func:`target_abs_error`, :func:`target_mask`;
* calibration — :func:`ece`, :func:`reliability_bins`;
* intervals — :func:`mean_ci` (Student-t interval of a mean over seeds);
* retrieval and distributions — :func:`recall_at_k` (queries x items), :func:`energy_distance`
  (two samples of profiles);
* integration (scIB) — :func:`batch_asw`, :func:`ilisi`, :func:`clisi`, :func:`lisi`,
  :func:`kbet`, :func:`graph_connectivity`, :func:`isolated_label_f1`,
  :func:`integration_scores`;
* modality mixing of paired multi-omic embeddings — :func:`foscttm`, :func:`modality_asw`;
* perturbation prediction (VCC / Systema / Norman) — :func:`de_test` (Wilcoxon + BH),
  :func:`de_genes`, :func:`de_overlap`, :func:`discrimination_score`,
  :func:`centroid_accuracy`, :func:`pearson_delta_top_de`, :func:`mae`,
  :func:`baseline_normalized`, :func:`interaction_fit`, :func:`interaction_mode`;
* closed-loop screens — :func:`discovery_curve`, :func:`hit_rate`,
  :func:`hits_at_budget`, :func:`discovery_auc`;
* the evaluation contract — :class:`EvalResult` (what every task's ``evaluate`` returns),
  :data:`METRIC_SPECS` / :func:`metric_spec` / :func:`higher_is_better` (metric direction,
  defined once);
* network — :func:`auroc`, :func:`auprc`, :func:`auprc_ratio`, :func:`epr`,
  :func:`early_precision`, :func:`signed_accuracy`, hub enrichment scores.
"""

from ._calibration import ece, reliability_bins
from ._classification import accuracy, macro_f1, precision, recall
from ._clustering import (
    DEFAULT_RESOLUTIONS,
    ari,
    asw,
    avg_bio,
    avg_bio_parts,
    leiden_nmi_ari,
    nmi,
)
from ._discovery import discovery_auc, discovery_curve, hit_rate, hits_at_budget
from ._distance import energy_distance
from ._edges import edge_scores
from ._enrichment import (
    centrality_enrichment,
    hub_enrichment,
    regulator_hub_enrichment,
    target_hub_enrichment,
)
from ._integration import (
    batch_asw,
    clisi,
    graph_connectivity,
    ilisi,
    integration_scores,
    isolated_label_f1,
    isolated_labels,
    kbet,
    knn,
    lisi,
)
from ._interval import MeanCI, mean_ci
from ._leiden import leiden_clusterings
from ._mixing import foscttm, modality_asw
from ._network import auprc, auprc_ratio, auroc, early_precision, epr, signed_accuracy
from ._perturbation import (
    control_mean,
    de_fdp,
    de_recall,
    direction_agreement,
    l2_top_expressed,
    mean_profiles,
    mse_top_de,
    pearson_delta,
    top_changed_genes,
)
from ._regression import mse, pearson, rmse, spearman
from ._result import (
    EVAL_COLUMNS,
    METRIC_SPECS,
    EvalResult,
    MetricSpec,
    higher_is_better,
    metric_spec,
)
from ._retrieval import recall_at_k
from ._score import PROFILE_METRICS, score_perturbation, score_profiles

# isort: split
# perturbation-prediction scores (VCC / cell-eval, Systema, Norman GI modes)
from ._interaction import INTERACTION_MODES, interaction_fit, interaction_mode, mode_of_magnitude
from ._normalize import baseline_normalized
from ._perturb_de import (
    DE_COLUMNS,
    DEReference,
    bh_adjust,
    de_genes,
    de_overlap,
    de_test,
    mann_whitney_u,
)
from ._perturb_scores import (
    centroid_accuracy,
    discrimination_score,
    is_no_change,
    mae,
    pearson_delta_top_de,
    target_abs_error,
    target_mask,
)

__all__ = [
    "DEFAULT_RESOLUTIONS",
    "accuracy",
    "ari",
    "asw",
    "auprc",
    "auprc_ratio",
    "auroc",
    "avg_bio",
    "avg_bio_parts",
    "batch_asw",
    "centrality_enrichment",
    "clisi",
    "control_mean",
    "de_fdp",
    "de_recall",
    "direction_agreement",
    "discovery_auc",
    "discovery_curve",
    "early_precision",
    "ece",
    "edge_scores",
    "energy_distance",
    "epr",
    "foscttm",
    "graph_connectivity",
    "hit_rate",
    "hits_at_budget",
    "hub_enrichment",
    "ilisi",
    "integration_scores",
    "isolated_label_f1",
    "isolated_labels",
    "kbet",
    "knn",
    "l2_top_expressed",
    "leiden_clusterings",
    "leiden_nmi_ari",
    "lisi",
    "macro_f1",
    "mean_ci",
    "mean_profiles",
    "modality_asw",
    "mse",
    "mse_top_de",
    "nmi",
    "pearson",
    "pearson_delta",
    "precision",
    "recall",
    "recall_at_k",
    "regulator_hub_enrichment",
    "reliability_bins",
    "rmse",
    "score_perturbation",
    "signed_accuracy",
    "spearman",
    "target_hub_enrichment",
    "top_changed_genes",
]

__all__ += [
    "EVAL_COLUMNS",
    "METRIC_SPECS",
    "EvalResult",
    "MeanCI",
    "MetricSpec",
    "higher_is_better",
    "metric_spec",
]

__all__ += [
    "DE_COLUMNS",
    "INTERACTION_MODES",
    "PROFILE_METRICS",
    "DEReference",
    "baseline_normalized",
    "bh_adjust",
    "centroid_accuracy",
    "de_genes",
    "de_overlap",
    "de_test",
    "discrimination_score",
    "interaction_fit",
    "interaction_mode",
    "is_no_change",
    "mae",
    "mann_whitney_u",
    "mode_of_magnitude",
    "pearson_delta_top_de",
    "score_profiles",
    "target_abs_error",
    "target_mask",
]
