"""Score every method next to the baselines on one task (``vc.perturb.evaluate``).

For each method: fit on the task's training rows, predict every test condition (genes a
method cannot represent fall back to the training mean and are counted in
``n_fallback``), and score against the truth in the training expression space (the
control profile ``c`` = mean of the control rows, ``vc.metrics`` control rule).

**The perturbed genes are left out.** For condition ``i`` with perturbed genes ``T_i``
(``A`` and ``B`` for ``A+B``), every metric below except ``target_abs_error`` is computed
over ``K_i`` = the measured genes *not* in ``T_i``: a method that only knows "the knocked
gene drops" gains nothing from it. ``include_targets=True`` (CLI ``--include-targets``)
uses all genes instead (the numbers before this rule). Per condition
(:func:`vc.metrics.score_profiles`):

==========================  ====================================================================
``pearson_delta``           Pearson of predicted vs true change from control over ``K_i``; NaN
                            when the predicted change is constant or zero to round-off
                            (``no_change``: a zero change has no correlation, by definition)
``pearson_delta_top20_de``  the same over ``D_i`` = the 20 genes of ``K_i`` with the largest
                            ``|true - c|``
``mse``, ``mae``            over ``K_i``
``mse_top20_de``            MSE over ``D_i``
``l2``                      Euclidean distance over the 1,000 genes of ``K_i`` with the highest
                            control mean
``direction_agreement``     share of ``D_i`` where the predicted change has the true sign
``target_abs_error``        mean over the measured genes of ``T_i`` of ``|predicted change -
                            true change|`` (NaN when none is measured); reported apart
``de_overlap``              VCC DE score: Wilcoxon + BH DE genes of the true cells and of cells
                            sampled from the prediction (``Predictor.sample``), both with the
                            genes of ``T_i`` removed, ranked overlap
``de_recall``, ``de_fdp``   recall and false discovery proportion of those DE sets
==========================  ====================================================================

Across conditions: ``pds`` (perturbation discrimination score, L1; ``T_i`` always left
out, as in cell-eval) and ``centroid_accuracy`` (Systema, Euclidean over ``K_i``), both
among the test conditions, one value per condition. DE metrics need at least 3 cells per
condition and 3 control cells (NaN otherwise, e.g. DREAM4). Means are taken over
conditions (NaN ignored), overall, per test subgroup and per interaction stratum; for
doubles also the interaction-mode accuracy (:func:`vc.metrics.interaction_mode`, the
truth and the prediction both fitted on the *observed* single profiles, perturbed genes
left out). ``normalized`` holds cell-eval's baseline-normalised score of every metric
against the task's reference baseline (``additive`` for doubles, ``train_mean`` for unseen
singles).

:func:`evaluate` returns a :class:`vc.metrics.EvalResult`: task ``perturb/<task>``, one
row per method x test condition x metric (``unit`` = the condition), ``report`` = the
detailed dict (``results`` per method, the shape ``vcell perturb evaluate --json`` prints).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError, VirtualCellError
from .._utils import clean_stale_temps, log, write_json
from .._version import __version__
from ..data import split_perturbation
from ..metrics import PROFILE_METRICS, EvalResult
from ._data import expression_matrix, row_roles
from ._methods import METHODS, make_predictor
from ._tasks import Task, load_task

__all__ = [
    "METRIC_BEST",
    "PERTURB_METRICS",
    "RUN_FORMAT",
    "Truth",
    "default_methods",
    "evaluate",
    "method_cost",
    "score_predictions",
]

#: Every per-condition metric of the perturbation tasks: the profile metrics of
#: :func:`vc.metrics.score_profiles` and the DE-set metrics computed here from sampled
#: cells (directions in ``vc.metrics.METRIC_SPECS``).
PERTURB_METRICS = (*PROFILE_METRICS, "de_overlap", "de_recall", "de_fdp")


def _best() -> dict[str, str]:
    from ..metrics import higher_is_better

    return {m: "one" if higher_is_better(m) else "zero" for m in PERTURB_METRICS}


#: Direction of every reported metric in cell-eval's words (its normalisation rule needs
#: it), read from ``vc.metrics.METRIC_SPECS``.
METRIC_BEST = _best()
_MIN_CELLS = 3
#: Sampled values (cells x genes) held at once when scoring the DE metrics.
_SAMPLE_BLOCK = 2**25


class Truth:
    """Pseudobulk truth, control and (optionally) cells of every test condition of a
    :class:`Task`, in the expression space of the predictors (``counts``: the data came in
    as counts, so the space is ``log1p`` of counts per 10,000)."""

    def __init__(self, task: Task, counts: bool) -> None:
        truth = task.truth
        labels, role, _ = row_roles(truth, perturbation_type=task.perturbation_type)
        x, _ = expression_matrix(truth, counts=counts)
        self.genes = [str(g) for g in truth.var_names]
        self.conditions = task.conditions
        ctrl = np.flatnonzero(role == "control")
        self.control = _mean(x, ctrl)
        self.profiles = np.vstack([_mean(x, np.flatnonzero(labels == c)) for c in self.conditions])
        self.n_cells = np.array([(labels == c).sum() for c in self.conditions])
        self.cells_ok = len(ctrl) >= _MIN_CELLS and bool((self.n_cells >= _MIN_CELLS).all())
        self.x, self.labels, self.ctrl_rows = x, labels, ctrl
        self.counts = counts
        self._true_de: dict[str, list[str]] = {}
        self._de_ref: Any = None
        self._pred_de: dict[Any, dict] = {}

    def cells(self, cond: str) -> Any:
        return self.x[np.flatnonzero(self.labels == cond)]

    @property
    def de_reference(self) -> Any:
        """The control cells prepared once for every DE test of every method
        (:class:`vc.metrics.DEReference`, equal to ``de_test`` against them)."""
        if self._de_ref is None:
            from ..metrics import DEReference

            self._de_ref = DEReference(self.x[self.ctrl_rows], genes=self.genes)
        return self._de_ref

    def true_de(self, cond: str) -> list[str]:
        from ..metrics import de_genes

        if cond not in self._true_de:
            self._true_de[cond] = de_genes(self.de_reference.test(self.cells(cond)))
        return self._true_de[cond]


def _mean(x: Any, rows: np.ndarray) -> np.ndarray:
    sub = x[rows]
    return np.asarray(sub.mean(axis=0), dtype=np.float64).ravel()


def score_predictions(
    truth: Truth,
    predicted: np.ndarray,
    *,
    predictor: Any = None,
    seed: int = 0,
    include_targets: bool = False,
) -> pd.DataFrame:
    """Per-condition metrics of ``predicted`` (conditions x genes, rows in
    ``truth.conditions`` order); see the module docstring. ``predictor`` (fitted) enables
    the DE metrics (cells sampled from the prediction); ``include_targets`` keeps the
    perturbed genes in every metric."""
    from ..metrics import de_fdp, de_genes, de_overlap, de_recall, score_profiles

    table = score_profiles(
        truth.profiles,
        predicted,
        truth.control,
        labels=truth.conditions,
        genes=truth.genes,
        include_targets=include_targets,
    )
    table["de_overlap"] = table["de_recall"] = table["de_fdp"] = np.nan
    if truth.cells_ok and predictor is not None:
        import anndata as ad

        reference = truth.de_reference
        memo = _de_memo(truth, predictor, seed)
        n_sample = int(truth.n_cells.max())
        conds = list(truth.conditions)
        # The base class's sample draws condition after condition from one random
        # stream (np.random.default_rng(seed), which passes a Generator through): called
        # on blocks of conditions with the same Generator it gives exactly the cells of
        # one call, without holding every sampled cell at once (a large screen's
        # 125 conditions x 360 cells x 5,000 genes are GBs). Other samplers: one call.
        if memo is not None:
            block = max(1, _SAMPLE_BLOCK // max(1, n_sample * len(truth.genes)))
            stream: Any = np.random.default_rng(seed)
        else:
            block, stream = len(conds), seed
        pred_all: list[list[str]] = []
        for lo in range(0, len(conds), block):
            part = conds[lo : lo + block]
            sample_in = ad.AnnData(
                X=np.asarray(predicted[lo : lo + block], dtype=np.float64),
                obs=pd.DataFrame({"perturbation": part}, index=part),
                var=pd.DataFrame(index=truth.genes),
            )  # fmt: skip
            cells = predictor.sample(sample_in, n_cells=n_sample, seed=stream)
            px, _ = expression_matrix(cells, counts=truth.counts)
            plab = cells.obs["perturbation"].astype(str).to_numpy()
            del cells
            for j, cond in enumerate(part):
                i = lo + j
                key = None if memo is None else (i, np.asarray(predicted[i], np.float64).tobytes())
                if memo is not None and key in memo:
                    pred_all.append(memo[key])
                    continue
                sel = np.flatnonzero(plab == cond)[: truth.n_cells[i]]
                found = de_genes(reference.test(px[sel]))
                if memo is not None:
                    memo[key] = found
                pred_all.append(found)
            del px
        for i, cond in enumerate(conds):
            pred_de = pred_all[i]
            true_de = truth.true_de(cond)
            if not include_targets:
                targets = set(split_perturbation(cond))
                pred_de = [g for g in pred_de if g not in targets]
                true_de = [g for g in true_de if g not in targets]
            table.loc[i, "de_overlap"] = de_overlap(true_de, pred_de)
            table.loc[i, "de_recall"] = de_recall(true_de, pred_de)
            table.loc[i, "de_fdp"] = de_fdp(true_de, pred_de)
    return table


def _de_memo(truth: Truth, predictor: Any, seed: int) -> dict | None:
    """DE genes of sampled cells already computed for the same prediction of a condition:
    :meth:`Predictor.sample` draws the cells of condition ``i`` from the same random
    stream position whatever the predicted values, so the same predicted row, seed and
    control cells give the same cells and the same DE genes (methods that fall back to
    the training mean share them). Only for the base class's ``sample``."""
    from ._base import Predictor

    if type(predictor).sample is not Predictor.sample:
        return None
    data = predictor.data_
    cells, library = data.control_cells, data.control_library
    digest = hashlib.sha256(np.ascontiguousarray(cells).tobytes())
    if library is not None:
        digest.update(np.ascontiguousarray(library).tobytes())
    key = (seed, int(truth.n_cells.max()), cells.shape, digest.hexdigest())
    return truth._pred_de.setdefault(key, {})


