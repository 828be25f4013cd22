"""Named parameter sets of :func:`simulate_perturbseq` (``simulate_preset``).

``epistasis``: strong genetic interactions for testing combinatorial predictors. SERGIO
sums regulator inputs at each promoter, so doubles only depart from additivity through the
Hill response of genes below a shared downstream regulator (see ``docs/sim.md``). The preset
makes that response switch-like (``hill_n=6``), draws every sampled double among pairs
that converge on a shared downstream regulator, in proportion to their deterministic
non-additivity (``frac_converging=1``, ``score_pairs=True``), and uses ``method="fast"``
so that large designs stay quick. Measured with ``vc.sim.nonadditivity`` (a double counts
as non-additive when some gene departs from the sum of its singles by more than 3 noise
standard errors in some cell type) at 100 genes, 60 singles, 60 doubles and 100 cells per
condition: 27-68% of the doubles (mean 45%) over network seeds 3-10; the defaults of
:func:`simulate_perturbseq` give 7% at 30 doubles, and ``hill_n=4`` 18-45% (mean 33%).

``OUTPUT_PRESETS`` is the table of ``vcell sim --preset NAME``: name -> :class:`OutputPreset`
(the function, the output suffix, the command-line options it takes, a summary). A new
simulation (another format included) is one more entry in :func:`_output_presets`::

    Entry("multiomic", OutputPreset(_multiomic, ".h5mu", ("genes", "cells"), _summary,
                                    write=lambda mdata, path: mdata.write(path)), "...")

``vcell sim`` accepts every suffix of the table for ``--out`` and refuses, in one line,
a suffix other than the preset's own and any option the preset does not take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._utils import Entry, Registry

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["OUTPUT_PRESETS", "PRESETS", "OutputPreset", "simulate_preset"]

#: Preset name -> keyword arguments of :func:`simulate_perturbseq`.
PRESETS: MappingProxyType[str, MappingProxyType[str, Any]] = MappingProxyType(
    {
        "epistasis": MappingProxyType(
            {
                "hill_n": 6.0,
                "frac_converging": 1.0,
                "score_pairs": True,
                "method": "fast",
                "perturbation_type": "knockout",
            }
        ),
    }
)


def simulate_preset(name: str, *, grn: Any = 100, **overrides: Any) -> ad.AnnData:
    """Run :func:`simulate_perturbseq` with the preset ``name``'s parameters.

    Parameters
    ----------
    name
        A key of :data:`PRESETS` (``"epistasis"``).
    grn
        A :class:`GRN` or a number of genes (as in :func:`simulate_perturbseq`).
    **overrides
        Any other :func:`simulate_perturbseq` option; overrides the preset's values.

    Returns
    -------
    The AnnData of :func:`simulate_perturbseq`, with ``uns["vc"]["sim"]["preset"]`` set.
    """
    from ._grn import GRN
    from ._simulate import simulate_perturbseq

    if name not in PRESETS:
        raise ValidationError(f"unknown simulator preset {name!r}; presets: {', '.join(PRESETS)}")
    params = {**PRESETS[name], **overrides}
    if isinstance(grn, GRN) and "hill_n" not in overrides:
        params.pop("hill_n", None)  # a ready GRN brings its own Hill coefficients
    adata = simulate_perturbseq(grn, **params)
    adata.uns["vc"]["sim"]["preset"] = name
    return adata


# --------------------------------------------------------------------- vcell sim --preset
@dataclass(frozen=True)
class OutputPreset:
    """One ``vcell sim --preset NAME`` entry: what it simulates and the file it writes.

    Attributes
    ----------
    simulate
        Called with ``seed`` and the ``vcell sim`` options the user gave (their Python
        names: ``genes``, ``cells``, ``cell_types``, ...); returns the object to write.
    suffix
        The output's suffix (``.h5ad``, ``.h5mu``); ``--out`` must end with it.
    options
        The ``vcell sim`` options (Python names) the preset takes besides ``--out`` and
        ``--seed``; any other option given is an error.
    summary
        ``obj -> dict`` of counts for the command's summary (merged into ``--json``).
    write
        ``(obj, path) -> None``; default ``obj.write_h5ad(path)``.
    """

    simulate: Callable[..., Any]
    suffix: str
    options: tuple[str, ...]
    summary: Callable[[Any], dict] | None = None
    write: Callable[[Any, Path], None] | None = None


def _epistasis(*, seed: int, genes: int = 100, cell_types: int = 3, **options: Any) -> Any:
    """Perturb-seq with strong genetic interactions (``simulate_preset("epistasis")``)."""
    return simulate_preset("epistasis", grn=genes, n_cell_types=cell_types, seed=seed, **options)


def _perturb_summary(adata: Any) -> dict:
    p = adata.uns["vc"]["sim"]
    return {
        "n_edges": len(adata.uns["true_network"]),
        "n_singles": int(p["n_singles"]),
        "n_doubles": int(p["n_combinations"]),
    }


def _spatial(
    *,
    seed: int,
    genes: int = 100,
    cells: int | None = None,
    cell_types: int | None = None,
    niches: int | None = None,
    method: str | None = None,
) -> Any:
    """A tissue section with spatial niches and ligand-receptor signalling (``simulate_tissue``)."""
    from ._tissue import simulate_tissue

    given = {"n_cells": cells, "n_cell_types": cell_types, "n_niches": niches, "method": method}
    adata = simulate_tissue(genes, seed=seed, **{k: v for k, v in given.items() if v is not None})
    adata.uns["vc"]["sim"]["preset"] = "spatial"
    return adata


def _spatial_summary(adata: Any) -> dict:
    truth = adata.uns["true_communication"]
    return {
        "n_niches": int(adata.obs["niche"].nunique()),
        "n_cell_types": int(adata.obs["cell_type"].nunique()),
        "n_lr_pairs": len(adata.uns["lr_pairs"]),
        "n_active_communication": int(truth["active"].sum()),
        "n_communication_rows": len(truth),
    }


def _output_presets() -> list[Entry[OutputPreset]]:
    return [
        Entry(
            "epistasis",
            OutputPreset(
                _epistasis,
                ".h5ad",
                (
                    "genes",
                    "cell_types",
                    "cells_per_condition",
                    "singles",
                    "doubles",
                    "perturbation_type",
                    "method",
                    "hill_n",
                ),
                _perturb_summary,
            ),
            "Perturb-seq with strong genetic interactions (simulate_preset('epistasis')).",
        ),
        Entry(
            "spatial",
            OutputPreset(
                _spatial,
                ".h5ad",
                ("genes", "cells", "cell_types", "niches", "method"),
                _spatial_summary,
            ),
            "Tissue section: niches + ligand-receptor signalling (simulate_tissue).",
        ),
    ]


#: ``vcell sim --preset`` table: name -> :class:`OutputPreset` (function, output suffix).
OUTPUT_PRESETS: Registry[OutputPreset] = Registry("simulator preset", _output_presets)
