"""``vcell data validate`` / ``vcell data info`` through ``virtualcell.cli.main``."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from virtualcell.cli import main


def _write(path: Path, X: np.ndarray, genes: list[str] | None = None, **obs) -> Path:
    n_cells, n_genes = X.shape
    adata = ad.AnnData(
        X=X.astype(np.float32),
        obs=pd.DataFrame(obs, index=[f"cell{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=genes or [f"GENE{j}" for j in range(n_genes)]),
    )
    adata.write_h5ad(path)
    return path


def _counts() -> np.ndarray:
    return np.random.default_rng(1).poisson(4.0, size=(20, 6)).astype(np.float32) + 1


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["data", *args])
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip().splitlines()


def test_valid_file_exits_zero_and_is_untouched(tmp_path, capsys):
    path = _write(tmp_path / "good.h5ad", _counts())
    digest = _sha(path)
    code, lines = _run(capsys, "validate", str(path))
    assert code == 0
    assert lines[0].startswith(f"valid: {path}: 20 cells x 6 genes")
    assert _sha(path) == digest


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, list[str], str]]:
    """name -> (path, extra args, expected text of the first line)."""
    X = _counts()
    nan = X.copy()
    nan[3, 2] = np.nan
    neg = X.copy()
    neg[5, 1] = -2
    frac = X.copy()
    frac[6, 0] = 0.5
    empty = X.copy()
    empty[7] = 0
    truncated = _write(tmp_path / "cut.h5ad", X)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    bad_gz = tmp_path / "table.csv.gz"
    bad_gz.write_bytes(gzip.compress(b",c1,c2\nA,1,2\n")[:-10])
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("TP53\nKLF1\nGATA1\n")
    return {
        "nan": (_write(tmp_path / "nan.h5ad", nan), [], "1 NaN value in 1 cell (cell3: 1)"),
        "negative": (_write(tmp_path / "neg.h5ad", neg), ["--counts"], "negative value"),
        "fraction": (_write(tmp_path / "frac.h5ad", frac), [], "non-integer value"),
        "empty_cell": (_write(tmp_path / "empty.h5ad", empty), [], "cells are zero in every gene: cell7"),
        "duplicates": (
            _write(tmp_path / "dup.h5ad", X, genes=["A", "B", "A", "C", "D", "E"]),
            [], "gene names occur more than once: A (x2)",
        ),
        "vocabulary": (
            _write(tmp_path / "voc.h5ad", X), ["--vocabulary", str(vocab)], "only 0 of 6 genes",
        ),
        "labels": (
            _write(tmp_path / "lab.h5ad", X, perturbation=["control"] * 19 + ["A+"]),
            [], "empty part",
        ),
        "truncated": (truncated, [], "the file is truncated"),
        "bad_gzip": (bad_gz, [], "table.csv.gz"),
    }  # fmt: skip


def test_bad_inputs_exit_one_with_first_line_naming_problem(tmp_path, capsys):
    cases = _bad_inputs(tmp_path)
    assert len(cases) >= 6
    for name, (path, extra, expected) in cases.items():
        digest = _sha(path)
        code, lines = _run(capsys, "validate", str(path), *extra)
        assert code == 1, (name, lines)
        assert lines[0].startswith(f"invalid: {path}: "), (name, lines[0])
        assert expected in lines[0], (name, lines[0])
        assert _sha(path) == digest, name


def test_no_counts_flag_accepts_negative_values(tmp_path, capsys):
    X = _counts()
    X[5, 1] = -2
    path = _write(tmp_path / "scaled.h5ad", X)
    assert _run(capsys, "validate", str(path), "--no-counts")[0] == 0


def test_json_output(tmp_path, capsys):
    X = _counts()
    X[0, 0] = np.inf
    path = _write(tmp_path / "inf.h5ad", X)
    code = main(["data", "validate", str(path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    assert report["problems"][0]["code"] == "inf" and report["summary"]["n_cells"] == 20


def test_unknown_name_exits_two(capsys):
    code, lines = _run(capsys, "validate", "no_such_dataset_xyz")
    error = [line for line in lines if line.startswith("Error:")]
    assert code == 2 and len(error) == 1 and "'no_such_dataset_xyz' is neither" in error[0]


def test_info(tmp_path, capsys):
    path = _write(tmp_path / "good.h5ad", _counts(), batch=["a", "b"] * 10)
    code, lines = _run(capsys, "info", str(path))
    assert code == 0
    assert lines[0] == f"{path}: 20 cells x 6 genes (dense float32)"
    assert any(line.startswith("obs: batch [") and "2 values" in line for line in lines)


@pytest.mark.usefixtures("shared_data")
def test_validate_reference_folders(shared_data, capsys):
    for folder in (
        shared_data / "grn/beeline/curated/HSC_2000_0",
        shared_data / "grn/dream4/DREAM4_InSilico_Size10/insilico_size10_1",
    ):
        code, lines = _run(capsys, "validate", str(folder))
        assert code == 0 and lines[0].startswith("valid:"), lines


def test_missing_path_exits_two(tmp_path, capsys):
    code, lines = _run(capsys, "validate", str(tmp_path / "absent.h5ad"))
    error = [line for line in lines if line.startswith("Error:")]
    assert code == 2 and len(error) == 1 and "absent.h5ad does not exist" in error[0]
    assert not any("Traceback" in line for line in lines)
