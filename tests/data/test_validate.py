"""vc.data.validate: each kind of bad input is reported precisely; inputs stay untouched."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from virtualcell._errors import ValidationError
from virtualcell.data import ValidationReport, validate

MATRIX_KINDS = ["dense", "csr", "csc"]


def _good(kind: str = "dense", n_cells: int = 30, n_genes: int = 12) -> ad.AnnData:
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(n_cells, n_genes)).astype(np.float32) + 1
    if kind == "csr":
        X = sparse.csr_matrix(X)
    elif kind == "csc":
        X = sparse.csc_matrix(X)
    return ad.AnnData(
        X=X,
        obs=pd.DataFrame(index=[f"cell{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=[f"GENE{j}" for j in range(n_genes)]),
    )


def _set(adata: ad.AnnData, i: int, j: int, value: float) -> ad.AnnData:
    X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X.copy()
    X[i, j] = value
    adata.X = type(adata.X)(X) if sparse.issparse(adata.X) else X
    return adata


def _codes(report: ValidationReport) -> list[str]:
    return [p.code for p in report.problems]


@pytest.mark.parametrize("kind", MATRIX_KINDS)
def test_valid_counts(kind):
    report = validate(_good(kind))
    assert report.ok and report.problems == []
    s = report.summary
    assert (s["n_cells"], s["n_genes"], s["nnz"]) == (30, 12, 360)
    assert s["sparsity"] == 0.0 and s["is_integer"] and s["looks_like_counts"]
    report.raise_if_failed()  # no error


@pytest.mark.parametrize("kind", MATRIX_KINDS)
def test_nan_and_inf_named_by_cell_and_gene(kind):
    adata = _set(_set(_set(_good(kind), 2, 3, np.nan), 2, 5, np.nan), 7, 1, np.inf)
    report = validate(adata)
    assert not report.ok
    nan = next(p for p in report.problems if p.code == "nan")
    assert nan.count == 2
    assert "1 cell (cell2: 2)" in nan.message and "GENE3: 1" in nan.message
    inf = next(p for p in report.problems if p.code == "inf")
    assert "cell7: 1" in inf.message and "GENE1: 1" in inf.message


@pytest.mark.parametrize("kind", MATRIX_KINDS)
def test_negative_counts(kind):
    report = validate(_set(_good(kind), 4, 0, -3), expect_counts=True)
    problem = report.errors[0]
    assert problem.code == "negative_counts" and "cell4: 1" in problem.message
    # scaled data (not counts) may be negative
    assert validate(_set(_good(kind), 4, 0, -3), expect_counts=False).ok


def test_non_integer_counts_rules():
    # auto: 1 fractional value among 360 whole ones -> looks like counts, so it is flagged
    report = validate(_set(_good(), 5, 2, 2.5))
    assert _codes(report) == ["non_integer_counts"]
    assert "cell5: 1" in report.problems[0].message and "GENE2: 1" in report.problems[0].message
    # log-normalised data: mostly fractional -> not counts -> fine unless counts are required
    logged = _good()
    logged.X = np.log1p(logged.X) + 0.01
    assert validate(logged).ok and not validate(logged).summary["looks_like_counts"]
    strict = validate(logged, expect_counts=True)
    assert strict.errors[0].code == "non_integer_counts" and strict.errors[0].count == 360


@pytest.mark.parametrize("kind", MATRIX_KINDS)
def test_empty_cells_and_genes(kind):
    adata = _good(kind)
    X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X.copy()
    X[[3, 9], :] = 0
    X[:, 4] = 0
    adata.X = type(adata.X)(X) if sparse.issparse(adata.X) else X
    report = validate(adata)
    empty = next(p for p in report.problems if p.code == "empty_cells")
    assert empty.severity == "error" and empty.count == 2 and "cell3, cell9" in empty.message
    genes = next(p for p in report.problems if p.code == "empty_genes")
    assert genes.severity == "warning" and "GENE4" in genes.message
    assert report.summary["n_empty_cells"] == 2
    only_genes = _good(kind)
    Y = np.ones((30, 12), dtype=np.float32)
    Y[:, 4] = 0
    only_genes.X = type(only_genes.X)(Y) if sparse.issparse(only_genes.X) else Y
    warn = validate(only_genes)
    assert warn.ok and _codes(warn) == ["empty_genes"]
    assert not validate(only_genes, strict=True).ok


def test_duplicated_names():
    adata = _good()
    adata.var_names = ["GENE0", "GENE1", "GENE0", *[f"G{j}" for j in range(9)]]
    adata.obs_names = ["cellA"] * 3 + [f"c{i}" for i in range(27)]
    report = validate(adata)
    assert _codes(report) == ["duplicate_genes", "duplicate_cells"]
    assert "GENE0 (x2)" in report.problems[0].message
    assert "cellA (x3)" in report.problems[1].message


def test_vocabulary_overlap():
    adata = _good()
    vocab = ["GENE0", "GENE1", "OTHER"]
    report = validate(adata, vocabulary=vocab)
    problem = report.errors[0]
    assert problem.code == "low_vocabulary_overlap" and problem.count == 10
    assert "only 2 of 12 genes (16.7%)" in problem.message and "GENE2" in problem.message
    assert validate(adata, vocabulary=vocab, min_vocab_fraction=0.1).ok
    lower = validate(adata, vocabulary=[g.lower() for g in adata.var_names])
    assert "ignoring case" in lower.errors[0].message


def test_perturbation_labels():
    adata = _good()
    labels = ["control"] * 24 + ["KLF1", "", "A+", "B+A", "control+A", "A++B"]
    adata.obs["perturbation"] = labels
    report = validate(adata)
    codes = _codes(report)
    assert codes[:2] == ["empty_perturbation_label", "malformed_perturbation_label"]
    assert "cell25" in report.problems[0].message
    bad = report.problems[1]
    assert bad.count == 3 and "'A+'" in bad.message and "'A++B'" in bad.message
    assert "unsorted_perturbation_label" in codes
    no_control = _good()
    no_control.obs["perturbation"] = "KLF1"
    assert _codes(validate(no_control)) == ["no_control_cells"]


def test_input_is_never_modified():
    adata = _set(_set(_good("csr"), 1, 1, np.nan), 2, 2, -1)
    before = adata.X.copy()
    obs_before = adata.obs.copy()
    validate(adata, expect_counts=True, vocabulary=["x"])
    np.testing.assert_array_equal(adata.X.toarray(), before.toarray())
    pd.testing.assert_frame_equal(adata.obs, obs_before)


def test_chunked_scan_matches_whole(monkeypatch):
    import virtualcell.data._checks as checks

    adata = _set(_set(_good("csr", n_cells=200, n_genes=50), 150, 3, np.nan), 199, 49, -2)
    whole = validate(adata).to_dict()
    monkeypatch.setattr(checks, "_CHUNK_ELEMENTS", 120)  # ~2 rows / chunk
    chunked = validate(adata).to_dict()
    assert chunked == whole
    adata.X = adata.X.toarray()
    assert validate(adata).to_dict() == whole


def test_path_h5ad_backed_and_truncated(tmp_path):
    path = tmp_path / "x.h5ad"
    _set(_good(), 0, 0, np.nan).write_h5ad(path)
    report = validate(path)
    assert report.source == str(path) and _codes(report) == ["nan"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    broken = validate(path)
    assert not broken.ok and _codes(broken) == ["unreadable"]
    assert "truncated" in broken.errors[0].message and "x.h5ad" in broken.errors[0].message
    with pytest.raises(ValidationError, match="truncated"):
        broken.raise_if_failed()


def test_empty_matrix():
    report = validate(ad.AnnData(np.zeros((0, 3), dtype=np.float32)))
    assert _codes(report) == ["no_data"]


def test_report_text_and_json():
    report = validate(_set(_good(), 0, 0, np.nan))
    text = str(report)
    assert text.startswith("INVALID: 30 cells x 12 genes") and "[nan]" in text
    assert '"code": "nan"' in report.to_json()
