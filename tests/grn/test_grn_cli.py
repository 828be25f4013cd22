"""``vcell grn`` on a tiny BEELINE-format folder and on one real BEELINE folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from virtualcell.cli import main


@pytest.fixture
def beeline_folder(tmp_path, make_linear_net):
    X, truth, _ = make_linear_net(n_genes=8, n_cells=150, seed=2)
    folder = tmp_path / "TINY_150_0"
    folder.mkdir()
    cells = [f"E{i}" for i in range(len(X))]
    expr = X.T.copy()
    expr.columns = cells
    expr.to_csv(folder / "ExpressionData.csv")
    ref = truth.rename(columns={"regulator": "Gene1", "target": "Gene2"})
    ref["Type"] = np.where(ref.pop("sign") > 0, "+", "-")
    ref.to_csv(folder / "refNetwork.csv", index=False)
    pd.DataFrame({"PseudoTime": np.linspace(0, 1, len(cells))}, index=cells).to_csv(
        folder / "PseudoTime.csv"
    )
    return folder


def _json_out(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_cli_json_with_truth_file(beeline_folder, tmp_path, capsys):
    out_file = tmp_path / "edges.csv"
    res = _json_out(
        capsys,
        ["grn", str(beeline_folder), "--method", "pearson", "--truth",
         str(beeline_folder / "refNetwork.csv"), "--out", str(out_file), "--json"],
    )  # fmt: skip
    for key in ("auprc", "auroc", "auprc_ratio", "epr", "signed_accuracy"):
        assert isinstance(res[key], float), key
    assert res["auprc_ratio"] > 1.3 and res["n_true_edges"] == 10
    edges = pd.read_csv(out_file)
    assert list(edges.columns) == ["regulator", "target", "score", "sign"]
    assert len(edges) == 8 * 7 == res["n_edges"]


def test_cli_scores_against_uns_truth(beeline_folder, tmp_path, capsys):
    res = _json_out(capsys, ["grn", str(beeline_folder), "--method", "spearman", "--json"])
    assert res["truth"].startswith("uns") and "epr" in res
    assert main(["grn", str(beeline_folder), "--method", "spearman"]) == 0
    captured = capsys.readouterr()
    assert "scoring against uns['true_network']" in captured.err
    assert "auprc_ratio" in captured.out


def test_cli_regulators_and_parquet(beeline_folder, tmp_path, capsys):
    (tmp_path / "tfs.txt").write_text("g0\ng1\ng2\n")
    out_file = tmp_path / "e.parquet"
    res = _json_out(
        capsys,
        ["grn", str(beeline_folder), "-m", "pearson", "--regulators", str(tmp_path / "tfs.txt"),
         "--out", str(out_file), "--json"],
    )  # fmt: skip
    assert res["n_edges"] == 3 * 7
    assert set(pd.read_parquet(out_file)["regulator"]) == {"g0", "g1", "g2"}


def test_cli_list_methods_and_errors(beeline_folder, capsys):
    assert main(["grn", "--list-methods"]) == 0
    out = capsys.readouterr().out
    for name in ("pearson", "pidc", "genie3", "grnboost2", "perturbation"):
        assert name in out
    assert main(["grn", str(beeline_folder), "--method", "nope"]) == 2
    assert "unknown GRN method" in capsys.readouterr().err
    assert main(["grn", str(beeline_folder), "--out", "x.xlsx"]) == 2
    assert "the format follows the suffix" in capsys.readouterr().err


def test_cli_attention_json_is_alone_on_stdout(beeline_folder, capsys, monkeypatch):
    from virtualcell import settings

    monkeypatch.setattr(settings, "verbosity", 1)  # progress on, as for a user
    monkeypatch.setattr(settings, "progress_interval_s", 0.0)  # a line per update
    argv = ["grn", str(beeline_folder), "--method", "attention", "--json"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    res = json.loads(captured.out)  # nothing but the JSON object on stdout
    assert res["method"] == "attention" and res["n_edges"] == 8 * 7
    assert "train:" in captured.err  # the self-pretraining progress went to stderr


def test_cli_real_beeline_folder(shared_data, capsys):
    folder = shared_data / "grn" / "beeline" / "curated" / "VSC_2000_0"
    if not folder.is_dir():
        pytest.skip("BEELINE VSC not in the reference data")
    res = _json_out(
        capsys,
        [
            "grn",
            str(folder),
            "--method",
            "pearson",
            "--truth",
            str(folder / "refNetwork.csv"),
            "--json",
        ],
    )
    assert res["n_true_edges"] == 15
    # recorded value for Pearson on VSC (BEELINE universe, average precision)
    assert res["auprc_ratio"] == pytest.approx(2.23, abs=0.01)
    # EPR = early precision / edge density of the truth in the candidate universe
    assert res["density"] == pytest.approx(15 / 56)
    assert res["epr"] == pytest.approx(res["early_precision"] / res["density"])
    assert res["epr"] == pytest.approx(1.63, abs=0.01)
