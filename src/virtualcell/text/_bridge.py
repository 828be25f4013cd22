"""The cell–text bridge: train it on labelled cells, then annotate with any label texts,
search cells by a sentence.

Training pairs (:func:`train_bridge`), built offline from the labelled cells:

* each cell with its own cell sentence (:func:`~virtualcell.text.cell_sentences`);
* each cell with ``texts_per_cell`` texts drawn (seeded, uniformly) from its type's pool:
  the label texts (:func:`~virtualcell.text.label_texts`: label, Cell Ontology term,
  synonyms, definition, named genes) and the marker texts
  (:func:`~virtualcell.text.marker_texts`: top Welch-t genes of the type against
  the other training cells, gene names from the knowledge base when one is given).

Every pair carries its cell's label, so the contrastive loss
(:class:`~virtualcell.train.ContrastiveObjective`) treats any text of the type as a
positive for any cell of it. Frozen text embeddings (all-MiniLM-L6-v2) are computed once
and cached on disk; the cell encoder (PCA on highly variable genes by default, fitted on
the training cells only, or a pretrained oracle) is frozen too, so training is a few
hundred steps of two small MLPs.

Zero-shot use (:func:`annotate`): each candidate label's texts are embedded and averaged
(unit vectors, then renormalised: a prompt ensemble); a cell takes the label of highest
cosine similarity. Labels never seen in training work the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import log
from ..train import TrainConfig
from ._labels import LabelTexts, label_texts
from ._markers import cell_sentences, marker_genes, marker_texts
from ._training import resolve_train_config, training_record

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from anndata import AnnData

    from ..models import CellTextModel

__all__ = [
    "BRIDGE_TRAIN_CONFIG",
    "PairBatches",
    "TextAnnotation",
    "annotate",
    "label_embeddings",
    "search",
    "train_bridge",
]


#: Default optimisation of :func:`train_bridge`: 300 steps of 256 pairs, peak learning
#: rate 2e-3 (``BRIDGE_TRAIN_CONFIG.replace(max_steps=...)`` changes it).
BRIDGE_TRAIN_CONFIG = TrainConfig(
    max_steps=300, batch_size=256, lr=2e-3, warmup_steps=20, weight_decay=0.05, amp=False
)


class PairBatches:
    """(cell, text) pairs gathered batch by batch from feature tables (a
    :class:`~virtualcell.train.Batches`).

    Epoch ``e`` visits the pairs in the order ``numpy.random.default_rng([seed, e])``
    permutes them. Each batch holds ``cells`` (features), ``texts`` (frozen text
    embeddings), ``labels`` and ``text_ids``.
    """

    def __init__(
        self,
        cells: np.ndarray,
        texts: np.ndarray,
        pairs: np.ndarray,
        labels: np.ndarray,
        *,
        batch_size: int,
        seed: int = 0,
    ) -> None:
        import torch

        self.cells = torch.as_tensor(np.asarray(cells, dtype=np.float32))
        self.texts = torch.as_tensor(np.asarray(texts, dtype=np.float32))
        self.pairs = np.asarray(pairs, dtype=np.int64)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.batch_size, self.seed = int(batch_size), int(seed)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def iterate(self, position: Any = None) -> Iterator[tuple[Any, dict[str, torch.Tensor]]]:
        import torch

        from ..train import DataPosition

        position = position or DataPosition()
        order = np.random.default_rng([self.seed, position.epoch]).permutation(self.n_pairs)
        for b, start in enumerate(range(0, self.n_pairs, self.batch_size)):
            if b < position.batch:
                continue
            rows = self.pairs[order[start : start + self.batch_size]]
            cell, text = torch.as_tensor(rows[:, 0]), torch.as_tensor(rows[:, 1])
            yield (
                DataPosition(position.epoch, b + 1),
                {
                    "cells": self.cells[cell],
                    "texts": self.texts[text],
                    "labels": self.labels[cell],
                    "text_ids": text,
                },
            )


def _open_kb(kb: Any) -> tuple[Any, bool]:
    """``(KnowledgeBase or None, opened here)``."""
    if kb is None:
        return None, False
    from ..knowledge import KnowledgeBase

    if isinstance(kb, KnowledgeBase):
        return kb, False
    return KnowledgeBase(kb), True


def _cell_encoder(adata: AnnData, encoder: Any, layer: str | None, n_hvg: int, n_comps: int,
                  seed: int) -> Any:  # fmt: skip
    from ..models import CellModel, PCAConfig, PCAEncoder, load

    if isinstance(encoder, str) and encoder == "pca":
        n_comps = min(n_comps, adata.n_obs - 1)
        return PCAEncoder(PCAConfig(n_hvg=n_hvg, n_comps=n_comps, seed=seed)).fit(
            adata, layer=layer
        )
    if isinstance(encoder, str | Path):
        encoder = load(encoder)
    if isinstance(encoder, PCAEncoder):
        if encoder.genes is None:
            encoder.fit(adata, layer=layer)
        return encoder
    if isinstance(encoder, CellModel):
        return encoder
    raise ValidationError(
        "cell_encoder must be 'pca', a PCAEncoder, a CellModel or a checkpoint folder, got "
        f"{type(encoder).__name__}"
    )


def train_bridge(
    adata: AnnData,
    *,
    label_key: str,
    layer: str | None = None,
    cell_encoder: Any = "pca",
    texts: Mapping[str, str | Sequence[str]] | None = None,
    ontology: Any = "auto",
    kb: Any = None,
    n_markers: int = 20,
    texts_per_cell: int = 4,
    n_hvg: int = 2000,
    n_comps: int = 50,
    model_config: Mapping[str, Any] | None = None,
    train_config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    resume: bool | None = None,
    seed: int = 0,
) -> CellTextModel:
    """Train the cell–text bridge on the labelled cells of ``adata``.

    Parameters
    ----------
    adata
        Labelled cells (counts or log-normalised expression; scaled data is refused).
    label_key
        ``obs`` column with the cell types.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    cell_encoder
        ``"pca"`` (PCA on ``n_hvg`` highly variable genes, ``n_comps`` components, fitted
        here), a :class:`~virtualcell.models.PCAEncoder`, a pretrained
        :class:`~virtualcell.models.CellModel` or its checkpoint folder.
    texts
        More texts per label (``{label: text or [texts]}``).
    ontology
        Use the Cell Ontology for label texts: ``"auto"``, ``True``, ``False`` or a table.
    kb
        Knowledge store (path or open :class:`~virtualcell.knowledge.KnowledgeBase`) for
        gene aliases and names; ``None``: none.
    n_markers
        Marker genes per type for the marker texts.
    texts_per_cell
        Type texts paired with each cell (besides its own cell sentence).
    n_hvg, n_comps
        The PCA cell encoder's genes and components.
    model_config
        Overrides of :class:`~virtualcell.models.CellTextConfig` (``embed_dim``,
        ``hidden``, ...).
    train_config
        Optimisation (default :data:`BRIDGE_TRAIN_CONFIG`: 300 steps, batch 256).
    out_dir
        Save the model there (and resumable checkpoints under ``out_dir/checkpoints``).
    resume
        An existing run in ``out_dir``: see :func:`virtualcell.train.train`.
    seed
        Seed of the pairs, the weights and the data order.

    Returns
    -------
    CellTextModel
        ``extra["labels"]`` lists the labels seen in training, ``extra["label_texts"]``
        their texts.
    """
    from ..knowledge import embed_cached
    from ..models import CellText, CellTextConfig, CellTextModel
    from ..represent import HVGScaler, expression, labels_of, log_expression
    from ..train import OBJECTIVES, train

    tc = resolve_train_config(train_config, BRIDGE_TRAIN_CONFIG, seed)
    for name, value, low in (("n_markers", n_markers, 1), ("texts_per_cell", texts_per_cell, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
    y = labels_of(adata, label_key)
    classes = sorted(set(y))
    if len(classes) < 2:
        raise ValidationError(f"obs[{label_key!r}] has a single label {classes}; need >= 2")
    overrides = dict(model_config or {})
    CellTextConfig.from_dict({"cell_dim": 1, **overrides})  # refuse bad overrides early
    kb_obj, own_kb = _open_kb(kb)
    try:
        X, genes = expression(adata, layer=layer)
        L = log_expression(X)
        lt = label_texts(classes, genes=list(genes), kb=kb_obj, ontology=ontology, extra=texts)
        mt = marker_texts(
            marker_genes(L, genes, y, n_markers=n_markers), kb=kb_obj, background=genes, seed=seed
        )
    finally:
        if own_kb:
            kb_obj.close()
    encoder = _cell_encoder(adata, cell_encoder, layer, n_hvg, n_comps, seed)
    features = np.asarray(encoder.embed(adata, layer=layer), dtype=np.float32)
    scaler = HVGScaler(n_hvg).fit(adata, layer=layer)
    own = cell_sentences(scaler.transform(adata, layer=layer), scaler.genes)
    pool = {c: list(dict.fromkeys(lt.texts[c] + mt.get(c, []))) for c in classes}
    all_texts = list(dict.fromkeys([t for c in classes for t in pool[c]] + own))
    index = {t: i for i, t in enumerate(all_texts)}
    log(f"train_bridge: {len(all_texts)} texts for {len(classes)} types, {adata.n_obs} cells")
    vectors = embed_cached(all_texts, description="bridge texts")
    rng = np.random.default_rng(seed)
    class_id = {c: i for i, c in enumerate(classes)}
    labels = np.array([class_id[v] for v in y])
    pairs = [(i, index[own[i]]) for i in range(adata.n_obs)]
    pool_ids = {c: np.array([index[t] for t in pool[c]]) for c in classes}
    for i, c in enumerate(y):
        for t in rng.choice(pool_ids[c], size=texts_per_cell, replace=True):
            pairs.append((i, int(t)))
    cfg = CellTextConfig.from_dict({"cell_dim": features.shape[1], **overrides})
    network = CellText(cfg, seed=seed)
    network.set_input_stats(features.mean(0), features.std(0))
    batches = PairBatches(features, vectors, np.array(pairs), labels, batch_size=tc.batch_size,
                          seed=seed)  # fmt: skip
    run = {
        "objective": "contrastive",
        "label_key": label_key,
        "labels": classes,
        "model_config": overrides,
        "n_cells": int(adata.n_obs),
        "n_pairs": len(pairs),
        "texts_per_cell": texts_per_cell,
        "n_markers": n_markers,
        "cell_encoder": getattr(encoder, "architecture", type(encoder).__name__),
    }
    result = train(
        network, batches, OBJECTIVES.get("contrastive")(), tc, out_dir=out_dir, resume=resume,
        run=run,
    )  # fmt: skip
    training = training_record(run, tc, result)
    extra = {"label_key": label_key, "labels": classes, "label_texts": lt.texts}
    model = CellTextModel(network, encoder, training=training, extra=extra)
    if out_dir is not None:
        model.save_pretrained(out_dir, overwrite=True)  # train's prepare_run decided
    return model


def _load_model(model: Any) -> CellTextModel:
    from ..models import CellTextModel

    if isinstance(model, CellTextModel):
        return model
    if isinstance(model, str | Path):
        return CellTextModel.from_pretrained(model)
    raise ValidationError(
        f"model must be a CellTextModel or its checkpoint folder, got {type(model).__name__}"
    )


def label_embeddings(model: CellTextModel, texts: LabelTexts | Mapping[str, Sequence[str]]
                     ) -> pd.DataFrame:  # fmt: skip
    """One unit vector per label: the mean of its texts' shared-space embeddings,
    renormalised (labels x ``embed_dim``).

    Parameters
    ----------
    model
        A trained cell-text model (:func:`train_bridge`).
    texts
        The texts of each label: :class:`LabelTexts` or ``{label: [text, ...]}``.

    Returns
    -------
    pd.DataFrame
        float32, one row per label (in the order of ``texts``), ``embed_dim`` columns; a
        label without texts gets a zero row.
    """
    mapping = texts.texts if isinstance(texts, LabelTexts) else dict(texts)
    flat = [t for ts in mapping.values() for t in ts]
    if not flat:
        raise ValidationError("no label texts to embed")
    emb = model.embed_texts(flat)
    rows, start = [], 0
    for ts in mapping.values():
        v = emb[start : start + len(ts)].mean(0) if ts else np.zeros(emb.shape[1])
        start += len(ts)
        n = np.linalg.norm(v)
        rows.append(v / n if n > 0 else v)
    return pd.DataFrame(np.asarray(rows, dtype=np.float32), index=list(mapping))


@dataclass
class TextAnnotation:
    """What :func:`annotate` produced.

    Attributes
    ----------
    labels
        Predicted label per cell.
    similarity
        Cosine similarity of each cell to each label (cells x labels).
    probabilities
        ``softmax(logit_scale * similarity)`` over the labels.
    texts
        The label texts used.
    """

    labels: np.ndarray
    similarity: pd.DataFrame
    probabilities: pd.DataFrame
    texts: LabelTexts


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def annotate(
    adata: AnnData,
    model: CellTextModel | str | Path,
    *,
    labels: Sequence[str] | None = None,
    texts: Mapping[str, str | Sequence[str]] | None = None,
    ontology: Any = "auto",
    kb: Any = None,
    layer: str | None = None,
    key_added: str = "vc_text_label",
) -> TextAnnotation:
    """Label cells with arbitrary label names (zero-shot; held-out types included).

    Parameters
    ----------
    adata
        Cells to label (the expression the bridge's cell encoder expects).
    model
        A trained :class:`~virtualcell.models.CellTextModel` or its folder.
    labels
        Candidate labels (default: the labels seen in training).
    texts
        More texts per label (``{label: text or [texts]}``), averaged with the built ones.
    ontology, kb
        Sources of label texts (see :func:`label_texts`).
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    key_added
        ``obs`` column for the label; ``<key_added>_score`` gets the cosine similarity;
        ``uns[key_added]`` the labels and their texts.

    Returns
    -------
    TextAnnotation
    """
    from ..represent import expression

    model = _load_model(model)
    cands = list(model.extra.get("labels", [])) if labels is None else list(labels)
    if isinstance(labels, str) or len(cands) < 2:
        raise ValidationError("labels must list at least two candidate labels")
    kb_obj, own_kb = _open_kb(kb)
    try:
        _, genes = expression(adata, layer=layer)
        lt = label_texts(cands, genes=list(genes), kb=kb_obj, ontology=ontology, extra=texts)
    finally:
        if own_kb:
            kb_obj.close()
    lab = label_embeddings(model, lt)
    cells = model.embed_cells(adata, layer=layer)
    sim = cells @ lab.to_numpy().T
    names = np.asarray(lab.index, dtype=object)
    pred = names[sim.argmax(1)]
    prob = _softmax(model.logit_scale * sim)
    cols = pd.Index(names.astype(str))
    similarity = pd.DataFrame(sim, index=adata.obs_names, columns=cols)
    probabilities = pd.DataFrame(prob, index=adata.obs_names, columns=cols)
    adata.obs[key_added] = pd.Categorical(pred, categories=list(cols))
    adata.obs[f"{key_added}_score"] = sim.max(1).astype(np.float32)
    adata.uns[key_added] = {
        "labels": list(cols),
        "texts": {k: list(v) for k, v in lt.texts.items()},
    }
    return TextAnnotation(pred, similarity, probabilities, lt)


def search(
    adata: AnnData,
    model: CellTextModel | str | Path,
    *,
    query: str,
    k: int = 10,
    layer: str | None = None,
    key_added: str = "vc_text_similarity",
) -> pd.DataFrame:
    """Cells most similar to a sentence (``"cytotoxic cells expressing GZMB"``).

    Parameters
    ----------
    adata
        Cells to search.
    model
        A trained :class:`~virtualcell.models.CellTextModel` or its folder.
    query
        The sentence.
    k
        Cells returned.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    key_added
        ``obs`` column that receives every cell's cosine similarity to the query.

    Returns
    -------
    pandas.DataFrame
        The ``k`` best cells (index: cell names), columns ``similarity`` and ``rank``.
    """
    if not isinstance(query, str) or not query.strip():
        raise ValidationError("query must be a non-empty sentence")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(f"k must be a positive integer, got {k!r}")
    model = _load_model(model)
    q = model.embed_texts([query])[0]
    sim = model.embed_cells(adata, layer=layer) @ q
    adata.obs[key_added] = sim.astype(np.float32)
    order = np.argsort(-sim, kind="stable")[:k]
    return pd.DataFrame(
        {"similarity": sim[order], "rank": np.arange(1, len(order) + 1)},
        index=pd.Index(adata.obs_names[order], name="cell"),
    )
