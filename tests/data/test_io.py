"""Readers: every format on small files written into tmp_path, plus corrupt inputs."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import io as sio
from scipy import sparse

import virtualcell as vc
from virtualcell._errors import DataFormatError, DatasetNotAvailableError
from virtualcell.data import detect_format, detect_orientation, read, read_table

GENES = ["CD3E", "MS4A1", "LYZ", "NKG7"]
CELLS = ["AAACCTGAGAAACCAT-1", "AAACCTGAGAAACCGC-1", "AAACCTGAGAAACCTA-1"]
COUNTS = np.array([[1, 0, 5, 2], [0, 3, 0, 1], [7, 0, 0, 4]], dtype=np.float32)


def _adata() -> ad.AnnData:
    return ad.AnnData(
        X=sparse.csr_matrix(COUNTS),
        obs=pd.DataFrame({"cell_type": ["T", "B", "M"]}, index=CELLS),
        var=pd.DataFrame(index=GENES),
    )


def _assert_counts(adata: ad.AnnData, genes: list[str] = GENES) -> None:
    assert adata.shape == (3, 4)
    assert list(adata.obs_names) == CELLS
    assert list(adata.var_names) == genes
    X = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
    np.testing.assert_array_equal(X, COUNTS)


def _gzip(path: Path) -> Path:
    target = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return target


def _write_mtx(folder: Path, *, gz: bool, legacy: bool = False, genes=GENES) -> Path:
    folder.mkdir()
    sio.mmwrite(str(folder / "matrix.mtx"), sparse.coo_matrix(COUNTS.T.astype(int)))
    (folder / "barcodes.tsv").write_text("\n".join(CELLS) + "\n")
    ids = [f"ENSG{i:011d}" for i in range(len(genes))]
    if legacy:
        (folder / "genes.tsv").write_text(
            "".join(f"{i}\t{g}\n" for i, g in zip(ids, genes, strict=True))
        )
    else:
        rows = [f"{i}\t{g}\tGene Expression\n" for i, g in zip(ids, genes, strict=True)]
        (folder / "features.tsv").write_text("".join(rows))
    if gz:
        for child in list(folder.iterdir()):
            _gzip(child)
    return folder


def test_h5ad_roundtrip_records_source(tmp_path):
    path = tmp_path / "a.h5ad"
    _adata().write_h5ad(path)
    adata = read(path)
    _assert_counts(adata)
    assert list(adata.obs["cell_type"]) == ["T", "B", "M"]
    assert adata.uns["vc"]["source"] == {"path": str(path), "format": "h5ad"}


@pytest.mark.parametrize("gz", [False, True])
def test_10x_mtx_folder(tmp_path, gz):
    folder = _write_mtx(tmp_path / "mtx", gz=gz)
    assert detect_format(folder) == "10x_mtx"
    adata = read(folder)
    _assert_counts(adata)
    assert sparse.isspmatrix_csr(adata.X) and adata.X.dtype == np.float32
    assert adata.var["gene_id"].iloc[2] == "ENSG00000000002"
    assert adata.uns["vc"]["source"]["format"] == "10x_mtx"


def test_10x_mtx_legacy_genes_and_duplicate_symbols(tmp_path):
    folder = _write_mtx(tmp_path / "mtx", gz=False, legacy=True, genes=["A", "B", "A", "C"])
    adata = vc.data.read_10x(folder)
    assert list(adata.var_names) == ["A", "B", "A-1", "C"]
    assert adata.var["gene_id"].is_unique
    kept = vc.data.read_10x_mtx(folder, make_unique=False)
    assert list(kept.var_names) == ["A", "B", "A", "C"]


def test_10x_mtx_mismatched_barcodes(tmp_path):
    folder = _write_mtx(tmp_path / "mtx", gz=False)
    (folder / "barcodes.tsv").write_text("\n".join(CELLS[:2]) + "\n")
    with pytest.raises(DataFormatError, match=r"3 cells .* lists 2 barcodes"):
        read(folder)


def _write_10x_h5(path: Path, layout: str = "v3") -> None:
    import h5py

    csc = sparse.csc_matrix(COUNTS.T.astype(np.int32))  # genes x cells, columns = cells
    with h5py.File(path, "w") as f:
        if layout == "v3":
            g = f.create_group("matrix")
            feats = g.create_group("features")
            feats["id"] = np.array([f"ENSG{i}" for i in range(4)], dtype="S")
            feats["name"] = np.array(GENES, dtype="S")
            feats["feature_type"] = np.array(["Gene Expression"] * 4, dtype="S")
            feats["genome"] = np.array(["GRCh38"] * 4, dtype="S")
        else:
            g = f.create_group("GRCh38")
            g["genes"] = np.array([f"ENSG{i}" for i in range(4)], dtype="S")
            g["gene_names"] = np.array(GENES, dtype="S")
        g["barcodes"] = np.array(CELLS, dtype="S")
        g["data"], g["indices"], g["indptr"] = csc.data, csc.indices, csc.indptr
        g["shape"] = np.array(csc.shape, dtype=np.int32)


@pytest.mark.parametrize("layout", ["v3", "v2"])
def test_10x_h5(tmp_path, layout):
    path = tmp_path / "filtered_feature_bc_matrix.h5"
    _write_10x_h5(path, layout)
    assert detect_format(path) == "10x_h5"
    adata = read(path)
    _assert_counts(adata)
    assert adata.var["gene_id"].tolist() == ["ENSG0", "ENSG1", "ENSG2", "ENSG3"]


def test_loom(tmp_path):
    pytest.importorskip("loompy")
    path = tmp_path / "a.loom"
    _adata().write_loom(path)
    adata = read(path)
    _assert_counts(adata)
    assert adata.uns["vc"]["source"]["format"] == "loom"


def test_zarr(tmp_path):
    pytest.importorskip("zarr")
    path = tmp_path / "a.zarr"
    _adata().write_zarr(path)
    assert detect_format(path) == "zarr"
    _assert_counts(read(path))


def test_csv_genes_x_cells_detected_from_barcodes(tmp_path):
    path = tmp_path / "expr.csv"
    pd.DataFrame(COUNTS.T, index=GENES, columns=CELLS).to_csv(path)
    adata = read(path)
    _assert_counts(adata)
    source = adata.uns["vc"]["source"]
    assert (source["orientation"], source["orientation_rule"]) == ("genes_x_cells", "barcode")


def test_tsv_gz_cells_x_genes_detected_from_stem(tmp_path):
    cells = ["cell_1", "cell_2", "cell_3"]
    path = tmp_path / "expr.tsv"
    pd.DataFrame(COUNTS, index=cells, columns=GENES).to_csv(path, sep="\t")
    path = _gzip(path)
    assert detect_format(path) == "tsv"
    adata = read(path)
    assert list(adata.obs_names) == cells and list(adata.var_names) == GENES
    np.testing.assert_array_equal(adata.X, COUNTS)
    assert adata.uns["vc"]["source"]["orientation_rule"] == "stem"


def test_table_stated_orientation_wins_when_labels_do_not_decide(tmp_path):
    path = tmp_path / "expr.csv"
    pd.DataFrame(COUNTS.T, index=["r1", "r2", "r3", "r4"], columns=["k1", "k2", "k3"]).to_csv(path)
    adata = read(path, orientation="cells_x_genes")
    assert adata.shape == (4, 3)  # taken literally as stated
    assert adata.uns["vc"]["source"]["orientation_rule"] == "stated"


def test_table_stated_orientation_contradicted_by_barcodes_is_refused(tmp_path):
    """Issue 21: a genes x cells table read as cells x genes was accepted silently."""
    path = tmp_path / "expr.csv"
    pd.DataFrame(COUNTS.T, index=GENES, columns=CELLS).to_csv(path)
    with pytest.raises(DataFormatError, match=r"columns are cell barcodes.*genes_x_cells"):
        read(path, orientation="cells_x_genes")


def test_table_keeps_duplicate_gene_names(tmp_path):
    path = tmp_path / "expr.csv"
    path.write_text("gene,c1,c2,c3\nA,1,2,3\nA,4,5,6\n")
    adata = read_table(path, orientation="genes_x_cells")
    assert list(adata.var_names) == ["A", "A"]
    np.testing.assert_array_equal(adata.X[:, 1], [4, 5, 6])


def test_table_non_numeric_value_is_named(tmp_path):
    path = tmp_path / "expr.csv"
    path.write_text(",c1,c2\nGATA1,1,2\nTAL1,x3,4\n")
    with pytest.raises(DataFormatError, match=r"'x3' at line 3, row 'TAL1', column 'c1'"):
        read(path, orientation="genes_x_cells")


def test_table_ambiguous_orientation_is_an_error(tmp_path):
    """A genes x cells table whose cells look like ``TcellA`` is never read transposed
    silently: undecided orientation is an error until it is stated."""
    path = tmp_path / "expr.csv"
    path.write_text(",TcellA,BcellB,NKcellC\nGATA1,1,2,0\nKLF1,3,4,1\n")
    before = path.read_bytes()
    with pytest.raises(DataFormatError, match=r"orientation='cells_x_genes' or 'genes_x_cells'"):
        read(path)
    adata = read(path, orientation="genes_x_cells")
    assert list(adata.obs_names) == ["TcellA", "BcellB", "NKcellC"]
    assert adata.uns["vc"]["source"]["orientation_rule"] == "stated"
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("rows", "cols", "expected"),
    [
        (["ENSG00000141510", "ENSG00000012048"], ["a", "b"], ("genes_x_cells", "ensembl")),
        (["a", "b"], ["ENSMUSG00000059552", "ENSMUSG00000020532"], ("cells_x_genes", "ensembl")),
        (["0", "1", "2"], ["TP53", "BRCA1"], ("cells_x_genes", "numeric")),
        (["TP53", "BRCA1", "GATA1"], ["1", "2", "3"], ("genes_x_cells", "numeric")),
        (["Gata2", "cJun", "Pu1", "Fli1"], ["E1_2", "E2_5", "E7_1"], ("genes_x_cells", "stem")),
    ],
)
def test_detect_orientation_rules(rows, cols, expected):
    assert detect_orientation(rows, cols) == expected


def test_registry_name_uses_datasets_load(monkeypatch):
    from virtualcell.datasets import _read

    monkeypatch.setattr(_read, "names", lambda: ["toy_set"])
    monkeypatch.setattr(_read, "load", lambda name: _adata())
    adata = vc.datasets.read("toy_set")
    _assert_counts(adata)
    assert adata.uns["vc"]["source"] == {"name": "toy_set", "format": "registry"}


def test_data_read_takes_paths_only_and_points_to_datasets_read():
    """The data layer never imports the registry: a name is an error naming the reader
    one layer up."""
    with pytest.raises(DatasetNotAvailableError, match=r"vc.datasets.read\('wu2020'\)"):
        read("wu2020")


def test_unknown_name_suggests_close_names(monkeypatch):
    from virtualcell.datasets import _read

    monkeypatch.setattr(_read, "names", lambda: ["pbmc68k_reduced", "wu2020"])
    with pytest.raises(DatasetNotAvailableError, match="Did you mean: pbmc68k_reduced"):
        vc.datasets.read("pbmc68k_reducd")


def test_missing_path_is_a_format_error(tmp_path):
    with pytest.raises(DataFormatError, match="no such file or folder"):
        read(tmp_path / "nope.h5ad")


def test_truncated_h5ad(tmp_path):
    path = tmp_path / "cut.h5ad"
    _adata().write_h5ad(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"cut\.h5ad as h5ad: the file is truncated"):
        read(path)


def test_h5ad_that_is_not_hdf5(tmp_path):
    path = tmp_path / "text.h5ad"
    path.write_text("hello, not hdf5")
    with pytest.raises(DataFormatError, match="not an HDF5 file"):
        read(path)
    empty = tmp_path / "empty.h5ad"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        read(empty)


def test_bad_gzip_table(tmp_path):
    path = tmp_path / "expr.csv.gz"
    path.write_bytes(b"this is not gzip data at all")
    with pytest.raises(DataFormatError, match=r"expr\.csv\.gz .*gzip"):
        read(path)


def test_truncated_gzip_mtx(tmp_path):
    folder = _write_mtx(tmp_path / "mtx", gz=True)
    matrix = folder / "matrix.mtx.gz"
    data = matrix.read_bytes()
    matrix.write_bytes(data[: len(data) - 12])
    with pytest.raises(DataFormatError, match=r"matrix\.mtx\.gz"):
        read(folder)


def test_unknown_folder_lists_contents(tmp_path):
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(DataFormatError, match=r"notes\.md"):
        read(tmp_path)
