"""GRN inference in the benchmark: every method of ``vc.grn`` (and the arboreto peer)
scored against a known network with ``vc.grn.evaluate``.

Datasets
    * ``sim_grn_20`` (quick) and ``sim_perturbseq_100`` (demo; the network of the former
      ``vcell demo``: 100 genes, 2 cell types, 300 control cells, 30 single and 30 double
      knockouts of 20 cells each) from ``vc.sim``; expression is log1p of counts per 10k.
      Splits:
      ``observational`` (control cells only) and ``interventional`` (every cell, with
      ``obs["perturbation"]``).
    * ``full``: BEELINE curated (4) and synthetic (6), BEELINE mEF (real), SERGIO DS4,
      DREAM4 size 10 (5) and size 100 (3) from the reference data (``VIRTUALCELL_DATA``);
      split ``all`` (DREAM4: every profile except the noise-free dual knockouts).
    * user data: ``--data`` (h5ad, BEELINE / DREAM4 / SERGIO folder) with a truth in
      ``uns["true_network"]`` or ``--truth FILE``, optional ``--regulators FILE``.

Metrics: AUPRC ratio (primary), EPR, AUROC, AUPRC (definitions in ``docs/grn.md``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data import expression
from ..metrics import metric_spec
from ._task import (
    Dataset,
    Method,
    RunContext,
    Task,
    UserData,
    data_facts,
    eval_rows,
    knowledge_store_missing,
    layer_as_x,
    reference_missing,
)

__all__ = ["GRN_TASK"]

#: Per-method options by preset (``"*"``: all presets).
_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "genie3": {"quick": {"n_estimators": 20}, "demo": {"n_estimators": 50}},
    "genie3_et": {"quick": {"n_estimators": 20}, "demo": {"n_estimators": 50}},
    "pseudotime": {"*": {"n_estimators": 50}},
    "perturbation": {
        "quick": {"base_kwargs": {"n_estimators": 20}},
        "demo": {"base_kwargs": {"n_estimators": 50}},
    },
    "attention": {"quick": {"train_config": {"max_steps": 20}, "n_cells": 100}},
    "in_silico_deletion": {"quick": {"train_config": {"max_steps": 20}, "n_cells": 100}},
}
#: Minutes per cell on the demo's 100-gene simulation on a loaded 2-core machine: only in
#: ``full`` (or when named with ``--method``).
_SLOW = ("attention", "in_silico_deletion", "ensemble")
#: Methods that train a torch model (get ``context.device``).
_TORCH = ("attention", "in_silico_deletion")

#: The simulated Perturb-seq of the quick and demo presets (``vc.sim.simulate_perturbseq``
#: arguments; the perturbation adapter uses the same data).
SIM_QUICK: dict[str, Any] = dict(
    n_genes=20, seed=3, n_cell_types=1, cells_per_condition=30, singles=10, doubles=4,
    n_steps=150,
)  # fmt: skip
SIM_DEMO: dict[str, Any] = dict(
    n_genes=100, seed=0, n_cell_types=2, cells_per_condition=20, n_control_cells=300,
    singles=30, doubles=30,
)  # fmt: skip

METRICS = tuple(metric_spec(name) for name in ("auprc_ratio", "epr", "auroc", "auprc"))


@dataclass
class GRNData:
    """What the GRN adapter's loaders return."""

    adata: Any
    truth: pd.DataFrame
    regulators: list[str] | None = None
    facts: dict[str, Any] = field(default_factory=dict)


# -- datasets ------------------------------------------------------------------------------
def _log_normalise(adata: Any) -> Any:
    out = adata.copy()
    # the one rule: log1p of counts per 10k (vc.data.expression), dense float64
    out.X = expression(adata, normalize=True, sparse_output=False, dtype="float64").X
    return out


def simulate(n_genes: int, *, seed: int, **kwargs: Any) -> tuple[Any, pd.DataFrame, dict[str, Any]]:
    """A ``vc.sim`` Perturb-seq (counts), its true network and its data-card facts (shared
    by the GRN and perturbation adapters)."""
    from .. import sim

    adata = sim.simulate_perturbseq(n_genes, seed=seed, **kwargs)
    truth = pd.DataFrame(adata.uns["true_network"])
    na = sim.nonadditivity(adata) if (adata.obs["perturbation"].str.contains(r"\+")).any() else None
    facts = {
        "cells x genes": f"{adata.n_obs} x {adata.n_vars}",
        "conditions": int(adata.obs["perturbation"].nunique()),
        "control cells": int((adata.obs["perturbation"] == "control").sum()),
        "true edges": len(truth),
        "seed": seed,
    }
    if na is not None:
        facts["non-additive doubles (per cell type)"] = round(float(na["nonadditive"].mean()), 3)
    return adata, truth, facts


