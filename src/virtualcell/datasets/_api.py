"""One function per registry dataset (``vc.datasets.norman2019()`` ...)."""

from __future__ import annotations

import anndata as ad

from ._registry import load

__all__ = [
    "adamson2016",
    "krumsiek11",
    "norman2019",
    "pbmc68k_reduced",
    "replogle2022_k562_essential",
    "replogle2022_rpe1",
    "segerstolpe2016",
    "tabula_sapiens_blood",
    "tenx_10k_subset",
    "wu2020",
    "zheng68k",
]


def pbmc68k_reduced() -> ad.AnnData:
    """700 PBMCs x 765 genes with 10 labelled types (``obs['bulk_labels']``), from scanpy."""
    return load("pbmc68k_reduced")


def krumsiek11() -> ad.AnnData:
    """640 simulated myeloid cells x 11 genes (``obs['cell_type']``), from scanpy."""
    return load("krumsiek11")


def wu2020() -> ad.AnnData:
    """200 T cells x 30,727 genes, integer counts (``obs['cluster_orig']``), from scirpy."""
    return load("wu2020")


def tenx_10k_subset() -> ad.AnnData:
    """10,000 mouse cells x 1,000 genes, raw counts (scanpy sdist test data; downloads)."""
    return load("tenx_10k_subset")


def norman2019() -> ad.AnnData:
    """Norman 2019 K562 CRISPRa singles and doubles (scPerturb h5ad; downloads)."""
    return load("norman2019")


def adamson2016() -> ad.AnnData:
    """Adamson 2016 K562 CRISPRi UPR screen, 10X010 (scPerturb h5ad; downloads)."""
    return load("adamson2016")


def replogle2022_k562_essential() -> ad.AnnData:
    """Replogle 2022 K562 essential-gene CRISPRi screen (scPerturb h5ad; downloads)."""
    return load("replogle2022_k562_essential")


def replogle2022_rpe1() -> ad.AnnData:
    """Replogle 2022 RPE1 essential-gene CRISPRi screen (scPerturb h5ad; downloads)."""
    return load("replogle2022_rpe1")


def segerstolpe2016() -> ad.AnnData:
    """Segerstolpe 2016 human pancreas Smart-seq2 counts with cell types (downloads)."""
    return load("segerstolpe2016")


def zheng68k() -> ad.AnnData:
    """Zheng 2017 68k PBMC 10x counts with the authors' cell types (downloads)."""
    return load("zheng68k")


def tabula_sapiens_blood() -> ad.AnnData:
    """Tabula Sapiens blood subset (figshare h5ad in a zip; downloads)."""
    return load("tabula_sapiens_blood")
