"""The GRN and representation adapters: their cells equal the direct library calls,
applicability, user data, and --device reaching training and inference."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell.bench import RunContext, _grn, _represent
from virtualcell.cli import main


@pytest.fixture(scope="module")
def sim20():
    ds = {d.name: d for d in _grn.datasets("quick", None)}
    return ds["sim_grn_20"].load()


def test_grn_cell_is_infer_plus_evaluate(sim20):
    rows = _grn.run(sim20, split="observational", method="pearson", seed=0, options={},
                    context=RunContext())  # fmt: skip
    ctrl = sim20.adata[sim20.adata.obs["perturbation"] == "control"]
    assert ctrl.n_obs == 60
    edges = vc.grn.infer(ctrl, method="pearson")
    direct = vc.grn.evaluate(edges, sim20.truth, genes=list(ctrl.var_names))
    assert {r["metric"]: r["value"] for r in rows} == pytest.approx(
        {k: direct[k] for k in ("auprc_ratio", "epr", "auroc", "auprc")}
    )
    assert sim20.facts["true edges"] == len(sim20.truth) > 0


def test_grn_methods_and_applicability(sim20):
    methods = {m.name: m for m in _grn.methods()}
    assert set(vc.grn.METHODS.names()) <= set(methods)
    assert {n for n, m in methods.items() if m.baseline} == set(vc.grn.METHODS.names(baseline=True))
    assert {"pearson", "spearman"} <= {n for n, m in methods.items() if m.baseline}
    assert methods["arboreto_grnboost2"].peer and methods["arboreto_grnboost2"].requires
    assert methods["genie3"].options_for("quick") == {"n_estimators": 20}
    assert _grn.applicable(sim20, "observational", "perturbation").startswith("needs perturbed")
    assert _grn.applicable(sim20, "interventional", "perturbation") is None
    assert "PseudoTime" in _grn.applicable(sim20, "interventional", "pidc_leadlag")


def test_grn_reference_datasets_are_listed_with_the_reason_when_missing(monkeypatch):
    monkeypatch.setattr(vc.settings, "data_dir", None)
    full = [d for d in _grn.datasets("full", None) if d.source == "reference"]
    assert len(full) == 4 + 6 + 1 + 1 + 5 + 3
    assert all("VIRTUALCELL_DATA" in d.unavailable for d in full)


def test_grn_user_data_through_the_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6))
    X[:, 3] = X[:, 0] * 2 + 0.1 * rng.normal(size=150)
    adata = ad.AnnData(X)
    adata.var_names = [f"g{i}" for i in range(6)]
    path = tmp_path / "mine.h5ad"
    adata.write_h5ad(path)
    truth = tmp_path / "truth.csv"
    pd.DataFrame({"Gene1": ["g0"], "Gene2": ["g3"]}).to_csv(truth, index=False)
    out = tmp_path / "out"
    args = ["bench", "--preset", "quick", "--task", "grn", "--data", str(path), "--truth",
            str(truth), "--out", str(out), "-j", "1", "--seeds", "0"]  # fmt: skip
    assert main(args) == 0
    t = vc.bench.read_results(out)
    assert set(t["dataset"]) == {"user"} and set(t["split"]) == {"all"}
    best = t[(t.metric == "auroc") & (t.method == "pearson")]["value"].item()
    # the true edge g0->g3 ranks first, tied with g3->g0 (pearson is symmetric): of 29
    # negatives 28 rank below it and one ties
    assert best == pytest.approx(28.5 / 29)
    assert main([*args[:-4], "--out", str(out), "-j", "1", "--seeds", "0",
                        "--label-key", "x"]) == 2  # fmt: skip
    assert "--label-key not used by task(s) grn" in capsys.readouterr().err


@pytest.fixture(scope="module")
def types():
    return _represent.load_sim_types()


def test_represent_cell_is_embed_plus_metrics(types):
    rows = _represent.run(types, split="all", method="pca", seed=0, options={},
                          context=RunContext(preset="quick"))  # fmt: skip
    emb = vc.models.PCAEncoder(vc.models.PCAConfig(seed=0)).fit(types.adata).embed(types.adata)
    labels = types.adata.obs["cell_type"].to_numpy()
    got = {r["metric"]: r["value"] for r in rows}
    assert got["avg_bio"] == pytest.approx(vc.metrics.avg_bio(labels, emb, seed=0))
    assert got["asw"] == pytest.approx(vc.metrics.asw(labels, emb))
    assert got["avg_bio"] > 0.5  # three well separated simulated types
    assert _represent.applicable(types, "all", "scvi") is None  # counts: scVI could run


@pytest.mark.parametrize("method", ["cellencoder", "cellencoder_untrained"])
def test_device_reaches_training_and_inference(types, monkeypatch, method):
    """--device cuda: TrainConfig.device and embed(device=) get it (checked without a GPU)."""
    seen = {}

    class FakeModel:
        network = type("N", (), {"config": None})()
        tokenizer = None

        def embed(self, adata, *, device=None, **kw):
            seen["embed"] = device
            return np.zeros((adata.n_obs, 4))

    def fake_pretrain(data, *, train_config, **kw):
        seen["train"] = train_config.device
        seen["steps"] = train_config.max_steps
        return FakeModel(), None

    monkeypatch.setattr("virtualcell.train.pretrain", fake_pretrain)
    if method == "cellencoder_untrained":
        monkeypatch.setattr("virtualcell.models.CellModel", lambda net, tok: FakeModel())
        monkeypatch.setattr("virtualcell.models.CellEncoder", lambda config, seed: None)
    _represent._embed(types, method, 0, RunContext(preset="demo", device="cuda:1"))
    assert seen["train"] == "cuda:1" and seen["embed"] == "cuda:1"
    assert seen["steps"] == (
        _represent._PRETRAIN["demo"]["max_steps"] if method == "cellencoder" else 1
    )


@pytest.mark.gpu
def test_represent_on_cuda(types):
    rows = _represent.run(types, split="all", method="cellencoder", seed=0, options={},
                          context=RunContext(preset="quick", device="cuda"))  # fmt: skip
    assert 0 <= rows[0]["value"] <= 1


def test_represent_user_data_needs_label_key(tmp_path):
    with pytest.raises(vc.ValidationError, match="task represent with --data needs --label-key"):
        vc.bench.run("quick", out=tmp_path, tasks=["represent"], data="x.h5ad")
    path = tmp_path / "cells.h5ad"
    ad.AnnData(np.ones((5, 3)), obs=pd.DataFrame({"t": list("aabbb")}, index=list("12345"))
               ).write_h5ad(path)  # fmt: skip
    with pytest.raises(vc.ValidationError, match="--label-key 'cell_type' is not a column"):
        _represent.load_user(str(path), "cell_type", None)


def test_user_layer_becomes_x_by_the_select_matrix_rule(tmp_path):
    """``--layer`` of the user's data: the matrix ``vc.data.select_matrix`` picks becomes X
    (a layer, or ``raw`` with .raw's own genes); a missing one names the file and choices."""
    x = np.arange(15, dtype=float).reshape(5, 3)
    obs = pd.DataFrame({"t": list("aabbb")}, index=list("12345"))
    cells = ad.AnnData(x.copy(), obs=obs, var=pd.DataFrame(index=["g1", "g2", "g3"]))
    cells.layers["counts"] = x * 10
    cells.raw = ad.AnnData(np.full((5, 4), 2.0), obs=obs, var=pd.DataFrame(index=list("abcd")))
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    as_is = _represent.load_user(str(path), "t", None)
    np.testing.assert_array_equal(np.asarray(as_is.adata.X), x)
    layer = _represent.load_user(str(path), "t", "counts")
    np.testing.assert_array_equal(np.asarray(layer.adata.X), x * 10)
    raw = _represent.load_user(str(path), "t", "raw")
    assert list(raw.adata.var_names) == list("abcd")
    np.testing.assert_array_equal(np.asarray(raw.adata.X), np.full((5, 4), 2.0))
    assert list(raw.adata.obs["t"]) == list("aabbb")
    with pytest.raises(
        vc.ValidationError, match=r"cells\.h5ad: no layer 'nope'; available: 'counts', 'raw'"
    ):
        _represent.load_user(str(path), "t", "nope")
