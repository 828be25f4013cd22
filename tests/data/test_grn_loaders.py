"""BEELINE and DREAM4 loaders on the real reference data, plus small synthetic edge files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from virtualcell._errors import DataFormatError
from virtualcell.data import read, read_beeline, read_dream4, read_network


def _beeline_folders(root: Path) -> list[Path]:
    base = root / "grn" / "beeline"
    folders = sorted(base.glob("curated/*")) + sorted(base.glob("synthetic/*"))
    return folders + sorted(p.parent for p in base.glob("real/*/*/ExpressionData.csv"))


def _dream4_folders(root: Path) -> list[Path]:
    return sorted((root / "grn" / "dream4").glob("DREAM4_InSilico_Size*/insilico_size*"))


def _rows(path: Path) -> list[list[str]]:
    with open(path) as fh:
        return [row for row in csv.reader(fh, delimiter="\t" if path.suffix == ".tsv" else ",")]


def test_every_beeline_folder(shared_data):
    folders = _beeline_folders(shared_data)
    assert len(folders) >= 11
    for folder in folders:
        adata = read(folder)
        expression = _rows(folder / "ExpressionData.csv")
        genes, cells = [r[0] for r in expression[1:]], expression[0][1:]
        assert adata.shape == (len(cells), len(genes)), folder.name
        assert list(adata.var_names) == genes and list(adata.obs_names) == cells
        # a value, transposed: gene 0 / cell 5
        assert adata.X[5, 0] == pytest.approx(float(expression[1][6]))
        edges = _rows(folder / "refNetwork.csv")[1:]
        net = adata.uns["true_network"]
        assert list(net.columns[:3]) == ["regulator", "target", "sign"]
        assert len(net) == len(edges), folder.name
        expected_sign = [{"+": 1, "-": -1}.get(e[2], 0) if len(e) > 2 else 0 for e in edges]
        assert net["sign"].tolist() == expected_sign
        pseudo = [c for c in adata.obs.columns if c.startswith(("PseudoTime", "Time"))]
        assert pseudo, folder.name
        # every cell sits on at least one lineage
        assert adata.obs[pseudo].notna().any(axis=1).all(), folder.name
        assert adata.uns["vc"]["source"]["format"] == "beeline"


def test_beeline_curated_hsc_details(shared_data):
    adata = read_beeline(shared_data / "grn/beeline/curated/HSC_2000_0")
    assert adata.shape == (2000, 11)
    assert [c for c in adata.obs.columns] == [f"PseudoTime{i}" for i in range(1, 5)]
    net = adata.uns["true_network"]
    first = net.iloc[0]
    assert (first.regulator, first.target, first.sign) == ("Pu1", "cJun", 1)
    assert (net.iloc[1].regulator, net.iloc[1].sign) == ("Gfi1", -1)
    # HSC cell E2_2_003 lies on lineage 1 only, at pseudotime 80.289
    row = adata.obs.loc["E2_2_003"]
    assert row["PseudoTime1"] == pytest.approx(80.2890093593064)
    assert row[["PseudoTime2", "PseudoTime3", "PseudoTime4"]].isna().all()


def test_beeline_mef_network_variants(shared_data):
    folder = shared_data / "grn/beeline/real/mouse/mEF"
    default = read_beeline(folder)
    assert default.uns["true_network"].shape[0] == 666
    assert "refNetwork-string-700.csv" in default.uns["beeline"]["networks_available"]
    string = read_beeline(folder, network="refNetwork-string-700.csv")
    net = string.uns["true_network"]
    assert len(net) == 68 and (net["sign"] == 0).all()
    assert net["score"].min() >= 0.7
    with pytest.raises(DataFormatError, match="no network file"):
        read_beeline(folder, network="refNetwork-missing.csv")


def test_every_dream4_folder(shared_data):
    folders = _dream4_folders(shared_data)
    assert len(folders) >= 8
    gold_dir = shared_data / "grn/dream4/gold"
    for folder in folders:
        adata = read(folder)
        size = int(folder.name.split("size")[1].split("_")[0])
        number = folder.name.rsplit("_", 1)[1]
        counts = adata.obs["experiment"].value_counts()
        assert adata.n_vars == size and list(adata.var_names) == [
            f"G{i}" for i in range(1, size + 1)
        ]
        assert counts["wildtype"] == 1 and counts["knockout"] == size
        assert counts["knockdown"] == size
        ts_rows = sum(
            1 for r in _rows(next(folder.glob("*_timeseries.tsv")))[1:] if r and r[0].strip()
        )
        assert counts["timeseries"] == ts_rows
        has_multi = any(folder.glob("*_multifactorial.tsv"))
        assert counts["multifactorial"] == (size if has_multi else 0)
        pairs = _rows(next(folder.glob("*_dualknockouts_indexes.tsv")))[1:]
        assert counts["dual_knockout"] == len(pairs)
        assert adata.n_obs == int(counts.sum())
        gold = gold_dir / f"DREAM4_GoldStandard_InSilico_Size{size}_{number}.tsv"
        n_edges = sum(1 for r in _rows(gold) if r and r[2] == "1")
        assert len(adata.uns["true_network"]) == n_edges


def test_dream4_labels_and_values(shared_data):
    folder = shared_data / "grn/dream4/DREAM4_InSilico_Size10/insilico_size10_1"
    adata = read_dream4(folder)
    obs = adata.obs
    ko3 = obs.index.get_loc("knockout_G3")
    assert obs.iloc[ko3][["perturbation", "perturbation_type"]].tolist() == ["G3", "knockout"]
    assert adata.X[ko3, 2] == 0.0  # the knocked-out gene is at zero
    knockouts = pd.read_csv(next(folder.glob("*_knockouts.tsv")), sep="\t")
    np.testing.assert_allclose(adata[obs["experiment"] == "knockout"].X, knockouts.to_numpy())
    assert set(obs.loc[obs["experiment"].isin(["wildtype", "multifactorial", "timeseries"]),
                       "perturbation"]) == {"control"}  # fmt: skip
    ts = obs[obs["experiment"] == "timeseries"]
    assert sorted(ts["timeseries"].unique()) == [1, 2, 3, 4, 5]
    assert (
        ts["time"].min() == 0 and ts["time"].max() == 1000 and (ts["timeseries"] == 1).sum() == 21
    )
    # first dual-knockout pair of network 1 is genes 7 and 10 -> sorted label "G10+G7"
    dual = obs[obs["experiment"] == "dual_knockout"]
    assert dual["perturbation"].iloc[0] == "G10+G7" and dual["noise_free"].all()
    assert (adata[dual.index].X[0, [6, 9]] == 0).all()
    only = read_dream4(folder, experiments=("wildtype", "knockdown"))
    assert only.n_obs == 11 and set(only.obs["experiment"]) == {"wildtype", "knockdown"}
    with pytest.raises(DataFormatError, match="unknown DREAM4 experiment"):
        read_dream4(folder, experiments=("overexpression",))


def test_dream4_gold_with_negatives(shared_data):
    gold = shared_data / "grn/dream4/gold/DREAM4_GoldStandard_InSilico_Size10_1.tsv"
    full = read_network(gold, include_negatives=True)
    assert len(full) == 90 and full["label"].sum() == 15
    edges = read_network(gold)
    assert len(edges) == 15 and "label" not in edges.columns
    assert (edges.iloc[0].regulator, edges.iloc[0].target) == ("G1", "G2")


def test_read_network_small_files(tmp_path):
    beeline = tmp_path / "refNetwork.csv"
    beeline.write_text("Gene1,Gene2,Type\nA,B,+\nB,C,-\nC,A,+\n")
    net = read_network(beeline)
    assert net.to_dict("list") == {
        "regulator": ["A", "B", "C"], "target": ["B", "C", "A"], "sign": [1, -1, 1]
    }  # fmt: skip
    assert net["sign"].dtype == np.int8
    gold = tmp_path / "gold.tsv"
    gold.write_text("G1\tG2\t1\nG2\tG1\t0\nG1\tG3\t1\n")
    assert read_network(gold)[["regulator", "target"]].values.tolist() == [
        ["G1", "G2"],
        ["G1", "G3"],
    ]
    bad = tmp_path / "bad.tsv"
    bad.write_text("G1\tG2\tyes\n")
    with pytest.raises(DataFormatError, match="1 \\(edge\\) or 0"):
        read_network(bad)
    typed = tmp_path / "typed.csv"
    typed.write_text("Gene1,Gene2,Type\nA,B,sideways\n")
    with pytest.raises(
        DataFormatError, match=r"Type column: unknown sign value\(s\) \['sideways'\]"
    ):
        read_network(typed)


def test_small_synthetic_dream4_folder(tmp_path):
    folder = tmp_path / "insilico_size3_1"
    folder.mkdir()
    header = '"G1"\t"G2"\t"G3"\n'
    (folder / "insilico_size3_1_wildtype.tsv").write_text(header + "0.5\t0.4\t0.3\n")
    (folder / "insilico_size3_1_knockouts.tsv").write_text(
        header + "0\t0.4\t0.3\n0.5\t0\t0.3\n0.5\t0.4\t0\n"
    )
    (folder / "insilico_size3_1_timeseries.tsv").write_text(
        '"Time"\t' + header + "\n0.0\t1\t1\t1\n50.0\t2\t2\t2\n\n0.0\t3\t3\t3\n50.0\t4\t4\t4\n"
    )
    (folder / "insilico_size3_1_dualknockouts_indexes.tsv").write_text('"G_i"\t"G_j"\n3\t1\n')
    (folder / "insilico_size3_1_nonoise_dualknockouts.tsv").write_text("0\t0.2\t0\n")
    (folder / "DREAM4_GoldStandard_InSilico_Size3_1.tsv").write_text("G1\tG2\t1\nG2\tG3\t0\n")
    adata = read(folder)
    assert adata.obs["experiment"].tolist() == ["wildtype"] + ["knockout"] * 3 + [
        "timeseries"
    ] * 4 + ["dual_knockout"]
    assert adata.obs["perturbation"].tolist()[-1] == "G1+G3"
    assert adata.obs["timeseries"].tolist()[4:8] == [1, 1, 2, 2]
    np.testing.assert_array_equal(adata.X[7], [4, 4, 4])
    assert adata.uns["true_network"][["regulator", "target"]].values.tolist() == [["G1", "G2"]]
    (folder / "insilico_size3_1_knockouts.tsv").write_text(header + "0\t0.4\t0.3\n")
    with pytest.raises(DataFormatError, match="1 rows, expected one per gene"):
        read(folder)
