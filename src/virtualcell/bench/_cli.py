"""``vcell bench``: the unified benchmark and main job."""

from __future__ import annotations

from pathlib import Path

import typer

from .._cli_types import input_path, n_jobs_option, output_path, seed_list


def _split_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command."""

    @app.command("bench")
    def bench_cmd(
        preset: str = typer.Option(
            "demo", "--preset", "-p", help="quick (seconds), demo (bundled data), full (all data)."
        ),
        out: Path = output_path(
            Path("results/bench"),
            "--out",
            "-o",
            kind="folder",
            existing="resume",
            parents=True,
            help="Output folder (a run in it is continued: finished cells are reused).",
        ),
        task: list[str] = typer.Option(None, "--task", "-t", help="Only these tasks (repeatable)."),
        method: list[str] = typer.Option(
            None, "--method", "-m", help="Only these methods (baselines always run)."
        ),
        exclude: list[str] = typer.Option(
            None, "--exclude", help="Leave out methods (an excluded baseline is reported)."
        ),
        dataset: list[str] = typer.Option(None, "--dataset", help="Only these datasets."),
        seeds: str = seed_list(
            None, "--seeds", help="Comma-separated seeds, each 0 .. 2**32-1 (default: preset's)."
        ),
        data: Path = input_path(None, "--data", help="Your own dataset (with --task)."),
        label_key: str = typer.Option(None, "--label-key", help="obs column with cell labels."),
        batch_key: str = typer.Option(None, "--batch-key", help="obs column with batches."),
        truth: Path = input_path(
            None, "--truth", help="True network for GRN user data.", dir_okay=False
        ),
        regulators: Path = input_path(
            None, "--regulators", help="Candidate regulators file.", dir_okay=False
        ),
        layer: str = typer.Option(None, "--layer", help="Expression layer of the user data."),
        model: str = typer.Option(
            None, "--model", help="Checkpoint for represent's 'checkpoint' method (with --data)."
        ),
        n_jobs: int = n_jobs_option(-1, help="Local worker processes: -1 (all CPUs) or 1 .. 1024."),
        dask: str = typer.Option(
            None, "--dask", help="Run on Dask: a scheduler address, or 'local' for a LocalCluster."
        ),
        device: str = typer.Option(
            "cpu", "--device", help="Torch device: cpu, cuda, cuda:N, auto."
        ),
        fresh: bool = typer.Option(
            False, "--fresh", help="Recompute cells already finished in OUT."
        ),
        trace_memory: bool = typer.Option(
            False, "--trace-memory", help="Also record Python allocations (slows cells)."
        ),
        list_tasks: bool = typer.Option(False, "--list", help="List tasks, datasets and methods."),
        report_only: bool = typer.Option(
            False, "--report-only", help="Only write the report of the run in OUT again."
        ),
    ) -> None:
        """Run the benchmark: every task, its methods beside their baselines, over seeds.

        Writes OUT/results.parquet, results.csv, report.html, report.md, manifest.json;
        re-running on the same OUT reuses every finished cell (it says how many).
        """
        from . import run

        if list_tasks:
            _print_listing(preset)
            return
        if report_only:
            from .. import pl
            from . import report

            html, _ = report(out, figures=pl.bench_figures)
            typer.echo(f"report: {html}", err=True)
            return
        seed_values = seeds  # a list of ints (checked while parsing)
        user_options = {
            "label_key": label_key,
            "batch_key": batch_key,
            "truth": str(truth) if truth else None,
            "regulators": str(regulators) if regulators else None,
            "layer": layer,
            "model": model,
        }
        from .. import pl

        result = run(
            preset,
            out=out,
            tasks=_split_list(task),
            methods=_split_list(method),
            exclude=_split_list(exclude) or (),
            datasets=_split_list(dataset),
            seeds=seed_values,
            data=data,
            user_options={k: v for k, v in user_options.items() if v is not None},
            n_jobs=n_jobs,
            dask=dask,
            device=device,
            resume=not fresh,
            trace_memory=trace_memory,
            figures=pl.bench_figures,
        )
        typer.echo(f"reused {result.reused} finished results, computed {result.computed}", err=True)
        typer.echo(f"report: {result.report_html}", err=True)
        typer.echo(f"markdown: {result.report_md}", err=True)
        if result.failed:
            typer.secho(f"{result.failed} cell(s) failed (see the report)", err=True, fg="red")
            raise typer.Exit(1)


def _print_listing(preset: str) -> None:
    from . import TASKS

    for entry in TASKS.entries():
        task = entry.obj
        typer.echo(f"{task.name}: {task.description}")
        for d in task.datasets(preset, None):
            state = f" (unavailable: {d.unavailable})" if d.unavailable else ""
            typer.echo(f"  dataset {d.name} [{d.source}; presets {','.join(d.presets)}]{state}")
        for m in task.methods():
            kind = "baseline" if m.baseline else ("peer" if m.peer else "method")
            kind = "reference_solver" if m.name == "reference_solver" else kind
            typer.echo(f"  {kind} {m.name} [presets {','.join(m.presets)}]")
