"""Cell-cell communication: score every candidate ligand -> receptor pair between every
sender and receiver cell type, with any method of :data:`COMMUNICATION_METHODS`, and
score methods against a simulated truth (:func:`evaluate_communication`)."""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import Entry, Registry, log
from ..metrics import EvalResult
from ._comm_data import prepare

__all__ = [
    "COMMUNICATION_METHODS",
    "TRUTH_KEY",
    "communication",
    "evaluate_communication",
]

#: Where the simulator (:func:`virtualcell.sim.simulate_tissue`) puts the truth; only the
#: scorer reads it.
TRUTH_KEY = "true_communication"
_KEYS = ["ligand", "receptor", "sender", "receiver"]


def _builtins() -> list[Entry]:
    from . import _comm_methods as m

    return [
        Entry(
            "permutation", m.permutation,
            "CellPhoneDB-style label-permutation test of mean ligand + mean receptor (no space).",
            baseline=True,
        ),
        Entry(
            "coexpression", m.coexpression,
            "Mean ligand in sender x mean receptor in receiver (no test, no space).",
            baseline=True,
        ),
        Entry(
            "colocalization", m.colocalization,
            "Co-expression x neighbourhood enrichment of the sender type around receivers.",
        ),
        Entry(
            "neighbor_product", m.neighbor_product,
            "Ligand in a cell's spatial neighbours x receptor in the cell, averaged per type.",
        ),
        Entry(
            "response", m.response,
            "Receivers' expression response to neighbouring ligand x the sender's share of it.",
        ),
        Entry(
            "contact_response", m.contact_response,
            "Ligand/receptor type specificity x receivers' response to touching the senders.",
        ),
    ]  # fmt: skip


#: Communication methods by name (``fn(data: CommInput, *, seed, **options) -> dict``);
#: baselines flagged. Users add their own with ``COMMUNICATION_METHODS.register(name)``.
COMMUNICATION_METHODS: Registry = Registry("communication method", _builtins)


def communication(
    adata: ad.AnnData,
    *,
    method: str = "contact_response",
    lr_pairs: pd.DataFrame | None = None,
    groupby: str = "cell_type",
    n_neighbors: int = 6,
    seed: int = 0,
    **options,
) -> pd.DataFrame:
    """Score ligand -> receptor communication between cell types.

    Parameters
    ----------
    adata
        Cells x genes; ``X`` holds UMI counts (normalised here to log1p counts per 10k)
        or already log-normalised values; ``obsm["spatial"]`` holds coordinates (needed
        by the spatial methods; squidpy's ``obsp["spatial_connectivities"]`` is used as
        the neighbour graph when present).
    method
        A name of :data:`COMMUNICATION_METHODS`: ``"permutation"`` and
        ``"coexpression"`` (baselines, no space), ``"colocalization"``,
        ``"neighbor_product"``, ``"response"`` or ``"contact_response"`` (the default:
        the best on the simulated sections, docs/spatial.md).
    lr_pairs
        Candidate pairs (columns ``ligand``, ``receptor``; a complex's subunits
        ``_``-joined, its expression the minimum over them). Default:
        ``uns["lr_pairs"]`` when present, else the knowledge base's table
        (:func:`virtualcell.knowledge.ligand_receptor_pairs`, pairs whose genes are all
        measured).
    groupby
        ``obs`` column with the cell types (senders and receivers).
    n_neighbors
        Nearest neighbours per cell of the spatial graph built from ``obsm["spatial"]``.
    seed
        Seed of the random parts (the permutation test).
    **options
        Passed to the method (e.g. ``n_perm`` of ``"permutation"``).

    Returns
    -------
    pandas.DataFrame
        One row per (ligand, receptor, sender, receiver): ``ligand, receptor, sender,
        receiver, score`` plus the method's extra columns (``pvalue``, ``mean``, ...),
        highest score first.
    """
    fn = COMMUNICATION_METHODS.get(method)
    _check_options(method, fn, options)
    data = prepare(adata, lr_pairs=lr_pairs, groupby=groupby, n_neighbors=n_neighbors)
    out = fn(data, seed=seed, **options)
    return _table(data.pairs, data.types, out)


def _check_options(method: str, fn, options: dict) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValidationError(
            f"communication method {method!r} takes no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(k for k in allowed if k != 'seed') or 'none'}"
        )


def _table(pairs: pd.DataFrame, types: list[str], out: dict[str, np.ndarray]) -> pd.DataFrame:
    n_pairs, n_types = len(pairs), len(types)
    frame = pd.DataFrame(
        {
            "ligand": np.repeat(pairs["ligand"].to_numpy(), n_types * n_types),
            "receptor": np.repeat(pairs["receptor"].to_numpy(), n_types * n_types),
            "sender": np.tile(np.repeat(types, n_types), n_pairs),
            "receiver": np.tile(types, n_pairs * n_types),
        }
    )
    for name, arr in out.items():
        arr = np.asarray(arr, dtype=np.float64)
        if arr.shape != (n_pairs, n_types, n_types):
            raise ValidationError(
                f"communication method output {name!r} has shape {arr.shape}, "
                f"expected {(n_pairs, n_types, n_types)}"
            )
        frame[name] = arr.ravel()
    cols = ["score", *[c for c in frame.columns if c not in [*_KEYS, "score"]]]
    frame = frame[[*_KEYS, *cols]]
    return frame.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def _truth(adata: ad.AnnData) -> pd.DataFrame:
    if TRUTH_KEY not in adata.uns:
        raise ValidationError(
            f"adata.uns has no {TRUTH_KEY!r} table to score against (simulate one with "
            "vc.sim.simulate_tissue or `vcell sim --preset spatial`)"
        )
    truth = pd.DataFrame(adata.uns[TRUTH_KEY])
    missing = [c for c in [*_KEYS, "active"] if c not in truth.columns]
    if missing:
        raise ValidationError(f"uns[{TRUTH_KEY!r}] lacks column(s) {missing}")
    truth = truth[[*_KEYS, "active"]].copy()
    for c in _KEYS:
        truth[c] = truth[c].astype(str)
    truth["active"] = truth["active"].astype(bool)
    return truth


