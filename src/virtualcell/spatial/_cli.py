"""``vcell spatial ...``: niches, spatial domains and cell-cell communication scored against
a simulated truth.

One function per command, each registered on one line below its definition.
"""

from __future__ import annotations

import typer

from .._cli_types import (
    data_argument,
    int_range,
    json_option,
    layer_option,
    positive_int,
    registry_list,
    seed_list,
)
from .._utils import emit_json
from ._graph import DEFAULT_NEIGHBORS

__all__ = ["register", "spatial_app"]

spatial_app = typer.Typer(
    name="spatial",
    help="Cells in tissue: niches, spatial domains and cell-cell communication.",
    no_args_is_help=True,
)


def _niche_methods():
    from ._registry import NICHE_EMBEDDINGS

    return NICHE_EMBEDDINGS


def niches_command(
    data: str = data_argument("A section (.h5ad) with obsm['spatial'] and obs['niche']."),
    methods: str | None = registry_list(
        None,
        "--methods",
        registry=_niche_methods,
        help="Comma-separated niche embeddings (default: all; the baselines are always run).",
    ),
    n_domains: int | None = int_range(
        None,
        "--n-domains",
        low=2,
        help="Domains per method (default: the true number of niches, for every method alike).",
    ),
    n_neighbors: int = positive_int(
        DEFAULT_NEIGHBORS, "--n-neighbors", help="Spatial neighbours per cell."
    ),
    seeds: str | None = seed_list(None, "--seeds", help="Comma-separated seeds (default 0)."),
    truth_key: str = typer.Option("niche", "--truth-key", help="obs column of the true niches."),
    layer: str | None = layer_option(),
    as_json: bool = json_option(),
) -> None:
    """Niche embeddings -> spatial domains, scored by ARI against the true niches."""
    from .._cli_types import read_data
    from ._evaluate import evaluate_niches

    adata = read_data(data)
    res = evaluate_niches(adata, methods=methods, seeds=tuple(seeds or (0,)), n_domains=n_domains,
                          n_neighbors=n_neighbors, truth_key=truth_key, layer=layer)  # fmt: skip
    report = res.report
    if as_json:
        emit_json(res.score_report(report["metric"]))
        return
    typer.echo(f"{report['n_domains']} domains ({report['n_domains_from']}), "
               f"{report['n_cells']} cells")  # fmt: skip
    typer.echo(f"{'method':20s} {'baseline':8s} {'ARI':>7s} {'NMI':>7s} {'s':>7s}")
    for r in report["results"]:
        typer.echo(f"{r['method']:20s} {r['baseline']!s:8s} {r['score']:7.3f} "
                   f"{r['nmi']:7.3f} {r['seconds']:7.1f}")  # fmt: skip


spatial_app.command("niches")(niches_command)


def _comm_methods():
    from ._communication import COMMUNICATION_METHODS

    return COMMUNICATION_METHODS


def communication_command(
    data: str = data_argument(
        "A section (.h5ad) with obsm['spatial'], obs[GROUPBY], uns['lr_pairs'] and "
        "uns['true_communication']."
    ),
    methods: str | None = registry_list(
        None,
        "--methods",
        registry=_comm_methods,
        help="Comma-separated communication methods (default: all; baselines always run).",
    ),
    groupby: str = typer.Option("cell_type", "--groupby", help="obs column of the cell types."),
    n_neighbors: int = positive_int(6, "--n-neighbors", help="Spatial neighbours per cell."),
    seeds: str | None = seed_list(None, "--seeds", help="Comma-separated seeds (default 0)."),
    as_json: bool = json_option(),
) -> None:
    """Ligand -> receptor communication between cell types, scored by AUPRC against the
    simulated truth."""
    from .._cli_types import read_data
    from ._communication import evaluate_communication

    adata = read_data(data)
    res = evaluate_communication(
        adata, methods=methods, seeds=tuple(seeds or (0,)), groupby=groupby,
        n_neighbors=n_neighbors, dataset=str(data),
    )  # fmt: skip
    report = res.report
    if as_json:
        emit_json(res.score_report(report["metric"]))
        return
    typer.echo(
        f"{report['n_pairs']} candidate pairs, {report['n_rows']} rows, "
        f"{report['density']:.3f} active (a random ranking's AUPRC)"
    )
    auroc = res.summary(by=("method", "metric"))
    auroc = auroc[auroc["metric"] == "auroc"].set_index("method")["mean"]
    typer.echo(f"{'method':20s} {'baseline':8s} {'AUPRC':>7s} {'AUROC':>7s} {'s':>7s}")
    for r in report["results"]:
        typer.echo(f"{r['method']:20s} {r['baseline']!s:8s} {r['score']:7.3f} "
                   f"{auroc[r['method']]:7.3f} {report['seconds'][r['method']]:7.1f}")  # fmt: skip


spatial_app.command("communication")(communication_command)


def register(app: typer.Typer) -> None:
    """Add the ``vcell spatial`` group."""
    app.add_typer(spatial_app, name="spatial")
