"""Registry table, bundled datasets and loaders on small files in the published formats."""

from __future__ import annotations

import dataclasses
import io
import tarfile
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import io as sio
from scipy import sparse

import virtualcell as vc
from virtualcell import settings
from virtualcell._errors import DatasetNotAvailableError
from virtualcell.datasets import info, load, names
from virtualcell.datasets._entries import ENTRIES, RemoteFile
from virtualcell.datasets._loaders import LOADERS

SRC = Path(vc.__file__).parent


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "mirror"
    (folder / "datasets").mkdir(parents=True)
    monkeypatch.setattr(settings, "data_dir", folder)
    return folder / "datasets"


def test_names_info_and_functions():
    expected = {
        "pbmc68k_reduced",
        "krumsiek11",
        "wu2020",
        "tenx_10k_subset",
        "norman2019",
        "adamson2016",
        "replogle2022_k562_essential",
        "replogle2022_rpe1",
        "segerstolpe2016",
        "zheng68k",
        "tabula_sapiens_blood",
    }
    assert set(names()) == expected
    for name in names():
        assert callable(getattr(vc.datasets, name)), name
        meta = info(name)
        assert meta["name"] == name and meta["citation"]
        if meta["kind"] == "download":
            assert meta["files"] and all(f["url"].startswith("https://") for f in meta["files"])
    with pytest.raises(DatasetNotAvailableError, match="unknown dataset 'nope'"):
        load("nope")


def test_checksums_are_hex_or_none_and_urls_live_only_in_the_table():
    for entry in ENTRIES:
        for f in entry.files:
            assert f.sha256 is None or (len(f.sha256) == 64 and int(f.sha256, 16) >= 0)
    for path in (SRC / "datasets").glob("*.py"):
        if path.name != "_entries.py":
            assert "https://" not in path.read_text(), f"URL outside the registry table: {path}"


def test_every_entry_has_a_registered_loader():
    """The loader table is a Registry (unknown names: one error naming the close ones)."""
    from virtualcell import ValidationError

    assert {e.loader for e in ENTRIES} <= set(LOADERS.names())
    with pytest.raises(ValidationError, match=r"unknown dataset loader 'wu202'.*wu2020"):
        LOADERS.get("wu202")


def test_bundled_datasets_load():
    pbmc = vc.datasets.pbmc68k_reduced()
    assert pbmc.shape == (700, 765) and "bulk_labels" in pbmc.obs
    kr = vc.datasets.krumsiek11()
    assert kr.shape == (640, 11) and kr.obs_names.is_unique
    wu = vc.datasets.wu2020()
    assert wu.shape == (200, 30727)
    assert np.all(np.mod(wu.X.data, 1) == 0)
    assert wu.uns["vc"]["source"]["registry"] == "wu2020"


def _perturb_h5ad(path: Path, labels: list[str]) -> None:
    n = len(labels)
    rng = np.random.default_rng(0)
    adata = ad.AnnData(
        X=sparse.csr_matrix(rng.poisson(1.0, size=(n, 5)).astype(np.float32)),
        obs=pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=[f"G{i}" for i in range(5)]),
    )
    adata.write_h5ad(path)


@pytest.mark.parametrize(
    ("name", "labels", "expected", "kind"),
    [
        (
            "norman2019",
            ["control", "KLF1", "KLF1_CEBPE", "CEBPE_KLF1"],
            ["control", "KLF1", "CEBPE+KLF1", "CEBPE+KLF1"],
            "overexpression",
        ),
        (
            "adamson2016",
            ["62(mod)_pBA581", "ATF6_pDS269", "SPI1_pBA581"],
            ["control", "ATF6", "SPI1"],
            "knockdown",
        ),
        (
            "replogle2022_k562_essential",
            ["control", "AAAS", "non-targeting"],
            ["control", "AAAS", "control"],
            "knockdown",
        ),
    ],
)
def test_scperturb_loaders_normalise_labels(mirror, name, labels, expected, kind):
    entry = vc.datasets._registry.entry(name)
    _perturb_h5ad(mirror / entry.filename, labels)
    adata = load(name)
    assert adata.obs["perturbation"].tolist() == expected
    types = adata.obs["perturbation_type"].tolist()
    assert types == ["control" if e == "control" else kind for e in expected]
    assert adata.obs["perturbation_original"].tolist() == labels
    assert adata.uns["vc"]["source"]["registry"] == name


