"""Stages of the main job (:func:`virtualcell.bench.demo`), in the order they run.

Each stage takes a :class:`~virtualcell.bench._demo.DemoContext`, writes its files into
``ctx.out`` and returns the numbers it measured (JSON-serialisable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _markdown_table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join([df.index.name or "", *cols]) + " |"]
    lines.append("|" + "---|" * (len(cols) + 1))
    for idx, row in df.iterrows():
        cells = [floatfmt.format(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join([str(idx), *cells]) + " |")
    return "\n".join(lines)


def stage_data(ctx) -> dict:
    """Real counts (scirpy's Wu 2020 T cells): load, validate, map gene IDs, preprocess,
    cluster, and compare clusters with the authors' labels; writes h5ad + plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scanpy as sc

    import virtualcell as vc

    adata = vc.datasets.read("wu2020")
    ctx.log(f"loaded wu2020: {adata.n_obs} cells x {adata.n_vars} genes")
    report = vc.data.validate(adata, expect_counts=True)
    report.raise_if_failed()
    mapping = vc.data.harmonize_genes(adata)
    n_before = adata.shape
    vc.pp.standard(adata, min_genes=200, min_cells=3, n_top_genes=2000, max_pct_mito=20.0)
    sc.pp.pca(adata, n_comps=30, mask_var="highly_variable", random_state=ctx.seed)
    sc.pp.neighbors(adata, n_neighbors=15, random_state=ctx.seed)
    sc.tl.umap(adata, random_state=ctx.seed)
    scores = vc.metrics.leiden_nmi_ari("cluster_orig", adata, use_rep="X_pca", seed=ctx.seed)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    axes[0].hist(np.asarray(adata.obs["n_genes_by_counts"]), bins=30, color="#4477aa")
    axes[0].set(xlabel="genes detected per cell", ylabel="cells", title="QC")
    axes[1].hist(np.log10(np.asarray(adata.obs["total_counts"])), bins=30, color="#aa7744")
    axes[1].set(xlabel="log10 total counts", title="library size")
    sc.pl.umap(adata, color="cluster_orig", ax=axes[2], show=False, legend_fontsize=6)
    axes[2].set_title("UMAP, authors' labels (cluster_orig)")
    fig.tight_layout()
    fig.savefig(ctx.out / "data_qc_umap.png", dpi=110)
    plt.close(fig)
    adata.write_h5ad(ctx.out / "wu2020_processed.h5ad", compression="gzip")
    return {
        "dataset": "wu2020 (scirpy; 200 real T cells, integer UMI counts)",
        "shape_before": list(n_before),
        "shape_after_qc": [int(adata.n_obs), int(adata.n_vars)],
        "validation": report.describe().splitlines()[0],
        "gene_id_coverage": f"{mapping.n_mapped}/{mapping.n_input} ({mapping.coverage:.1%})",
        "highly_variable_genes": int(adata.var["highly_variable"].sum()),
        "leiden_vs_labels_nmi": round(scores["nmi"], 3),
        "leiden_vs_labels_ari": round(scores["ari"], 3),
        "files": ["wu2020_processed.h5ad", "data_qc_umap.png"],
    }


def _pbmc_expression():
    """pbmc68k_reduced's ``.raw`` (log1p of normalised expression) back on the linear
    scale, with ``bulk_labels``; the only expression this bundled set has."""
    import anndata as ad
    import scipy.sparse as sp

    import virtualcell as vc

    pbmc = vc.datasets.pbmc68k_reduced()
    X = sp.csr_matrix(pbmc.raw.X, dtype=np.float32)
    X.data = np.expm1(X.data)
    adata = ad.AnnData(X, obs=pbmc.obs[["bulk_labels"]].copy())
    adata.var_names = list(pbmc.raw.var_names)
    return adata


def stage_represent(ctx) -> dict:
    """Cell representation: pretrain a small CellEncoder (rank tokens, MLM) on CPU and
    compare its embedding with PCA on HVGs and with the same network untrained
    (Leiden NMI/ARI vs ``bulk_labels``, AvgBIO). Honest: whichever wins is reported."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import virtualcell as vc
    from virtualcell.models import CellEncoder, CellModel, PCAConfig, PCAEncoder
    from virtualcell.train import TrainConfig, make_tokenizer, pretrain

    adata = _pbmc_expression()
    labels = adata.obs["bulk_labels"].astype(str).to_numpy()
    steps = 300
    model, result = pretrain(
        adata,
        tokenizer=make_tokenizer("rank", max_len=128),
        objective="mlm",
        model_config={"d_model": 64, "n_layers": 2, "n_heads": 4, "pooling": "mean"},
        train_config=TrainConfig(
            max_steps=steps, batch_size=32, lr=1e-3, warmup_steps=15, seed=ctx.seed
        ),
        out_dir=ctx.out / "pbmc_encoder",
        resume=False,  # the demo always trains from scratch
    )
    losses = [h["loss"] for h in result.history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.7)
    ax.set(xlabel="optimizer step", ylabel="MLM cross-entropy", title="CellEncoder pretraining")
    fig.tight_layout()
    fig.savefig(ctx.out / "represent_loss.png", dpi=110)
    plt.close(fig)

    def score(embedding):
        res = vc.metrics.leiden_nmi_ari(labels, embedding, seed=ctx.seed)
        avg = vc.metrics.avg_bio(labels, embedding, seed=ctx.seed)
        return {"nmi": res["nmi"], "ari": res["ari"], "avg_bio": avg}

    untrained = CellModel(CellEncoder(model.network.config, seed=ctx.seed), model.tokenizer)
    pca = PCAEncoder(PCAConfig(n_hvg=2000, n_comps=50, normalize="yes")).fit(adata)
    rows = {
        "CellEncoder (pretrained, MLM)": score(model.embed(adata)),
        "CellEncoder (untrained)": score(untrained.embed(adata)),
        "PCA on HVGs (baseline)": score(pca.embed(adata)),
    }
    table = pd.DataFrame(rows).T
    table.index.name = "embedding"
    table.to_csv(ctx.out / "represent_scores.csv")
    return {
        "data": "pbmc68k_reduced (700 real PBMCs x 765 genes, 10 bulk_labels)",
        "pretraining": f"{result.steps} steps, {result.wall_time_s:.1f} s, "
        f"{result.cells_per_s:.0f} cells/s, loss {np.mean(losses[:10]):.3f} -> "
        f"{np.mean(losses[-10:]):.3f}",
        "best_embedding": str(table["avg_bio"].idxmax()),
        "markdown": _markdown_table(table),
        "files": ["represent_scores.csv", "represent_loss.png", "pbmc_encoder/"],
    }


def _simulation(ctx):
    """The demo's simulated Perturb-seq, made once per run and shared by the stages."""
    if ctx.sim is None:
        import virtualcell as vc

        ctx.sim = vc.sim.simulate_perturbseq(
            100, n_cell_types=2, cells_per_condition=60, singles=30, doubles=30, seed=ctx.seed
        )
    return ctx.sim


def stage_simulate(ctx) -> dict:
    """Ground truth: a GRN-driven Perturb-seq simulation (singles + doubles) with its
    true network and the non-additivity of every double."""
    import virtualcell as vc

    adata = _simulation(ctx)
    adata.write_h5ad(ctx.out / "sim_perturbseq.h5ad", compression="gzip")
    vc.pl.network(adata, path=ctx.out / "sim_network.png")
    vc.pl.perturbation_heatmap(adata, path=ctx.out / "sim_heatmap.png")
    na = vc.sim.nonadditivity(adata)
    classes = na["class"].value_counts().to_dict()
    return {
        "shape": [int(adata.n_obs), int(adata.n_vars)],
        "conditions": int(adata.obs["perturbation"].nunique()),
        "true_edges": len(adata.uns["true_network"]),
        "double_classes (per double x cell type)": {str(k): int(v) for k, v in classes.items()},
        "nonadditive_fraction": round(float(na["nonadditive"].mean()), 3),
        "files": ["sim_perturbseq.h5ad", "sim_network.png", "sim_heatmap.png"],
    }


def stage_grn(ctx) -> dict:
    """Gene regulation: infer the simulated network with several methods and score each
    against the truth (AUPRC ratio 1.0 = random)."""
    import virtualcell as vc

    adata = _simulation(ctx)
    truth = pd.DataFrame(adata.uns["true_network"])
    genes = list(adata.var_names)
    control = adata[adata.obs["perturbation"] == "control"].copy()
    rows = {}
    for method, data, kwargs in [
        ("pearson", control, {}),
        ("pidc", control, {}),
        ("genie3", control, {"n_estimators": 50, "n_jobs": 2}),
        ("perturbation", adata, {}),
    ]:
        edges = vc.grn.infer(data, method=method, seed=ctx.seed, **kwargs)
        scores = vc.grn.evaluate(edges, truth, genes=genes)
        rows[method] = {k: float(scores[k]) for k in ("auprc", "auroc", "auprc_ratio", "epr")}
    table = pd.DataFrame(rows).T
    table.index.name = "method"
    table.to_csv(ctx.out / "grn_scores.csv")
    return {
        "data": "simulated Perturb-seq above (control cells for observational methods)",
        "best_method": str(table["auprc_ratio"].idxmax()),
        "markdown": _markdown_table(table),
        "files": ["grn_scores.csv"],
    }


STAGES = {
    "data": stage_data,
    "represent": stage_represent,
    "simulate": stage_simulate,
    "grn": stage_grn,
}
