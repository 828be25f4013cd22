"""``vcell perturb``: list predictors, evaluate them next to the baselines, predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .._cli_types import (
    data_argument,
    int_range,
    json_option,
    key_value_pairs,
    open_fraction,
    output_path,
    overwrite_option,
    positive_int,
    seed_option,
)
from .._utils import emit_json

__all__ = ["register"]


def _perturbation_key_option(note: str = "") -> typer.models.OptionInfo:
    """``--perturbation-key`` of ``evaluate`` and ``predict`` (``note`` ends the help)."""
    return typer.Option(
        None,
        "--perturbation-key",
        help="obs column of the perturbation labels (default: detected among perturbation, "
        "condition, target_gene, gene, guide_ids ...; logged on stderr)." + note,
    )


def _control_option() -> typer.models.OptionInfo:
    """``--control`` of ``evaluate`` and ``predict``."""
    return typer.Option(
        None,
        "--control",
        help="Label of the control cells (default: control, ctrl, non-targeting, NT ... "
        "also numbered, e.g. non-targeting_1).",
    )


app = typer.Typer(
    name="perturb",
    help="Perturbation response prediction: list methods, evaluate, score, predict.",
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=False,
)


def _max_cells_option() -> typer.models.OptionInfo:
    return positive_int(
        None,
        "--max-cells",
        help="Keep at most N cells of each perturbed condition (drawn once, seed 0, before "
        "anything else). An .h5ad/.zarr file is then read in row chunks and only the cells "
        "kept are held in memory: for a screen larger than memory.",
    )


def _max_control_cells_option() -> typer.models.OptionInfo:
    return positive_int(None, "--max-control-cells", help="Keep at most N control cells "
                        "(as --max-cells).")  # fmt: skip


@app.callback()
def perturb_root(
    ctx: typer.Context,
    list_methods: bool = typer.Option(
        False,
        "--list-methods",
        help="Print the method names, one per line, and exit (on stderr: a table of each "
        "method's cost tier, whether it is a baseline and in the default list).",
    ),
) -> None:
    """Perturbation response prediction (see `vcell perturb evaluate --help`)."""
    if list_methods:
        from .._utils import markdown_table
        from ._evaluate import default_methods, method_cost
        from ._methods import METHODS

        default = set(default_methods())
        rows = []
        for entry in METHODS.entries():
            typer.echo(entry.name)
            rows.append({"method": entry.name, "cost": method_cost(entry.name),
                         "baseline": "yes" if entry.baseline else "",
                         "default": "yes" if entry.name in default else "",
                         "description": entry.description})  # fmt: skip
        typer.echo(markdown_table(rows), err=True)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help(), err=True)
        raise typer.Exit(2)


def _split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    return names or None


@app.command("evaluate")
def evaluate_command(
    data: str = data_argument(
        "DREAM4 network folder, .h5ad with obs['perturbation'], or registry name."
    ),
    task: str = typer.Option("doubles", "--task", help="doubles or unseen_singles."),
    seed: int = seed_option(help="Seed of the split and the methods, 0 .. 2**32-1."),
    methods: str | None = typer.Option(
        None,
        "--methods",
        help="Comma-separated methods (the baselines are always added). Default: every "
        "method but those that pretrain an encoder (oracle_isp, oracle_head) or train a "
        "network (gears_graph); run those when named. Cost tiers (`vcell perturb "
        "--list-methods`): cheap = seconds on pseudobulks (the baselines but go_forest); "
        "minutes = go_forest, network (a model per gene / over the gene network), "
        "primed_network (its network refitted once per stack group, 10, to learn its "
        "weights; about 7 minutes at 200,000 cells x 5,000 genes); pretrains = the oracles; trains = gears_graph (a small torch "
        "network, run when named).",
    ),
    baselines_only: bool = typer.Option(
        False, "--baselines-only", help="Run the baselines alone (no --methods)."
    ),
    perturbation_key: str | None = _perturbation_key_option(),
    control: str | None = _control_option(),
    test_fraction: float = open_fraction(
        0.25, "--test-fraction", help="Share of held-out genes, in (0, 1)."
    ),
    folds: int | None = int_range(
        None,
        "--folds",
        help="unseen_singles: K-fold cross-validation over the perturbed genes (every gene "
        "held out once per seed) instead of one --test-fraction split.",
        low=2,
        high=10_000,
    ),
    groupby: str = typer.Option(
        "auto",
        "--groupby",
        help="Group column for group-aware methods ('auto': cell_type; 'none').",
    ),
    out: Path | None = output_path(
        None,
        "--out",
        "-o",
        kind="folder",
        existing="resume",
        help="Folder for results.json, split.json, per_perturbation.csv and "
        "methods/<method>.json (each written as its method finishes). A folder holding "
        "the same evaluation (run.json: same data file, task, seed, folds) is resumed: "
        "finished methods are not rerun; any other existing output needs --overwrite "
        "(which starts afresh).",
    ),
    include_targets: bool = typer.Option(
        False,
        "--include-targets",
        help="Keep the perturbed genes in every metric (default: left out; the numbers "
        "before that rule).",
    ),
    by_time: bool = typer.Option(
        False,
        "--by-time",
        help="Also score every method per time point of obs['time'] (each day's change "
        "against that day's controls; results gain by_time and per_time).",
    ),
    max_cells: int | None = _max_cells_option(),
    max_control_cells: int | None = _max_control_cells_option(),
    method_option: list[str] | None = typer.Option(
        None,
        "--method-option",
        help="A method's option METHOD.KEY=VALUE (repeatable; VALUE read as JSON when it "
        "parses), e.g. --method-option primed_network.knowledge_size=0.5 "
        '--method-option \'primed_network.components=["mean","neighbours","text"]\' '
        "(docs/perturb.md lists every method's options).",
    ),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option(),
) -> None:
    """Fit every method on the training part and score it on the test part."""
    from .._errors import ValidationError
    from .._utils import markdown_table
    from ._evaluate import evaluate
    from ._run_store import to_jsonable
    from ._tasks import TASKS

    if task not in TASKS.names():
        raise ValidationError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    result = evaluate(
        data,
        method_options=_method_options(method_option),
        task=task,
        seed=seed,
        methods=_split_names(methods),
        groupby=None if groupby.lower() == "none" else groupby,
        test_fraction=test_fraction,
        include_targets=include_targets,
        folds=folds,
        baselines_only=baselines_only,
        perturbation_key=perturbation_key,
        control=control,
        out=out,
        overwrite=overwrite,
        by_time=by_time,
        max_cells=max_cells,
        max_control_cells=max_control_cells,
    )
    report = dict(result.report)
    report.pop("per_perturbation", None)
    failed = [r["method"] for r in report["results"] if r.get("error")]
    if as_json:
        emit_json(to_jsonable(report))
        _no_result_exit(failed, len(report["results"]))
        return
    keys = ("pearson_delta", "l2", "mse_top20_de", "pds", "centroid_accuracy", "de_overlap")
    rows = []
    for r in report["results"]:
        row = {"method": r["method"], "baseline": "yes" if r["baseline"] else ""}
        for k in keys:
            row[k] = r.get(k, float("nan"))
        if by_time:
            row["pearson_delta_by_time"] = r.get("by_time", {}).get("pearson_delta", float("nan"))
            row["l2_by_time"] = r.get("by_time", {}).get("l2", float("nan"))
        row["error"] = r.get("error", "")
        rows.append(row)
    typer.echo(
        f"{report['dataset']}  task={report['task']}  seed={report['seed']}  "
        f"test conditions={report['n_test']}  subgroups={report['subgroups']}"
    )
    typer.echo(markdown_table(rows))
    _no_result_exit(failed, len(report["results"]))


def _method_options(pairs: list[str] | None) -> dict[str, dict[str, Any]] | None:
    """``--method-option METHOD.KEY=VALUE`` pairs as ``{method: {key: value}}``."""
    from .._errors import ValidationError

    out: dict[str, dict[str, Any]] = {}
    for key, value in key_value_pairs(pairs, "--method-option").items():
        method, dot, name = key.partition(".")
        if not dot or not method or not name:
            raise ValidationError(
                f"--method-option must be METHOD.KEY=VALUE, got {key!r} (e.g. "
                "primed_network.knowledge_size=0.25)"
            )
        out.setdefault(method.lower(), {})[name] = value
    return out or None


def _no_result_exit(failed: list[str], n: int) -> None:
    """The summary line on stderr; exit 1 when no method produced a result."""
    typer.echo(f"{n - len(failed)} of {n} methods produced a result", err=True)
    if n and len(failed) == n:
        typer.secho(
            f"error: no method produced a result ({', '.join(failed)} failed)",
            err=True, fg=typer.colors.RED,
        )  # fmt: skip
        raise typer.Exit(1)


@app.command("score")
def score_command(
    pred: Path = typer.Argument(..., help="Predicted cells or profiles (.h5ad)."),
    real: Path = typer.Argument(..., help="Real cells (.h5ad) with the same genes."),
    perturbation_key: str = typer.Option(
        ..., "--perturbation-key", help="obs column with the perturbation labels (both files)."
    ),
    control: str = typer.Option(..., "--control", help="Control label in that column."),
    include_targets: bool = typer.Option(
        False, "--include-targets", help="Keep the perturbed genes in every metric."
    ),
    time_key: str | None = typer.Option(
        None,
        "--time-key",
        help="obs column of the time point in both files (e.g. time): "
        "score per time point, each against the same time point's controls.",
    ),
    as_json: bool = json_option(),
) -> None:
    """Score any tool's predictions against real cells (cell-eval's input convention).

    Each file's change of a perturbation is its own perturbation mean minus its own control
    mean; the perturbed genes (A and B of A+B) are left out of every metric but
    target_abs_error. Values are scored as given: when a file looks like raw counts
    (non-negative whole numbers, the vc.data.looks_like_counts rule) nothing is normalised,
    a warning goes to stderr and the scores are on counts - normalise both files the same
    way first (e.g. log1p of counts per 10,000) if the tool predicts log values.
    """
    from .._utils import markdown_table
    from ._score import score

    result = score(
        pred, real, perturbation_key=perturbation_key, control=control,
        include_targets=include_targets, time_key=time_key,
    )  # fmt: skip
    if as_json:
        emit_json(result.report)
        return
    summary = result.report["summary"]
    typer.echo(markdown_table([{"metric": k, "mean": v} for k, v in summary.items()]))


@app.command("predict")
def predict_command(
    data: str = data_argument("Training data: DREAM4 folder, .h5ad or registry name."),
    perturbations: str = typer.Option(
        ..., "--perturbations", "-p", help="Comma-separated conditions, e.g. KLF1,CEBPE+KLF1."
    ),
    method: str = typer.Option("network", "--method", "-m", help="Method (see --list-methods)."),
    out: Path = output_path(
        ..., "--out", "-o", help="Output .h5ad of predicted mean profiles.", suffixes=(".h5ad",)
    ),
    perturbation_key: str | None = _perturbation_key_option(
        " --perturbations may use the data's own spelling (e.g. A_B, ctrl)."
    ),
    control: str | None = _control_option(),
    max_cells: int | None = _max_cells_option(),
    max_control_cells: int | None = _max_control_cells_option(),
    time: str | None = typer.Option(
        None,
        "--time",
        help="Predict per time point of the training cells' obs['time']: "
        "'all' or comma-separated values (e.g. 2,3); each row is a condition at one time "
        "point (obs 'time'), its change taken against that time point's controls.",
    ),
    option: list[str] | None = typer.Option(
        None,
        "--option",
        help="An option of the method, KEY=VALUE (repeatable; VALUE read as JSON when it "
        "parses), e.g. -m primed_network --option knowledge_size=0.5 --option "
        '\'components=["mean","neighbours","text"]\'.',
    ),
    overwrite: bool = overwrite_option(),
) -> None:
    """Fit one method on DATA and write its predictions."""
    from .._errors import ValidationError
    from .._utils import atomic_path
    from . import predict_perturbation
    from ._labels import standardize_conditions
    from ._tasks import read_task_data

    if out.suffix != ".h5ad":
        raise ValidationError(f"--out must end in .h5ad, got {out.name!r}")
    conds = _split_names(perturbations)
    if not conds:
        raise ValidationError("--perturbations is empty")
    # public label conventions (scPerturb, pertpy, GEARS), as in evaluate; time series are
    # left out by predict_perturbation
    read = read_task_data(data, perturbation_key=perturbation_key, control=control,
                          max_cells=max_cells, max_control_cells=max_control_cells)  # fmt: skip
    adata = read.adata
    if not read.dream4:
        conds = standardize_conditions(conds, separator=read.labels["separator"],
                                       control=control, genes=list(map(str, adata.var_names)))  # fmt: skip
    when = None if time is None else ("all" if time.strip() == "all" else _split_names(time))
    if time is not None and when is None:  # it predicted time-pooled profiles silently
        raise ValidationError("--time is empty: give 'all' or time points, e.g. --time 2,3")
    options = key_value_pairs(option, "--option")
    pred = predict_perturbation(adata, perturbations=conds, method=method, time=when, **options)
    with atomic_path(out) as tmp:
        pred.write_h5ad(tmp)
    typer.echo(f"wrote {pred.n_obs} predicted profiles to {out}", err=True)


def register(root: typer.Typer) -> None:
    """Add the ``perturb`` command group to the ``vcell`` app."""
    root.add_typer(app, name="perturb")