def test_segerstolpe_loader(mirror):
    cells = ["cellA", "cellB", "cellC"]
    lines = ["#samples\t" + "\t".join(cells)]
    lines.append("INS\tNM_000207\t10.5\t0\t3.2\t100\t0\t30")
    lines.append("GCG\tNM_002054\t0\t7.1\t0\t0\t70\t0")
    table = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(mirror / "E-MTAB-5061.processed.1.zip", "w") as zf:
        zf.writestr("pancreas_refseq_rpkms_counts_3514sc.txt", table)
    sdrf = pd.DataFrame(
        {
            "Source Name": cells,
            "Characteristics[cell type]": ["beta cell", "alpha cell", "beta cell"],
            "Characteristics[individual]": ["HP1", "HP1", "T2D1"],
            "Characteristics[disease]": ["normal", "normal", "type II diabetes mellitus"],
        }
    )
    sdrf.to_csv(mirror / "E-MTAB-5061.sdrf.txt", sep="\t", index=False)
    adata = vc.datasets.segerstolpe2016()
    assert adata.var_names.tolist() == ["INS", "GCG"]
    np.testing.assert_array_equal(adata.X, [[100, 0], [0, 70], [30, 0]])
    assert adata.obs["cell_type"].tolist() == ["beta cell", "alpha cell", "beta cell"]
    assert adata.obs["donor"].tolist() == ["HP1", "HP1", "T2D1"]


def test_zheng68k_loader(mirror):
    genes = "ENSG1\tCD3E\nENSG2\tMS4A1\n"
    barcodes = "AAAC-1\nAAAG-1\nAAAT-1\n"
    mtx = io.BytesIO()
    sio.mmwrite(mtx, sparse.coo_matrix(np.array([[1, 0, 2], [0, 3, 0]])))  # genes x cells
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for fname, data in [
            ("genes.tsv", genes.encode()),
            ("barcodes.tsv", barcodes.encode()),
            ("matrix.mtx", mtx.getvalue()),
        ]:
            member = tarfile.TarInfo(f"filtered_matrices_mex/hg19/{fname}")
            member.size = len(data)
            tf.addfile(member, io.BytesIO(data))
    (mirror / "fresh_68k_pbmc_donor_a_filtered_gene_bc_matrices.tar.gz").write_bytes(buf.getvalue())
    pd.DataFrame(
        {
            "TSNE.1": [0, 1, 2],
            "TSNE.2": [0, 1, 2],
            "barcodes": ["AAAC-1", "AAAG-1", "AAAT-1"],
            "celltype": ["CD8+ Cytotoxic T", "CD19+ B", "CD8+ Cytotoxic T"],
        }
    ).to_csv(mirror / "68k_pbmc_barcodes_annotation.tsv", sep="\t", index=False)
    adata = vc.datasets.zheng68k()
    assert adata.shape == (3, 2)
    np.testing.assert_array_equal(adata.X.toarray(), [[1, 0], [0, 3], [2, 0]])
    assert adata.obs["cell_type"].tolist() == ["CD8+ Cytotoxic T", "CD19+ B", "CD8+ Cytotoxic T"]


def test_tabula_sapiens_zipped_h5ad(mirror, tmp_path):
    inner = tmp_path / "TS_Blood.h5ad"
    ad.AnnData(X=np.eye(3, dtype=np.float32)).write_h5ad(inner)
    with zipfile.ZipFile(mirror / "TS_Blood.h5ad.zip", "w") as zf:
        zf.write(inner, "TS_Blood.h5ad")
    adata = vc.datasets.tabula_sapiens_blood()
    np.testing.assert_array_equal(adata.X, np.eye(3))


def test_scanpy_10k_subset_extracts_zarr_from_sdist(mirror, tmp_path):
    small = ad.AnnData(X=np.arange(6, dtype=np.float32).reshape(3, 2))
    store = tmp_path / "src" / "scanpy-9.9" / "tests" / "_data" / "10x-10k-subset.zarr"
    store.parent.mkdir(parents=True)
    small.write_zarr(store)
    archive = mirror / "scanpy-test.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path / "src" / "scanpy-9.9", arcname="scanpy-9.9")
    real = vc.datasets._registry.entry("tenx_10k_subset")
    entry = dataclasses.replace(real, files=(RemoteFile(url=real.url, filename=archive.name),))
    adata = LOADERS.get(entry.loader)(entry)
    np.testing.assert_array_equal(np.asarray(adata.X), small.X)
    # second call reads the extracted copy from the cache
    assert LOADERS.get(entry.loader)(entry).shape == (3, 2)
