"""Perturbation response prediction in the benchmark: every predictor of ``vc.perturb``
scored next to its baselines on the leak-checked splits of ``vc.perturb.load_task``.

A cell fits one method on the training part of the split (``seed`` = the split's and the
method's seed), predicts every test condition (a gene the method cannot represent falls
back to the training mean, as in ``vc.perturb.evaluate``) and scores the predictions with
``vc.perturb``'s scorer (``score_predictions``: the same per-condition metrics and the
same control rule as ``vc.perturb.evaluate``); the values are means over the test
conditions.

Datasets
    * ``sim_perturbseq_20`` (quick) and ``sim_perturbseq_100`` (demo, full): the same
      ``vc.sim`` Perturb-seq as the GRN task's simulations, as counts.
    * ``full``: DREAM4 in-silico size 10 (5 networks) and size 100 (3) from the reference
      data (``VIRTUALCELL_DATA``): one steady state per condition (no DE metric).
    * user data: ``--data FILE`` (``.h5ad`` with ``obs["perturbation"]``, or a DREAM4
      network folder).

Splits (``vc.perturb.TASKS``): ``doubles`` (cells: GEARS ``simulation_split``, test
subgroups ``combo_seen0/1/2`` and ``unseen_single``; DREAM4: every dual knockout, the
same split for every seed) and ``unseen_singles`` (a quarter of the perturbed genes held
out with all their perturbations).

Methods: every predictor of ``vc.perturb.METHODS``, baselines as that table flags them
(``no_change``, ``train_mean``, ``matching_mean``, ``additive``, ``linear``, and the
knowledge-feature ones ``genept_ridge``, ``go_ridge``, ``go_forest`` when a knowledge
store is built); ``oracle_isp`` and ``oracle_head`` (a CellEncoder pretrained per cell,
about a minute each) only in ``full``.

Metrics: Pearson-delta (primary), L2 (1,000 most expressed genes), MSE over the top-20
DE genes, PDS, centroid accuracy, DE overlap (cells only), all with the perturbed genes
left out, and the perturbed genes' own error ``target_abs_error``; exact definitions in
``docs/metrics.md``; direction and description from ``vc.metrics.METRIC_SPECS``.

Peers: :func:`peer_method` makes a method of a prediction file written by any tool
(GEARS, STATE, scGPT ...; cell-eval's convention: an ``.h5ad`` with a perturbation column
and a control label). Its cell scores the file's test conditions with
``vc.perturb.score`` against the split's true cells in the scoring space (``log1p`` of
counts per 10,000 for counts), so the file must hold predictions in that space for every
test condition of the split and seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import metric_spec
from ._grn import SIM_DEMO, SIM_QUICK, simulate
from ._task import (
    Dataset,
    Method,
    RunContext,
    Task,
    UserData,
    data_facts,
    knowledge_store_missing,
    reference_missing,
)

__all__ = ["PERTURB_TASK", "peer_method"]


#: Reported metrics, primary first (direction, bound and description: one entry each of
#: ``vc.metrics.METRIC_SPECS``, which the task would substitute anyway).
METRICS = tuple(
    metric_spec(name)
    for name in ("pearson_delta", "l2", "mse_top20_de", "pds", "centroid_accuracy",
                 "de_overlap", "target_abs_error")
)  # fmt: skip
#: A CellEncoder is pretrained (on CPU) in every cell: only in ``full`` (or ``--method``).
_SLOW = ("oracle_isp", "oracle_head")
#: Run when named or in ``full``, not in quick/demo (trains a small network; opt-in).
_OPT_IN = ("gears_graph",)
#: Methods whose features come from the knowledge store.
_KNOWLEDGE = ("genept_ridge", "go_ridge", "go_forest")
#: Methods whose defaults or code changed what they predict (the bench keys results on
#: it): primed_network 2 = the sized text default and unmeasured perturbed genes
#: (2026-12-07); data without knowledge predict as before.
_VERSIONS = {"primed_network": "2"}


@dataclass
class PerturbData:
    """What the perturbation adapter's loaders return: an AnnData or a DREAM4 folder
    (``vc.perturb.load_task`` reads either)."""

    source: Any
    facts: dict[str, Any] = field(default_factory=dict)


def load_simulation(n_genes: int, *, seed: int, **kwargs: Any) -> PerturbData:
    """A ``vc.sim`` Perturb-seq as counts (the GRN task's simulation)."""
    adata, _, facts = simulate(n_genes, seed=seed, **kwargs)
    return PerturbData(adata, facts)


def load_dream4(folder: str) -> PerturbData:
    """A DREAM4 network folder (path relative to ``grn/`` under ``VIRTUALCELL_DATA``)."""
    from .._errors import ValidationError
    from .._settings import settings
    from ..data import read_dream4

    root = settings.reference_data("grn")
    if root is None:
        raise ValidationError("reference data not found: set VIRTUALCELL_DATA")
    path = root / folder
    adata = read_dream4(path)
    facts = {
        "profiles x genes": f"{adata.n_obs} x {adata.n_vars}",
        "conditions": int(adata.obs["perturbation"].nunique()),
    }
    return PerturbData(str(path), facts)


def load_user(path: str) -> PerturbData:
    """The user's data (``--data``): an ``.h5ad`` or a DREAM4 folder."""
    from .._errors import ValidationError
    from ..perturb import read_data

    adata, _, dream4 = read_data(path)
    if not dream4 and "perturbation" not in adata.obs:
        raise ValidationError(
            f"{path}: obs has no 'perturbation' column (labels 'control', 'GENE', 'A+B'); "
            f"obs has: {', '.join(map(str, list(adata.obs)[:10])) or 'no columns'}"
        )
    return PerturbData(path, {"rows x genes": f"{adata.n_obs} x {adata.n_vars}"})


def _sim_description(kw: dict[str, Any]) -> str:
    return (
        f"vc.sim Perturb-seq (counts): {kw['n_genes']} genes, {kw['n_cell_types']} cell "
        f"type(s), {kw['singles']} single and {kw['doubles']} double knockouts"
    )


def datasets(preset: str, user: UserData | None) -> list[Dataset]:
    """Datasets of ``preset`` (or only the user's)."""
    from .. import perturb

    splits = tuple(perturb.TASKS)
    if user is not None:
        return [
            Dataset(
                "user", functools.partial(load_user, user.path), f"user data {user.path}",
                "user", splits=splits,
            )
        ]  # fmt: skip
    out = [
        Dataset(
            "sim_perturbseq_20",
            functools.partial(load_simulation, **SIM_QUICK),
            _sim_description(SIM_QUICK),
            "simulated",
            splits=splits,
            presets=("quick",),
        ),
        Dataset(
            "sim_perturbseq_100",
            functools.partial(load_simulation, **SIM_DEMO),
            _sim_description(SIM_DEMO),
            "simulated",
            splits=splits,
            presets=("demo", "full"),
        ),
    ]
    for size, nets in ((10, range(1, 6)), (100, range(1, 4))):
        for k in nets:
            folder = f"dream4/DREAM4_InSilico_Size{size}/insilico_size{size}_{k}"
            out.append(
                Dataset(
                    f"dream4_{size}_{k}",
                    functools.partial(load_dream4, folder),
                    f"DREAM4 in-silico size {size} network {k} (steady states)",
                    "reference",
                    splits=splits,
                    presets=("full",),
                    unavailable=reference_missing("grn", folder),
                )
            )
    return out


def methods() -> list[Method]:
    """Every predictor of ``vc.perturb.METHODS``, baselines as that table flags them."""
    from .. import perturb

    out = []
    for entry in perturb.METHODS.entries():
        name = entry.name
        out.append(
            Method(
                name,
                baseline=entry.baseline,
                version=_VERSIONS.get(name, "1"),
                probe=knowledge_store_missing if name in _KNOWLEDGE else None,
                presets=("full",) if name in _SLOW + _OPT_IN else ("quick", "demo", "full"),
                description=entry.description,
            )
        )
    return out


def peer_method(
    predictions: str,
    *,
    name: str = "peer",
    perturbation_key: str = "perturbation",
    control: str = "control",
    description: str = "",
) -> Method:
    """A method of the perturbation task that scores a prediction file made elsewhere
    (module docstring); add it to the methods the runner gets."""
    opts = {"predictions": str(predictions), "perturbation_key": perturbation_key,
            "control": control}  # fmt: skip
    return Method(
        name, peer=True, options={"*": opts},
        description=description or f"predictions from {predictions} (vc.perturb.score)",
    )  # fmt: skip


def _run_peer(task: Any, options: dict[str, Any]) -> list[dict[str, Any]]:
    import anndata as ad
    import pandas as pd

    from .. import perturb
    from .._errors import ValidationError

    pred = ad.read_h5ad(options["predictions"])
    key, control = (
        options.get("perturbation_key", "perturbation"),
        options.get("control", "control"),
    )
    if key not in pred.obs:
        raise ValidationError(f"peer predictions have no obs column {key!r}")
    labels = pred.obs[key].astype(str)
    missing = [c for c in task.conditions if c not in set(labels)]
    if missing:
        raise ValidationError(
            f"peer predictions lack {len(missing)} test condition(s) of this split: {missing[:5]}"
        )
    pred = pred[labels.isin([control, *task.conditions]).to_numpy()].copy()
    truth = perturb.Truth(task, perturb.prepare_training(task.train).counts)
    x = truth.x.toarray() if hasattr(truth.x, "toarray") else truth.x
    keep = np.concatenate([truth.ctrl_rows, np.flatnonzero(np.isin(truth.labels, task.conditions))])
    real_labels = np.where(np.isin(keep, truth.ctrl_rows), control, truth.labels[keep].astype(str))
    real = ad.AnnData(
        X=np.asarray(x[keep], dtype=np.float64),
        obs=pd.DataFrame({key: real_labels}, index=[f"r{i}" for i in range(len(keep))]),
        var=pd.DataFrame(index=truth.genes),
    )
    result = perturb.score(pred, real, perturbation_key=key, control=control)
    summary = result.report["summary"]
    return [
        {"metric": m.name, "value": float(summary[m.name])}
        for m in METRICS
        if m.name in summary and np.isfinite(summary[m.name])
    ]


def run(
    data: PerturbData,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Fit ``method`` on the training part of ``split``, predict the test conditions and
    score them (means over the conditions; a NaN metric, e.g. DE on DREAM4, is left out).
    A peer method (``options["predictions"]``) scores its file instead."""
    from .. import perturb

    task = perturb.load_task(data.source, task=split, seed=seed)  # type: ignore[arg-type]
    if "predictions" in options:
        return _run_peer(task, options)
    opts = {"perturbation_type": task.perturbation_type, "seed": seed, **options}
    if method == "network":
        opts.setdefault("groupby", "auto")
    if method in _SLOW:
        opts.setdefault("threads", context.threads)  # CPU only (the oracle pretrains on CPU)
    predictor = perturb.make_predictor(method, **opts)
    predictor.fit(task.train)
    pred = predictor.predict(task.conditions, on_unsupported="flag")
    truth = perturb.Truth(task, predictor.data_.counts)
    table = perturb.score_predictions(
        truth, np.asarray(pred.X, dtype=np.float64), predictor=predictor, seed=seed
    )
    rows = []
    for m in METRICS:
        values = np.asarray(table[m.name], dtype=np.float64) if m.name in table else np.array([])
        values = values[np.isfinite(values)]
        if values.size:
            rows.append({"metric": m.name, "value": float(values.mean())})
    return rows


PERTURB_TASK = Task(
    name="perturb",
    version="2",
    description="Perturbation response prediction (doubles, unseen single genes)",
    metrics=METRICS,
    datasets=datasets,
    methods=methods,
    run=run,
    describe=data_facts,
)