def _interaction(task: Task, truth: Truth, predicted: np.ndarray) -> dict[str, Any] | None:
    """Interaction-mode accuracy over doubles whose singles are observed (anywhere)."""
    from ..metrics import INTERACTION_MODES, interaction_mode

    if task.singles is None:
        return None
    labels, role, _ = row_roles(task.singles, perturbation_type=task.perturbation_type)
    x, _ = expression_matrix(task.singles, counts=truth.counts)
    single = {
        lab: _mean(x, np.flatnonzero(labels == lab)) for lab in set(labels[role == "primary"])
    }
    gidx = {g: i for i, g in enumerate(truth.genes)}
    true_modes, pred_modes, conds = [], [], []
    for i, cond in enumerate(truth.conditions):
        genes = split_perturbation(cond)
        if len(genes) < 2 or not all(g in single for g in genes):
            continue
        ex = [gidx[g] for g in genes if g in gidx]
        singles = [single[g] for g in genes]
        true_modes.append(
            interaction_mode(truth.profiles[i], singles, control=truth.control, exclude=ex)
        )
        pred_modes.append(
            interaction_mode(predicted[i], singles, control=truth.control, exclude=ex)
        )
        conds.append(cond)
    if not conds:
        return None
    modes = list(INTERACTION_MODES)
    confusion = pd.crosstab(
        pd.Categorical(true_modes, categories=modes), pd.Categorical(pred_modes, categories=modes),
        dropna=False,
    )  # fmt: skip
    return {
        "n": len(conds),
        "accuracy": float(np.mean(np.array(true_modes) == np.array(pred_modes))),
        "modes": modes,
        "confusion": confusion.to_numpy().tolist(),  # rows = truth, columns = prediction
        "truth": dict(zip(conds, true_modes, strict=True)),
        "predicted": dict(zip(conds, pred_modes, strict=True)),
    }


