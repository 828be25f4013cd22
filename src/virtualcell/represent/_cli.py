"""``vcell annotate``, ``vcell integrate``, ``vcell cluster``: the representation tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import typer

from .._cli_types import (
    FormatName,
    OrientationName,
    data_argument,
    float_list,
    format_option,
    input_path,
    json_option,
    layer_option,
    open_fraction,
    orientation_option,
    output_path,
    overwrite_option,
    registry_option,
    seed_option,
)
from .._utils import emit_json

__all__ = ["register"]


def _annotation_methods() -> Any:
    from ._registry import ANNOTATION_METHODS

    return ANNOTATION_METHODS


def _integration_methods() -> Any:
    from ._integrate import INTEGRATION_METHODS

    return INTEGRATION_METHODS


def _read(source: str, format: Any = None, orientation: Any = "auto") -> Any:
    from .._cli_types import read_data

    adata = read_data(source, format=format, orientation=orientation)
    _unique_genes(adata, source)
    return adata


def _unique_genes(adata: Any, source: str) -> None:
    """Refuse duplicate gene names (``vcell data validate`` calls such data invalid): a
    gene would be counted twice and results by gene name are ambiguous."""
    from .._errors import ValidationError

    names = adata.var_names
    if not names.is_unique:
        dup = names[names.duplicated()].unique()
        shown = ", ".join(map(str, dup[:5])) + (" ..." if len(dup) > 5 else "")
        raise ValidationError(
            f"{source}: {len(dup)} gene name(s) occur more than once ({shown}); make them "
            "unique (adata.var_names_make_unique()) or fix the file (vcell data validate)"
        )


def _write(adata: Any, out: Path) -> None:
    from .._utils import atomic_path

    with atomic_path(out) as tmp:
        adata.write_h5ad(tmp)


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    for key, value in result.items():
        if key == "warnings":
            for text in value:
                typer.echo(f"{'warning':22s} {text}")
            continue
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        typer.echo(f"{key:22s} {text}")


def _list(described: dict[str, str], baselines: set[str], as_json: bool) -> None:
    if as_json:
        emit_json(
            [
                {"name": k, "baseline": k in baselines, "description": v}
                for k, v in described.items()
            ]
        )
        return
    for name, text in described.items():
        mark = " [baseline]" if name in baselines else ""
        typer.echo(f"{name:14s} {text}{mark}")


def annotate_command(
    reference: str | None = data_argument(
        "Labelled reference (.h5ad, registry name ...).", default=None, metavar="REFERENCE"
    ),
    query: str | None = data_argument(
        "Cells to annotate; may be the REFERENCE file with --query-fraction.",
        default=None,
        metavar="QUERY",
    ),
    label_key: str | None = typer.Option(
        None, "--label-key", help="obs column of reference labels."
    ),
    method: str = registry_option(
        "knn",
        "--method",
        "-m",
        registry=_annotation_methods,
        help="Annotation method (--list-methods).",
    ),
    embedding: str = typer.Option(
        "pca", "--embedding", help="Embedding of knn/centroid/linear_probe."
    ),
    model: Path | None = input_path(
        None, "--model", help="Pretrained checkpoint folder (oracle, finetune).", file_okay=False
    ),
    batch_key: str | None = typer.Option(None, "--batch-key", help="obs column of batches."),
    layer: str | None = layer_option(),
    format: FormatName | None = format_option(),
    orientation: OrientationName = orientation_option(),
    calibration: Literal["temperature", "isotonic", "none"] = typer.Option(
        "temperature", "--calibration", help="How confidences are calibrated."
    ),
    query_fraction: float | None = open_fraction(
        None,
        "--query-fraction",
        help="Split REFERENCE (stratified, seeded) into reference and query.",
    ),
    seed: int = seed_option(),
    out: Path | None = output_path(
        None, "--out", "-o", help="Annotated query (.h5ad).", suffixes=(".h5ad",)
    ),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option(),
    list_methods: bool = typer.Option(False, "--list-methods", help="List methods and exit."),
) -> None:
    """Annotate cells from a labelled reference: vc_label, vc_confidence, vc_unknown_score."""
    from .._errors import ValidationError
    from ._annotate import annotate
    from ._registry import ANNOTATION_METHODS
    from ._registry import list_methods as _methods

    if list_methods:
        _list(_methods(), set(ANNOTATION_METHODS.names(baseline=True)), as_json)
        return
    if reference is None or label_key is None:
        raise ValidationError("give REFERENCE and --label-key (or --list-methods)")
    if query is None and query_fraction is None:
        raise ValidationError("give QUERY, or --query-fraction to split REFERENCE")
    if query_fraction is not None:
        if query is not None and Path(query).resolve() != Path(reference).resolve():
            raise ValidationError("--query-fraction splits REFERENCE: QUERY must be the same file")
        ref, qry = _read(reference, format, orientation), None
    else:
        ref = _read(reference, format, orientation)
        qry = _read(query, format, orientation)  # type: ignore[arg-type]
    res = annotate(
        ref,
        query=qry,
        label_key=label_key,
        method=method,
        embedding=embedding,
        model=model,
        batch_key=batch_key,
        layer=layer,
        calibration=calibration,  # type: ignore[arg-type]
        query_fraction=query_fraction,
        seed=seed,
    )
    if out is not None:
        _write(res.query, out)
    result: dict[str, Any] = {"method": res.info["method"]}
    for key in ("accuracy", "macro_f1", "majority_macro_f1", "prior_macro_f1", "ece", "ece_raw"):
        if key in res.metrics:
            result[key] = res.metrics[key]
    result["n_query"] = int(res.query.n_obs)
    result["n_flagged_unknown"] = int(res.unknown.sum())
    result["n_reference_fit"] = res.info["n_reference_fit"]
    result["n_calibration"] = res.info["n_calibration"]
    if out is not None:
        result["out"] = str(out)
    result["warnings"] = list(res.warnings)
    _print(result, as_json)


def integrate_command(
    data: str = data_argument("Cells of several batches (.h5ad, registry name ...)."),
    batch_key: str = typer.Option(..., "--batch-key", help="obs column of batches."),
    method: str = registry_option(
        "harmony",
        "--method",
        "-m",
        registry=_integration_methods,
        help="none, center, harmony, cvae, scvi.",
    ),
    label_key: str | None = typer.Option(
        None, "--label-key", help="Cell-type labels to score with."
    ),
    layer: str | None = layer_option(),
    format: FormatName | None = format_option(),
    orientation: OrientationName = orientation_option(),
    seed: int = seed_option(),
    out: Path | None = output_path(
        None, "--out", "-o", help="Output .h5ad (obsm X_vc_<method>).", suffixes=(".h5ad",)
    ),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option(),
) -> None:
    """Batch-correct an embedding and print the scIB metrics before and after."""
    from ._integrate import INTEGRATION_METHODS, integrate, score_integration

    INTEGRATION_METHODS.entry(method)
    adata = _read(data, format, orientation)
    integrate(
        adata, batch_key=batch_key, method="none", layer=layer, seed=seed, key_added="X_vc_pca"
    )
    key = f"X_vc_{method}"
    if method != "none":
        integrate(adata, batch_key=batch_key, method=method, layer=layer, seed=seed)
    table = score_integration(
        adata, label_key=label_key, batch_key=batch_key, keys=["X_vc_pca", key], seed=seed
    )
    if out is not None:
        _write(adata, out)
    result = {
        "method": method,
        "before": {k: float(v) for k, v in table.loc["X_vc_pca"].items()},
        "after": {k: float(v) for k, v in table.loc[key].items()},
    }
    if out is not None:
        result["out"] = str(out)
    if as_json:
        emit_json(result)
        return
    typer.echo(f"{'metric':20s} {'before':>8s} {'after':>8s}")
    for k in result["before"]:
        typer.echo(f"{k:20s} {result['before'][k]:8.4f} {result['after'][k]:8.4f}")


def cluster_command(
    data: str = data_argument("Cells (.h5ad, registry name ...)."),
    use_rep: str | None = typer.Option(
        None, "--use-rep", help="obsm embedding (default: PCA on HVGs)."
    ),
    resolutions: str | None = float_list(
        None,
        "--resolutions",
        help="Comma-separated Leiden resolutions, each a finite number > 0 (default 0.1..2.0).",
    ),
    label_key: str | None = typer.Option(None, "--label-key", help="Known labels to score with."),
    layer: str | None = layer_option(),
    format: FormatName | None = format_option(),
    orientation: OrientationName = orientation_option(),
    seed: int = seed_option(),
    out: Path | None = output_path(
        None, "--out", "-o", help="Output .h5ad (obs vc_cluster).", suffixes=(".h5ad",)
    ),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option(),
) -> None:
    """Leiden clustering with a resolution sweep (best NMI with labels, else silhouette)."""
    from ._cluster import cluster

    res = resolutions  # a list of floats (checked while parsing)
    adata = _read(data, format, orientation)
    table = cluster(
        adata, use_rep=use_rep, resolutions=res, label_key=label_key, layer=layer, seed=seed
    )
    if out is not None:
        _write(adata, out)
    best = table[table["chosen"]].iloc[0]
    result = {
        k: (float(v) if k != "n_clusters" else int(v)) for k, v in best.items() if k != "chosen"
    }
    result["sweep"] = table.drop(columns="chosen").to_dict(orient="records")
    if out is not None:
        result["out"] = str(out)
    if as_json:
        emit_json(result)
        return
    typer.echo(table.to_string(index=False))


def register(app: typer.Typer) -> None:
    """Add ``annotate``, ``integrate`` and ``cluster`` to the ``vcell`` app."""
    app.command("annotate")(annotate_command)
    app.command("integrate")(integrate_command)
    app.command("cluster")(cluster_command)
