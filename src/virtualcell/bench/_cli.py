"""``vcell demo``: the main end-to-end job on the bundled data."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""

    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("results/demo"), "--out", "-o", help="Output folder."),
        stage: list[str] = typer.Option(
            None, "--stage", "-s", help="Run only these stages (repeatable)."
        ),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
    ) -> None:
        """Run the main job on the bundled data (report.md, results.json, plots).

        Stages: data (load, validate, map genes, preprocess, cluster), represent
        (pretrained CellEncoder vs PCA), simulate (Perturb-seq with a known GRN),
        grn (network inference scored against the truth).
        """
        from . import demo

        result = demo(out, stages=tuple(stage) if stage else None, seed=seed, log=typer.echo)
        typer.echo(result.report.read_text())
        typer.echo(f"report: {result.report}")
        if not result.ok:
            failed = [k for k, v in result.stages.items() if v["status"] != "ok"]
            typer.secho(f"failed stages: {', '.join(failed)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
