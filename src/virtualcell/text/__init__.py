"""The text bridge: cells and language in one space, and cells as sentences (``vc.text``).

* :func:`train_bridge` — a CLIP-style cell–text model (:class:`~virtualcell.models.
  CellTextModel`): frozen cell encoder + MLP, frozen MiniLM + projection, symmetric
  InfoNCE on (cell, text) pairs built offline (label names, Cell Ontology terms,
  marker-gene sentences, knowledge-base gene names, per-cell sentences);
* :func:`annotate` — zero-shot labels from any label texts, types never seen included;
  :func:`search` — cells for a sentence; :func:`describe` — a cluster in words, with
  citations;
* :data:`ZERO_SHOT_METHODS` — the bridge, ``text_map`` (ESZSL: PCA cell features x
  label-text embeddings, calibrated stacking) and ``text_map_conse`` (ConSE), beside the
  marker-score, GenePT and random baselines;
* :func:`evaluate` — held-out-type protocol: zero-shot macro-F1 and recall@k both ways
  against the marker-score and GenePT baselines;
* :func:`train_c2s` / :func:`predict_c2s` / :func:`generate` / :func:`evaluate_c2s` —
  Cell2Sentence-style CellGPT with a cell-type prefix: the type as text, cells of a
  requested type;
* :func:`finetune_llm` / :func:`llm_type_scores` — the optional path: LoRA adapters on a
  causal LLM (the local SmolLM2 by default) trained on cell texts.
"""

from ._bridge import (
    BRIDGE_TRAIN_CONFIG,
    PairBatches,
    TextAnnotation,
    annotate,
    label_embeddings,
    search,
    train_bridge,
)
from ._c2s import (
    C2S_TRAIN_CONFIG,
    C2SEvaluation,
    evaluate_c2s,
    generate,
    log_likelihoods,
    predict_c2s,
    train_c2s,
    type_token,
)
from ._describe import ClusterDescription, describe
from ._evaluate import TextEvaluation, evaluate, split_types
from ._labels import ABBREVIATIONS, LabelTexts, expand_abbreviations, gene_mentions, label_texts
from ._llm import LLMFineTune, add_lora, cell_texts, finetune_llm, llm_type_scores, save_lora
from ._markers import cell_sentences, marker_genes, marker_texts

__all__ = [
    "ABBREVIATIONS",
    "BRIDGE_TRAIN_CONFIG",
    "C2S_TRAIN_CONFIG",
    "ZERO_SHOT_METHODS",
    "C2SEvaluation",
    "ClusterDescription",
    "LLMFineTune",
    "LabelTexts",
    "PairBatches",
    "TextAnnotation",
    "TextEvaluation",
    "add_lora",
    "annotate",
    "cell_sentences",
    "cell_texts",
    "describe",
    "evaluate",
    "evaluate_c2s",
    "expand_abbreviations",
    "finetune_llm",
    "gene_mentions",
    "generate",
    "label_embeddings",
    "label_texts",
    "llm_type_scores",
    "log_likelihoods",
    "marker_genes",
    "marker_texts",
    "predict_c2s",
    "save_lora",
    "search",
    "split_types",
    "train_bridge",
    "train_c2s",
    "type_token",
]
from ._zero_shot import ZERO_SHOT_METHODS
