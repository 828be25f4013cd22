"""Score predictions made by any tool (``vc.perturb.score``, ``vcell perturb score``).

Input convention (cell-eval's): two AnnData — the predicted cells (or profiles) and the
real cells — each with a perturbation column (``perturbation_key``) that holds a control
label (``control``) and one label per perturbation (``A``, or ``A+B`` for a combination).
Each file's pseudobulk change of a perturbation is *its own* perturbation mean minus *its
own* control mean, so a tool that predicts on another scale or with another control is
compared on changes. Values are scored as given: nothing is normalised or transformed.
When a file looks like raw counts (the ``vc.data.looks_like_counts`` rule) the scores are
still computed on those values, a warning says so on stderr, and ``meta`` records it;
normalise both files the same way first (e.g. ``log1p`` of counts per 10,000) when the
tool's output is on a log scale.

Every profile metric is :func:`vc.metrics.score_profiles` (the same as
``vc.perturb.evaluate``), with the perturbed genes left out unless ``include_targets``.
When both files hold cells (at least 3 cells of the perturbation and 3 control cells in
each), the DE metrics ``de_overlap``, ``de_recall``, ``de_fdp`` are added as cell-eval
computes them: the DE genes of each file (Wilcoxon + BH, :func:`vc.metrics.de_test`) of
the perturbation's cells against *that file's own* control cells, ranked by ``|log2 fold
change|``, the perturbed genes left out of both lists unless ``include_targets``; NaN where
a file holds fewer cells (e.g. profiles, one row per perturbation). The perturbed genes of a
label are read in the package grammar: ``A`` or ``A+B`` (GEARS' ``A+ctrl`` works too);
a label in another grammar (``A_B``) names no measured gene, so nothing is left out for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import log
from ._time import time_label

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..metrics import EvalResult

__all__ = ["DE_METRICS", "score"]

#: The DE-set metrics of :func:`score` (NaN unless both files hold cells).
DE_METRICS = ("de_overlap", "de_recall", "de_fdp")
_MIN_CELLS = 3


def _read(obj: Any, name: str) -> AnnData:
    import anndata as ad

    if isinstance(obj, ad.AnnData):
        return obj
    path = Path(obj)
    if not path.is_file():
        raise ValidationError(f"{name}: no such file {str(path)!r}")
    if path.suffix != ".h5ad":
        raise ValidationError(f"{name}: expected an .h5ad file, got {path.name!r}")
    try:
        return ad.read_h5ad(path)
    except Exception as err:
        raise ValidationError(f"{name}: cannot read {path.name!r} as h5ad ({err})") from None


def _profiles(adata: AnnData, name: str, key: str, control: str) -> tuple[pd.DataFrame, Any]:
    from ..data import looks_like_counts
    from ..metrics import mean_profiles

    if key not in adata.obs:
        cols = ", ".join(map(str, adata.obs.columns[:10])) or "none"
        raise ValidationError(f"{name} has no obs column {key!r} (columns: {cols})")
    labels = adata.obs[key]
    if labels.isna().any():
        raise ValidationError(f"{name}: obs[{key!r}] has missing labels")
    if control not in set(labels.astype(str)):
        values = sorted(set(labels.astype(str)))[:8]
        raise ValidationError(
            f"{name}: control label {control!r} not in obs[{key!r}] (values: {values})"
        )
    if adata.n_vars == 0:
        raise ValidationError(f"{name} has no genes")
    x = adata.X
    data = x.data if hasattr(x, "data") and not isinstance(x, np.ndarray) else np.asarray(x)
    if not np.all(np.isfinite(np.asarray(data, dtype=np.float64))):
        raise ValidationError(f"{name}: X holds NaN or infinite values")
    table, _ = mean_profiles(adata, perturbation_key=key)
    table.index = table.index.get_level_values("perturbation")
    return table, looks_like_counts(x)


def score(
    pred: AnnData | str | Path,
    real: AnnData | str | Path,
    *,
    perturbation_key: str = "perturbation",
    control: str = "control",
    include_targets: bool = False,
    method: str = "prediction",
    time_key: str | None = None,
    pred_cells: AnnData | str | Path | None = None,
) -> EvalResult:
    """Score predicted perturbation responses against real ones (cell-eval's convention).

    Parameters
    ----------
    pred, real
        AnnData or ``.h5ad`` paths, cells (or profiles) x genes, with
        ``obs[perturbation_key]``; the same genes (any order: ``pred`` is aligned to
        ``real``). Values are scored as given (module docstring).
    perturbation_key
        The perturbation column of both files.
    control
        The control label in that column (each file's own control mean is its reference).
    include_targets
        Keep the perturbed genes in every metric (default: left out, as in
        ``vc.perturb.evaluate``).
    method
        Name of the predicting method in the result table.
    time_key
        ``obs`` column of the time point (e.g. ``"time"``) in both files: score every
        perturbation per time point, its change taken against the control of the same time
        point in each file (PDS ranks among the perturbations of that time point; the DE
        metrics against that time point's control cells). Time values match numerically
        when numeric (``3`` = ``3.0``). ``None``: pooled.
    pred_cells
        Cells sampled from the prediction (same genes, perturbation column, control cells
        and, with ``time_key``, time column), used for the DE metrics instead of ``pred``'s
        rows: how ``vc.perturb.evaluate(by_time=True)`` scores predicted profiles. ``None``:
        the DE metrics read ``pred`` itself.

    Returns
    -------
    :class:`vc.metrics.EvalResult`, task ``perturb/score``: one row per perturbation x
    metric of :data:`vc.metrics.PROFILE_METRICS` and :data:`DE_METRICS` (with ``time_key``: per perturbation x
    time point, unit ``"<perturbation>@<time>"``, and ``per_perturbation`` gains the time
    column); ``report`` = ``{"summary": {metric:
    mean over perturbations (NaN ignored), "n_perturbations": n}, "per_perturbation":
    [{"perturbation": ..., metric: value, ...}, ...]}`` (what ``vcell perturb score
    --json`` prints); ``meta`` records ``looks_like_counts`` of both files and the real
    perturbations without a prediction (``not_predicted``, left out).

    Raises
    ------
    ValidationError
        A missing column or control label, different genes, a predicted perturbation
        without real cells, no perturbation in common, non-finite values; with
        ``time_key``: the column missing or with missing values in a file, a predicted
        time point absent from the real cells.
    """
    from ..metrics import PROFILE_METRICS, EvalResult

    pred_ad, real_ad = _read(pred, "pred"), _read(real, "real")
    cells_ad = None if pred_cells is None else _read(pred_cells, "pred_cells")
    if cells_ad is not None and perturbation_key not in cells_ad.obs:
        raise ValidationError(f"pred_cells has no obs column {perturbation_key!r}")
    pred_genes = pd.Index(pred_ad.var_names.astype(str))
    real_genes = pd.Index(real_ad.var_names.astype(str))
    named = [(pred_genes, "pred"), (real_genes, "real")]
    if cells_ad is not None:
        named.append((pd.Index(cells_ad.var_names.astype(str)), "pred_cells"))
    for genes, name in named:
        if genes.has_duplicates:
            raise ValidationError(
                f"{name} has duplicated gene names, e.g. {list(genes[genes.duplicated()][:5])}"
            )
    for genes, name in [n for n in named if n[1] != "real"]:
        if set(genes) != set(real_genes):
            only_p = sorted(set(genes) - set(real_genes))
            only_r = sorted(set(real_genes) - set(genes))
            raise ValidationError(
                f"gene mismatch: {len(only_p)} gene(s) only in {name} {only_p[:5]}, "
                f"{len(only_r)} only in real {only_r[:5]}"
            )
    if time_key is None:
        table, missing, p_counts, r_counts = _score_once(
            pred_ad, real_ad, real_genes, perturbation_key, control, include_targets,
            cells_ad=cells_ad,
        )  # fmt: skip
    else:
        table, missing, p_counts, r_counts = _score_by_time(
            pred_ad, real_ad, real_genes, perturbation_key, control, include_targets, time_key,
            cells_ad=cells_ad,
        )  # fmt: skip
    summary: dict[str, Any] = {}
    for m in (*PROFILE_METRICS, *DE_METRICS):
        v = table[m].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        summary[m] = float(v.mean()) if v.size else float("nan")
    summary["n_perturbations"] = int(table["perturbation"].nunique())
    if time_key is not None:
        summary["n_time_points"] = int(table[time_key].nunique())
    report = {"summary": summary, "per_perturbation": table.to_dict("records")}
    meta = {
        "perturbation_key": perturbation_key,
        "control": control,
        "include_targets": bool(include_targets),
        "looks_like_counts": {"pred": bool(p_counts), "real": bool(r_counts)},
        "not_predicted": missing,
        "time_key": time_key,
    }
    wide = table
    if time_key is not None:  # one unit per perturbation and time point
        wide = table.assign(perturbation=[f"{p}@{time_label(t)}" for p, t in
                                          zip(table["perturbation"], table[time_key], strict=True)])  # fmt: skip
        wide = wide.drop(columns=[time_key])
    rows = wide.melt(id_vars="perturbation", var_name="metric", value_name="value")
    rows = rows.rename(columns={"perturbation": "unit"}).assign(
        method=method, baseline=False, dataset="user", split="score", seed=0
    )
    return EvalResult.from_rows("perturb/score", rows.to_dict("records"), meta=meta, report=report)


def _score_once(
    pred_ad: AnnData, real_ad: AnnData, real_genes: pd.Index, perturbation_key: str,
    control: str, include_targets: bool, where: str = "", cells_ad: AnnData | None = None,
) -> tuple[pd.DataFrame, list[str], bool, bool]:  # fmt: skip
    """Per-perturbation table of one pair of files (one time point with ``where``); the
    DE metrics read ``cells_ad`` when given, else ``pred_ad``."""
    from ..metrics import score_profiles

    p_tab, p_counts = _profiles(pred_ad, "pred" + where, perturbation_key, control)
    r_tab, r_counts = _profiles(real_ad, "real" + where, perturbation_key, control)
    p_tab = p_tab.loc[:, list(real_genes)]
    for flag, name in ((p_counts, "pred"), (r_counts, "real")):
        if flag:
            log(f"perturb score: {name} looks like raw counts; scored as given (not normalised)")
    perts = sorted(str(p) for p in p_tab.index if str(p) != control)
    unknown = [p for p in perts if p not in r_tab.index]
    if unknown:
        raise ValidationError(
            f"{len(unknown)} predicted perturbation(s) have no real cells: {unknown[:5]}"
        )
    if not perts:
        raise ValidationError(f"pred holds no perturbation other than the control {control!r}")
    missing = sorted(str(p) for p in r_tab.index if str(p) != control and str(p) not in perts)
    if missing:
        log(f"perturb score: {len(missing)} real perturbation(s) without a prediction left out")
    table = score_profiles(
        r_tab.loc[perts].to_numpy(),
        p_tab.loc[perts].to_numpy(),
        r_tab.loc[control].to_numpy(),
        labels=perts,
        genes=list(real_genes),
        pred_control=p_tab.loc[control].to_numpy(),
        include_targets=include_targets,
    )
    de = _de_scores(pred_ad if cells_ad is None else cells_ad, real_ad, perts, list(real_genes),
                    perturbation_key, control, include_targets)  # fmt: skip
    for m in DE_METRICS:
        table[m] = de[m]
    return table, missing, p_counts, r_counts


def _de_scores(
    pred_ad: AnnData, real_ad: AnnData, perts: list[str], genes: list[str],
    perturbation_key: str, control: str, include_targets: bool,
) -> dict[str, np.ndarray]:  # fmt: skip
    """The DE metrics of every perturbation of ``perts`` (module docstring): each file's
    cells of it against that file's own control cells; NaN where either file has fewer
    than 3 cells of it or of the control."""
    from ..data import looks_like_counts, split_perturbation
    from ..metrics import DEReference, de_fdp, de_genes, de_overlap, de_recall

    out = {m: np.full(len(perts), np.nan) for m in DE_METRICS}
    sides = []
    for adata in (pred_ad, real_ad):
        labels = adata.obs[perturbation_key].astype(str).to_numpy()
        ctrl = np.flatnonzero(labels == control)
        if len(ctrl) < _MIN_CELLS or not any((labels == p).sum() >= _MIN_CELLS for p in perts):
            return out
        x = adata[:, genes].X if list(map(str, adata.var_names)) != genes else adata.X
        log1p = not looks_like_counts(x)
        sides.append((labels, x, DEReference(x[ctrl], genes=genes, is_log1p=log1p)))
    for i, pert in enumerate(perts):
        found = []
        for labels, x, reference in sides:
            rows = np.flatnonzero(labels == pert)
            if len(rows) < _MIN_CELLS:
                break
            found.append(de_genes(reference.test(x[rows])))
        if len(found) < 2:
            continue
        pred_de, true_de = found
        if not include_targets:
            targets = set(split_perturbation(pert))
            pred_de = [g for g in pred_de if g not in targets]
            true_de = [g for g in true_de if g not in targets]
        out["de_overlap"][i] = de_overlap(true_de, pred_de)
        out["de_recall"][i] = de_recall(true_de, pred_de)
        out["de_fdp"][i] = de_fdp(true_de, pred_de)
    return out


def _time_values(adata: AnnData, name: str, key: str) -> np.ndarray:
    if key not in adata.obs:
        cols = ", ".join(map(str, adata.obs.columns[:10])) or "none"
        raise ValidationError(f"{name} has no time column obs[{key!r}] (columns: {cols})")
    raw = adata.obs[key]
    if raw.isna().any():
        raise ValidationError(f"{name}: obs[{key!r}] has {int(raw.isna().sum())} missing value(s)")
    try:
        return raw.to_numpy().astype(np.float64).astype(object)
    except (TypeError, ValueError):
        return raw.astype(str).to_numpy(dtype=object)


def _score_by_time(
    pred_ad: AnnData, real_ad: AnnData, real_genes: pd.Index, perturbation_key: str,
    control: str, include_targets: bool, time_key: str, cells_ad: AnnData | None = None,
) -> tuple[pd.DataFrame, list[str], bool, bool]:  # fmt: skip
    """:func:`_score_once` per time point of the predictions (each against its own
    time point's controls), the tables stacked with a ``time_key`` column."""
    p_time = _time_values(pred_ad, "pred", time_key)
    r_time = _time_values(real_ad, "real", time_key)
    c_time = None if cells_ad is None else _time_values(cells_ad, "pred_cells", time_key)
    real_times = set(r_time.tolist())
    from ._time import time_order

    times = sorted(set(p_time.tolist()), key=time_order)
    absent = [t for t in times if t not in real_times]
    if absent:
        raise ValidationError(
            f"predicted time point(s) {absent[:5]} of obs[{time_key!r}] have no real cells "
            f"(real time points: {sorted(real_times, key=str)[:10]})"
        )
    tables, missing, pc, rc = [], set(), False, False
    for t in times:
        table, miss, p_counts, r_counts = _score_once(
            pred_ad[p_time == t].copy(), real_ad[r_time == t].copy(), real_genes, perturbation_key, control,
            include_targets, where=f" at {time_key} {t}",
            cells_ad=None if cells_ad is None else cells_ad[c_time == t].copy(),
        )  # fmt: skip
        tables.append(table.assign(**{time_key: t}))
        missing |= {f"{m}@{time_label(t)}" for m in miss}
        pc, rc = pc or p_counts, rc or r_counts
    return pd.concat(tables, ignore_index=True), sorted(missing), pc, rc
