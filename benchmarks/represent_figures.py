"""Figures of docs/represent.md, measured on real and simulated cells.

* pbmc68k_reduced (``bulk_labels``), one stratified 70/30 split (seed 0), kNN on PCA:
  UMAP of the query by true label / prediction / confidence / unknown score, confusion
  matrix, per-class F1, reliability diagram before/after temperature scaling;
* simulated batches (200 genes, 5 types, 3 batches, seed 0): scIB metrics before/after
  integration (bars) and UMAPs of the uncorrected and cVAE embeddings by batch and type.

Usage::

    python benchmarks/represent_figures.py --out docs/figures
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/figures")
    p.add_argument("--method", default="knn")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import scanpy as sc
    import torch
    from _represent_data import pbmc68k

    torch.set_num_threads(1)
    import virtualcell as vc

    res = vc.represent.annotate(
        pbmc68k(), label_key="bulk_labels", method=args.method, query_fraction=0.3, seed=0
    )
    q = res.query
    vc.represent.embed(q, source="pca", n_comps=30, key_added="X_pca")
    sc.pp.neighbors(q, use_rep="X_pca", random_state=0)
    sc.tl.umap(q, random_state=0)
    vc.pl.annotation_embedding(
        q,
        color=["bulk_labels", "vc_label", "vc_confidence", "vc_unknown_score"],
        path=out / "represent_umap.png",
        overwrite=True,
    )
    vc.pl.confusion_matrix(
        q, label_key="bulk_labels", path=out / "represent_confusion.png", overwrite=True
    )
    vc.pl.per_class_f1(q, label_key="bulk_labels", path=out / "represent_f1.png", overwrite=True)
    vc.pl.reliability_diagram(
        q, label_key="bulk_labels", path=out / "represent_reliability.png", overwrite=True
    )

    a = vc.sim.simulate_batches(200, n_cell_types=5, n_cells=1500, n_batches=3, seed=0)
    vc.represent.integrate(a, batch_key="batch", method="none", key_added="X_vc_pca")
    vc.represent.integrate(a, batch_key="batch", method="harmony", sigma=0.2)
    vc.represent.integrate(a, batch_key="batch", method="cvae")
    keys = ["X_vc_pca", "X_vc_harmony", "X_vc_cvae"]
    table = vc.represent.score_integration(a, label_key="cell_type", batch_key="batch", keys=keys)
    vc.pl.integration_scores(
        table,
        metrics=[
            "nmi",
            "ari",
            "asw_label",
            "isolated_label_f1",
            "clisi",
            "batch_asw",
            "ilisi",
            "kbet",
            "graph_connectivity",
        ],
        path=out / "represent_integration.png",
        overwrite=True,
    )
    from virtualcell.pl._base import finish, new_figure

    fig = new_figure(figsize=(8.5, 5.6))
    for row, key in enumerate(["X_vc_pca", "X_vc_cvae"]):
        sc.pp.neighbors(a, use_rep=key, random_state=0, key_added=key)
        sc.tl.umap(a, random_state=0, neighbors_key=key)
        a.obsm[f"U_{key}"] = a.obsm["X_umap"]
        for col, color in enumerate(["batch", "cell_type"]):
            ax = fig.add_subplot(2, 2, 2 * row + col + 1)
            vc.pl.annotation_embedding(a, color=color, basis=f"U_{key}", ax=ax)
            ax.set_title(f"{key.removeprefix('X_vc_')}: {color}", fontsize=9)
    finish(fig, out / "represent_integration_umap.png", overwrite=True)
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
