"""``vcell sim``: simulate a Perturb-seq dataset with a known network.

Every option is checked before the simulation starts (:mod:`virtualcell._cli_types`);
defaults are those of :func:`~virtualcell.sim.simulate_perturbseq` and
:func:`~virtualcell.sim.sample_grn`. The ``.h5ad`` is written atomically (a temporary
sibling renamed into place), so a killed run leaves the previous file or none, and the
leftovers of a killed run are removed by the next one.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal

import typer

from .._cli_types import (
    int_range,
    json_option,
    non_negative_int,
    output_path,
    overwrite_option,
    positive_float,
    seed_option,
)

__all__ = ["register"]


def _defaults() -> dict[str, Any]:
    """Defaults of the library functions (read, not retyped)."""
    from ._grn import sample_grn
    from ._simulate import simulate_perturbseq

    out: dict[str, Any] = {}
    for fn in (sample_grn, simulate_perturbseq):
        for name, p in inspect.signature(fn).parameters.items():
            if p.default is not p.empty:
                out.setdefault(name, p.default)
    out["genes"] = inspect.signature(simulate_perturbseq).parameters["grn"].default
    return out


_D = _defaults()

#: Upper limits of ``vcell sim`` (a simulation of this size already takes hours).
MAX_GENES = 5_000
MAX_CELL_TYPES = 50
MAX_CELLS = 100_000
MAX_DOUBLES = 10_000


def sim(
    out: Path = output_path(..., "--out", "-o", help="Output .h5ad file.", suffixes=(".h5ad",)),
    genes: int = int_range(
        _D["genes"],
        "--genes",
        help=f"Genes in the sampled network, 2 .. {MAX_GENES:,}.",
        low=2,
        high=MAX_GENES,
    ),
    cell_types: int = int_range(
        _D["n_cell_types"],
        "--cell-types",
        help=f"Cell types, 1 .. {MAX_CELL_TYPES}.",
        low=1,
        high=MAX_CELL_TYPES,
    ),
    cells_per_condition: int = int_range(
        _D["cells_per_condition"],
        "--cells-per-condition",
        help=f"Cells per perturbed condition (over cell types), 1 .. {MAX_CELLS:,}.",
        low=1,
        high=MAX_CELLS,
    ),
    singles: int = non_negative_int(
        _D["singles"], "--singles", help="Single-gene perturbations (at most --genes)."
    ),
    doubles: int = int_range(
        _D["doubles"],
        "--doubles",
        help=f"Two-gene perturbations, 0 .. {MAX_DOUBLES:,}.",
        low=0,
        high=MAX_DOUBLES,
    ),
    perturbation_type: Literal["knockout", "knockdown", "overexpression"] = typer.Option(
        _D["perturbation_type"], "--perturbation-type", help="How a perturbation acts."
    ),
    method: Literal["cle", "fast"] = typer.Option(
        _D["method"], "--method", help="cle (Langevin integration) or fast (one-pass sampling)."
    ),
    hill_n: float = positive_float(
        _D["hill_n"], "--hill-n", help="Hill coefficient of every edge (> 0)."
    ),
    seed: int = seed_option(),
    plots: Path | None = output_path(
        None, "--plots", help="Folder for network/heatmap/UMAP figures.", kind="folder"
    ),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option("Print the summary as JSON on stdout."),
) -> None:
    """Simulate single-cell Perturb-seq data from a random GRN (SERGIO kinetics)."""
    import time

    from .._settings import settings
    from .._utils import atomic_path, clean_stale_temps, emit_json
    from ._simulate import simulate_perturbseq
    from ._truth import nonadditivity

    clean_stale_temps(out.parent)
    t0 = time.perf_counter()
    adata = simulate_perturbseq(
        genes,
        n_cell_types=cell_types,
        cells_per_condition=cells_per_condition,
        singles=singles,
        doubles=doubles,
        perturbation_type=perturbation_type,
        method=method,
        seed=seed,
        hill_n=hill_n,
    )
    with atomic_path(out) as part:
        adata.write_h5ad(part)
    seconds = time.perf_counter() - t0
    na = nonadditivity(adata)
    if plots is not None:
        from ..pl import network, perturbation_heatmap, umap
        from ._views import embed_umap

        plots.mkdir(exist_ok=True)
        network(adata, path=plots / "network.png", overwrite=True)
        perturbation_heatmap(adata, path=plots / "heatmap.png", overwrite=True)
        embed_umap(adata, seed=seed)
        umap(adata, path=plots / "umap.png", overwrite=True)
    p = adata.uns["vc"]["sim"]
    per_double = na.groupby("perturbation")["nonadditive"].any() if len(na) else None
    summary = {
        "out": str(out),
        "n_cells": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "n_edges": len(adata.uns["true_network"]),
        "n_singles": int(p["n_singles"]),
        "n_doubles": int(p["n_combinations"]),
        "perturbation_type": perturbation_type,
        "seconds": round(seconds, 3),
        "nonadditive_fraction": None if per_double is None else float(per_double.mean()),
        "classes": {}
        if not len(na)
        else {str(k): int(v) for k, v in na["class"].value_counts().items()},
        "plots": None if plots is None else str(plots),
    }
    if as_json:
        emit_json(summary)
        return
    if settings.verbosity > 0:
        typer.echo(
            f"wrote {out}: {adata.n_obs} cells x {adata.n_vars} genes, "
            f"{summary['n_edges']} edges, {p['n_singles']} singles, "
            f"{p['n_combinations']} doubles, {perturbation_type}, {seconds:.1f} s"
        )
        if per_double is not None:
            typer.echo(
                f"non-additive doubles (> {3:g} noise SE in some gene and cell type): "
                f"{per_double.mean():.0%}; classes per (double, cell type): {summary['classes']}"
            )
        if plots is not None:
            typer.echo(f"plots in {plots}")


def register(app: typer.Typer) -> None:
    """Add ``vcell sim`` to the root app."""
    app.command("sim")(sim)
