"""Spatial and multi-omic commands: bad sections, MuData files and options.

Each case builds a tiny simulated section (``vc.sim.simulate_tissue``, 300 cells) or
MuData (``vc.sim.simulate_multiome``, 120 cells) and breaks one thing: a missing
``obsm["spatial"]``, truth column or table, non-finite coordinates, an unknown method,
modality or layer, an AnnData where a MuData is due, a preset written to the wrong suffix.
"""

from __future__ import annotations

from pathlib import Path

from ._battery import Case

__all__ = ["CASES"]

S = "{tmp}/section.h5ad"
M = "{tmp}/cells.h5mu"


def _section(folder: Path, *, drop: str | None = None, nan: bool = False) -> Path:
    import numpy as np

    import virtualcell as vc

    adata = vc.sim.simulate_tissue(n_cells=300, seed=0)
    if drop == "spatial":
        del adata.obsm["spatial"]
    elif drop == "niche":
        del adata.obs["niche"]
    elif drop == "truth":
        del adata.uns["true_communication"]
    if nan:
        adata.obsm["spatial"] = np.asarray(adata.obsm["spatial"], dtype=float).copy()
        adata.obsm["spatial"][3, 0] = np.nan
    path = folder / "section.h5ad"
    adata.write_h5ad(path)
    return path


def _mudata(folder: Path, *, without: str | None = None) -> Path:
    import virtualcell as vc

    mdata = vc.sim.simulate_multiome(n_cells=120, seed=0)
    if without is not None:
        import mudata as md

        mdata = md.MuData({k: mdata[k].copy() for k in mdata.mod if k != without})
    vc.data.write_h5mu(mdata, folder / "cells.h5mu")
    return folder / "cells.h5mu"


def _rna_only(folder: Path) -> Path:
    import virtualcell as vc

    vc.sim.simulate_multiome(n_cells=120, seed=0)["rna"].write_h5ad(folder / "rna.h5ad")
    return folder / "rna.h5ad"


CASES: list[Case] = [
    # niches
    Case(
        "spatial-niches-no-coordinates",
        f"vcell spatial niches {S}",
        2,
        r"no obsm\['spatial'\]",
        setup=lambda f: _section(f, drop="spatial"),
    ),
    Case(
        "spatial-niches-no-truth",
        f"vcell spatial niches {S}",
        2,
        r"no obs\['niche'\]",
        setup=lambda f: _section(f, drop="niche"),
    ),
    Case(
        "spatial-niches-truth-key-missing",
        f"vcell spatial niches {S} --truth-key zone",
        2,
        r"no obs\['zone'\]",
        setup=_section,
    ),
    Case(
        "spatial-niches-nan-coordinates",
        f"vcell spatial niches {S}",
        2,
        r"NaN or infinite coordinates.*cell003",
        setup=lambda f: _section(f, nan=True),
    ),
    Case(
        "spatial-niches-method-unknown",
        f"vcell spatial niches {S} --methods nope",
        2,
        r"unknown niche embedding 'nope'",
        setup=_section,
    ),
    Case(
        "spatial-niches-neighbors-above-cells",
        f"vcell spatial niches {S} --n-neighbors 5000",
        2,
        r"n_neighbors.*5000",
        setup=_section,
    ),
    Case(
        "spatial-niches-one-domain",
        f"vcell spatial niches {S} --n-domains 1",
        2,
        r"--n-domains",
        setup=_section,
    ),
    Case(
        "spatial-niches-layer-missing",
        f"vcell spatial niches {S} --layer counts",
        2,
        r"no layer 'counts'",
        setup=_section,
    ),
    Case(
        "spatial-niches-seeds-not-integers",
        f"vcell spatial niches {S} --seeds a",
        2,
        r"'a' is not an integer",
        setup=_section,
    ),
    # communication
    Case(
        "spatial-communication-no-truth",
        f"vcell spatial communication {S}",
        2,
        r"true_communication",
        setup=lambda f: _section(f, drop="truth"),
    ),
    Case(
        "spatial-communication-groupby-missing",
        f"vcell spatial communication {S} --groupby zone",
        2,
        r"'zone'",
        setup=_section,
    ),
    Case(
        "spatial-communication-method-unknown",
        f"vcell spatial communication {S} --methods nope",
        2,
        r"unknown communication method 'nope'",
        setup=_section,
    ),
    Case(
        "spatial-communication-no-coordinates",
        f"vcell spatial communication {S}",
        2,
        r"obsm\['spatial'\]",
        setup=lambda f: _section(f, drop="spatial"),
    ),
    # multi-omic
    Case(
        "multiomic-embed-anndata-not-mudata",
        "vcell multiomic embed {tmp}/rna.h5ad",
        2,
        r"not a MuData file",
        setup=_rna_only,
    ),
    Case(
        "multiomic-embed-modality-unknown",
        f"vcell multiomic embed {M} --modalities rna,adt",
        2,
        r"modality 'adt' is not in the data",
        setup=_mudata,
    ),
    Case(
        "multiomic-embed-method-unknown",
        f"vcell multiomic embed {M} --methods nope",
        2,
        r"unknown multi-omic embedding method 'nope'",
        setup=_mudata,
    ),
    Case(
        "multiomic-embed-label-missing",
        f"vcell multiomic embed {M} --label-key zz",
        2,
        r"'zz'",
        setup=_mudata,
    ),
    Case(
        "multiomic-impute-no-protein",
        f"vcell multiomic impute {M}",
        2,
        r"no modality 'protein'",
        setup=lambda f: _mudata(f, without="protein"),
    ),
    Case(
        "multiomic-impute-fraction-above-1",
        f"vcell multiomic impute {M} --test-fraction 1.5",
        2,
        r"--test-fraction",
        setup=_mudata,
    ),
    # presets
    Case(
        "sim-preset-unknown",
        "vcell sim --preset tissue --out {tmp}/x.h5ad",
        2,
        r"unknown simulator preset 'tissue'",
        outputs=("x.h5ad",),
    ),
    Case(
        "sim-preset-multiomic-wrong-suffix",
        "vcell sim --preset multiomic --out {tmp}/x.h5ad",
        2,
        r"writes \.h5mu",
        outputs=("x.h5ad",),
    ),
]