def load_simulation(n_genes: int, *, seed: int, **kwargs: Any) -> GRNData:
    """A ``vc.sim`` Perturb-seq with its true network (log-normalised expression)."""
    adata, truth, facts = simulate(n_genes, seed=seed, **kwargs)
    return GRNData(_log_normalise(adata), truth, None, facts)


def load_reference(kind: str, folder: str, gold: str | None = None) -> GRNData:
    """A BEELINE / SERGIO / DREAM4 reference data set (path relative to ``grn/`` under
    ``VIRTUALCELL_DATA``)."""
    from .. import data as vcdata
    from .. import grn
    from .._settings import settings

    root = settings.reference_data("grn")
    if root is None:
        raise ValidationError("reference data not found: set VIRTUALCELL_DATA")
    if kind == "sergio":
        adata = grn.read_sergio(root / folder)
    else:
        adata = grn.load_dataset(root / folder)
    if gold is not None:
        adata.uns["true_network"] = vcdata.read_network(root / gold)
    truth = pd.DataFrame(adata.uns["true_network"])
    facts = {"cells x genes": f"{adata.n_obs} x {adata.n_vars}", "true edges": len(truth)}
    return GRNData(adata, truth, None, facts)


def load_user(path: str, truth: str | None, regulators: str | None, layer: str | None) -> GRNData:
    """The user's data (``--data``), truth and regulators."""
    from .. import data as vcdata
    from .. import grn

    adata = layer_as_x(grn.load_dataset(path), layer, source=path)
    if truth is not None:
        net = vcdata.read_network(truth)
    elif "true_network" in adata.uns:
        net = pd.DataFrame(adata.uns["true_network"])
    else:
        raise ValidationError(
            f"{path} has no uns['true_network']: give the true network with --truth FILE"
        )
    regs = grn.read_regulators(regulators) if regulators else None
    facts = {"cells x genes": f"{adata.n_obs} x {adata.n_vars}", "true edges": len(net)}
    return GRNData(adata, pd.DataFrame(net), regs, facts)


def _reference_sets() -> list[tuple[str, str, str, str | None, str]]:
    """``(name, kind, folder, gold, description)`` of the reference GRN data sets."""
    out: list[tuple[str, str, str, str | None, str]] = []
    for n in ("GSD", "HSC", "VSC", "mCAD"):
        out.append(
            (
                f"beeline_{n}",
                "beeline",
                f"beeline/curated/{n}_2000_0",
                None,
                f"BEELINE curated {n} (BoolODE, 2000 cells)",
            )
        )
    for n in ("BF", "BFC", "CY", "LI", "LL", "TF"):
        out.append(
            (
                f"beeline_dyn-{n}",
                "beeline",
                f"beeline/synthetic/dyn-{n}_2000_0",
                None,
                f"BEELINE synthetic dyn-{n} (BoolODE, 2000 cells)",
            )
        )
    out.append(
        (
            "beeline_mEF",
            "beeline",
            "beeline/real/mouse/mEF",
            None,
            "BEELINE real mouse embryonic fibroblasts",
        )
    )
    out.append(
        (
            "sergio_DS4",
            "sergio",
            "sergio/De-noised_100G_3T_300cPerT_dynamics_9_DS4",
            None,
            "SERGIO DS4 (100 genes, 900 cells, 3 cell types)",
        )
    )
    for size, nets in ((10, range(1, 6)), (100, range(1, 4))):
        for k in nets:
            out.append(
                (
                    f"dream4_{size}_{k}",
                    "dream4",
                    f"dream4/DREAM4_InSilico_Size{size}/insilico_size{size}_{k}",
                    f"dream4/gold/DREAM4_GoldStandard_InSilico_Size{size}_{k}.tsv",
                    f"DREAM4 in-silico size {size} network {k} (no dual knockouts)",
                )
            )
    return out