def _summaries(table: pd.DataFrame, task: Task) -> dict[str, Any]:
    metrics = [m for m in METRIC_BEST if m in table]
    out: dict[str, Any] = {m: _nanmean(table[m]) for m in metrics}
    by_sub = {}
    for name, conds in task.subgroups.items():
        sub = table[table["perturbation"].isin(conds)]
        by_sub[name] = {"n": len(sub), **{m: _nanmean(sub[m]) for m in metrics}}
    out["by_subgroup"] = by_sub
    if task.strata:
        by_stratum: dict[str, Any] = {}
        for name, conds in task.subgroups.items():
            sub = table[table["perturbation"].isin(conds)]
            strata = sub["perturbation"].map(task.strata)
            for stratum in ("additive", "moderate", "strong"):
                part = sub[(strata == stratum).to_numpy()]
                if len(part):
                    by_stratum.setdefault(name, {})[stratum] = {
                        "n": len(part), **{m: _nanmean(part[m]) for m in metrics}
                    }  # fmt: skip
        out["by_stratum"] = by_stratum
    return out


def _nanmean(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def _normalize(results: list[dict[str, Any]], reference: str) -> None:
    from ..metrics import baseline_normalized

    ref = next((r for r in results if r["method"] == reference and "error" not in r), None)
    for r in results:
        if ref is None or "error" in r:
            continue
        r["normalized"] = {
            "reference": reference,
            **{
                m: baseline_normalized(r[m], ref[m], best=best)
                for m, best in METRIC_BEST.items()
                if m in r and m in ref
            },
        }


def evaluate(
    data: Any,
    *,
    task: str = "doubles",
    seed: int = 0,
    methods: Sequence[str] | None = None,
    baselines_only: bool = False,
    method_options: dict[str, dict[str, Any]] | None = None,
    groupby: str | None = "auto",
    test_fraction: float = 0.25,
    include_targets: bool = False,
    folds: int | None = None,
    perturbation_key: str | None = None,
    control: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> EvalResult:
    """Evaluate perturbation predictors on ``task`` next to every baseline.

    Parameters
    ----------
    data
        DREAM4 network folder, ``.h5ad`` with a perturbation column, registry name or
        AnnData (see :func:`load_task`).
    task
        ``doubles`` or ``unseen_singles``.
    seed
        Seed of the split and of every method.
    methods
        Method names (default: :func:`default_methods`, every method but those that
        pretrain an encoder, e.g. ``oracle_isp``; those run when named); the baselines are
        always added.
    baselines_only
        Run the baselines alone (``methods`` must then be empty).
    method_options
        ``{method: {option: value}}`` passed to the predictors.
    groupby
        Group column for methods that model groups (``"auto"``: ``cell_type``).
    test_fraction
        Share of genes held out (random splits).
    include_targets
        Keep the perturbed genes in every metric (default: left out; module docstring).
    folds
        ``unseen_singles`` only: K-fold cross-validation over the perturbed genes
        (:func:`load_task` ``folds``) instead of one ``test_fraction`` split; every method
        is fitted K times and every perturbed gene is scored once, by the model that did
        not see it. ``pds`` and ``centroid_accuracy`` rank a condition among the
        conditions of its own fold. ``per_perturbation`` gains a ``fold`` column and the
        split of each fold is written as ``split_fold<f>.json``.
    perturbation_key, control
        The ``obs`` column of the perturbation labels and the control label (default:
        detected, :func:`vc.data.detect_perturbations`; what was detected is logged).
    out
        Folder for ``results.json``, ``split.json`` (or ``split_fold<f>.json``),
        ``per_perturbation.csv`` and ``methods/<method>.json`` (each method's result,
        written atomically the moment it finishes; all written atomically). An existing
        output is refused unless ``overwrite`` (then the run starts afresh), with one
        exception: a folder holding a run of the *same* evaluation (``run.json``: the
        same data file, size and modification time, task, seed, folds, test fraction,
        labels and version) is resumed - finished methods are read back, not rerun.
        An output equal to the input is always refused. Checked before any work.
    overwrite
        Replace an existing output.

    Returns
    -------
    :class:`vc.metrics.EvalResult`: task ``perturb/<task>``; ``table`` has one row per
    method x test condition x metric of :data:`PERTURB_METRICS` (``unit`` = the condition,
    ``split`` = the task, extra column ``subgroup``); ``meta`` the run facts; ``report``
    (also readable as the result itself, ``result["results"]``) the dict ``dataset``,
    ``task``, ``seed``, ``perturbation_type``, ``n_test``, ``subgroups`` (name -> number of
    conditions), ``leakage`` (check counts), ``include_targets``, ``results`` (one dict per
    method: ``method``, ``baseline``, every metric of :data:`METRIC_BEST`,
    ``by_subgroup``, ``by_stratum`` (simulated data), ``interaction`` (doubles),
    ``normalized``, ``n_fallback``, ``fit_seconds``, ``predict_seconds``,
    ``score_seconds``, ``resumed``; or ``error``), and ``per_perturbation`` (a
    DataFrame, not in the JSON).
    """
    from ._data import shared_training

    t0 = time.perf_counter()
    names = _method_names(methods, baselines_only)
    options = {k.lower(): dict(v) for k, v in (method_options or {}).items()}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValidationError(f"options given for methods not evaluated: {unknown}")
    folds_ = _check_folds(folds)
    identity = {
        "format": RUN_FORMAT,
        "data": _data_identity(data),
        "task": str(task),
        "seed": int(seed),
        "test_fraction": float(test_fraction),
        "folds": folds_,
        "include_targets": bool(include_targets),
        "groupby": groupby,
        "perturbation_key": perturbation_key,
        "control": control,
        "version": __version__,
    }
    store = _RunStore(out, identity, data, overwrite) if out is not None else None
    parts = [
        load_task(
            data,
            task=task,
            seed=seed,
            test_fraction=test_fraction,
            folds=folds_,
            fold=f,  # type: ignore[arg-type]
            perturbation_key=perturbation_key,
            control=control,
        )
        for f in range(folds_ or 1)
    ]
    prepared = parts[0] if len(parts) == 1 else _merged(parts)
    if store is not None:
        store.start(parts, folds_)
    truths: list[Truth | None] = [None] * len(parts)
    results, tables = [], []
    conds = prepared.conditions
    with shared_training(*(part.train for part in parts)):
        for name in names:
            entry = METHODS.entry(name)
            opts = {
                "perturbation_type": prepared.perturbation_type,
                "seed": seed,
                **options.get(name, {}),
            }
            if name == "network" and "groupby" not in opts:
                opts["groupby"] = groupby
            saved = store.load(name, opts) if store is not None else None
            if saved is not None:
                record, table = saved
                log(f"perturb evaluate: {name} resumed from {store.path(name)}")  # type: ignore[union-attr]
            else:
                done = _run_method(name, entry, opts, parts, truths, prepared,
                                   seed=seed, include_targets=include_targets, folds=folds_)  # fmt: skip
                if done is None or "error" in done[0]:
                    record = done[0] if done is not None else {"method": name}
                    log(f"perturb evaluate: {name} failed: {record.get('error')}")
                    results.append(record)
                    continue
                record, table = done
                if store is not None:
                    store.save(name, opts, record, table)
            tables.append(table)
            record.update(_summaries(table, prepared))
            results.append(record)
            log(
                f"perturb evaluate: {name} pearson_delta={record['pearson_delta']:.3f} "
                f"l2={record['l2']:.3f} (fit {record.get('fit_seconds', 0):.1f} s, "
                f"score {record.get('score_seconds', 0):.1f} s)"
            )
    _normalize(results, prepared.reference)
    per = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    report = {
        "dataset": prepared.dataset,
        "task": prepared.task,
        "seed": int(seed),
        "perturbation_type": prepared.perturbation_type,
        "n_test": len(conds),
        "subgroups": {k: len(v) for k, v in prepared.subgroups.items()},
        "reference": prepared.reference,
        "leakage": prepared.leakage,
        "include_targets": bool(include_targets),
        "folds": folds_,
        "labels": prepared.labels,
        "version": __version__,
        "seconds": round(time.perf_counter() - t0, 3),
        "results": results,
    }
    if store is not None:
        folder = store.folder
        write_json(folder / "results.json", to_jsonable(report))
        from .._utils import atomic_path

        with atomic_path(folder / "per_perturbation.csv") as tmp:
            per.to_csv(tmp, index=False)
        report["out"] = str(folder)
    report["per_perturbation"] = per
    return _result(prepared, per, report, include_targets)


def default_methods() -> list[str]:
    """The methods :func:`evaluate` runs when none are named: every method of
    :data:`METHODS` whose cost tier is not ``pretrains`` (:func:`method_cost`)."""
    return [n for n in METHODS.names() if method_cost(n) != "pretrains"]


def method_cost(name: str) -> str:
    """The cost tier of a method, from its registry tags (``cost:<tier>``): ``cheap``
    (seconds: means and small linear algebra on pseudobulks), ``minutes`` (fits a model
    per gene or over the gene network) or ``pretrains`` (pretrains an encoder first);
    ``unknown`` for an entry without one."""
    for tag in METHODS.entry(name).tags:
        if tag.startswith("cost:"):
            return tag.split(":", 1)[1]
    return "unknown"


def _method_names(methods: Sequence[str] | None, baselines_only: bool) -> list[str]:
    if baselines_only:
        if methods:
            raise ValidationError(
                f"baselines_only runs the baselines alone; do not name methods ({list(methods)})"
            )
        return list(METHODS.names(baseline=True))
    names = default_methods() if methods is None else [str(m).strip().lower() for m in methods]
    for name in names:
        METHODS.entry(name)  # unknown names raise here, listing the valid ones
    return list(dict.fromkeys([*METHODS.names(baseline=True), *names]))


def _run_method(
    name: str,
    entry: Any,
    opts: dict[str, Any],
    parts: list[Task],
    truths: list[Truth | None],
    prepared: Task,
    *,
    seed: int,
    include_targets: bool,
    folds: int | None,
) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """Fit, predict and score one method on every part (fold); ``(record, table)``, or
    ``({..., "error": ...}, None)`` when it failed."""
    record: dict[str, Any] = {"method": name, "baseline": entry.baseline}
    seconds = {"fit_seconds": 0.0, "predict_seconds": 0.0, "score_seconds": 0.0}
    fold_tables, fallback = [], 0
    try:
        for f, part in enumerate(parts):
            predictor = make_predictor(name, **opts)
            tf = time.perf_counter()
            predictor.fit(part.train)
            seconds["fit_seconds"] += time.perf_counter() - tf
            tp = time.perf_counter()
            pred = predictor.predict(part.conditions, on_unsupported="flag")
            seconds["predict_seconds"] += time.perf_counter() - tp
            ts = time.perf_counter()
            if truths[f] is None:
                truths[f] = Truth(part, predictor.data_.counts)
            values = np.asarray(pred.X, dtype=np.float64)
            table = score_predictions(
                truths[f], values, predictor=predictor, seed=seed,  # type: ignore[arg-type]
                include_targets=include_targets,
            )  # fmt: skip
            seconds["score_seconds"] += time.perf_counter() - ts
            table.insert(0, "method", name)
            table["fallback"] = pred.obs["fallback"].to_numpy()
            if folds:
                table["fold"] = f
            fold_tables.append(table)
            fallback += int(pred.obs["fallback"].sum())
    except (VirtualCellError, ImportError, MemoryError) as err:
        record["error"] = str(err).splitlines()[0] if str(err) else type(err).__name__
        return record, None  # type: ignore[return-value]
    record.update({k: round(v, 3) for k, v in seconds.items()})
    record["n_fallback"] = fallback
    record["resumed"] = False
    if prepared.task == "doubles":
        record["interaction"] = _interaction(prepared, truths[0], values)  # type: ignore[arg-type]
    if hasattr(predictor, "summary"):
        record["model"] = predictor.summary()
    return record, pd.concat(fold_tables, ignore_index=True)


#: Format of ``run.json`` and of ``methods/<method>.json`` in an evaluation's ``out``.
RUN_FORMAT = "virtualcell.perturb.evaluate/1"


def _data_identity(data: Any) -> dict[str, Any] | None:
    """What identifies the input for a resume: a file or folder by its resolved path,
    size and modification time; an AnnData or a registry name cannot be told apart from
    a changed one cheaply, so ``None`` (such runs never resume)."""
    import anndata as ad

    if isinstance(data, ad.AnnData):
        return None
    path = Path(str(data)).expanduser()
    if not path.exists():
        return None
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class _RunStore:
    """The ``out`` folder of an evaluation: the output rule, ``run.json`` (the run's
    identity) and one record per finished method, keyed like ``vcell bench``'s cells
    (sha256 of the run identity, the method and its options: any change recomputes)."""

    def __init__(self, out: str | Path, identity: dict[str, Any], data: Any, overwrite: bool):
        from .._utils import check_output

        self.folder = Path(out).expanduser()
        self.identity = identity
        inputs = [] if identity["data"] is None else [("data", str(data))]
        self.resume = False
        run = self.folder / "run.json"
        if not overwrite and identity["data"] is not None and run.is_file():
            try:
                old = json.loads(run.read_text())
            except (OSError, ValueError):
                old = None
            self.resume = old == to_jsonable(identity)
        if self.resume:
            check_output(self.folder, overwrite=True, inputs=inputs, kind="folder")
        else:
            check_output(self.folder, overwrite=overwrite, inputs=inputs, kind="folder",
                         hint="pass --overwrite (overwrite=True) to replace it; a folder of "
                         "the same evaluation (its run.json) is resumed")  # fmt: skip
        self.overwrite = overwrite

    def start(self, parts: list[Task], folds: int | None) -> None:
        """Create the folder (emptied of an earlier run's method records when not
        resuming) and write ``run.json`` and the splits."""
        import shutil

        self.folder.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(self.folder)
        if not self.resume:
            shutil.rmtree(self.folder / "methods", ignore_errors=True)
        (self.folder / "methods").mkdir(exist_ok=True)
        clean_stale_temps(self.folder / "methods")
        for f, part in enumerate(parts):
            part.split.save(
                self.folder / ("split.json" if not folds else f"split_fold{f}.json"),
                overwrite=True,  # the folder passed the output rule in __init__
            )
        write_json(self.folder / "run.json", to_jsonable(self.identity))
        if self.resume:
            log(f"perturb evaluate: resuming the run in {self.folder}")

    def path(self, name: str) -> Path:
        return self.folder / "methods" / f"{name}.json"

    def key(self, name: str, opts: dict[str, Any]) -> str:
        from .._utils import sha256_bytes

        text = json.dumps({"run": self.identity, "method": name, "options": opts},
                          sort_keys=True, default=str)  # fmt: skip
        return sha256_bytes(text)[:16]

    def load(self, name: str, opts: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame] | None:
        path = self.path(name)
        if not self.resume or not path.is_file():
            return None
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if rec.get("format") != RUN_FORMAT or rec.get("key") != self.key(name, opts):
            return None
        table = pd.DataFrame(rec["table"]["rows"], columns=rec["table"]["columns"])
        for col in table.columns:
            if col not in ("method", "perturbation"):
                table[col] = pd.to_numeric(table[col], errors="coerce")
        if "fallback" in table:
            table["fallback"] = table["fallback"].astype(bool)
        if "fold" in table:
            table["fold"] = table["fold"].astype(int)
        record = dict(rec["record"], resumed=True)
        return record, table

    def save(
        self, name: str, opts: dict[str, Any], record: dict[str, Any], table: pd.DataFrame
    ) -> None:
        rows = table.astype(object).where(table.notna(), None).to_numpy().tolist()
        payload = {
            "format": RUN_FORMAT,
            "key": self.key(name, opts),
            "method": name,
            "record": to_jsonable(record),
            "table": {"columns": list(map(str, table.columns)), "rows": to_jsonable(rows)},
        }
        write_json(self.path(name), payload)


def _check_folds(folds: int | None) -> int | None:
    if folds is None:
        return None
    from .._utils import check_number

    check_number("folds", folds, low=2, integer=True)
    return int(folds)


def _merged(parts: list[Task]) -> Task:
    """One :class:`Task` describing K folds together (for the report and the table): the
    test conditions and subgroups of all folds, the first fold's training data."""
    from dataclasses import replace

    subgroups: dict[str, list[str]] = {}
    leakage: dict[str, int] = {}
    for part in parts:
        for name, conds in part.subgroups.items():
            subgroups.setdefault(name, []).extend(conds)
        for key, value in part.leakage.items():
            leakage[key] = leakage.get(key, 0) + int(value)
    subgroups = {k: sorted(set(v)) for k, v in subgroups.items()}
    return replace(parts[0], subgroups=subgroups, leakage=leakage)


def _result(task: Task, per: pd.DataFrame, report: dict[str, Any], include: bool) -> EvalResult:
    meta = {
        k: report[k]
        for k in ("version", "seconds", "perturbation_type", "n_test", "reference", "leakage")
    }
    meta["include_targets"] = bool(include)
    split = task.task if not report.get("folds") else f"{task.task}:{report['folds']}-fold"
    constants = {"dataset": task.dataset, "split": split, "seed": int(task.seed)}
    if per.empty:
        return EvalResult.from_rows(f"perturb/{task.task}", [], meta=meta, report=report)
    subgroup = {c: name for name, conds in task.subgroups.items() for c in conds}
    baseline = {r["method"]: bool(r["baseline"]) for r in report["results"]}
    wide = per.assign(
        baseline=per["method"].map(baseline), subgroup=per["perturbation"].map(subgroup)
    )
    long = wide.melt(
        id_vars=["method", "baseline", "perturbation", "subgroup"]
        + (["fold"] if "fold" in wide.columns else []),
        value_vars=[m for m in PERTURB_METRICS if m in wide.columns],
        var_name="metric",
        value_name="value",
    ).rename(columns={"perturbation": "unit"})
    rows = long.assign(**constants).to_dict("records")
    return EvalResult.from_rows(f"perturb/{task.task}", rows, meta=meta, report=report)


def to_jsonable(obj: Any) -> Any:
    """Recursively replace NaN / infinity by None and numpy scalars by Python numbers."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items() if not isinstance(v, pd.DataFrame)}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
