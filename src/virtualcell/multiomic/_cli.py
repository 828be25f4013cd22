"""``vcell multiomic embed`` and ``vcell multiomic impute``: score multi-omic methods
(baselines included) on a MuData ``.h5mu`` file with true labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .._cli_types import (
    input_argument,
    json_option,
    open_fraction,
    positive_int,
    registry_list,
    seed_list,
)
from .._utils import emit_json

if TYPE_CHECKING:  # pragma: no cover
    from ..metrics import EvalResult

__all__ = ["register"]

multiomic_app = typer.Typer(
    help="Multi-omic cells (RNA + protein / ATAC): joint embeddings, protein imputation.",
    no_args_is_help=True,
)


def _embed_methods() -> Any:
    from ._embed import EMBED_METHODS

    return EMBED_METHODS


def _impute_methods() -> Any:
    from ._impute import IMPUTE_METHODS

    return IMPUTE_METHODS


def _print(result: EvalResult, as_json: bool) -> None:
    out = result.score_report(result.report["metric"])
    if as_json:
        emit_json(out)
        return
    mixing = {r["method"]: r for r in result.report.get("mixing", [])}
    extra = ("foscttm", "modality_asw") if mixing else ()
    typer.echo(
        f"{'method':18s} {'baseline':8s} {out['metric']:>16s}"
        + "".join(f" {m:>16s}" for m in extra)
    )
    for row in out["results"]:
        cells = [mixing.get(row["method"], {}).get(m, "not applicable") for m in extra]
        typer.echo(
            f"{row['method']:18s} {row['baseline']!s:8s} {row['score']:16.4f}"
            + "".join(f" {c:16.4f}" if isinstance(c, float) else f" {c:>16s}" for c in cells)
        )


def embed_command(
    data: Path = input_argument(..., help="MuData .h5mu file (paired modalities).", dir_okay=False),
    modalities: str | None = typer.Option(
        None, "--modalities", help="Comma-separated modalities (default: every known one)."
    ),
    methods: str | None = registry_list(
        None, "--methods", registry=_embed_methods, help="Comma-separated methods (default: all)."
    ),
    label_key: str = typer.Option("cell_type", "--label-key", help="obs column of true types."),
    seeds: str | None = seed_list(None, "--seeds", help="Comma-separated seeds (0)."),
    n_comps: int = positive_int(20, "--n-comps", help="Dimensions of each PCA / LSI."),
    as_json: bool = json_option(),
) -> None:
    """Score joint embeddings by AvgBIO of the true cell types, baselines included (the
    table also shows modality mixing: FOSCTTM, lower is better, and modality ASW)."""
    from ..data import read_h5mu
    from ._evaluate import evaluate_embedding

    mdata = read_h5mu(data)
    result = evaluate_embedding(
        mdata,
        methods=methods,
        modalities=modalities,
        seeds=seeds or [0],
        label_key=label_key,
        n_comps=n_comps,
    )
    _print(result, as_json)


def impute_command(
    data: Path = input_argument(
        ..., help="MuData .h5mu file with rna and protein.", dir_okay=False
    ),
    methods: str | None = registry_list(
        None, "--methods", registry=_impute_methods, help="Comma-separated methods (default: all)."
    ),
    test_fraction: float = open_fraction(0.3, "--test-fraction", help="Share of cells held out."),
    seeds: str | None = seed_list(None, "--seeds", help="Comma-separated seeds (0)."),
    as_json: bool = json_option(),
) -> None:
    """Score protein imputation from RNA on held-out cells (protein_pearson), baselines included."""
    from ..data import read_h5mu
    from ._evaluate import evaluate_imputation

    mdata = read_h5mu(data, modalities=["rna", "protein"])
    result = evaluate_imputation(
        mdata, methods=methods, seeds=seeds or [0], test_fraction=test_fraction
    )
    _print(result, as_json)


multiomic_app.command("embed")(embed_command)
multiomic_app.command("impute")(impute_command)


def register(app: typer.Typer) -> None:
    """Add the ``multiomic`` command group to the ``vcell`` app."""
    app.add_typer(multiomic_app, name="multiomic")
