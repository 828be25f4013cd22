"""Loaders: read a registry dataset's file(s) and post-process them into our conventions."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import DataFormatError
from .._utils import Registry, atomic_path, clean_stale_temps
from ..data import CONTROL, PERTURBATION_KEY, PERTURBATION_TYPE_KEY, UNS_KEY
from ._bundled import find_in_package_tree, package_file
from ._download import cache_folder, fetch
from ._entries import DatasetEntry

__all__ = ["LOADERS", "extract_member"]


def _record_source(adata: ad.AnnData, entry: DatasetEntry, paths: list[Path]) -> ad.AnnData:
    uns = adata.uns.setdefault(UNS_KEY, {})
    uns["source"] = {
        "registry": entry.name,
        "kind": entry.kind,
        "files": [str(p) for p in paths],
        "urls": [f.url for f in entry.files],
        "citation": entry.citation,
    }
    return adata


def extract_member(archive: Path, member: str, *, dataset: str) -> Path:
    """Extract ``member`` (a file or folder) of a tar/zip archive into the cache, once.

    Extraction goes to a temporary sibling first and is renamed into place by the atomic
    writer, so an interrupted extraction never leaves a half-written result (and its
    leftovers are removed by the next run).
    """
    out_root = cache_folder() / "extracted" / archive.name
    target = out_root / member
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target.parent)
    try:
        with atomic_path(target) as part:
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=part.name + "-"))
            try:
                os.replace(_extract(archive, member, staging, dataset=dataset), part)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise DataFormatError(
            f"archive {archive} of dataset {dataset!r} is corrupt: {exc}"
        ) from exc
    return target


def _extract(archive: Path, member: str, folder: Path, *, dataset: str) -> Path:
    """Extract ``member`` of ``archive`` below ``folder``; return where it landed."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == member or n.startswith(member + "/")]
            if not names:
                raise DataFormatError(f"{archive} has no member {member!r} ({dataset})")
            for name in names:
                zf.extract(name, folder)
        return folder / member
    with tarfile.open(archive) as tf:
        members = [
            m
            for m in tf.getmembers()
            if m.name.split("/", 1)[-1] == member
            or m.name.split("/", 1)[-1].startswith(member + "/")
            or m.name == member
            or m.name.startswith(member + "/")
        ]
        if not members:
            raise DataFormatError(f"{archive} has no member {member!r} ({dataset})")
        tf.extractall(folder, members=members, filter="data")
        first = members[0].name
        prefix = first[: first.index(member)] if member in first else ""
    return folder / prefix / member


