"""``vcell sim``: simulate a Perturb-seq dataset (or a preset's data) with a known truth.

Without ``--preset`` the command runs :func:`~virtualcell.sim.simulate_perturbseq`; with
``--preset NAME`` it runs the entry ``NAME`` of
:data:`~virtualcell.sim._presets.OUTPUT_PRESETS` (``epistasis``, ``spatial``, ...), which
names the function, the output suffix and the options the preset takes (an option it does
not take, or another suffix, is refused in one line; a new option for a new preset goes
into ``sim``'s signature, ``values`` and ``_FLAGS``). Every option is checked before the
simulation starts (:mod:`virtualcell._cli_types`);
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
    registry_option,
    seed_option,
)
from .._errors import ValidationError
from ._presets import OUTPUT_PRESETS

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
#: Upper limits of ``vcell sim --preset spatial`` (100,000 cells take ~15 s, 0.5 GB).
MAX_TISSUE_CELLS = 1_000_000
MAX_NICHES = 100

#: Options that only apply to some presets (Python name -> command-line flag).
_FLAGS = {
    "genes": "--genes",
    "cell_types": "--cell-types",
    "cells_per_condition": "--cells-per-condition",
    "singles": "--singles",
    "doubles": "--doubles",
    "perturbation_type": "--perturbation-type",
    "method": "--method",
    "hill_n": "--hill-n",
    "cells": "--cells",
    "niches": "--niches",
    "plots": "--plots",
}
#: What the command takes without ``--preset`` (``simulate_perturbseq``).
_PLAIN = tuple(k for k in _FLAGS if k not in ("cells", "niches"))
#: ``--out`` suffixes accepted at parse time; the command then checks the preset's own.
_SUFFIXES = tuple(sorted({".h5ad", ".h5mu", *(e.obj.suffix for e in OUTPUT_PRESETS.entries())}))


def sim(
    ctx: typer.Context,
    out: Path = output_path(
        ...,
        "--out",
        "-o",
        help="Output file (.h5ad; a preset may write another format, e.g. .h5mu).",
        suffixes=_SUFFIXES,
    ),
    preset: str | None = registry_option(
        None,
        "--preset",
        registry=lambda: OUTPUT_PRESETS,
        help="Simulate a preset's data instead: "
        + ", ".join(f"{e.name} ({e.obj.suffix})" for e in OUTPUT_PRESETS.entries())
        + ".",
    ),
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
    cells: int | None = int_range(
        None,
        "--cells",
        help=f"Cells of a --preset spatial section, 10 .. {MAX_TISSUE_CELLS:,}.",
        low=10,
        high=MAX_TISSUE_CELLS,
    ),
    niches: int | None = int_range(
        None,
        "--niches",
        help=f"Spatial niches of a --preset spatial section, 1 .. {MAX_NICHES}.",
        low=1,
        high=MAX_NICHES,
    ),
    seed: int = seed_option(),
    plots: Path | None = output_path(
        None, "--plots", help="Folder for network/heatmap/UMAP figures.", kind="folder"
    ),
    overwrite: bool = overwrite_option(),
    as_json: bool = json_option("Print the summary as JSON on stdout."),
) -> None:
    """Simulate single-cell Perturb-seq data from a random GRN (SERGIO kinetics), or a preset."""
    import time

    from .._settings import settings
    from .._utils import atomic_path, clean_stale_temps, emit_json
    from ._simulate import simulate_perturbseq
    from ._truth import nonadditivity

    values = {
        "genes": genes,
        "cell_types": cell_types,
        "cells_per_condition": cells_per_condition,
        "singles": singles,
        "doubles": doubles,
        "perturbation_type": perturbation_type,
        "method": method,
        "hill_n": hill_n,
        "cells": cells,
        "niches": niches,
        "plots": plots,
    }
    given = {k: v for k, v in values.items() if _given(ctx, k)}
    if preset is not None:
        _run_preset(preset, out, given, seed=seed, as_json=as_json)
        return
    _check_options(given, _PLAIN, "without --preset")
    if out.suffix.lower() != ".h5ad":
        raise ValidationError(
            f"vcell sim without --preset writes .h5ad; got --out {out.name} "
            f"(use --preset for other formats)"
        )
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


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _check_options(given: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = [_FLAGS[k] for k in given if k not in allowed]
    if extra:
        takes = ", ".join(_FLAGS[k] for k in allowed) or "no other option"
        raise ValidationError(
            f"{', '.join(extra)} {'does' if len(extra) == 1 else 'do'} not apply {where} "
            f"(it takes --out, --seed, {takes})"
        )


def _run_preset(name: str, out: Path, given: dict[str, Any], *, seed: int, as_json: bool) -> None:
    """``vcell sim --preset NAME``: simulate, write atomically, summarise."""
    import time

    from .._settings import settings
    from .._utils import atomic_path, clean_stale_temps, emit_json

    entry = OUTPUT_PRESETS.entry(name)
    spec = entry.obj
    _check_options(given, spec.options, f"to --preset {entry.name}")
    if out.suffix.lower() != spec.suffix:
        raise ValidationError(
            f"--preset {entry.name} writes {spec.suffix} files; got --out {out.name}"
        )
    clean_stale_temps(out.parent)
    t0 = time.perf_counter()
    obj = spec.simulate(seed=seed, **given)
    with atomic_path(out) as part:
        if spec.write is not None:
            spec.write(obj, part)
        else:
            obj.write_h5ad(part)
    seconds = time.perf_counter() - t0
    summary: dict[str, Any] = {
        "out": str(out),
        "preset": entry.name,
        "seed": int(seed),
        "n_cells": int(obj.n_obs),
        "n_genes": int(obj.n_vars),
    }
    if spec.summary is not None:
        summary.update(spec.summary(obj))
    summary["seconds"] = round(seconds, 3)
    if as_json:
        emit_json(summary)
    elif settings.verbosity > 0:
        counts = ", ".join(f"{k} {v}" for k, v in summary.items() if k not in ("out", "preset"))
        typer.echo(f"wrote {out} (--preset {entry.name}): {counts}")


def register(app: typer.Typer) -> None:
    """Add ``vcell sim`` to the root app."""
    app.command("sim")(sim)