def score_communication(truth: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, float]:
    """AUPRC and AUROC of ``predicted["score"]`` over the truth's rows (a truth row the
    prediction lacks is ranked last)."""
    from .. import metrics

    merged = truth.merge(predicted[[*_KEYS, "score"]], on=_KEYS, how="left")
    score = merged["score"].to_numpy(dtype=np.float64)
    finite = np.isfinite(score)
    low = (score[finite].min() if finite.any() else 0.0) - 1.0
    score = np.where(finite, score, low)
    act = merged["active"].to_numpy(dtype=bool)
    return {"auprc": metrics.auprc(act, score), "auroc": metrics.auroc(act, score)}


def evaluate_communication(
    adata: ad.AnnData,
    *,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    lr_pairs: pd.DataFrame | None = None,
    groupby: str = "cell_type",
    n_neighbors: int = 6,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    baselines: bool = True,
    dataset: str = "adata",
) -> EvalResult:
    """Score communication methods against ``uns["true_communication"]``.

    Every method gets the same candidate pairs, cell types and expression; only the
    scorer reads the truth (its ``active`` column over the rows ``ligand, receptor,
    sender, receiver``).

    Parameters
    ----------
    adata
        A simulated section (:func:`virtualcell.sim.simulate_tissue`).
    methods
        Names of :data:`COMMUNICATION_METHODS` (default: all; the baselines are added
        unless ``baselines=False``).
    seeds
        Seeds of the methods' random parts (one run per seed).
    lr_pairs
        Candidate pairs (default ``uns["lr_pairs"]``, see :func:`communication`).
    groupby
        ``obs`` column with the cell types.
    n_neighbors
        Neighbours per cell of the spatial graph.
    options
        ``{method: {option: value}}`` passed to that method (e.g.
        ``{"permutation": {"n_perm": 200}}``).
    baselines
        Add the baselines to ``methods`` (the default; ``False``: only ``methods``).
    dataset
        Name of the dataset in the result table.

    Returns
    -------
    virtualcell.metrics.EvalResult
        Task ``"spatial_communication"``; metrics ``auprc`` and ``auroc`` (unit
        ``"all"``) per method and seed; ``report["results"]`` lists each method's mean
        AUPRC, ``report["density"]`` the share of active rows (a random ranking's AUPRC).
    """
    truth = _truth(adata)
    names = list(COMMUNICATION_METHODS.names()) if methods is None else [str(m) for m in methods]
    for b in COMMUNICATION_METHODS.names(baseline=True) if baselines else []:
        if b not in names:
            names.append(b)
    entries = [COMMUNICATION_METHODS.entry(n) for n in names]
    opts = {COMMUNICATION_METHODS.entry(k).name: dict(v) for k, v in (options or {}).items()}
    for e in entries:
        _check_options(e.name, e.obj, opts.get(e.name, {}))
    if not len(seeds):
        raise ValidationError("seeds must name at least one seed")
    data = prepare(adata, lr_pairs=lr_pairs, groupby=groupby, n_neighbors=n_neighbors)
    rows, seconds = [], {}
    spatial = any(not e.baseline for e in entries)  # every non-baseline method uses space
    if spatial or data.coords is not None or data.connectivities is not None:
        t0 = time.perf_counter()
        # built once, before any method runs (so missing coordinates fail first), shared
        # by the spatial methods; timed on its own
        _ = data.graph
        seconds["graph"] = time.perf_counter() - t0
    for entry in entries:
        for seed in seeds:
            t0 = time.perf_counter()
            out = entry.obj(data, seed=int(seed), **opts.get(entry.name, {}))
            pred = _table(data.pairs, data.types, out)
            seconds[entry.name] = seconds.get(entry.name, 0.0) + time.perf_counter() - t0
            for metric, value in score_communication(truth, pred).items():
                rows.append(
                    {
                        "method": entry.name,
                        "baseline": entry.baseline,
                        "dataset": dataset,
                        "split": "all",
                        "seed": int(seed),
                        "unit": "all",
                        "metric": metric,
                        "value": value,
                    }
                )
            log(f"communication {entry.name} seed {seed}: {rows[-2]['value']:.3f} AUPRC")
    result = EvalResult.from_rows("spatial_communication", rows)
    report = result.score_report("auprc") | {
        "density": float(truth["active"].mean()),
        "n_rows": len(truth),
        "n_pairs": len(data.pairs),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    meta = {
        "groupby": groupby,
        "n_neighbors": int(n_neighbors),
        "seeds": [int(s) for s in seeds],
        "options": opts,
    }
    return EvalResult.from_rows("spatial_communication", rows, meta=meta, report=report)
