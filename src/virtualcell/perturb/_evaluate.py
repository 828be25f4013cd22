"""Score every method next to the baselines on one task (``vc.perturb.evaluate``).

For each method: fit on the task's training rows, predict every test condition (genes a
method cannot represent fall back to the training mean and are counted in
``n_fallback``), and score against the truth in the training expression space (the
control profile ``c`` = mean of the control rows, ``vc.metrics`` control rule).

:func:`evaluate` returns a :class:`vc.metrics.EvalResult`: task ``perturb/<task>``, one
row per method x test condition x metric (``unit`` = the condition), ``report`` = the
detailed dict (``results`` per method, the shape ``vcell perturb evaluate --json`` prints).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError, VirtualCellError
from .._utils import log, write_json
from .._version import __version__
from ..metrics import EvalResult
from ._data import row_roles
from ._labels import check_cap
from ._methods import METHODS, make_predictor, resolved_options
from ._run_store import RUN_FORMAT, RunStore, data_identity, to_jsonable
from ._scoring import (
    PERTURB_METRICS,
    Truth,
    add_normalized,
    interaction_report,
    score_predictions,
    summaries,
)
from ._tasks import Task, check_task, read_task_data, task_from
from ._time import TIME_KEY, check_time_points, time_label, time_order

__all__ = ["default_methods", "evaluate", "method_cost"]


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
    by_time: bool = False,
    max_cells: int | None = None,
    max_control_cells: int | None = None,
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
    by_time
        Also score every method per time point of ``obs["time"]`` (the data must have it):
        each method predicts every test condition per day (``predict(time="all")``) and
        :func:`vc.perturb.score` (``time_key="time"``) scores each condition's change of
        each day against that day's control, perturbed genes left out (PDS among the
        fold's conditions of that day). Each result gains ``by_time`` (metric means over
        conditions x days, and ``per_day``) and ``per_time`` (rows: method, perturbation,
        time, metrics, fold); the result table gains rows with split ``<split>:by_time``
        and unit ``<condition>@<time>``. The time-pooled scores are unchanged.
    max_cells, max_control_cells
        Evaluate on at most this many cells per perturbed condition and control cells
        (``None``: all), drawn once before the split with a fixed seed
        (:func:`vc.perturb.read_capped`). An ``.h5ad`` / ``.zarr`` file is then read in row
        chunks and only the cells kept are held in memory: the way to evaluate a screen
        larger than memory. The report's ``labels["cells"]`` says how many were kept.

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
    identity: dict[str, Any] = {
        "format": RUN_FORMAT,
        "data": data_identity(data),
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
    if by_time:  # only then, so runs without it resume as before
        identity["by_time"] = True
    caps = {"max_cells": check_cap(max_cells, "max_cells"),
            "max_control_cells": check_cap(max_control_cells, "max_control_cells")}  # fmt: skip
    identity.update({k: v for k, v in caps.items() if v is not None})  # likewise
    check_task(task, folds_)
    store = RunStore(out, identity, data, overwrite) if out is not None else None
    read = read_task_data(data, perturbation_key=perturbation_key, control=control, **caps)
    parts = [
        task_from(read, task=task, seed=seed, test_fraction=test_fraction,
                  perturbation_type="auto", cv=None if folds_ is None else (folds_, f))
        for f in range(folds_ or 1)
    ]  # fmt: skip
    # the folds hold what they need: the data as read go now, not at some later
    # collection (anndata objects sit in reference cycles; 0.8 GB at 200,000 x 5,000)
    del read
    gc.collect()
    prepared = parts[0] if len(parts) == 1 else _merged(parts)
    if by_time and TIME_KEY not in parts[0].train.obs:
        raise ValidationError(
            f"by_time needs obs[{TIME_KEY!r}] (the time point of every cell) in the data"
        )
    if groupby not in (None, "auto") and groupby not in parts[0].train.obs:
        cols = ", ".join(map(str, parts[0].train.obs.columns[:10]))
        raise ValidationError(  # network failed alone; without it the typo was ignored
            f"groupby column {groupby!r} (--groupby) not in obs (columns: {cols})"
        )
    for part in parts if by_time else ():  # once, not in every method (each failed alone)
        _, role, _ = row_roles(part.train, perturbation_type=prepared.perturbation_type)
        check_time_points(part.train, role)
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
            # keyed on every option as the method resolves it (defaults included)
            key = resolved_options(name, **opts) if store is not None else opts
            saved = store.load(name, key) if store is not None else None
            if saved is not None:
                record, table = saved
                log(f"perturb evaluate: {name} resumed from {store.path(name)}")  # type: ignore[union-attr]
            else:
                done = _run_method(name, entry, opts, parts, truths, prepared,
                                   seed=seed, include_targets=include_targets, folds=folds_,
                                   by_time=by_time)  # fmt: skip
                if done is None or "error" in done[0]:
                    record = done[0] if done is not None else {"method": name}
                    log(f"perturb evaluate: {name} failed: {record.get('error')}")
                    results.append(record)
                    continue
                record, table = done
                if store is not None:
                    store.save(name, key, record, table)
            tables.append(table)
            record.update(summaries(table, prepared))
            results.append(record)
            log(
                f"perturb evaluate: {name} pearson_delta={record['pearson_delta']:.3f} "
                f"l2={record['l2']:.3f} (fit {record.get('fit_seconds', 0):.1f} s, "
                f"score {record.get('score_seconds', 0):.1f} s)"
            )
    add_normalized(results, prepared.reference)
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
    :data:`METHODS` whose cost tier is not ``pretrains`` or ``trains`` (:func:`method_cost`)."""
    return [n for n in METHODS.names() if method_cost(n) not in ("pretrains", "trains")]


