"""Cell representation in the benchmark: how well an embedding separates known cell
types (the former ``vcell demo`` stages *data* and *represent*).

Every method embeds all cells of a dataset; Leiden clusters of the embedding (scIB
convention, best resolution) are compared with the labels. Unsupervised: one split,
``all``.

Datasets
    * ``sim_types`` (quick): 3 cell types simulated by ``vc.sim`` (control cells).
    * ``pbmc68k_reduced`` (demo): 700 real PBMCs, ``bulk_labels``; scanpy's ``.raw``
      expression back on the linear scale.
    * ``wu2020`` (demo): 200 real T cells with the authors' ``cluster_orig``; validated,
      gene IDs harmonised, QC-filtered and normalised with ``vc.pp.standard`` (the facts of
      each step are in the report's data card).
    * user data: ``--data FILE --label-key COLUMN`` [``--layer``].

Methods: ``pca`` (HVG + PCA, baseline), ``cellencoder_untrained`` (the transformer
with random weights, baseline: what pretraining adds), ``cellencoder`` (a small
``CellEncoder`` pretrained here with masked-gene modelling on the dataset's own cells,
rank tokens), ``scvi`` (peer, scvi-tools; needs counts), ``checkpoint`` (user data only,
run with ``--method checkpoint --model PATH``: a checkpoint folder or a published one,
``geneformer:PATH`` / ``scgpt:PATH``; without ``--model`` the oracle shipped in the
package, ``vc.models.shipped_oracle_path()``).

Metrics: AvgBIO (primary), Leiden NMI, Leiden ARI, ASW_label (``docs/metrics.md``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import ValidationError
from ..metrics import metric_spec
from ._task import (
    Dataset,
    Method,
    RunContext,
    Task,
    UserData,
    data_facts,
    eval_rows,
    layer_as_x,
)

__all__ = ["REPRESENT_TASK"]

METRICS = tuple(metric_spec(name) for name in ("avg_bio", "nmi", "ari", "asw"))

#: Pretraining budget of ``cellencoder`` per preset (the untrained twin uses the same
#: architecture).
_PRETRAIN = {
    "quick": {"max_steps": 15, "batch_size": 16, "max_len": 32, "d_model": 32},
    "demo": {"max_steps": 200, "batch_size": 32, "max_len": 128, "d_model": 64},
    "full": {"max_steps": 1000, "batch_size": 32, "max_len": 256, "d_model": 64},
}


@dataclass
class Cells:
    """What the representation adapter's loaders return."""

    adata: Any
    label_key: str
    counts: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    #: ``PCAConfig.normalize`` for this data: ``"yes"`` for linear-scale values that are
    #: not counts, ``"no"`` for log-normalised ones, ``"auto"`` to detect counts.
    pca_normalize: str = "auto"
    #: ``--model`` of user data: a checkpoint folder, ``geneformer:PATH`` or ``scgpt:PATH``
    #: (embedded by the ``checkpoint`` method).
    model: str | None = None


def load_sim_types(seed: int = 5) -> Cells:
    """Control cells of a ``vc.sim`` simulation with three cell types (counts)."""
    from .. import sim

    adata = sim.simulate_perturbseq(
        60,
        n_cell_types=3,
        cells_per_condition=3,
        n_control_cells=240,
        singles=1,
        doubles=0,
        seed=seed,
        n_steps=150,
    )
    adata = adata[adata.obs["perturbation"] == "control"].copy()
    adata.obs["cell_type"] = adata.obs["cell_type"].astype(str)
    facts = {"cells x genes": f"{adata.n_obs} x {adata.n_vars}", "labels": "cell_type (3)"}
    return Cells(adata, "cell_type", True, facts)


