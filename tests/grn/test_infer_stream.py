"""The public entry points stream a file for ``primed``: ``vc.grn.infer(path or backed
AnnData, method="primed")`` and ``vcell grn FILE --method primed``."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from test_primed_stream import PRIOR, REGS, perturbed_cells

import virtualcell as vc
from virtualcell import ValidationError
from virtualcell.cli import main
from virtualcell.grn import _infer, _stream_stats

KW = dict(prior=PRIOR, groupby="time", reference="control")


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    return perturbed_cells(tmp_path_factory.mktemp("infer_stream"), seed=5, label_seed=2)


def _same_edges(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b) and list(a.columns) == list(b.columns)
    m = a.merge(b, on=["regulator", "target"], suffixes=("_a", "_b"), validate="1:1")
    assert len(m) == len(a)
    assert np.abs(m["score_a"] - m["score_b"]).max() <= 1e-8
    assert (m["sign_a"] == m["sign_b"]).all()


@pytest.fixture
def no_whole_read(monkeypatch):
    """Fail if the matrix is read whole: every read the stream makes is recorded (at most
    ``chunk_cells`` rows) and reading the file into memory raises."""
    reads: list[int] = []
    rows = _stream_stats._rows

    def chunk(matrix, start, stop):
        reads.append(stop - start)
        return rows(matrix, start, stop)

    def whole(*args, **kwargs):
        raise AssertionError("the file was read whole")

    monkeypatch.setattr(_stream_stats, "_rows", chunk)
    monkeypatch.setattr(ad, "read_h5ad", whole)
    monkeypatch.setattr(ad, "read_zarr", whole)
    monkeypatch.setattr("virtualcell.grn._io.load_dataset", whole)
    return reads


def test_infer_streams_a_path_and_equals_the_in_memory_table(cells, no_whole_read):
    a, folder = cells
    memory = vc.grn.infer(a, method="primed", regulators=REGS, **KW)
    assert list(memory.columns) == ["regulator", "target", "score", "sign"]
    assert len(memory) == len(REGS) * (a.n_vars - 1)
    streamed = vc.grn.infer(str(folder / "cells.h5ad"), method="primed", regulators=REGS,
                            chunk_cells=50, **KW)  # fmt: skip
    _same_edges(memory, streamed)
    assert no_whole_read and max(no_whole_read) <= 50
    # the same network as fit_primed_network on the dense matrix
    genes = list(a.var_names)
    net = vc.grn.fit_primed_network(
        a.X.toarray(), genes, prior=PRIOR, regulators=[genes.index(r) for r in REGS],
        groups=a.obs["time"].to_numpy(), reference=a.obs["control"].to_numpy(),
    )  # fmt: skip
    w = net.full()
    ri, ti = (
        [genes.index(g) for g in streamed["regulator"]],
        [genes.index(g) for g in streamed["target"]],
    )
    np.testing.assert_allclose(streamed["score"], np.abs(w[ri, ti]), atol=1e-8, rtol=0)


def test_infer_streams_zarr_and_a_backed_anndata(cells, monkeypatch):
    a, folder = cells
    memory = vc.grn.infer(a, method="primed", regulators=REGS, perturbed="perturbation",
                          **KW)  # fmt: skip
    backed = ad.read_h5ad(folder / "cells.h5ad", backed="r")
    reads: list[int] = []
    rows = _stream_stats._rows
    monkeypatch.setattr(_stream_stats, "_rows",
                        lambda m, s, e: reads.append(e - s) or rows(m, s, e))  # fmt: skip
    for source in (folder / "cells.zarr", backed):
        reads.clear()
        streamed = vc.grn.infer(source, method="primed", regulators=REGS,
                                perturbed="perturbation", chunk_cells=64, **KW)  # fmt: skip
        _same_edges(memory, streamed)
        assert reads and max(reads) <= 64
    assert backed.isbacked  # left as it was
    # perturbed= changes the network (the perturbed targets lose those cells)
    plain = vc.grn.infer(a, method="primed", regulators=REGS, **KW)
    m = plain.merge(memory, on=["regulator", "target"])
    assert np.abs(m["score_x"] - m["score_y"]).max() > 1e-3


def test_reference_auto_is_the_unperturbed_cells(cells):
    a, folder = cells
    kw = dict(prior=PRIOR, groupby="time", perturbed="perturbation", regulators=REGS)
    auto = vc.grn.infer(folder / "cells.h5ad", method="primed", **kw)
    a2 = a.copy()
    a2.obs["unperturbed"] = (a.obs["perturbation"] == "control") | (
        a.obs["perturbation"] == "NOTAGENE"
    )  # a gene that is not measured perturbs nothing measured
    explicit = vc.grn.infer(a2, method="primed", reference="unperturbed", **kw)
    _same_edges(auto, explicit)
    every_cell = vc.grn.infer(a2, method="primed", reference=None, **kw)
    m = every_cell.merge(auto, on=["regulator", "target"])
    assert np.abs(m["score_x"] - m["score_y"]).max() > 1e-4  # the reference matters


def test_other_methods_read_a_small_file_and_refuse_a_large_one(cells, monkeypatch, capsys):
    a, folder = cells
    from virtualcell import settings

    monkeypatch.setattr(settings, "verbosity", 1)
    path = folder / "cells.h5ad"
    from_file = vc.grn.infer(path, method="pearson", regulators=REGS)
    pd.testing.assert_frame_equal(from_file, vc.grn.infer(a, method="pearson", regulators=REGS))
    assert "reading" in capsys.readouterr().err
    backed = ad.read_h5ad(path, backed="r")
    from_backed = vc.grn.infer(backed, method="pearson", regulators=REGS)
    pd.testing.assert_frame_equal(from_file, from_backed)
    monkeypatch.setattr(_infer, "IN_MEMORY_LIMIT_BYTES", 1000)
    with pytest.raises(ValidationError, match=r"GRN method 'pearson' needs the matrix in memory "
                       r"\(240 cells x 30 genes = .* does not stream; 'primed' streams"):  # fmt: skip
        vc.grn.infer(path, method="pearson")


def test_streamed_input_errors_name_the_problem(cells, tmp_path):
    _, folder = cells
    path = folder / "cells.h5ad"
    with pytest.raises(ValidationError, match=r"nowhere.h5ad: no such file or folder"):
        vc.grn.infer(tmp_path / "nowhere.h5ad", method="primed")
    with pytest.raises(ValidationError, match=r"none of the 2 regulators \(e.g. \['TP53', 'MYC'\]\) "
                       r"is among the var_names of .*cells.h5ad"):  # fmt: skip
        vc.grn.infer(path, method="primed", regulators=["TP53", "MYC"], prior="none")
    with pytest.raises(ValidationError, match=r"perturbed column 'guide' not in obs"):
        vc.grn.infer(path, method="primed", perturbed="guide", prior="none")
    with pytest.raises(ValidationError, match="a view of a backed AnnData would stream the whole"):
        vc.grn.infer(ad.read_h5ad(path, backed="r")[:100], method="primed", prior="none")
    with pytest.raises(ValidationError, match=r"has no option\(s\) \['chunk_cells'\]"):
        vc.grn.infer(path, method="pearson", chunk_cells=10)


def test_cli_streams_primed_with_progress_on_stderr(cells, no_whole_read, capsys, tmp_path,
                                                    monkeypatch):  # fmt: skip
    a, folder = cells
    from virtualcell import settings

    monkeypatch.setattr(settings, "verbosity", 1)
    monkeypatch.setattr(settings, "progress_interval_s", 0.0)
    (tmp_path / "tfs.txt").write_text("\n".join(REGS) + "\n")
    truth = tmp_path / "truth.csv"
    known = pd.DataFrame({"Gene1": REGS, "Gene2": [f"G{i + 8}" for i in range(8)]})
    known.to_csv(truth, index=False)
    out = tmp_path / "edges.csv"
    code = main(["grn", str(folder / "cells.h5ad"), "--method", "primed", "--regulators",
                 str(tmp_path / "tfs.txt"), "--chunk-cells", "40", "--perturbed", "perturbation",
                 "--truth", str(truth), "--out", str(out), "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    res = json.loads(captured.out)  # nothing but the JSON object on stdout
    assert res["method"] == "primed" and res["n_edges"] == len(REGS) * (a.n_vars - 1)
    assert res["auprc_ratio"] > 1.0  # G0..G7 drive G8..G15
    assert "streaming" in captured.err and "primed statistics" in captured.err
    assert no_whole_read and max(no_whole_read) <= 40
    edges = pd.read_csv(out)
    assert len(edges) == res["n_edges"]
    assert main(["grn", str(folder / "cells.h5ad"), "-m", "pearson", "--perturbed", "x"]) == 2
    assert "--perturbed is an option of --method primed" in capsys.readouterr().err


def test_cli_runs_primed_on_dask_with_the_same_edges(cells, tmp_path, capsys):
    _, folder = cells
    (tmp_path / "tfs.txt").write_text("\n".join(REGS) + "\n")
    argv = ["grn", str(folder / "cells.h5ad"), "-m", "primed", "--regulators",
            str(tmp_path / "tfs.txt"), "--chunk-cells", "60", "--perturbed", "perturbation"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "serial.csv")]) == 0
    code = main([*argv, "--dask", "local", "--n-jobs", "2", "--out", str(tmp_path / "dask.csv")])
    assert code == 0, capsys.readouterr().err
    _same_edges(pd.read_csv(tmp_path / "serial.csv"), pd.read_csv(tmp_path / "dask.csv"))
    capsys.readouterr()
    assert main(["grn", str(folder / "cells.h5ad"), "-m", "pearson", "--dask", "local"]) == 2
    assert "--dask is an option of --method primed, not 'pearson'" in capsys.readouterr().err


def test_a_path_in_another_format_is_read_whole_for_every_method(tmp_path, make_linear_net):
    x, _, _ = make_linear_net(n_genes=6, n_cells=80, seed=1)
    folder = tmp_path / "TINY_80_0"  # a BEELINE folder: genes x cells table
    folder.mkdir()
    expr = x.T.copy()
    expr.columns = [f"E{i}" for i in range(len(x))]
    expr.to_csv(folder / "ExpressionData.csv")
    loaded = vc.data.read(folder)
    for method, kw in (("pearson", {}), ("primed", {"prior": "none"})):
        from_path = vc.grn.infer(str(folder), method=method, **kw)
        pd.testing.assert_frame_equal(from_path, vc.grn.infer(loaded, method=method, **kw))


def test_infer_passes_workers_to_the_stream(cells):
    _, folder = cells
    path = folder / "cells.h5ad"
    serial = vc.grn.infer(path, method="primed", regulators=REGS, chunk_cells=60, **KW)
    on_two = vc.grn.infer(path, method="primed", regulators=REGS, chunk_cells=60, n_jobs=2, **KW)
    _same_edges(serial, on_two)


def test_cli_scores_a_streamed_file_against_its_uns_truth(cells, no_whole_read, tmp_path, capsys):
    a, _ = cells
    b = a.copy()
    b.uns["true_network"] = pd.DataFrame(
        {"regulator": REGS, "target": [f"G{i + 8}" for i in range(8)], "sign": 1}
    )
    b.write_h5ad(tmp_path / "with_truth.h5ad")
    b.write_zarr(tmp_path / "with_truth.zarr")
    for name in ("with_truth.h5ad", "with_truth.zarr"):
        code = main(["grn", str(tmp_path / name), "-m", "primed", "--chunk-cells", "100"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "scoring against uns['true_network']" in captured.err
        assert "auprc_ratio" in captured.out
    assert no_whole_read and max(no_whole_read) <= 100


def test_the_layer_is_decided_once_for_both_paths(cells, tmp_path):
    a, _ = cells
    b = a.copy()
    b.raw = a.copy()  # raw.X: the original matrix
    b.layers["squared"] = a.X.power(2)  # networks are scale-free: other matrices differ
    b.X = a.X.sqrt()
    b.write_h5ad(tmp_path / "layers.h5ad")
    backed = ad.read_h5ad(tmp_path / "layers.h5ad", backed="r")
    on_x = vc.grn.infer(b, method="primed", regulators=REGS, **KW)
    for layer in ("squared", "raw"):
        memory = vc.grn.infer(b, method="primed", regulators=REGS, layer=layer, **KW)
        m = memory.merge(on_x, on=["regulator", "target"])
        assert np.abs(m["score_x"] - m["score_y"]).max() > 1e-3  # another matrix indeed
        for source in (tmp_path / "layers.h5ad", backed):
            streamed = vc.grn.infer(source, method="primed", regulators=REGS, layer=layer,
                                    chunk_cells=70, **KW)  # fmt: skip
            _same_edges(memory, streamed)