# --------------------------------------------------------------------------- bundled
def _pbmc68k_reduced(entry: DatasetEntry) -> ad.AnnData:
    import scanpy as sc

    path = package_file(
        "scanpy",
        "datasets/10x_pbmc68k_reduced.h5ad",
        dataset=entry.name,
        install_hint="pip install scanpy",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sc.datasets.pbmc68k_reduced()
    return _record_source(adata, entry, [path])


def _krumsiek11(entry: DatasetEntry) -> ad.AnnData:
    path = package_file(
        "scanpy", "datasets/krumsiek11.txt", dataset=entry.name, install_hint="pip install scanpy"
    )
    import scanpy as sc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sc.datasets.krumsiek11()
    adata.obs_names = [f"cell{i}" for i in range(adata.n_obs)]
    return _record_source(adata, entry, [path])


def _wu2020(entry: DatasetEntry) -> ad.AnnData:
    path = package_file(
        "scirpy",
        "tests/data/wu2020_200_v0_11.h5ad",
        dataset=entry.name,
        install_hint="pip install --no-deps scirpy",
    )
    return _record_source(ad.read_h5ad(path), entry, [path])


def _scanpy_10k_subset(entry: DatasetEntry) -> ad.AnnData:
    member = entry.options["member"]
    name = Path(member).name
    from .._settings import settings

    candidates = [
        find_in_package_tree("scanpy", member),
        find_in_package_tree("scanpy", "_data/" + name),
    ]
    if settings.data_dir is not None:
        candidates += [Path(settings.data_dir) / name, Path(settings.data_dir) / "datasets" / name]
    store = next((c for c in candidates if c is not None and c.exists()), None)
    if store is None:
        archive = fetch(entry)
        store = extract_member(archive, member, dataset=entry.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        adata = ad.read_zarr(store)
    adata.var_names_make_unique()
    return _record_source(adata, entry, [store])


# --------------------------------------------------------------------------- downloads
def _scperturb(entry: DatasetEntry) -> ad.AnnData:
    from ..data import standardize_perturbations

    path = fetch(entry)
    adata = ad.read_h5ad(path)
    column = entry.options.get("column", PERTURBATION_KEY)
    if column not in adata.obs:
        raise DataFormatError(
            f"{path} ({entry.name}) has no obs column {column!r}; obs has "
            f"{list(adata.obs.columns)[:20]}"
        )
    if "perturbation_type" in adata.obs and PERTURBATION_TYPE_KEY == "perturbation_type":
        adata.obs["perturbation_type_original"] = adata.obs["perturbation_type"]
    adata = standardize_perturbations(adata, perturbation_key=column, inplace=True)
    kind = entry.options.get("perturbation_type", "knockout")
    is_control = adata.obs[PERTURBATION_KEY].astype(str) == CONTROL
    adata.obs[PERTURBATION_TYPE_KEY] = pd.Categorical(np.where(is_control, CONTROL, kind))
    return _record_source(adata, entry, [path])


def _segerstolpe(entry: DatasetEntry) -> ad.AnnData:
    archive = fetch(entry.files[0], name=entry.name)
    sdrf = fetch(entry.files[1], name=entry.name)
    member = entry.options["member"]
    table_path = (
        archive
        if not zipfile.is_zipfile(archive)
        else extract_member(archive, member, dataset=entry.name)
    )
    return _record_source(read_segerstolpe(table_path, sdrf), entry, [archive, sdrf])


def read_segerstolpe(table_path: Path, sdrf_path: Path | None) -> ad.AnnData:
    """Read E-MTAB-5061's ``pancreas_refseq_rpkms_counts_3514sc.txt`` (+ SDRF) as counts.

    The first line is ``#samples`` followed by the n cell names; each further line is a
    gene symbol, a RefSeq id, n RPKM values and n read counts. Only the counts are kept.
    """
    with open(table_path) as handle:
        header = handle.readline().rstrip("\n").split("\t")
    cells = [c for c in header[1:] if c]
    n = len(cells)
    body = pd.read_csv(table_path, sep="\t", header=None, skiprows=1)
    if body.shape[1] != 2 + 2 * n:
        raise DataFormatError(
            f"{table_path}: expected 2 + 2x{n} columns (symbol, RefSeq id, RPKMs, counts), "
            f"found {body.shape[1]}"
        )
    counts = body.iloc[:, 2 + n :].to_numpy(dtype=np.float32).T
    symbols = pd.Index(body.iloc[:, 0].astype(str).to_numpy(), name=None)
    var = pd.DataFrame({"refseq": body.iloc[:, 1].astype(str).to_numpy()}, index=symbols)
    obs = pd.DataFrame(index=pd.Index(cells, name=None))
    adata = ad.AnnData(X=counts, obs=obs, var=var)
    adata.var_names_make_unique()
    if sdrf_path is not None:
        meta = pd.read_csv(sdrf_path, sep="\t", dtype=str)
        cells_set = set(adata.obs_names)
        # the column naming the cells: "Source Name" normally, else the best overlap
        overlap = {c: meta[c].isin(cells_set).sum() for c in meta.columns}
        key = "Source Name" if overlap.get("Source Name", 0) else max(overlap, key=overlap.get)
        if overlap[key] == 0:
            raise DataFormatError(f"{sdrf_path}: no column matches the cell names of {table_path}")
        meta = meta.drop_duplicates(key).set_index(key)
        wanted = {
            "cell_type": "Characteristics[cell type]",
            "donor": "Characteristics[individual]",
            "disease": "Characteristics[disease]",
        }
        for key, col in wanted.items():
            if col in meta.columns:
                adata.obs[key] = pd.Categorical(meta[col].reindex(adata.obs_names).to_numpy())
    return adata


def _zheng68k(entry: DatasetEntry) -> ad.AnnData:
    import scanpy as sc

    archive = fetch(entry.files[0], name=entry.name)
    root = extract_member(archive, "filtered_matrices_mex", dataset=entry.name)
    folder = next((p.parent for p in root.rglob("matrix.mtx*")), None)
    if folder is None:
        raise DataFormatError(f"{archive}: no matrix.mtx inside ({entry.name})")
    adata = sc.read_10x_mtx(folder, var_names="gene_symbols", make_unique=True)
    paths = [archive]
    try:
        labels_path = fetch(entry.files[1], name=entry.name)
    except Exception:  # the labels are optional: keep the counts usable offline
        labels_path = None
    if labels_path is not None:
        labels = pd.read_csv(labels_path, sep="\t")
        barcode = next(c for c in labels.columns if "barcode" in c.lower())
        kind = next(c for c in labels.columns if c.lower().replace("_", "") == "celltype")
        mapping = dict(zip(labels[barcode].astype(str), labels[kind].astype(str), strict=True))
        adata.obs["cell_type"] = pd.Categorical(adata.obs_names.map(mapping))
        paths.append(labels_path)
    return _record_source(adata, entry, paths)


def _zipped_h5ad(entry: DatasetEntry) -> ad.AnnData:
    archive = fetch(entry)
    path = extract_member(archive, entry.options["member"], dataset=entry.name)
    return _record_source(ad.read_h5ad(path), entry, [archive])


#: Loaders by name (a :class:`DatasetEntry`'s ``loader``): ``loader(entry) -> AnnData``
#: reads the entry's file(s); a user's own entry may register its own loader here.
LOADERS: Registry[Callable[[DatasetEntry], ad.AnnData]] = Registry("dataset loader")
for _name, _loader in {
    "pbmc68k_reduced": _pbmc68k_reduced,
    "krumsiek11": _krumsiek11,
    "wu2020": _wu2020,
    "scanpy_10k_subset": _scanpy_10k_subset,
    "scperturb": _scperturb,
    "segerstolpe": _segerstolpe,
    "zheng68k": _zheng68k,
    "zipped_h5ad": _zipped_h5ad,
}.items():
    LOADERS.add(_name, _loader)
del _name, _loader
