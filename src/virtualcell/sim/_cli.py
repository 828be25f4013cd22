"""``vcell sim``: simulate a Perturb-seq dataset with a known network."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def sim(
    out: Path = typer.Option(..., "--out", "-o", help="Output .h5ad file."),
    genes: int = typer.Option(100, "--genes", help="Genes in the sampled network."),
    cell_types: int = typer.Option(3, "--cell-types", help="Cell types."),
    cells_per_condition: int = typer.Option(
        100, "--cells-per-condition", help="Cells per perturbed condition (over cell types)."
    ),
    singles: int = typer.Option(20, "--singles", help="Single-gene perturbations."),
    doubles: int = typer.Option(10, "--doubles", help="Two-gene perturbations."),
    perturbation_type: str = typer.Option(
        "knockout", "--perturbation-type", help="knockout, knockdown or overexpression."
    ),
    method: str = typer.Option("cle", "--method", help="cle (Langevin) or fast."),
    hill_n: float = typer.Option(2.0, "--hill-n", help="Hill coefficient of every edge."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same file)."),
    plots: Path | None = typer.Option(None, "--plots", help="Folder for network/heatmap/UMAP."),
) -> None:
    """Simulate single-cell Perturb-seq data from a random GRN (SERGIO kinetics)."""
    import time

    from .._errors import ValidationError
    from .._settings import settings
    from ._simulate import simulate_perturbseq
    from ._truth import nonadditivity

    if out.suffix != ".h5ad":
        raise ValidationError(f"--out must end in .h5ad, got {out}")
    t0 = time.perf_counter()
    adata = simulate_perturbseq(
        genes,
        n_cell_types=cell_types,
        cells_per_condition=cells_per_condition,
        singles=singles,
        doubles=doubles,
        perturbation_type=perturbation_type,  # type: ignore[arg-type]
        method=method,  # type: ignore[arg-type]
        seed=seed,
        hill_n=hill_n,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(out)
    seconds = time.perf_counter() - t0
    na = nonadditivity(adata)
    if plots is not None:
        from ._plot import plot_heatmap, plot_network, plot_umap

        plot_network(adata, path=plots / "network.png")
        plot_heatmap(adata, path=plots / "heatmap.png")
        plot_umap(adata, path=plots / "umap.png")
    if settings.verbosity > 0:
        p = adata.uns["vc"]["sim"]
        typer.echo(
            f"wrote {out}: {adata.n_obs} cells x {adata.n_vars} genes, "
            f"{len(adata.uns['true_network'])} edges, {p['n_singles']} singles, "
            f"{p['n_combinations']} doubles, {perturbation_type}, {seconds:.1f} s"
        )
        if len(na):
            per_double = na.groupby("perturbation")["nonadditive"].any()
            counts = na["class"].value_counts().to_dict()
            typer.echo(
                f"non-additive doubles (> {3:g} noise SE in some gene and cell type): "
                f"{per_double.mean():.0%}; classes per (double, cell type): {counts}"
            )
        if plots is not None:
            typer.echo(f"plots in {plots}")


def register(app: typer.Typer) -> None:
    """Add ``vcell sim`` to the root app."""
    app.command("sim")(sim)