def method_cost(name: str) -> str:
    """The cost tier of a method, from its registry tags (``cost:<tier>``): ``cheap``
    (seconds: means and small linear algebra on pseudobulks), ``minutes`` (fits a model
    per gene or over the gene network) or ``pretrains`` (pretrains an encoder first);
    ``unknown`` for an entry without one.

    Parameters
    ----------
    name
        A name of :data:`METHODS`.

    Returns
    -------
    str
        ``cheap``, ``minutes``, ``pretrains`` or ``unknown``.
    """
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
    by_time: bool = False,
) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """Fit, predict and score one method on every part (fold); ``(record, table)``, or
    ``({..., "error": ...}, None)`` when it failed."""
    record: dict[str, Any] = {"method": name, "baseline": entry.baseline}
    seconds = {"fit_seconds": 0.0, "predict_seconds": 0.0, "score_seconds": 0.0}
    fold_tables, time_tables, fallback = [], [], 0
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
            if by_time:
                time_tables.append(
                    _score_by_time(predictor, part, name, include_targets, f, seed=seed)
                )
    except (VirtualCellError, ImportError, MemoryError) as err:
        record["error"] = str(err).splitlines()[0] if str(err) else type(err).__name__
        return record, None  # type: ignore[return-value]
    record.update({k: round(v, 3) for k, v in seconds.items()})
    record["n_fallback"] = fallback
    record["resumed"] = False
    if prepared.task == "doubles":
        record["interaction"] = interaction_report(prepared, truths[0], values)  # type: ignore[arg-type]
    if hasattr(predictor, "summary"):
        record["model"] = predictor.summary()
    if by_time:
        per_time = pd.concat(time_tables, ignore_index=True)
        if not folds:
            per_time = per_time.drop(columns="fold")
        record["by_time"] = _time_summary(per_time)
        record["per_time"] = per_time.to_dict("records")
    return record, pd.concat(fold_tables, ignore_index=True)


def _score_by_time(
    predictor: Any, part: Task, name: str, include_targets: bool, fold: int, seed: int = 0
) -> pd.DataFrame:
    """One method's per-day scores on one part: its per-day predictions scored by
    :func:`vc.perturb.score` with ``time_key`` (the one implementation), the DE metrics
    on cells sampled per day (:func:`_cells_by_time`)."""
    from ..data import CONTROL
    from ._score import score

    pred = predictor.predict([CONTROL, *part.conditions], on_unsupported="flag", time="all")
    truth = part.truth
    if predictor.data_.counts:  # the predictions are in the training space: log1p per 10k
        from ._data import expression_matrix

        truth = truth.copy()
        truth.X = expression_matrix(truth, counts=True)[0]
    cells = _cells_by_time(predictor, pred, part, seed)
    res = score(pred, truth, time_key=TIME_KEY, include_targets=include_targets,
                method=name, pred_cells=cells)  # fmt: skip
    table = pd.DataFrame(res.report["per_perturbation"])
    table.insert(0, "method", name)
    table["fold"] = fold
    return table


