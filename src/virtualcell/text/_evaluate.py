"""Held-out-type evaluation of zero-shot annotation and retrieval (``vc.text.evaluate``).

Protocol, per seed ``s`` (identical for every method of :data:`ZERO_SHOT_METHODS`):

1. **held-out types** — ``holdout_types`` labels drawn with ``numpy.random.default_rng(s)``
   among the labels with at least ``min_cells`` cells; all their cells leave training;
2. **seen types** — their cells are split, stratified and seeded
   (:func:`virtualcell.represent.split_reference`, ``test_fraction``), into training
   and test cells;
3. **training** sees only the seen types' training cells and texts built from the seen
   labels (the cell encoder's PCA is fitted on those cells too). The held-out labels, their
   texts and their cells are never used before step 4;
4. **label texts** for every label (seen and held-out) are built from the label alone
   (:func:`~virtualcell.text.label_texts`: label, Cell Ontology term, named genes);
5. **scores**: evaluation cells (held-out cells + seen test cells) x all labels.

Metrics (:mod:`virtualcell.metrics`):

* ``zero_shot_macro_f1`` / ``zero_shot_accuracy`` — held-out cells labelled among the
  held-out labels only (argmax); macro-F1 over the held-out labels;
* ``generalized_accuracy`` — held-out cells labelled among *all* labels (a seen label is
  an error); ``seen_accuracy`` — seen test cells among all labels;
* ``recall_at_{k}_cell_to_text`` — per evaluation cell, the labels ranked by score:
  :func:`~virtualcell.metrics.recall_at_k` with the cell's own label relevant;
  ``..._held_out`` — the same over held-out cells only;
* ``recall_at_{k}_text_to_cell`` — per label with evaluation cells, the evaluation cells
  ranked by score; a hit when one of the top ``k`` cells has that label.

With ``L`` labels, chance recall@k cell->text is ``k / L`` (1 when ``k >= L``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import DatasetNotAvailableError, ValidationError
from .._utils import log

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["TextEvaluation", "evaluate", "split_types"]

KS = (1, 5, 10)
METRICS = (
    "zero_shot_macro_f1",
    "zero_shot_accuracy",
    "generalized_accuracy",
    "seen_accuracy",
    *(f"recall_at_{k}_cell_to_text" for k in KS),
    *(f"recall_at_{k}_text_to_cell" for k in KS),
    *(f"recall_at_{k}_cell_to_text_held_out" for k in KS),
)


@dataclass
class TextEvaluation:
    """What :func:`evaluate` produced.

    Attributes
    ----------
    table
        One row per (method, seed): ``method``, ``baseline``, ``seed``, ``held_out``
        (labels joined by ``"; "``), the metrics of the module docstring, ``fit_s``
        (training wall time) and ``n_eval`` / ``n_held_out`` (cells).
    held_out
        ``{seed: [held-out labels]}``.
    skipped
        ``{method: reason}`` for methods that could not run (e.g. no knowledge store).
    """

    table: pd.DataFrame
    held_out: dict[int, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self, *, level: float = 0.95) -> pd.DataFrame:
        """Mean and sample sd over seeds of every metric, one row per method, and the
        Student-t interval of the mean over seeds (:func:`virtualcell.metrics.mean_ci`,
        columns ``_ci_low`` / ``_ci_high``; NaN with fewer than two seeds)."""
        num = [c for c in (*METRICS, "fit_s") if c in self.table]
        g = self.table.groupby("method", sort=False)[num]
        out = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd"))
        for m in num:
            lo, hi = {}, {}
            for name, rows in self.table.groupby("method", sort=False):
                lo[name], hi[name] = _interval(rows[m], level)
            out[f"{m}_ci_low"] = pd.Series(lo)
            out[f"{m}_ci_high"] = pd.Series(hi)
        out["n_seeds"] = g.size()
        return out

    def to_json(self, *, seed: int | None = None) -> dict[str, Any]:
        """``{"zero_shot_macro_f1", "recall_at_5_cell_to_text", ..., "baselines": {name:
        {metrics}}}`` of the bridge for one seed (default: the mean over seeds), plus
        ``"methods"`` (every method that is not a baseline, the bridge included, by name)
        and ``"ci95"`` (per method and metric the 95 % Student-t interval of the mean over
        seeds, ``[low, high]``; ``null`` with one seed)."""
        t = self.table if seed is None else self.table[self.table["seed"] == seed]
        if t.empty:
            raise ValidationError(f"no results for seed {seed}")

        def metrics(rows: pd.DataFrame) -> dict[str, Any]:
            return {m: _num(rows[m].mean()) for m in METRICS} | {
                "fit_s": _num(rows["fit_s"].mean())
            }

        out: dict[str, Any] = {}
        bridge = t[t["method"] == "bridge"]
        if len(bridge):
            out.update(metrics(bridge))
        out["baselines"] = {
            name: metrics(rows)
            for name, rows in t[t["method"] != "bridge"].groupby("method")
            if bool(rows["baseline"].iloc[0])
        }
        out["methods"] = {
            name: metrics(rows)
            for name, rows in t.groupby("method", sort=False)
            if not bool(rows["baseline"].iloc[0])
        }
        out["ci95"] = {
            name: {m: [_num(x) for x in _interval(rows[m])] for m in METRICS}
            for name, rows in t.groupby("method", sort=False)
        }
        for name, reason in self.skipped.items():
            out["baselines"].setdefault(name, {m: None for m in METRICS})["skipped"] = reason
        seeds = sorted({int(s) for s in t["seed"]})
        out["seeds"] = seeds
        out["held_out_types"] = {str(s): self.held_out.get(s, []) for s in seeds}
        out["n_eval"] = int(t["n_eval"].iloc[0]) if seed is not None else None
        return out


def _interval(values: pd.Series, level: float = 0.95) -> tuple[float, float]:
    from ..metrics import mean_ci

    v = values.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return (np.nan, np.nan)
    ci = mean_ci(v, level=level)
    return (ci.low, ci.high)


def _num(x: Any) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


def split_types(
    labels: Sequence[str], *, holdout_types: int, seed: int, min_cells: int = 5
) -> list[str]:
    """The held-out labels of ``seed``: ``holdout_types`` drawn with
    ``numpy.random.default_rng(seed)`` from the labels with >= ``min_cells`` cells
    (sorted names).

    Parameters
    ----------
    labels
        One label per cell.
    holdout_types
        Labels to hold out (>= 2; at least two labels must stay for training).
    seed
        Seed of the draw.
    min_cells
        Cells a label needs to be eligible.

    Returns
    -------
    list[str]
        The held-out labels, sorted.
    """
    counts = pd.Series(np.asarray(labels).astype(str)).value_counts()
    eligible = sorted(counts.index[counts >= min_cells])
    n_labels = counts.size
    if isinstance(holdout_types, bool) or not isinstance(holdout_types, int) or holdout_types < 2:
        raise ValidationError(f"holdout_types must be an integer >= 2, got {holdout_types!r}")
    if holdout_types > len(eligible) or n_labels - holdout_types < 2:
        raise ValidationError(
            f"holdout_types={holdout_types}: the data has {n_labels} labels, {len(eligible)} "
            f"with >= {min_cells} cells; at least 2 labels must stay for training"
        )
    rng = np.random.default_rng(seed)
    return sorted(str(x) for x in rng.choice(eligible, size=holdout_types, replace=False))


def _default_kb() -> Any:
    """The default knowledge store, built from the installed packages when missing."""
    from ..knowledge import build, default_path

    path = default_path()
    if not path.exists():
        log(f"no knowledge store at {path}: building one from the installed packages (once)")
        build(out=path)
    return path


def _restrict(texts: Any, labels: list[str]) -> Any:
    """The label texts of ``labels`` only (what a method may see while it is fitted)."""
    from ._labels import LabelTexts

    terms = texts.terms.loc[[x for x in labels if x in texts.terms.index]]
    return LabelTexts(
        texts={x: texts.texts[x] for x in labels},
        terms=terms,
        markers={x: texts.markers.get(x, {}) for x in labels},
    )


def _metrics(S: np.ndarray, y: np.ndarray, labels: list[str], held: list[str]) -> dict:
    from ..metrics import accuracy, macro_f1, recall_at_k

    lab = np.asarray(labels, dtype=object)
    rel = y[:, None] == lab[None, :]
    is_held = np.isin(y, held)
    hcols = np.isin(lab, held)
    pred_zs = lab[hcols][np.nan_to_num(S[is_held][:, hcols], neginf=-1e300).argmax(1)]
    pred_all = lab[np.nan_to_num(S, neginf=-1e300).argmax(1)]
    out = {
        "zero_shot_macro_f1": macro_f1(y[is_held], pred_zs, labels=list(lab[hcols])),
        "zero_shot_accuracy": accuracy(y[is_held], pred_zs),
        "generalized_accuracy": accuracy(y[is_held], pred_all[is_held]),
        "seen_accuracy": accuracy(y[~is_held], pred_all[~is_held]) if (~is_held).any() else np.nan,
    }
    for k in KS:
        out[f"recall_at_{k}_cell_to_text"] = recall_at_k(rel, S, k=k)
        out[f"recall_at_{k}_text_to_cell"] = recall_at_k(rel.T, S.T, k=k)
        out[f"recall_at_{k}_cell_to_text_held_out"] = recall_at_k(rel[is_held], S[is_held], k=k)
    return out


def _check_label_names(labels: list[str], label_key: str, texts: Any) -> None:
    """Refuse labels that are all numbers (cluster ids such as Leiden's ``0``, ``1``):
    zero-shot annotation reads each held-out type's *name*, and a number describes no cell
    type (the scores were computed and printed as if it did). Labels described by
    ``texts`` pass."""
    import re

    described = set(texts or {})
    numbers = [x for x in labels if re.fullmatch(r"\s*[-+]?\d+(\.\d+)?\s*", x)]
    if labels and len(numbers) == len(labels) and not set(labels) <= described:
        raise ValidationError(
            f"obs[{label_key!r}] holds numbers ({', '.join(numbers[:5])}), not cell-type "
            "names: zero-shot annotation reads the name of each held-out type, and a "
            "cluster id describes none; give a column of cell-type names (or texts= "
            "describing every label)"
        )


def evaluate(
    adata: AnnData,
    *,
    label_key: str,
    holdout_types: int = 3,
    seeds: Sequence[int] = (0, 1, 2),
    methods: Sequence[str] = ("bridge", "text_map", "marker_score", "genept", "random"),
    test_fraction: float = 0.2,
    min_cells: int = 5,
    layer: str | None = None,
    kb: Any = None,
    ontology: Any = "auto",
    texts: Mapping[str, str | Sequence[str]] | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> TextEvaluation:
    """Zero-shot annotation and retrieval on held-out types, every method side by side.

    Parameters
    ----------
    adata
        Labelled cells (counts or log-normalised; ``layer="raw"`` for scaled ``X``).
    label_key
        ``obs`` column with the cell types.
    holdout_types
        Types held out of training per seed (>= 2).
    seeds
        One split (held-out types, train/test) and one training per seed.
    methods
        Names in :data:`ZERO_SHOT_METHODS` (``bridge``, ``text_map``, ``text_map_conse``,
        ``marker_score``, ``genept``, ``random``).
    test_fraction
        Share of the seen types' cells kept out of training for evaluation.
    min_cells
        Smallest number of cells of a type that may be held out.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    kb
        Knowledge store (path or open store) for gene aliases, gene names and GenePT;
        ``None``: the default store, built from the installed packages if missing;
        ``False``: none (no aliases or gene names; the GenePT baseline is skipped).
    ontology
        Cell Ontology for the label texts (``"auto"``, ``True``, ``False`` or a table).
    texts
        More texts per label (used for training and evaluation alike).
    method_options
        ``{method: {option: value}}``, e.g. ``{"bridge": {"train_config": ...}}``.

    Returns
    -------
    TextEvaluation
    """
    from ..knowledge import KnowledgeBase
    from ..represent import expression, labels_of, split_reference
    from ._labels import label_texts
    from ._zero_shot import ZERO_SHOT_METHODS

    y_all = labels_of(adata, label_key)
    _check_label_names(sorted(set(map(str, y_all))), label_key, texts)
    if not adata.obs_names.is_unique:
        raise ValidationError("obs_names must be unique (adata.obs_names_make_unique())")
    if isinstance(seeds, int):
        seeds = [seeds]
    for m in methods:
        ZERO_SHOT_METHODS.get(m)
    options = {k: dict(v) for k, v in (method_options or {}).items()}
    if kb is None:
        kb = _default_kb()
    kb_obj = None if kb is False else kb if isinstance(kb, KnowledgeBase) else KnowledgeBase(kb)
    rows, held_out, skipped = [], {}, {}
    _, genes = expression(adata, layer=layer)
    labels = sorted(set(y_all))
    try:
        texts_all = label_texts(labels, genes=list(genes), kb=kb_obj, ontology=ontology,
                                extra=texts)  # fmt: skip
        for seed in seeds:
            held = split_types(y_all, holdout_types=holdout_types, seed=seed, min_cells=min_cells)
            held_out[int(seed)] = held
            seen = adata[~np.isin(y_all, held)].copy()
            ref, test, _ = split_reference(
                seen, label_key=label_key, query_fraction=test_fraction, seed=seed
            )
            rows_ev = np.concatenate(
                [np.flatnonzero(np.isin(y_all, held)), adata.obs_names.get_indexer(test.obs_names)]
            )
            ev = adata[rows_ev].copy()
            seen_texts = _restrict(texts_all, [x for x in labels if x not in held])
            y = labels_of(ev, label_key)
            log(f"text.evaluate: seed {seed}, held out {held}, {ref.n_obs} training cells")
            for name in methods:
                entry = ZERO_SHOT_METHODS.entry(name)
                method = entry.obj(**options.get(name, {}))
                t0 = time.perf_counter()
                try:
                    method.fit(ref, label_key=label_key, layer=layer, kb=kb_obj, seed=seed,
                               texts=seen_texts)  # fmt: skip
                    fit_s = time.perf_counter() - t0
                    S = np.asarray(method.scores(ev, texts_all, layer=layer), dtype=np.float64)
                except DatasetNotAvailableError as e:
                    skipped[name] = str(e)
                    log(f"text.evaluate: {name} skipped ({e})")
                    continue
                rows.append(
                    {
                        "method": name,
                        "baseline": entry.baseline,
                        "seed": int(seed),
                        "held_out": "; ".join(held),
                        **_metrics(S, y, list(texts_all.texts), held),
                        "fit_s": fit_s,
                        "n_eval": int(ev.n_obs),
                        "n_held_out": int(np.isin(y, held).sum()),
                    }
                )
    finally:
        if kb_obj is not None and not isinstance(kb, KnowledgeBase):
            kb_obj.close()
    return TextEvaluation(pd.DataFrame(rows), held_out, skipped)