def load_pbmc68k() -> Cells:
    """pbmc68k_reduced's ``.raw`` (log1p of normalised expression) on the linear scale."""
    import anndata as ad
    import scipy.sparse as sp

    from .. import datasets
    from ..data import RAW, select_matrix

    pbmc = datasets.pbmc68k_reduced()
    raw, genes = select_matrix(pbmc, layer=RAW)
    X = sp.csr_matrix(raw, dtype=np.float32)
    X.data = np.expm1(X.data)
    adata = ad.AnnData(X, obs=pbmc.obs[["bulk_labels"]].copy())
    adata.var_names = list(genes)
    adata.obs["bulk_labels"] = adata.obs["bulk_labels"].astype(str)
    n_types = adata.obs["bulk_labels"].nunique()
    facts = {
        "cells x genes": f"{adata.n_obs} x {adata.n_vars}",
        "labels": f"bulk_labels ({n_types})",
        "values": "expm1 of scanpy's .raw (normalised, not counts)",
    }
    return Cells(adata, "bulk_labels", False, facts, pca_normalize="yes")


def load_wu2020() -> Cells:
    """wu2020 T cells: validated, gene IDs mapped, QC + normalisation (``vc.pp.standard``)."""
    from .. import data, datasets, pp

    adata = datasets.read("wu2020")
    report = data.validate(adata, expect_counts=True)
    report.raise_if_failed()
    mapping = data.harmonize_genes(adata)
    before = adata.shape
    adata.layers["counts"] = adata.X.copy()
    pp.standard(adata, min_genes=200, min_cells=3, n_top_genes=2000, max_pct_mito=20.0)
    adata.obs["cluster_orig"] = adata.obs["cluster_orig"].astype(str)
    facts = {
        "validation": report.describe().splitlines()[0],
        "gene ID coverage": f"{mapping.n_mapped}/{mapping.n_input} ({mapping.coverage:.1%})",
        "cells x genes before QC": f"{before[0]} x {before[1]}",
        "cells x genes after QC": f"{adata.n_obs} x {adata.n_vars}",
        "highly variable genes": int(adata.var["highly_variable"].sum()),
        "labels": f"cluster_orig ({adata.obs['cluster_orig'].nunique()})",
    }
    return Cells(adata, "cluster_orig", False, facts, pca_normalize="no")


def load_user(path: str, label_key: str, layer: str | None, model: str | None = None) -> Cells:
    """The user's cells (``--data``) with labels in ``obs[label_key]``."""
    from .. import datasets

    adata = datasets.read(path)
    if label_key not in adata.obs:
        raise ValidationError(
            f"--label-key {label_key!r} is not a column of {path} (obs: {list(adata.obs)[:10]})"
        )
    adata = layer_as_x(adata, layer, source=path)
    adata.obs[label_key] = adata.obs[label_key].astype(str)
    facts = {"cells x genes": f"{adata.n_obs} x {adata.n_vars}", "labels": label_key}
    if model is not None:
        facts["model (checkpoint method)"] = model
    return Cells(adata, label_key, False, facts, model=model)


def datasets(preset: str, user: UserData | None) -> list[Dataset]:
    """Datasets of ``preset`` (or only the user's)."""
    if user is not None:
        load = functools.partial(
            load_user,
            user.path,
            str(user.options["label_key"]),
            user.options.get("layer"),
            user.options.get("model"),
        )
        return [Dataset("user", load, f"user data {user.path}", "user")]
    return [
        Dataset(
            "sim_types",
            load_sim_types,
            "vc.sim: 240 cells, 60 genes, 3 cell types",
            "simulated",
            presets=("quick", "full"),
        ),
        Dataset(
            "pbmc68k_reduced",
            load_pbmc68k,
            "700 real PBMCs x 765 genes, 10 bulk_labels (scanpy)",
            "bundled",
            presets=("demo", "full"),
        ),
        Dataset(
            "wu2020",
            load_wu2020,
            "200 real T cells (scirpy), UMI counts, 17 cluster_orig labels",
            "bundled",
            presets=("demo", "full"),
        ),
    ]


def methods() -> list[Method]:
    """PCA and the untrained transformer (baselines), the pretrained CellEncoder, scVI."""
    return [
        Method(
            "pca",
            baseline=True,
            requires=("scanpy",),
            description="HVG (2000) + PCA (50 components)",
        ),
        Method(
            "cellencoder_untrained",
            baseline=True,
            requires=("torch",),
            description="CellEncoder with random weights (what pretraining adds)",
        ),
        Method(
            "cellencoder",
            requires=("torch",),
            description="CellEncoder pretrained here (rank tokens, masked-gene modelling)",
        ),
        Method(
            "checkpoint",
            requires=("torch",),
            presets=(),
            description="the user's --model (a checkpoint folder, geneformer:PATH or "
            "scgpt:PATH), else the oracle shipped in the package",
        ),
        Method(
            "scvi",
            peer=True,
            requires=("scvi",),
            presets=("demo", "full"),
            description="scVI latent space (scvi-tools, 10 latent dimensions)",
        ),
    ]


