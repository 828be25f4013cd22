"""``vcell text ...``: the text bridge and cell sentences on the command line.

* ``vcell text train DATA --label-key KEY --out DIR`` — train the cell–text model;
* ``vcell text eval DATA --label-key KEY --holdout-types N --seed S [--json]`` — the
  held-out-type protocol, bridge vs baselines;
* ``vcell text annotate DATA --model DIR --label "..." ...`` — zero-shot labels;
* ``vcell text search DATA --model DIR --query "..."`` — cells for a sentence;
* ``vcell text describe DATA --groupby COL --group G`` — a group in words, with citations;
* ``vcell text c2s-train`` / ``c2s-eval`` / ``generate`` — cell sentences (CellGPT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .._cli_types import (
    data_argument,
    input_path,
    int_range,
    json_option,
    layer_option,
    output_path,
    overwrite_option,
    positive_int,
    probability,
    read_data,
    seed_option,
)
from .._utils import emit_json

__all__ = ["register"]

text_app = typer.Typer(
    name="text",
    help="Cells and language in one space (zero-shot annotation, search, description) "
    "and cells as sentences (C2S).",
    no_args_is_help=True,
)

_KB = input_path(
    None, "--kb", help="Knowledge store (default: the cache's, built from installed packages).",
    file_okay=True, dir_okay=True,
)  # fmt: skip
_MODEL = input_path(
    ..., "--model", help="Checkpoint folder of a trained model.", file_okay=False, dir_okay=True
)
_NO_ONTOLOGY = typer.Option(False, "--no-ontology", help="Do not use the Cell Ontology.")


def _ontology(no_ontology: bool) -> Any:
    return False if no_ontology else "auto"


def _kb_or_default(kb: Path | None) -> Any:
    from ._evaluate import _default_kb

    return kb if kb is not None else _default_kb()


def _train_config(steps: int | None, base: Any) -> Any:
    return base if steps is None else base.replace(max_steps=steps)


def _show(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    for key, value in result.items():
        if isinstance(value, dict):
            typer.echo(f"{key}:")
            for k, v in value.items():
                typer.echo(f"  {k:34s} {v}")
        else:
            typer.echo(
                f"{key:36s} {value:.4f}" if isinstance(value, float) else f"{key:36s} {value}"
            )


def _show_trained(model: Any, out: Path, as_json: bool) -> None:
    t = model.training
    _show(
        {"out": str(out), "labels": len(model.extra["labels"]), "steps": t["steps"],
         "final_loss": t["final_loss"], "wall_time_s": t["wall_time_s"]},
        as_json,
    )  # fmt: skip


@text_app.command("train")
def train_command(
    data: str = data_argument(),
    label_key: str = typer.Option(..., "--label-key", help="obs column of cell types."),
    out: Path = output_path(
        ..., "--out", "-o", help="Model folder to write.", kind="folder", existing="resume"
    ),
    layer: str | None = layer_option(),
    kb: Path | None = _KB,
    steps: int | None = positive_int(None, "--steps", help="Optimizer steps (default 300)."),
    no_ontology: bool = _NO_ONTOLOGY,
    seed: int = seed_option(),
    overwrite: bool = overwrite_option("Delete the run in --out and start over."),
    as_json: bool = json_option(),
) -> None:
    """Train the cell–text model (CLIP-style) on labelled cells; save it to --out."""
    from ._bridge import BRIDGE_TRAIN_CONFIG, train_bridge

    adata = read_data(data)
    model = train_bridge(
        adata, label_key=label_key, layer=layer, kb=_kb_or_default(kb),
        ontology=_ontology(no_ontology), train_config=_train_config(steps, BRIDGE_TRAIN_CONFIG),
        out_dir=out, seed=seed, resume=False if overwrite else None,
    )  # fmt: skip
    _show_trained(model, out, as_json)


@text_app.command("eval")
def eval_command(
    data: str = data_argument(),
    label_key: str = typer.Option(..., "--label-key", help="obs column of cell types."),
    holdout_types: int = int_range(
        3, "--holdout-types", help="Cell types held out of training.", low=2
    ),
    seed: int = seed_option(),
    n_seeds: int = positive_int(1, "--n-seeds", help="Seeds seed, seed+1, ... (mean reported)."),
    layer: str | None = layer_option(),
    kb: Path | None = _KB,
    test_fraction: float = probability(0.2, "--test-fraction", help="Seen types' test share."),
    min_cells: int = positive_int(5, "--min-cells", help="Fewest cells of a held-out type."),
    steps: int | None = positive_int(None, "--steps", help="Bridge optimizer steps (default 300)."),
    no_ontology: bool = _NO_ONTOLOGY,
    no_kb: bool = typer.Option(
        False, "--no-kb", help="No knowledge store (no gene aliases; GenePT baseline skipped)."
    ),
    method: list[str] = typer.Option(
        [], "--method", help="Zero-shot method to run (repeat; default: all five of the docs)."
    ),
    out: Path | None = output_path(
        None, "--out", "-o", help="Per-seed table (.csv).", suffixes=(".csv",)
    ),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option(),
) -> None:
    """Zero-shot annotation on held-out types: the bridge and text_map vs marker-score,
    GenePT and random."""
    from ._bridge import BRIDGE_TRAIN_CONFIG
    from ._evaluate import evaluate

    adata = read_data(data)
    options = {}
    if steps is not None:
        options["bridge"] = {"train_config": BRIDGE_TRAIN_CONFIG.replace(max_steps=steps)}
    seeds = list(range(seed, seed + n_seeds))
    res = evaluate(
        adata, label_key=label_key, holdout_types=holdout_types, seeds=seeds, layer=layer,
        kb=False if no_kb else kb, ontology=_ontology(no_ontology), test_fraction=test_fraction,
        min_cells=min_cells, method_options=options,
        **({"methods": list(method)} if method else {}),
    )  # fmt: skip
    if out is not None:
        from .._utils import atomic_path

        with atomic_path(out) as tmp:
            res.table.to_csv(tmp, index=False)
    result = res.to_json(seed=seed if n_seeds == 1 else None)
    if as_json:
        emit_json(result)
        return
    typer.echo(res.summary().T.to_string(float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"held-out types: {res.held_out}")


@text_app.command("annotate")
def annotate_command(
    data: str = data_argument(),
    model: Path = _MODEL,
    label: list[str] = typer.Option(
        None, "--label", help="Candidate label (repeat; default: the model's labels)."
    ),
    layer: str | None = layer_option(),
    kb: Path | None = _KB,
    no_ontology: bool = _NO_ONTOLOGY,
    key_added: str = typer.Option("vc_text_label", "--key-added", help="obs column written."),
    out: Path | None = output_path(
        None, "--out", "-o", help="Annotated cells (.h5ad).", suffixes=(".h5ad",)
    ),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option(),
) -> None:
    """Label cells zero-shot with any label names (types never trained on included)."""
    from ._bridge import annotate

    adata = read_data(data)
    annotate(
        adata, model, labels=label or None, layer=layer, kb=kb,
        ontology=_ontology(no_ontology), key_added=key_added,
    )  # fmt: skip
    if out is not None:
        from .._utils import atomic_path

        with atomic_path(out) as tmp:
            adata.write_h5ad(tmp)
    counts = {str(k): int(v) for k, v in adata.obs[key_added].value_counts().items()}
    result: dict[str, Any] = {"n_cells": int(adata.n_obs), "counts": counts}
    if out is not None:
        result["out"] = str(out)
    _show(result, as_json)


@text_app.command("search")
def search_command(
    data: str = data_argument(),
    model: Path = _MODEL,
    query: str = typer.Option(..., "--query", "-q", help="The sentence to search for."),
    k: int = positive_int(10, "-k", "--top", help="Cells returned."),
    layer: str | None = layer_option(),
    as_json: bool = json_option(),
) -> None:
    """Cells most similar to a sentence."""
    from ._bridge import search

    adata = read_data(data)
    hits = search(adata, model, query=query, k=k, layer=layer)
    if as_json:
        emit_json([{"cell": str(i), **r} for i, r in zip(hits.index, hits.to_dict("records"),
                                                        strict=True)])  # fmt: skip
        return
    typer.echo(hits.to_string())


@text_app.command("describe")
def describe_command(
    data: str = data_argument(),
    groupby: str = typer.Option(..., "--groupby", help="obs column of groups (clusters)."),
    group: str = typer.Option(..., "--group", help="The group to describe."),
    model: Path | None = input_path(
        None, "--model", help="Text-bridge model (optional).", file_okay=False
    ),
    kb: Path | None = _KB,
    n_markers: int = positive_int(10, "--n-markers", help="Marker genes reported."),
    layer: str | None = layer_option(),
    no_ontology: bool = _NO_ONTOLOGY,
    as_json: bool = json_option(),
) -> None:
    """Describe a group of cells in words, with citations (markers, GO, Cell Ontology)."""
    from ._describe import describe

    adata = read_data(data)
    res = describe(
        adata, groupby=groupby, group=group, model=model, kb=_kb_or_default(kb),
        n_markers=n_markers, layer=layer, ontology=_ontology(no_ontology),
    )  # fmt: skip
    if as_json:
        emit_json(res.to_dict())
        return
    typer.echo(res.text)
    for i, c in enumerate(res.citations, 1):
        typer.echo(f"[{i}] {c}")


@text_app.command("c2s-train")
def c2s_train_command(
    data: str = data_argument(),
    label_key: str = typer.Option(..., "--label-key", help="obs column of cell types."),
    out: Path = output_path(
        ..., "--out", "-o", help="Model folder to write.", kind="folder", existing="resume"
    ),
    top_k: int = int_range(64, "--top-k", help="Genes per cell sentence.", low=2),
    steps: int | None = positive_int(None, "--steps", help="Optimizer steps (default 600)."),
    layer: str | None = layer_option(),
    seed: int = seed_option(),
    overwrite: bool = overwrite_option("Delete the run in --out and start over."),
    as_json: bool = json_option(),
) -> None:
    """Train a CellGPT on '<type> cell-sentence' sequences (Cell2Sentence style)."""
    from ._c2s import C2S_TRAIN_CONFIG, train_c2s

    adata = read_data(data)
    model = train_c2s(
        adata, label_key=label_key, layer=layer, top_k=top_k, out_dir=out, seed=seed,
        train_config=_train_config(steps, C2S_TRAIN_CONFIG), resume=False if overwrite else None,
    )  # fmt: skip
    _show_trained(model, out, as_json)


@text_app.command("c2s-eval")
def c2s_eval_command(
    data: str = data_argument(),
    label_key: str = typer.Option(..., "--label-key", help="obs column of cell types."),
    seed: int = seed_option(),
    n_seeds: int = positive_int(1, "--n-seeds", help="Seeds seed, seed+1, ... (mean reported)."),
    top_k: int = int_range(64, "--top-k", help="Genes per cell sentence.", low=2),
    steps: int | None = positive_int(None, "--steps", help="Optimizer steps (default 600)."),
    layer: str | None = layer_option(),
    as_json: bool = json_option(),
) -> None:
    """C2S: type prediction vs L1-LR, generated cells vs the type-mean baseline."""
    from ._c2s import C2S_TRAIN_CONFIG, evaluate_c2s

    adata = read_data(data)
    res = evaluate_c2s(
        adata, label_key=label_key, seeds=list(range(seed, seed + n_seeds)), layer=layer,
        top_k=top_k, train_config=_train_config(steps, C2S_TRAIN_CONFIG),
    )  # fmt: skip
    summary = res.summary()
    if as_json:
        emit_json({
            "prediction": res.prediction.to_dict(orient="records"),
            "generation": res.generation.to_dict(orient="records"),
        })  # fmt: skip
        return
    for name, table in summary.items():
        typer.echo(f"{name}:\n{table.to_string(float_format=lambda v: f'{v:.3f}')}\n")


@text_app.command("generate")
def generate_command(
    model: Path = _MODEL,
    cell_type: list[str] = typer.Option(..., "--cell-type", help="Requested type (repeat)."),
    n_cells: int = positive_int(100, "--n-cells", help="Cells per type."),
    temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="Sampling temperature."),
    out: Path = output_path(
        ..., "--out", "-o", help="Generated cells (.h5ad).", suffixes=(".h5ad",)
    ),
    seed: int = seed_option(),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option(),
) -> None:
    """Generate cells of the requested type(s) from a C2S model."""
    from .._utils import atomic_path
    from ._c2s import generate

    adata = generate(model, cell_type=cell_type, n_cells=n_cells, temperature=temperature,
                     seed=seed)  # fmt: skip
    with atomic_path(out) as tmp:
        adata.write_h5ad(tmp)
    _show({"out": str(out), "n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars)}, as_json)


def register(app: typer.Typer) -> None:
    """Add the ``vcell text`` group."""
    app.add_typer(text_app, name="text")
