"""``vcell grn``: infer a network and, with a truth, score it."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer

from .._cli_types import (
    checked,
    data_argument,
    input_path,
    output_path,
    overwrite_option,
    registry_option,
    seed_option,
)
from .._utils import emit_json
from ._infer import STREAMING_METHODS, _has_row_chunks, infer

_DEFAULT = {k: p.default for k, p in inspect.signature(infer).parameters.items()}

__all__ = ["register"]


def _methods():
    from ._methods import METHODS

    return METHODS


def _check_n_jobs(value: int) -> int:
    from ._infer import check_n_jobs

    return check_n_jobs(value)


def grn_command(
    data: str | None = data_argument(
        "BEELINE folder, DREAM4 network folder, SERGIO folder, .h5ad or registry name.",
        default=None,
    ),
    method: str = registry_option(
        _DEFAULT["method"],
        "--method",
        "-m",
        registry=_methods,
        help="Inference method (see --list-methods).",
    ),
    truth: Path | None = input_path(
        None,
        "--truth",
        help="Ground truth: BEELINE refNetwork.csv or DREAM4 gold-standard tsv.",
        dir_okay=False,
    ),
    out: Path | None = output_path(
        None,
        "--out",
        "-o",
        help="Write edges to .csv/.tsv/.parquet (format from the suffix).",
        suffixes=(".csv", ".tsv", ".parquet"),
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    regulators: Path | None = input_path(
        None,
        "--regulators",
        help="File of candidate regulators (one per line or first csv column).",
        dir_okay=False,
    ),
    n_jobs: int = typer.Option(
        _DEFAULT["n_jobs"],
        "--n-jobs",
        "-j",
        help="Worker processes (-1: all CPUs).",
        callback=checked(_check_n_jobs),
    ),
    seed: int = seed_option(_DEFAULT["seed"]),
    layer: str | None = typer.Option(
        None,
        "--layer",
        help="Matrix to read: 'raw' = adata.raw.X, a name = adata.layers[name]; default X.",
    ),
    perturbed: str | None = typer.Option(
        None,
        "--perturbed",
        help="primed: obs column of condition labels ('control', 'A', 'A+B'); a gene is "
        "not fitted on the cells perturbing it.",
    ),
    chunk_cells: int = typer.Option(
        5000,
        "--chunk-cells",
        min=1,
        help="primed on a .h5ad/.zarr file: cells read at a time (the file is streamed, "
        "never read whole).",
    ),
    dask: str | None = typer.Option(
        None,
        "--dask",
        help="primed: run the streamed pass and the solve on Dask: a scheduler address "
        "(tcp://HOST:PORT), or 'local' for a LocalCluster of --n-jobs workers.",
    ),
    list_methods: bool = typer.Option(False, "--list-methods", help="List method names and exit."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Infer a gene regulatory network; print its scores when a truth is known."""
    from .._errors import ValidationError
    from ._evaluate import evaluate
    from ._io import load_dataset, read_regulators, write_edges
    from ._methods import METHODS

    if list_methods:
        described = METHODS.describe()
        if as_json:
            emit_json(sorted(described))
        else:
            for name, text in described.items():
                typer.echo(f"{name:20s} {text}")
        return
    if data is None:
        raise ValidationError("give DATA (a BEELINE/DREAM4 folder, .h5ad or registry name)")
    options: dict = {}
    if method in STREAMING_METHODS:
        options = {"perturbed": perturbed, "chunk_cells": chunk_cells, "dask": dask}
    else:
        given = [
            flag for flag, v in (("--perturbed", perturbed), ("--dask", dask)) if v is not None
        ]
        if given:
            raise ValidationError(f"{given[0]} is an option of --method primed, not {method!r}")
    regs = read_regulators(regulators) if regulators is not None else None
    if method in STREAMING_METHODS and _has_row_chunks(data):
        adata = None  # streamed by infer: obs and var only, the matrix in chunks
        edges = infer(data, method=method, regulators=regs, layer=layer, n_jobs=n_jobs,
                      seed=seed, **options)  # fmt: skip
        genes = _var_names(data, layer)
    else:
        adata = load_dataset(data)
        edges = infer(adata, method=method, regulators=regs, layer=layer, n_jobs=n_jobs,
                      seed=seed, **options)  # fmt: skip
        genes = list(adata.var_names)
    if out is not None:
        write_edges(edges, out, overwrite=True)  # the --out rule was applied at parsing
    true_net, source = None, None
    if truth is not None:
        from ..data import read_network

        true_net, source = read_network(truth), str(truth)
    else:
        uns_truth = _uns_truth(data) if adata is None else adata.uns.get("true_network")
        if uns_truth is not None:
            true_net, source = uns_truth, "uns['true_network'] of DATA"
            if not as_json:
                typer.echo(f"no --truth given: scoring against {source}", err=True)
    result: dict = {"method": method, "data": str(data), "n_edges": len(edges)}
    if out is not None:
        result["out"] = str(out)
    if true_net is not None:
        result["truth"] = source
        result.update(evaluate(edges, true_net, genes=genes, regulators=regs))
    if as_json:
        emit_json(result)
        return
    for key, value in result.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        typer.echo(f"{key:22s} {text}")
    if true_net is None:
        typer.echo(edges.head(10).to_string(index=False))


def _var_names(data: str, layer: str | None) -> list[str]:
    from ..data import CellSource

    with CellSource.open(Path(data).expanduser(), layer=layer) as cells:
        return [str(g) for g in cells.var_names]


def _uns_truth(data: str) -> object | None:
    """``uns["true_network"]`` of a ``.h5ad`` / ``.zarr`` store, read without the matrix."""
    import anndata as ad

    path = Path(data).expanduser()
    if path.is_dir():
        import zarr

        handle, close = zarr.open(str(path), mode="r"), None
    else:
        import h5py

        handle = h5py.File(path, "r")
        close = handle.close
    try:
        if "uns" in handle and "true_network" in handle["uns"]:
            return ad.io.read_elem(handle["uns"]["true_network"])
        return None
    finally:
        if close is not None:
            close()


def register(app: typer.Typer) -> None:
    """Add the ``grn`` command to the ``vcell`` app."""
    app.command("grn")(grn_command)
