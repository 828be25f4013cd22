"""vcell annotate / integrate / cluster, and the vc.pl figures."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

import virtualcell as vc
from virtualcell.cli import main


@pytest.fixture
def h5ad(typed_cells, tmp_path):
    path = tmp_path / "cells.h5ad"
    typed_cells.write_h5ad(path)
    return path


def test_annotate_cli_json_and_output(h5ad, tmp_path, capsys):
    out = tmp_path / "annotated.h5ad"
    code = main(
        [
            "annotate",
            str(h5ad),
            str(h5ad),
            "--label-key",
            "cell_type",
            "--method",
            "knn",
            "--query-fraction",
            "0.25",
            "--seed",
            "3",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)  # --json alone on stdout
    assert {"method", "accuracy", "macro_f1", "ece"} <= set(result)
    assert result["method"] == "knn" and result["accuracy"] > 0.9
    q = ad.read_h5ad(out)
    assert q.n_obs == 60
    assert {"vc_label", "vc_confidence", "vc_unknown_score"} <= set(q.obs)
    split = q.uns["vc"]["annotate"]["split"]
    assert split["seed"] == 3 and split["query_fraction"] == 0.25
    assert set(split["obs_names"][np.asarray(split["assignment"]) == "test"]) == set(q.obs_names)


def test_annotate_cli_two_files_and_baseline(typed_cells, tmp_path, capsys):
    ref, qry = tmp_path / "ref.h5ad", tmp_path / "qry.h5ad"
    typed_cells[:180].copy().write_h5ad(ref)
    typed_cells[180:].copy().write_h5ad(qry)
    assert (
        main(
            [
                "annotate",
                str(ref),
                str(qry),
                "--label-key",
                "cell_type",
                "--method",
                "l1_logreg",
                "--seed",
                "0",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "l1_logreg" and result["n_query"] == 60  # the query file
    assert result["n_reference_fit"] + result["n_calibration"] == 180  # the reference file
    # the baseline really classifies (4 separable types): far above always-the-majority
    assert result["accuracy"] > 0.9 and result["macro_f1"] > 0.9 > result["majority_macro_f1"]


def test_list_methods_marks_baselines(capsys):
    assert main(["annotate", "--list-methods", "--json"]) == 0
    rows = {r["name"]: r["baseline"] for r in json.loads(capsys.readouterr().out)}
    assert rows["l1_logreg"] and rows["celltypist"] and not rows["knn"]
    assert main(["annotate", "--list-methods"]) == 0
    assert "[baseline]" in capsys.readouterr().out


def test_annotate_cli_errors_are_one_line(h5ad, capsys):
    code = main(["annotate", str(h5ad), "--label-key", "nope", "--query-fraction", "0.3"])
    err = capsys.readouterr().err
    assert code == 2 and "label_key 'nope'" in err and "Traceback" not in err
    code = main(
        [
            "annotate",
            str(h5ad),
            str(h5ad),
            "--label-key",
            "cell_type",
            "--method",
            "zzz",
            "--query-fraction",
            "0.3",
        ]
    )
    assert code == 2 and "unknown annotation method" in capsys.readouterr().err


def test_integrate_and_cluster_cli(typed_cells, tmp_path, capsys):
    path = tmp_path / "b.h5ad"
    typed_cells.write_h5ad(path)
    assert (
        main(
            [
                "integrate",
                str(path),
                "--batch-key",
                "batch",
                "--method",
                "center",
                "--label-key",
                "cell_type",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["method"] == "center" and {"ilisi", "kbet", "nmi"} <= set(res["before"])
    assert res["after"] != res["before"]  # the integration changed the representation
    for scores in (res["before"], res["after"]):  # scib's overall: 0.6 bio + 0.4 batch
        assert scores["overall"] == pytest.approx(0.6 * scores["bio"] + 0.4 * scores["batch"])
    out = tmp_path / "c.h5ad"
    assert (
        main(
            [
                "cluster",
                str(path),
                "--resolutions",
                "0.2,0.8",
                "--label-key",
                "cell_type",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert len(res["sweep"]) == 2 and res["nmi"] > 0.9
    assert "vc_cluster" in ad.read_h5ad(out).obs


def test_figures(typed_cells, tmp_path):
    res = vc.represent.annotate(typed_cells, label_key="cell_type", query_fraction=0.3)
    q = res.query
    q.obsm["X_umap"] = np.random.default_rng(0).normal(size=(q.n_obs, 2))
    figs = {
        "emb.png": vc.pl.annotation_embedding(q, color=["cell_type", "vc_label", "vc_confidence"]),
        "cm.png": vc.pl.confusion_matrix(q, label_key="cell_type"),
        "f1.png": vc.pl.per_class_f1(q, label_key="cell_type"),
        "rel.png": vc.pl.reliability_diagram(q, label_key="cell_type"),
    }
    # the figures draw the numbers of the labels they are given (two type0 cells called type1)
    from sklearn.metrics import confusion_matrix, f1_score

    truth, called = q.obs["cell_type"].astype(str), q.obs["vc_label"].astype(str).copy()
    called.iloc[np.flatnonzero(truth == "type0")[:2]] = "type1"
    q.obs["vc_label"] = called.to_numpy()
    types = sorted(set(truth))
    cm = confusion_matrix(truth, called, labels=types, normalize="true")
    shown = vc.pl.confusion_matrix(q, label_key="cell_type").axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown), cm)
    bars = vc.pl.per_class_f1(q, label_key="cell_type").axes[0].patches
    f1 = f1_score(truth, called, labels=types, average=None)
    np.testing.assert_allclose(sorted(b.get_height() for b in bars), sorted(f1))
    assert min(f1) < 1.0
    panels = figs["emb.png"].axes[:3]  # one panel per colour (and a colour bar)
    assert [sum(len(c.get_offsets()) for c in ax.collections) for ax in panels] == [q.n_obs] * 3
    vc.pl.reliability_diagram(q, label_key="cell_type", path=tmp_path / "rel.png")
    assert (tmp_path / "rel.png").stat().st_size > 1000
    labels = [t.get_text() for t in figs["rel.png"].axes[0].get_legend().get_texts()]
    assert any("uncalibrated (ECE" in t for t in labels)
    import pandas as pd

    table = pd.DataFrame({"ilisi": [0.1, 0.8], "nmi": [0.9, 0.85]}, index=["before", "after"])
    fig = vc.pl.integration_scores(table)
    assert len(fig.axes[0].patches) == 4
    with pytest.raises(vc.ValidationError, match="X_umap"):
        vc.pl.annotation_embedding(typed_cells)