def datasets(preset: str, user: UserData | None) -> list[Dataset]:
    """Datasets of ``preset`` (or only the user's)."""

    if user is not None:
        o = user.options
        load = functools.partial(
            load_user, user.path, o.get("truth"), o.get("regulators"), o.get("layer")
        )
        return [Dataset("user", load, f"user data {user.path}", "user", splits=("all",))]
    sim_splits = ("observational", "interventional")
    out = [
        Dataset(
            "sim_grn_20",
            functools.partial(load_simulation, **SIM_QUICK),
            "vc.sim Perturb-seq: 20 genes, 1 cell type, 10 singles, 4 doubles",
            "simulated",
            splits=sim_splits,
            presets=("quick",),
        ),
        Dataset(
            "sim_perturbseq_100",
            functools.partial(load_simulation, **SIM_DEMO),
            "vc.sim Perturb-seq: 100 genes, 2 cell types, 300 control cells, 30 single and "
            "30 double knockouts (20 cells each)",
            "simulated",
            splits=sim_splits,
            presets=("demo", "full"),
        ),
    ]
    for name, kind, folder, gold, desc in _reference_sets():
        out.append(
            Dataset(
                name,
                functools.partial(load_reference, kind, folder, gold),
                desc,
                "reference",
                splits=("all",),
                presets=("full",),
                unavailable=reference_missing("grn", folder),
            )
        )
    return out


# -- methods -------------------------------------------------------------------------------
def methods() -> list[Method]:
    """Every method of ``vc.grn.METHODS`` (baselines as that table flags them) plus the
    arboreto peer."""
    from .. import grn

    out = []
    for entry in grn.METHODS.entries():
        name, desc = entry.name, entry.description
        requires: tuple[str, ...] = ("lightgbm",) if name in ("grnboost2", "prior") else ()
        if name == "ensemble":
            requires = ("lightgbm",)
        presets = ("quick", "demo", "full")
        if name in ("prior", "pseudotime", "pidc_leadlag"):
            presets = ("demo", "full")
        if name in _SLOW:
            presets = ("full",)
        out.append(
            Method(
                name,
                baseline=entry.baseline,
                requires=requires,
                probe=knowledge_store_missing if name == "prior" else None,
                presets=presets,
                options=_OPTIONS.get(name, {}),
                description=desc,
            )
        )
    out.append(
        Method(
            "arboreto_grnboost2",
            peer=True,
            requires=("arboreto",),
            presets=("full",),
            description="arboreto's GRNBoost2 regression (sklearn GBM, lr 0.01, early "
            "stopping on out-of-bag improvement), one target at a time",
        )
    )
    return out


def applicable(data: GRNData, split: str, method: str) -> str | None:
    """Why ``method`` cannot run on this split (``None``: it can)."""
    from ..grn import pseudotime_columns

    obs = data.adata.obs
    if method in ("pseudotime", "pidc_leadlag") and not pseudotime_columns(obs):
        return "needs obs['PseudoTime*'] (pseudotime); the data has none"
    if method == "perturbation":
        perturbed = "perturbation" in obs and (obs["perturbation"] != "control").any()
        if split == "observational" or not perturbed:
            return "needs perturbed cells (obs['perturbation'])"
    return None


def _split(data: GRNData, split: str) -> Any:
    if split == "observational":
        return data.adata[data.adata.obs["perturbation"] == "control"].copy()
    return data.adata


def _arboreto(adata: Any, regulators: list[str] | None, seed: int) -> pd.DataFrame:
    from arboreto.core import SGBM_KWARGS, infer_partial_network

    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    X = np.asarray(X, dtype=np.float64)
    genes = [str(g) for g in adata.var_names]
    tfs = genes if regulators is None else [g for g in genes if g in set(regulators)]
    idx = [genes.index(t) for t in tfs]
    parts = []
    for j, target in enumerate(genes):
        if X[:, j].std() == 0:
            continue
        links = infer_partial_network(
            "GBM", SGBM_KWARGS, X[:, idx], tfs, target, X[:, j], seed=seed
        )
        parts.append(links)
    edges = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    edges = edges.rename(columns={"TF": "regulator", "importance": "score"})
    return edges.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def run(
    data: GRNData,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Infer a network on one split and score it against the truth."""
    from .. import grn

    adata = _split(data, split)
    options = dict(options)
    if method in _TORCH:
        tc = dict(options.get("train_config") or {})
        tc.setdefault("device", context.device)
        options["train_config"] = tc
    if method == "arboreto_grnboost2":
        edges = _arboreto(adata, data.regulators, seed)
    else:
        edges = grn.infer(
            adata, method=method, regulators=data.regulators, seed=seed, n_jobs=1, **options
        )
    result = grn.evaluate(
        edges,
        data.truth,
        genes=list(adata.var_names),
        regulators=data.regulators,
        method=method,
        split=split,
        seed=seed,
    )
    return eval_rows(result, METRICS)


GRN_TASK = Task(
    name="grn",
    version="1",
    description="Gene regulatory network inference scored against a known network",
    metrics=METRICS,
    datasets=datasets,
    methods=methods,
    run=run,
    applicable=applicable,
    describe=data_facts,
    user_flags=("truth", "regulators", "layer"),
)
