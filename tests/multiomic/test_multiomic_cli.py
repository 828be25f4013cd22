"""``vcell multiomic embed|impute --json``, the bench task and the agent tools."""

from __future__ import annotations

import json

import numpy as np
import pytest

import virtualcell as vc
from virtualcell.cli import main


@pytest.fixture
def h5mu(mdata, tmp_path):
    return vc.data.write_h5mu(mdata, tmp_path / "cells.h5mu")


def test_embed_json_is_the_interface(h5mu, capsys):
    args = ["multiomic", "embed", str(h5mu), "--modalities", "rna,protein", "--json",
            "--methods", "rna_pca,protein_pca,concat_pca,wnn", "--n-comps", "5"]  # fmt: skip
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["metric", "higher_is_better", "results"]
    assert out["metric"] == "avg_bio" and out["higher_is_better"] is True
    assert [r["method"] for r in out["results"]] == ["rna_pca", "protein_pca", "concat_pca", "wnn"]
    assert [r["baseline"] for r in out["results"]] == [True, True, True, False]
    for r in out["results"]:
        assert list(r) == ["method", "baseline", "score"] and 0 < r["score"] <= 1


def test_impute_json(h5mu, capsys):
    assert main(["multiomic", "impute", str(h5mu), "--json", "--seeds", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "protein_pearson" and out["higher_is_better"] is True
    assert {r["method"] for r in out["results"]} == {"mean", "own_mrna", "knn", "ridge"}


def test_sim_preset_multiomic(tmp_path, capsys):
    out = tmp_path / "x.h5mu"
    args = ["sim", "--preset", "multiomic", "--genes", "30", "--cells", "120", "--cell-types",
            "3", "--method", "fast", "--seed", "2", "--out", str(out), "--json"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_cells"] == 120 and summary["n_genes"] == 30
    assert summary["n_cell_types"] == 3 and summary["n_hidden_in_rna"] == 1
    back = vc.data.read_h5mu(out, modalities=["rna", "protein", "atac"])
    assert back.obs["cell_type"].nunique() == 3
    assert main(["sim", "--preset", "multiomic", "--out", str(tmp_path / "x.h5ad")]) == 2
    assert "--preset multiomic writes .h5mu files" in capsys.readouterr().err


def test_cli_errors_are_one_line(h5mu, mdata, tmp_path, capsys):
    assert main(["multiomic", "embed", str(h5mu), "--modalities", "rna,adt"]) == 2
    err = capsys.readouterr().err
    assert "modality 'adt' is not in the data" in err and "Traceback" not in err
    h5ad = tmp_path / "rna.h5ad"
    mdata["rna"].write_h5ad(h5ad)
    assert main(["multiomic", "embed", str(h5ad)]) == 2
    assert "is not a MuData file" in capsys.readouterr().err
    assert main(["multiomic", "embed", str(h5mu), "--label-key", "kind"]) == 2
    assert "no obs column 'kind'" in capsys.readouterr().err


def test_bench_task(small_mdata):
    from virtualcell.bench import TASKS, RunContext
    from virtualcell.bench._multiomic import Paired

    task = TASKS.get("multiomic_embed")
    assert task.primary.name == "avg_bio"
    names = {m.name: m.baseline for m in task.methods()}
    vae = next(m for m in task.methods() if m.name == "joint_vae")
    assert vae.options_for("quick") == {"n_steps": 300} and vae.options_for("full") == {}
    assert names["concat_pca"] and names["rna_pca"] and not names["wnn"]
    quick = [d for d in task.datasets("quick", None) if "quick" in d.presets]
    assert [d.name for d in quick] == ["sim_multiome_small"]
    assert quick[0].splits == ("rna+protein", "rna+atac")
    data = Paired(small_mdata, "cell_type")
    assert task.applicable(data, "rna+atac", "protein_pca") is not None
    assert task.applicable(data, "rna+protein", "wnn") is None
    rows = task.run(data, split="rna+protein", method="concat_pca", seed=0, options={},
                    context=RunContext())  # fmt: skip
    assert [r["metric"] for r in rows] == ["avg_bio", "nmi", "ari", "asw", "foscttm",
                                           "modality_asw"]  # fmt: skip
    want = vc.multiomic.evaluate_embedding(
        small_mdata, methods=["concat_pca"], modalities=["rna", "protein"], seeds=[0]
    )
    assert rows[0]["value"] == pytest.approx(want.value("concat_pca", "avg_bio"))
    assert rows[4]["value"] == pytest.approx(want.value("concat_pca", "foscttm"))
    # wnn has no per-modality embedding: its mixing is NaN (shown as not applicable)
    rows = task.run(data, split="rna+protein", method="wnn", seed=0, options={},
                    context=RunContext())  # fmt: skip
    assert np.isnan(rows[4]["value"]) and np.isnan(rows[5]["value"])
    assert np.isfinite(rows[0]["value"])


def test_bench_impute_task(small_mdata):
    from virtualcell.bench import TASKS, RunContext
    from virtualcell.bench._multiomic import Paired

    task = TASKS.get("multiomic_impute")
    assert task.primary.name == "protein_pearson"
    names = {m.name: m.baseline for m in task.methods()}
    assert names == {"mean": True, "own_mrna": True, "knn": False, "ridge": False}
    quick = [d for d in task.datasets("quick", None) if "quick" in d.presets]
    assert [d.name for d in quick] == ["sim_multiome_small"]
    assert quick[0].splits == ("random_0.3",)
    data = Paired(small_mdata, "cell_type")
    assert task.applicable(data, "random_0.3", "ridge") is None
    rows = task.run(data, split="random_0.3", method="ridge", seed=1, options={},
                    context=RunContext())  # fmt: skip
    want = vc.multiomic.evaluate_imputation(small_mdata, methods=["ridge"], seeds=[1])
    assert [r["metric"] for r in rows] == ["protein_pearson", "protein_rmse"]
    assert rows[0]["value"] == pytest.approx(want.value("ridge", "protein_pearson"))
    assert rows[1]["value"] == pytest.approx(want.value("ridge", "protein_rmse"))


def test_agent_tools(h5mu):
    from virtualcell.agent._workspace import Workspace

    names = ["read_h5mu", "evaluate_multiomic_embedding", "evaluate_protein_imputation"]
    assert set(names) <= set(vc.agent.tools.names())
    assert not set(names) & set(vc.agent.Toolbox().names())  # offered only when named
    tb = vc.agent.Toolbox(Workspace(root=h5mu.parent), names=names)
    read = tb.call("read_h5mu", {"path": h5mu.name})
    assert read.ok and "MuData 240 cells; modalities: rna (30 features)" in read.observation
    handle = read.observation.split(" = ")[0]
    call = tb.call(
        "evaluate_multiomic_embedding",
        {"mdata": handle, "modalities": ["rna", "protein"], "methods": ["rna_pca", "wnn"]},
    )
    assert call.ok and "best_method: wnn" in call.observation
    assert "best_baseline: rna_pca" in call.observation
