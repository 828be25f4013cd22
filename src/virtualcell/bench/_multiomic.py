"""Multi-omic embedding in the benchmark: how well a joint embedding of paired modalities
separates the true cell types (``vc.multiomic.evaluate_embedding``).

Splits are modality pairs: ``rna+protein`` (CITE-seq) and ``rna+atac`` (multiome).

Datasets
    * ``sim_multiome_small`` (quick): ``vc.sim.simulate_multiome`` with 40 genes, 300
      cells, 4 cell types (1 hidden in RNA), 12 proteins, 150 peaks.
    * ``sim_multiome`` (full): 100 genes, 3,000 cells, 6 cell types (2 hidden in RNA),
      30 proteins, 600 peaks.
    * user data: ``--data FILE.h5mu --label-key COLUMN``.

Methods: the registry ``vc.multiomic.EMBED_METHODS`` — baselines ``rna_pca``,
``protein_pca``, ``atac_lsi`` (each on the splits with its modality), ``concat_pca``,
``cca``; methods ``wnn``, ``factor_analysis``, ``joint_vae`` (300 training steps in
``quick``).

Metrics: AvgBIO (primary), Leiden NMI, Leiden ARI, ASW_label, and the modality mixing
FOSCTTM (lower is better) and modality ASW of the methods that embed each modality alone
into their space (``concat_pca``, ``cca``, ``factor_analysis``, ``joint_vae``); NaN, shown
as "—", for the others: not applicable (``docs/metrics.md``, ``docs/multiomic.md``).

A second task, ``multiomic_impute``, imputes protein from RNA on the same datasets
(split ``random_0.3``: 30% of the cells held out per seed;
``vc.multiomic.evaluate_imputation``): baselines ``mean``, ``own_mrna``; methods ``knn``, ``ridge``;
metrics ``protein_pearson`` (primary) and ``protein_rmse``. User data need no labels.

Protocol of the reported ``joint_vae`` numbers (``docs/multiomic.md``): its design
(modality dropout, training length) was chosen on data seeds 100-104 only
(``benchmarks/multiomic_vae_design.py``) and fixed before the report seeds 0-5 were run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from .._errors import ValidationError
from ..metrics import metric_spec
from ._task import Dataset, Method, RunContext, Task, UserData, data_facts, eval_rows

__all__ = ["MULTIOMIC_IMPUTE_TASK", "MULTIOMIC_TASK"]

METRICS = tuple(
    metric_spec(name) for name in ("avg_bio", "nmi", "ari", "asw", "foscttm", "modality_asw")
)
SPLITS = ("rna+protein", "rna+atac")
#: Method options per preset (``quick``: a short VAE training).
_OPTIONS = {"joint_vae": {"quick": {"n_steps": 300}}}


@dataclass
class Paired:
    """What the multi-omic adapter's loaders return."""

    mdata: Any
    label_key: str
    facts: dict[str, Any] = field(default_factory=dict)


def _facts(mdata: Any, label_key: str | None) -> dict[str, Any]:
    mods = ", ".join(f"{k} {v.n_vars}" for k, v in mdata.mod.items())
    out = {"cells": mdata.n_obs, "features": mods}
    if label_key is not None:
        out["labels"] = f"{label_key} ({mdata.obs[label_key].nunique()})"
    return out


def load_sim(size: str = "small", seed: int = 7) -> Paired:
    """A ``vc.sim.simulate_multiome`` data set (``small`` or ``full``)."""
    from .. import sim

    if size == "small":
        mdata = sim.simulate_multiome(
            40, n_cells=300, n_cell_types=4, n_hidden_types=1, n_proteins=12, n_peaks=150,
            primed_peaks=10, seed=seed,
        )  # fmt: skip
    else:
        mdata = sim.simulate_multiome(100, n_cells=3000, seed=seed)
    return Paired(mdata, "cell_type", _facts(mdata, "cell_type"))


def load_user(path: str, label_key: str | None) -> Paired:
    """The user's ``.h5mu`` file with labels in ``obs[label_key]`` (``None``: no labels,
    for imputation)."""
    from ..data import read_h5mu

    mdata = read_h5mu(path)
    if label_key is not None and label_key not in mdata.obs:
        raise ValidationError(
            f"--label-key {label_key!r} is not a column of {path} (obs: {list(mdata.obs)[:10]})"
        )
    return Paired(mdata, label_key or "", _facts(mdata, label_key))


