"""Cells as sentences (Cell2Sentence style): a CellGPT that reads and writes cell types.

A cell becomes the sequence ``<cls> <type:T> g1 g2 ... gk <eos>``: its cell-type token,
then its ``top_k`` most expressed genes in decreasing order (a cell sentence,
:class:`~virtualcell.tokenize.SentenceTokenizer`). The vocabulary holds one special token
``<type:T>`` per label (after the five standard ones) and the genes that occur in the
training sentences. A :class:`~virtualcell.models.CellGPT` is trained on these
sequences with next-token prediction (:func:`virtualcell.train.train`, objective
``ntp``), so it models ``p(T) p(g1 | T) p(g2 | T, g1) ... p(<eos> | ...)``.

* **type as text** (:func:`predict_c2s`): the label whose token makes the sentence most
  likely, ``argmax_T log p(T, sentence)`` (all tokens, ``<eos>`` included) — Bayes' rule
  with the model's own prior;
* **generation** (:func:`generate`): prompt ``<cls> <type:T>`` and sample genes until
  ``<eos>`` (each gene at most once; temperature, top-k); sentences become expression
  with the tokenizer's rank-to-expression line (``decode``).

:func:`evaluate_c2s` compares, on the same seeded split, the type prediction with the L1
logistic-regression baseline, and the generated cells with the type-mean baseline
(see its docstring).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import log
from ..train import TrainConfig
from ._training import resolve_train_config, training_record

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..models import CellModel

__all__ = [
    "C2S_TRAIN_CONFIG",
    "C2SEvaluation",
    "evaluate_c2s",
    "generate",
    "log_likelihoods",
    "predict_c2s",
    "train_c2s",
    "type_token",
]

#: Default optimisation of :func:`train_c2s` (``C2S_TRAIN_CONFIG.replace(...)`` changes it).
C2S_TRAIN_CONFIG = TrainConfig(
    max_steps=600, batch_size=32, lr=1e-3, warmup_steps=30, weight_decay=0.01, amp=False
)
#: Architecture defaults of the C2S CellGPT (any :class:`CellGPTConfig` field overrides).
C2S_MODEL_DEFAULTS: Mapping[str, Any] = {
    "d_model": 128,
    "n_layers": 2,
    "n_heads": 4,
    "dropout": 0.1,
}


def type_token(label: str) -> str:
    """The vocabulary token of a cell-type label: ``<type:label>``.

    Parameters
    ----------
    label
        A cell-type label.

    Returns
    -------
    str
        The token, e.g. ``"<type:B cell>"``.
    """
    return f"<type:{label}>"


def _sequences(ids: np.ndarray, mask: np.ndarray, prefix: np.ndarray, eos: int) -> tuple[
    np.ndarray, np.ndarray
]:  # fmt: skip
    """``<cls> <type> genes <eos>`` rows (right-padded with 0) from gene ids + masks."""
    n, k = ids.shape
    out = np.zeros((n, k + 3), dtype=np.int64)
    out[:, 0] = 1  # <cls>
    out[:, 1] = prefix
    lengths = mask.sum(1)
    out[:, 2 : 2 + k] = np.where(mask, ids, 0)
    out[np.arange(n), 2 + lengths] = eos
    att = np.arange(k + 3)[None, :] < (3 + lengths)[:, None]
    return out, att


def _data(adata: AnnData, layer: str | None) -> Any:
    from ..represent import expression

    X, genes = expression(adata, layer=layer)
    return X, list(genes)


def train_c2s(
    adata: AnnData,
    *,
    label_key: str,
    layer: str | None = None,
    top_k: int = 64,
    model_config: Mapping[str, Any] | None = None,
    train_config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    resume: bool | None = None,
    seed: int = 0,
) -> CellModel:
    """Train a CellGPT on ``<cls> <type> cell-sentence <eos>`` sequences.

    Parameters
    ----------
    adata
        Labelled cells (counts or log-normalised expression).
    label_key
        ``obs`` column with the cell types.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    top_k
        Genes per cell sentence.
    model_config
        :class:`~virtualcell.models.CellGPTConfig` overrides (defaults
        :data:`C2S_MODEL_DEFAULTS`: 2 layers of width 128).
    train_config
        Optimisation (default :data:`C2S_TRAIN_CONFIG`).
    out_dir
        Save the model there (and resumable checkpoints under ``out_dir/checkpoints``).
    resume
        An existing run in ``out_dir``: see :func:`virtualcell.train.train`.
    seed
        Seed of the weights and the data order.

    Returns
    -------
    CellModel
        CellGPT + sentence tokenizer; ``extra["labels"]`` lists the labels,
        ``extra["label_key"]`` the column.
    """
    import torch

    from ..models import CellGPT, CellGPTConfig, CellModel
    from ..represent import labels_of
    from ..tokenize import GeneVocab, SentenceTokenizer
    from ..train import NextTokenObjective, TensorBatches, train

    tc = resolve_train_config(train_config, C2S_TRAIN_CONFIG, seed)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 2:
        raise ValidationError(f"top_k must be an integer >= 2, got {top_k!r}")
    y = labels_of(adata, label_key)
    labels = sorted(set(y))
    if len(labels) < 2:
        raise ValidationError(f"obs[{label_key!r}] has a single label {labels}; need >= 2")
    X, genes = _data(adata, layer)
    quiet = {"min_coverage_warn": 0.0, "min_coverage_error": 0.0}
    first = SentenceTokenizer(max_len=top_k, **quiet).fit(X, genes=genes)
    enc = first.encode(X, genes=genes)
    used = np.unique(enc.input_ids[enc.attention_mask])
    vocab_genes = [first.vocab.tokens[i] for i in used]
    vocab = GeneVocab(vocab_genes, extra_special=[type_token(x) for x in labels])
    tok = SentenceTokenizer(vocab, max_len=top_k, **quiet).fit(X, genes=genes)
    enc = tok.encode(X, genes=genes)
    prefix = np.array([vocab[type_token(v)] for v in y])
    seq, att = _sequences(enc.input_ids, enc.attention_mask, prefix, vocab.eos_id)
    cfg = CellGPTConfig(
        **{
            "vocab_size": len(vocab),
            "max_len": top_k + 3,
            "n_special": vocab.n_special,
            "eos_id": vocab.eos_id,
            **C2S_MODEL_DEFAULTS,
            **dict(model_config or {}),
        }
    )
    network = CellGPT(cfg, seed=seed)
    data = TensorBatches(
        {"input_ids": torch.as_tensor(seq), "attention_mask": torch.as_tensor(att)},
        batch_size=tc.batch_size,
        seed=seed,
    )
    run = {
        "objective": "ntp",
        "task": "c2s",
        "label_key": label_key,
        "labels": labels,
        "top_k": top_k,
        "model": cfg.to_dict(),
        "n_cells": int(adata.n_obs),
    }
    log(f"train_c2s: {adata.n_obs} cells, {len(labels)} types, {len(vocab_genes)} genes")
    result = train(network, data, NextTokenObjective(), tc, out_dir=out_dir, resume=resume, run=run)
    training = training_record(run, tc, result)
    extra = {"task": "c2s", "label_key": label_key, "labels": labels, "top_k": top_k}
    model = CellModel(network, tok, training=training, extra=extra)
    if out_dir is not None:
        model.save_pretrained(out_dir, overwrite=True)  # train's prepare_run decided
    return model


def _c2s_model(model: Any) -> CellModel:
    from ..models import CellModel

    if isinstance(model, str | Path):
        model = CellModel.from_pretrained(model)
    if not isinstance(model, CellModel) or model.extra.get("task") != "c2s":
        raise ValidationError("model must be a C2S model from vc.text.train_c2s (or its folder)")
    return model


def log_likelihoods(
    adata: AnnData, model: CellModel | str | Path, *, layer: str | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:  # fmt: skip
    """``log p(type, sentence)`` of every cell under every type token (cells x labels).

    Parameters
    ----------
    adata
        Cells to score (their genes are matched to the model's vocabulary).
    model
        A model from :func:`train_c2s` or its checkpoint folder.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    batch_size
        Sequences per forward pass (each cell is scored once per type).

    Returns
    -------
    pd.DataFrame
        Log-likelihoods (nats), index ``adata.obs_names``, one column per type the model
        was trained on; the argmax is :func:`predict_c2s`'s label.
    """
    import torch

    model = _c2s_model(model)
    tok, net = model.tokenizer, model.network
    labels = list(model.extra["labels"])
    type_ids = np.array([tok.vocab[type_token(x)] for x in labels])
    X, genes = _data(adata, layer)
    enc = tok.encode(X, genes=genes)
    n, t = adata.n_obs, len(labels)
    out = np.zeros((n, t))
    net.eval()
    with torch.no_grad():
        for s in range(0, n, max(1, batch_size // t) or 1):
            e = min(n, s + max(1, batch_size // t))
            ids = np.repeat(enc.input_ids[s:e], t, axis=0)
            mask = np.repeat(enc.attention_mask[s:e], t, axis=0)
            prefix = np.tile(type_ids, e - s)
            seq, att = _sequences(ids, mask, prefix, tok.vocab.eos_id)
            x = torch.as_tensor(seq)
            a = torch.as_tensor(att)
            logp = torch.log_softmax(net(x, None, a)["logits"][:, :-1].float(), -1)
            tgt = x[:, 1:]
            ll = logp.gather(-1, tgt[..., None])[..., 0] * a[:, 1:]
            out[s:e] = ll.sum(1).reshape(e - s, t).numpy()
    return pd.DataFrame(out, index=adata.obs_names, columns=labels)


def predict_c2s(
    adata: AnnData,
    model: CellModel | str | Path,
    *,
    layer: str | None = None,
    key_added: str = "vc_c2s_label",
    batch_size: int = 64,
) -> np.ndarray:
    """The cell type "as text": the type token that makes each cell's sentence most likely.

    Parameters
    ----------
    adata
        Cells to label.
    model
        A C2S model (:func:`train_c2s`) or its folder.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    key_added
        ``obs`` column written.
    batch_size
        Sequences per forward pass.

    Returns
    -------
    numpy.ndarray
        The predicted labels (also in ``adata.obs[key_added]``).
    """
    ll = log_likelihoods(adata, model, layer=layer, batch_size=batch_size)
    pred = np.asarray(ll.columns, dtype=object)[ll.to_numpy().argmax(1)]
    adata.obs[key_added] = pd.Categorical(pred, categories=list(ll.columns))
    return pred


def _to_anndata(model: CellModel, sentences: list[list[str]], labels: list[str], label_key: str
                ) -> AnnData:  # fmt: skip
    import anndata as ad

    tok = model.tokenizer
    texts = [" ".join(s) for s in sentences]
    X = tok.decode(texts)
    out = ad.AnnData(X.astype(np.float32))
    out.var_names = list(tok.vocab.genes)
    out.obs_names = [f"generated_{i}" for i in range(len(texts))]
    out.obs[label_key] = pd.Categorical(labels)
    out.obs["cell_sentence"] = texts
    return out


def generate(
    model: CellModel | str | Path,
    *,
    cell_type: str | Sequence[str],
    n_cells: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> AnnData:
    """Generate cells of the requested type(s) from a C2S model.

    Parameters
    ----------
    model
        A C2S model (:func:`train_c2s`) or its folder.
    cell_type
        One label or several (each gets ``n_cells`` cells).
    n_cells
        Cells per type.
    temperature
        Sampling temperature (0 = greedy: every cell of a type is the same).
    top_k
        Sample only among the ``top_k`` most likely genes at each step (None = all).
    seed
        Seed of the sampling.

    Returns
    -------
    AnnData
        Generated cells: ``X`` the decoded expression (the tokenizer's rank-to-expression
        line, log-normalised scale) over the model's genes, ``obs[label_key]`` the
        requested type, ``obs["cell_sentence"]`` the generated sentence.
    """
    import torch

    model = _c2s_model(model)
    types = [cell_type] if isinstance(cell_type, str) else list(cell_type)
    known = list(model.extra["labels"])
    bad = [t for t in types if t not in known]
    if bad or not types:
        raise ValidationError(f"unknown cell type(s) {bad}; the model knows {known}")
    if isinstance(n_cells, bool) or not isinstance(n_cells, int) or n_cells < 1:
        raise ValidationError(f"n_cells must be a positive integer, got {n_cells!r}")
    if not (isinstance(temperature, int | float) and np.isfinite(temperature) and temperature >= 0):
        raise ValidationError(f"temperature must be >= 0, got {temperature!r}")
    tok, net = model.tokenizer, model.network
    vocab = tok.vocab
    gen = torch.Generator().manual_seed(int(seed))
    sentences, labels = [], []
    net.eval()
    for t in types:
        prompt = torch.tensor([[vocab.cls_id, vocab[type_token(t)]]] * n_cells)
        ids = net.generate(
            prompt, int(model.extra["top_k"]) + 1, temperature=float(temperature), top_k=top_k,
            generator=gen,
        ).numpy()  # fmt: skip
        for row in ids[:, 2:]:
            words = []
            for i in row:
                if i in (vocab.eos_id, vocab.pad_id):
                    break
                words.append(vocab.tokens[int(i)])
            sentences.append(words)
            labels.append(t)
    return _to_anndata(model, sentences, labels, str(model.extra["label_key"]))


@dataclass
class C2SEvaluation:
    """What :func:`evaluate_c2s` produced.

    Attributes
    ----------
    prediction
        One row per (method, seed): ``method`` (``c2s``, ``l1_logreg``), ``baseline``,
        ``accuracy``, ``macro_f1``, ``n_test``.
    generation
        One row per (generator, seed): ``generator`` (``c2s``, ``type_mean``,
        ``train_cells``, ``real_test``), ``baseline``, ``classifier_accuracy``,
        ``energy_distance``, ``mean_pearson``, ``n_types``.
    """

    prediction: pd.DataFrame
    generation: pd.DataFrame

    def summary(self) -> dict[str, pd.DataFrame]:
        """Mean and sd over seeds of both tables."""
        out = {}
        for name, table, by in (
            ("prediction", self.prediction, "method"),
            ("generation", self.generation, "generator"),
        ):
            num = [c for c in table.columns if c not in (by, "seed", "baseline")]
            g = table.groupby(by, sort=False)[num]
            out[name] = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd"))
        return out


def _type_mean_sentences(X: Any, genes: list[str], y: np.ndarray, model: CellModel,
                         counts: Mapping[str, int], seed: int) -> tuple[list[list[str]], list[str]]:  # fmt: skip
    """Sentences sampled from each type's mean profile (the type-mean baseline)."""
    from ..represent import log_expression

    tok = model.tokenizer
    vg = list(tok.vocab.genes)
    col = {g: i for i, g in enumerate(genes)}
    cols = np.array([col[g] for g in vg if g in col])
    names = np.array([g for g in vg if g in col], dtype=object)
    L = log_expression(X)[:, cols]
    k = int(model.extra["top_k"])
    rng = np.random.default_rng(seed)
    sentences, labels = [], []
    for t, n in counts.items():
        mean = np.asarray(L[y == t].mean(0)).ravel()
        p = mean / mean.sum() if mean.sum() > 0 else np.full(len(mean), 1 / len(mean))
        support = np.flatnonzero(p > 0)
        for _ in range(n):
            # Plackett-Luce sampling without replacement (Gumbel top-k) from the mean
            g = np.log(p[support]) + rng.gumbel(size=len(support))
            pick = support[np.argsort(-g)[: min(k, len(support))]]
            sentences.append([str(x) for x in names[pick]])
            labels.append(t)
    return sentences, labels


def _decoded(model: CellModel, adata: AnnData, layer: str | None) -> np.ndarray:
    """Real cells as the model sees them: sentence, then decoded (same space as
    generated cells)."""
    X, genes = _data(adata, layer)
    return model.tokenizer.decode(model.tokenizer.encode(X, genes=genes))


def evaluate_c2s(
    adata: AnnData,
    *,
    label_key: str,
    seeds: Sequence[int] = (0, 1, 2),
    layer: str | None = None,
    test_fraction: float = 0.3,
    top_k: int = 64,
    min_cells: int = 5,
    temperature: float = 1.0,
    model_config: Mapping[str, Any] | None = None,
    train_config: TrainConfig | None = None,
) -> C2SEvaluation:
    """C2S type prediction vs L1-LR, and generated cells vs the type-mean baseline.

    Per seed: a stratified, seeded split (:func:`virtualcell.represent.split_reference`,
    ``test_fraction``); :func:`train_c2s` and the L1 logistic regression of
    :mod:`virtualcell.represent` (``l1_logreg``: 2 000 HVGs, z-scored) are trained on the
    same training cells and predict the test cells (accuracy, macro-F1).

    Generation, for every type with >= ``min_cells`` test cells, as many cells as the type
    has test cells, by each generator:

    * ``c2s`` — :func:`generate` (``temperature``);
    * ``type_mean`` (baseline) — sentences sampled from the type's mean log expression
      over the training cells (Plackett-Luce without replacement: genes drawn in turn
      with probability proportional to their mean);
    * ``train_cells`` (reference) — the type's training cells themselves (resampled);
    * ``real_test`` (reference) — the test cells (distance 0; classifier ceiling).

    Every set is compared in the same space: sentences decoded to expression with the
    tokenizer's rank line (real cells too). Scores, averaged over types:

    * ``classifier_accuracy`` — an L1 logistic regression (as above) trained on the
      decoded training cells labels each generated cell; share labelled as requested;
    * ``energy_distance`` — :func:`virtualcell.metrics.energy_distance` to the type's
      decoded test cells, on the 50 principal components of the decoded training cells;
    * ``mean_pearson`` — Pearson correlation of the generated and the test mean profile.

    Parameters
    ----------
    adata
        Labelled cells (counts or log-normalised expression).
    label_key
        ``obs`` column with the cell types.
    seeds
        One split, training and generation per seed (an int: one seed).
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    test_fraction
        Share of each type's cells held out for testing.
    top_k
        Genes per cell sentence.
    min_cells
        Test cells a type needs for its generation to be scored.
    temperature
        Sampling temperature of :func:`generate`.
    model_config
        :class:`~virtualcell.models.CellGPTConfig` overrides (see :func:`train_c2s`).
    train_config
        Optimisation (default :data:`C2S_TRAIN_CONFIG`).

    Returns
    -------
    C2SEvaluation
        The per-seed prediction and generation tables (``summary()``: mean and sd over
        seeds).
    """
    import anndata as ad
    from sklearn.decomposition import PCA

    from ..metrics import accuracy, energy_distance, macro_f1, pearson
    from ..represent import get_method, labels_of, split_reference

    L1LogRegAnnotator = get_method("l1_logreg")  # the registered baseline's class

    if isinstance(seeds, int):
        seeds = [seeds]
    labels_of(adata, label_key)
    pred_rows, gen_rows = [], []
    for seed in seeds:
        ref, test, _ = split_reference(adata, label_key=label_key, query_fraction=test_fraction,
                                       seed=seed)  # fmt: skip
        y_ref, y_test = labels_of(ref, label_key), labels_of(test, label_key)
        model = train_c2s(ref, label_key=label_key, layer=layer, top_k=top_k, seed=seed,
                          model_config=model_config, train_config=train_config)  # fmt: skip
        pred = predict_c2s(test, model, layer=layer)
        lr = L1LogRegAnnotator(seed=seed).fit(ref, y_ref, layer=layer)
        pred_lr = lr.classes_[lr.logits(test, layer=layer).argmax(1)]
        for name, p, base in (("c2s", pred, False), ("l1_logreg", pred_lr, True)):
            pred_rows.append({
                "method": name, "baseline": base, "seed": int(seed),
                "accuracy": accuracy(y_test, p), "macro_f1": macro_f1(y_test, p),
                "n_test": int(test.n_obs),
            })  # fmt: skip
        # ---- generation
        genes = list(model.tokenizer.vocab.genes)
        d_ref = _decoded(model, ref, layer)
        d_test = _decoded(model, test, layer)
        counts = pd.Series(y_test).value_counts()
        counts = {str(t): int(n) for t, n in counts.items() if n >= min_cells and t in set(y_ref)}
        if not counts:
            log(f"evaluate_c2s: no type has >= {min_cells} test cells; generation skipped")
            continue
        ref_dec = ad.AnnData(d_ref)
        ref_dec.var_names = genes
        clf = L1LogRegAnnotator(seed=seed).fit(ref_dec, y_ref)
        pca = PCA(n_components=min(50, d_ref.shape[0] - 1, d_ref.shape[1]), random_state=0)
        mu, sd = d_ref.mean(0), d_ref.std(0)
        sd[sd == 0] = 1
        pca.fit((d_ref - mu) / sd)
        sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        parts_x, parts_y = [], []
        for t, n in counts.items():
            g = generate(model, cell_type=t, n_cells=n, temperature=temperature, seed=seed)
            parts_x.append(g.X)
            parts_y += [t] * n
        sets["c2s"] = (np.vstack(parts_x), np.array(parts_y))
        X_ref, g_ref = _data(ref, layer)
        sent, lab = _type_mean_sentences(X_ref, g_ref, y_ref, model, counts, seed)
        sets["type_mean"] = (_to_anndata(model, sent, lab, label_key).X, np.array(lab))
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.choice(np.flatnonzero(y_ref == t), n) for t, n in counts.items()])
        sets["train_cells"] = (d_ref[idx], y_ref[idx])
        keep = np.isin(y_test, list(counts))
        sets["real_test"] = (d_test[keep], y_test[keep])
        for name, (Xg, yg) in sets.items():
            gad = ad.AnnData(np.asarray(Xg, dtype=np.float32))
            gad.var_names = genes
            acc = accuracy(yg, clf.classes_[clf.logits(gad).argmax(1)])
            zg = pca.transform((Xg - mu) / sd)
            dist, corr = [], []
            for t in counts:
                real = d_test[y_test == t]
                dist.append(energy_distance(zg[yg == t], pca.transform((real - mu) / sd)))
                corr.append(pearson(real.mean(0), Xg[yg == t].mean(0)))
            gen_rows.append({
                "generator": name, "baseline": name != "c2s", "seed": int(seed),
                "classifier_accuracy": acc, "energy_distance": float(np.mean(dist)),
                "mean_pearson": float(np.mean(corr)), "n_types": len(counts),
            })  # fmt: skip
    return C2SEvaluation(pd.DataFrame(pred_rows), pd.DataFrame(gen_rows))