def applicable(data: Cells, split: str, method: str) -> str | None:
    """scVI needs counts."""
    if method == "scvi" and not data.counts and "counts" not in data.adata.layers:
        return "needs raw counts (the dataset has normalised values only)"
    return None


def _source(data: Cells, method: str, seed: int, context: RunContext) -> tuple[str, dict]:
    """The embedding source of ``vc.represent.EMBEDDINGS`` a method runs, and its options
    (the methods embed through the registry; only the pretraining here is the bench's)."""
    if method == "pca":
        return "pca", {"n_hvg": 2000, "n_comps": 50, "normalize": data.pca_normalize, "seed": seed}
    if method == "scvi":
        return "scvi", {"n_latent": 10, "max_epochs": 100, "seed": seed}
    if method == "checkpoint":
        model = str(data.model) if data.model is not None else _shipped_oracle()
    else:
        model = _pretrained(data, method, seed, context)
    return "oracle", {"model": model, "device": context.device}


def _shipped_oracle() -> str:
    from ..models import shipped_oracle_path

    return str(shipped_oracle_path())


def _embed(data: Cells, method: str, seed: int, context: RunContext) -> np.ndarray:
    from ..represent import EMBEDDINGS

    name, options = _source(data, method, seed, context)
    layer = "counts" if name == "scvi" and "counts" in data.adata.layers else None
    source = EMBEDDINGS.get(name)(**options).fit(data.adata, layer=layer)
    return source.transform(data.adata, layer=layer)


def _pretrained(data: Cells, method: str, seed: int, context: RunContext) -> Any:
    """The CellEncoder pretrained here (``cellencoder``) or its untrained twin."""
    import torch

    from ..models import CellEncoder, CellModel
    from ..train import TrainConfig, make_tokenizer, pretrain

    torch.set_num_threads(max(1, context.threads))
    budget = _PRETRAIN.get(context.preset, _PRETRAIN["demo"])
    steps = budget["max_steps"] if method == "cellencoder" else 1
    model, _ = pretrain(
        data.adata,
        tokenizer=make_tokenizer("rank", max_len=budget["max_len"]),
        objective="mlm",
        model_config={"d_model": budget["d_model"], "n_layers": 2, "n_heads": 4, "pooling": "mean"},
        train_config=TrainConfig(
            max_steps=steps,
            batch_size=budget["batch_size"],
            lr=1e-3,
            warmup_steps=max(1, steps // 20),
            seed=seed,
            device=context.device,
        ),
        out_dir=None,
        resume=False,
    )
    if method == "cellencoder_untrained":
        # the same architecture and tokenizer, freshly initialised (no training step kept)
        model = CellModel(CellEncoder(model.network.config, seed=seed), model.tokenizer)
    return model


def run(
    data: Cells,
    *,
    split: str,
    method: str,
    seed: int,
    options: dict[str, Any],
    context: RunContext,
) -> list[dict[str, Any]]:
    """Embed the cells with ``method`` and score the embedding against the labels
    (``vc.represent.evaluate_embedding``)."""
    from .. import represent

    emb = np.asarray(_embed(data, method, seed, context), dtype=np.float64)
    result = represent.evaluate_embedding(
        data.adata, label_key=data.label_key, embedding=emb, seed=seed, method=method
    )
    return eval_rows(result, METRICS)


REPRESENT_TASK = Task(
    name="represent",
    version="1",
    description="Cell embeddings: Leiden clusters vs known cell types (unsupervised)",
    metrics=METRICS,
    datasets=datasets,
    methods=methods,
    run=run,
    applicable=applicable,
    describe=data_facts,
    user_flags=("label_key", "layer", "model"),
    required_flags=("label_key",),
)