def _cells_by_time(predictor: Any, pred: Any, part: Task, seed: int) -> Any:
    """Cells of the per-day predictions ``pred`` (rows: control and every condition x
    day) for the per-day DE metrics, the rule of :meth:`Predictor.sample` on each day:
    for condition ``c`` on day ``t``, as many cells as the truth holds of ``c`` that day,
    each a random control cell *of day t* (the truth's, in the predictor's expression
    space) shifted by the predicted change of that day (``pred[c, t] - pred[control,
    t]``, round-off differences set to 0), clipped at 0 and rounded onto the cells' count
    lattice as :meth:`Predictor.sample` does (counts: back to counts with the cell's
    total, then into the expression space; log-normalised values with whole counts behind
    them: onto each cell's own lattice), in float32 as that sampler's. The day's control
    cells themselves are the prediction's control, so each day's predicted DE genes are
    tested against that day's controls."""
    import anndata as ad
    from scipy import sparse

    from ..data import CONTROL
    from ._base import count_units, shift_cells
    from ._data import expression_matrix, row_roles
    from ._score import _time_values

    truth = part.truth
    counts = bool(predictor.data_.counts)
    labels, role, _ = row_roles(truth, perturbation_type=part.perturbation_type)
    x, _ = expression_matrix(truth, counts=counts)
    x = x.toarray() if sparse.issparse(x) else np.asarray(x)
    library = np.asarray(truth.X.sum(axis=1)).ravel().astype(np.float64) if counts else None
    t_time = _time_values(truth, "real", TIME_KEY)
    p_time = _time_values(pred, "pred", TIME_KEY)
    p_label = pred.obs["perturbation"].astype(str).to_numpy()
    values = np.asarray(pred.X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    blocks, names, days = [], [], []
    for t in sorted(set(p_time.tolist()), key=lambda v: (isinstance(v, str), v)):
        ctrl = np.flatnonzero((role == "control") & (t_time == t))
        at = np.flatnonzero(p_time == t)
        base = at[p_label[at] == CONTROL]
        if len(ctrl) == 0 or len(base) == 0:
            continue
        day_cells = [x[ctrl].astype(np.float32)]  # float32 like the sampled cells (ties)
        names += [CONTROL] * len(ctrl)
        units = None if counts else count_units(x[ctrl])
        for i in at[p_label[at] != CONTROL]:
            n = int(((labels == p_label[i]) & (t_time == t)).sum())
            if n == 0:
                continue
            pick = ctrl[rng.integers(0, len(ctrl), size=n)]
            change = values[i] - values[base[0]]
            # a change at round-off level (no_change's day profile minus the day's
            # control) is no change: shifted by 1e-16, every tied value of the control
            # cells (zeros, equal counts) would move past its twin and test as DE
            change[np.isclose(values[i], values[base[0]], rtol=1e-9, atol=1e-12)] = 0.0
            lib = None if library is None else library[pick]
            unit = None if units is None else units[np.searchsorted(ctrl, pick)]
            day_cells.append(
                shift_cells(x[pick], change, rng, library=lib, unit=unit).astype(np.float32)
            )
            names += [p_label[i]] * n
        if counts and len(day_cells) > 1:  # the sampled counts into the expression space,
            sampled = np.vstack(day_cells[1:])  # as the truth's (the same function)
            some = sampled.sum(axis=1) > 0
            normed, _ = expression_matrix(ad.AnnData(sampled[some]), counts=True)
            sampled[some] = normed.toarray() if sparse.issparse(normed) else normed
            day_cells = [day_cells[0], sampled]
        block = np.vstack(day_cells)
        blocks.append(block)
        days += [t] * len(block)
    obs = pd.DataFrame({"perturbation": names, TIME_KEY: days},
                       index=[f"cell{i}" for i in range(len(names))])  # fmt: skip
    return ad.AnnData(np.vstack(blocks) if blocks else np.zeros((0, x.shape[1])), obs=obs,
                      var=pd.DataFrame(index=list(map(str, truth.var_names))))  # fmt: skip


def _time_summary(per_time: pd.DataFrame) -> dict[str, Any]:
    """Means over conditions x days (NaN ignored) and per day."""
    metrics = [m for m in PERTURB_METRICS if m in per_time]
    mean = per_time[metrics].mean(numeric_only=True)
    per_day = per_time.groupby(TIME_KEY)[metrics].mean()
    per_day = per_day.loc[sorted(per_day.index, key=time_order)]
    return {
        **{m: float(mean[m]) for m in metrics},
        "per_day": {
            time_label(t): {m: float(v) for m, v in row.items()} for t, row in per_day.iterrows()
        },
    }


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
    for r in report["results"]:  # per-day scores (by_time), as their own split
        for row in r.get("per_time") or []:
            unit = f"{row['perturbation']}@{time_label(row[TIME_KEY])}"
            for m in PERTURB_METRICS:
                if m in row:
                    rows.append({"method": r["method"], "baseline": bool(r["baseline"]),
                                 "unit": unit, "metric": m, "value": row[m],
                                 **constants, "split": f"{split}:by_time"})  # fmt: skip
    return EvalResult.from_rows(f"perturb/{task.task}", rows, meta=meta, report=report)