def datasets(preset: str, user: UserData | None, splits: tuple[str, ...] = SPLITS) -> list[Dataset]:
    """Datasets of ``preset`` (or only the user's)."""
    if user is not None:
        key = user.options.get("label_key")
        load = functools.partial(load_user, user.path, None if key is None else str(key))
        return [Dataset("user", load, f"user data {user.path}", "user", splits=splits)]
    return [
        Dataset(
            "sim_multiome_small",
            functools.partial(load_sim, "small"),
            "vc.sim.simulate_multiome: 300 cells, 40 genes, 12 proteins, 150 peaks, 4 types",
            "simulated",
            splits=splits,
            presets=("quick",),
        ),
        Dataset(
            "sim_multiome",
            functools.partial(load_sim, "full"),
            "vc.sim.simulate_multiome: 3,000 cells, 100 genes, 30 proteins, 600 peaks, 6 types",
            "simulated",
            splits=splits,
            presets=("full",),
        ),
    ]


def methods() -> list[Method]:
    """Every entry of ``vc.multiomic.EMBED_METHODS`` (baselines flagged)."""
    from ..multiomic import EMBED_METHODS

    return [
        Method(
            e.name,
            baseline=e.baseline,
            requires=("torch",) if e.name == "joint_vae" else ("sklearn",),
            options=_OPTIONS.get(e.name, {}),
            description=e.description,
        )
        for e in (EMBED_METHODS.entry(n) for n in EMBED_METHODS.names())
    ]


def applicable(data: Paired, split: str, method: str) -> str | None:
    """Single-modality baselines run only on the splits with their modality."""
    from ..multiomic import method_applicable

    mods = split.split("+")
    missing = [m for m in mods if m not in data.mdata.mod]
    if missing:
        return f"the data has no modality {missing[0]!r}"
    if not method_applicable(method, mods):
        return f"needs a modality that split {split} does not have"
    return None


def run(
    data: Paired,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Embed the cells with ``method`` from the split's modalities and score the embedding
    against the labels (``vc.multiomic.evaluate_embedding``)."""
    from .. import multiomic

    result = multiomic.evaluate_embedding(
        data.mdata,
        methods=[method],
        modalities=split.split("+"),
        seeds=[seed],
        label_key=data.label_key,
        dataset="bench",
        method_options={method: options} if options else None,
    )
    return eval_rows(result, METRICS)


MULTIOMIC_TASK = Task(
    name="multiomic_embed",
    version="2",
    description="Multi-omic embeddings (RNA + protein / ATAC): Leiden clusters vs cell types",
    metrics=METRICS,
    datasets=datasets,
    methods=methods,
    run=run,
    applicable=applicable,
    describe=data_facts,
    user_flags=("label_key",),
    required_flags=("label_key",),
)


# ------------------------------------------------------------------ protein imputation
IMPUTE_METRICS = tuple(metric_spec(name) for name in ("protein_pearson", "protein_rmse"))
#: One split: a random 30% of the cells held out per seed.
IMPUTE_SPLITS = ("random_0.3",)


def impute_datasets(preset: str, user: UserData | None) -> list[Dataset]:
    """The embedding task's datasets, with the imputation split."""
    return datasets(preset, user, IMPUTE_SPLITS)


def impute_methods() -> list[Method]:
    """Every entry of ``vc.multiomic.IMPUTE_METHODS`` (baselines flagged)."""
    from ..multiomic import IMPUTE_METHODS

    return [
        Method(e.name, baseline=e.baseline, requires=("sklearn",), description=e.description)
        for e in (IMPUTE_METHODS.entry(n) for n in IMPUTE_METHODS.names())
    ]


def impute_applicable(data: Paired, split: str, method: str) -> str | None:
    """Imputation needs the ``rna`` and ``protein`` modalities."""
    missing = [m for m in ("rna", "protein") if m not in data.mdata.mod]
    return f"the data has no modality {missing[0]!r}" if missing else None


def impute_run(
    data: Paired,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Hold out the split's share of the cells (seed ``seed``), impute their protein from
    their RNA with ``method`` trained on the rest, and score it
    (``vc.multiomic.evaluate_imputation``)."""
    from .. import multiomic

    result = multiomic.evaluate_imputation(
        data.mdata,
        methods=[method],
        seeds=[seed],
        test_fraction=float(split.rsplit("_", 1)[1]),
        dataset="bench",
    )
    return eval_rows(result, IMPUTE_METRICS)


MULTIOMIC_IMPUTE_TASK = Task(
    name="multiomic_impute",
    version="1",
    description="Protein imputed from RNA on held-out cells: Pearson / RMSE on the CLR scale",
    metrics=IMPUTE_METRICS,
    datasets=impute_datasets,
    methods=impute_methods,
    run=impute_run,
    applicable=impute_applicable,
    describe=data_facts,
)
