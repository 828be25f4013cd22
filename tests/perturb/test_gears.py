"""gears_graph: the GEARS-style graph model (GO + co-expression graphs, small torch MLP)."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from virtualcell import ValidationError
from virtualcell.perturb import METHODS, default_methods, make_predictor

sys.path.append(str(Path(__file__).resolve().parents[1] / "knowledge"))
from _kbdata import write_sources

from conftest import linear_cells

# genes of the test store (tests/knowledge/_kbdata.py): TP53 and BAX share the apoptosis
# term; KLF1 and HBB share erythrocyte differentiation; INS and GCG have unrelated terms
GENES = ["TP53", "CDKN1A", "MDM2", "BAX", "KLF1", "HBB", "GATA1", "INS", "GCG", "NOTAGENE"]
FAST = {"epochs": 150, "seed": 0}


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory):
    from virtualcell.knowledge import build

    out = tmp_path_factory.mktemp("kb") / "knowledge.sqlite"
    build(write_sources(tmp_path_factory.mktemp("src")), out=out, include_defaults=False)
    return out


def _cells(effects: dict[str, np.ndarray], seed: int = 0) -> ad.AnnData:
    """Log-scale expression (not counts) of the GENES, one effect vector per knockout."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(2, 3, size=len(GENES))
    rows, labels = [], []
    for cond in ["control", *effects]:
        mean = base + (effects[cond] if cond != "control" else 0.0)
        n = 60 if cond == "control" else 30
        rows.append(mean + rng.normal(scale=0.1, size=(n, len(GENES))))
        labels.append([cond] * n)
    x = np.clip(np.vstack(rows), 0, None)
    obs = pd.DataFrame({"perturbation": np.concatenate(labels)})
    obs.index = [f"c{i}" for i in range(len(obs))]
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=GENES))


def _effect(up: list[str], down: list[str], size: float = 1.0) -> np.ndarray:
    e = np.zeros(len(GENES))
    e[[GENES.index(g) for g in up]] = size
    e[[GENES.index(g) for g in down]] = -size
    return e


def test_registered_opt_in_with_tags():
    entry = METHODS.entry("gears_graph")
    assert {"graph", "knowledge", "unseen_genes", "torch", "cost:trains"} <= set(entry.tags)
    assert not entry.baseline
    assert "gears_graph" not in default_methods()  # run when named only
    assert "network" in default_methods()


def test_fit_predict_shapes_combos_and_clamp(cells):
    model = make_predictor("gears_graph", graph="coexpression", **FAST).fit(cells)
    pred = model.predict(["g0", "g7", "g0+g1", "g8+g9", "control"])
    assert pred.shape == (5, cells.n_vars)
    assert list(pred.var_names) == list(cells.var_names)
    assert np.isfinite(pred.X).all() and (pred.X >= 0).all()
    assert pred.obs["unseen_genes"].tolist() == ["", "g7", "", "g8,g9", ""]
    assert not pred.obs["fallback"].any()
    data = model.data_
    idx = data.gene_index
    # each perturbed gene at its knock level (the engine's rule), in singles and combos
    for row, genes in ((0, ["g0"]), (1, ["g7"]), (2, ["g0", "g1"]), (3, ["g8", "g9"])):
        for g in genes:
            assert pred.X[row, idx[g]] == pytest.approx(data.knock_level(g))
    np.testing.assert_allclose(pred.X[4], data.control)
    # a combination is not one of its singles
    assert np.abs(pred.X[2] - pred.X[0]).max() > 1e-6


def test_knockout_to_zero_where_the_training_knockouts_reach_zero():
    effects = {g: _effect(["HBB"], [], 0.5) for g in ["TP53", "KLF1", "GATA1", "INS"]}
    adata = _cells(effects)
    for g in effects:  # the knocked-out gene reads 0 in its own cells
        adata.X[(adata.obs["perturbation"] == g).to_numpy(), GENES.index(g)] = 0.0
    model = make_predictor("gears_graph", graph="coexpression", **FAST).fit(adata)
    pred = model.predict(["TP53", "GCG", "TP53+GCG"])
    assert pred.X[0, GENES.index("TP53")] == 0.0
    assert pred.X[2, GENES.index("TP53")] == 0.0
    assert pred.X[1, GENES.index("GCG")] < 0.5 * model.data_.control[GENES.index("GCG")]


def test_deterministic_under_a_seed(cells):
    a = make_predictor("gears_graph", graph="coexpression", **FAST).fit(cells)
    b = make_predictor("gears_graph", graph="coexpression", **FAST).fit(cells)
    c = make_predictor("gears_graph", graph="coexpression", epochs=150, seed=1).fit(cells)
    labels = ["g7", "g0+g1"]
    np.testing.assert_array_equal(a.predict(labels).X, b.predict(labels).X)
    assert a.epochs_ == b.epochs_
    assert np.abs(a.predict(labels).X - c.predict(labels).X).max() > 1e-6


def test_unseen_gene_follows_its_go_neighbour(kb_path):
    # TP53's knockout raises CDKN1A and lowers MDM2;
    # other training knockouts move other genes (all raise HBB, so the training mean
    # is not TP53's effect). BAX (never perturbed) shares a GO term only with TP53.
    effects = {
        "TP53": _effect(["CDKN1A"], ["MDM2"]),
        "KLF1": _effect(["HBB", "GCG"], ["INS"]),
        "GATA1": _effect(["HBB", "INS"], ["GCG"]),
        "INS": _effect(["HBB", "GATA1"], ["KLF1"]),
        "GCG": _effect(["HBB", "KLF1"], ["GATA1"]),
    }
    adata = _cells(effects)
    # a fixed number of epochs: with early stopping on a held-out training knockout that
    # has no GO neighbour here, the model rightly stops at the mean
    model = make_predictor("gears_graph", graph="go", kb=kb_path, epochs=150, val_fraction=0.0,
                           seed=0)  # fmt: skip
    model.fit(adata)
    pred = model.predict(["BAX"])
    data = model.data_
    keep = [i for i, g in enumerate(GENES) if g != "BAX"]  # target excluded
    change = (pred.X[0] - data.control)[keep]
    neighbour = (data.single("TP53") - data.control)[keep]
    mean = (data.train_mean() - data.control)[keep]
    assert np.linalg.norm(change - neighbour) < np.linalg.norm(change - mean)
    assert np.corrcoef(change, neighbour)[0, 1] > 0.8
    assert not pred.obs["fallback"].any()
    # with early stopping on this toy set the model stops early, at about the mean
    stopped = make_predictor("gears_graph", graph="go", kb=kb_path, epochs=150, val_fraction=0.2,
                             seed=0)  # fmt: skip
    stopped.fit(adata)
    assert stopped.epochs_ < 150 and len(stopped.val_curve_) >= 1


def test_no_knowledge_means_the_training_mean(kb_path):
    effects = {g: _effect(["CDKN1A"], ["MDM2"]) for g in ["TP53", "KLF1", "GATA1", "INS"]}
    model = make_predictor("gears_graph", graph="go", kb=kb_path, **FAST).fit(_cells(effects))
    # NOTAGENE is unknown to the store and shares nothing: no embedding
    with pytest.raises(ValidationError, match="NOTAGENE"):
        model.predict(["NOTAGENE"])
    pred = model.predict(["NOTAGENE", "TP53"], on_unsupported="flag")
    assert pred.obs["fallback"].tolist() == [True, False]
    np.testing.assert_allclose(pred.X[0], model.data_.train_mean())


def test_without_a_store_go_alone_falls_back(tmp_path):
    # a store path that does not exist: no GO graph; unseen genes fall back to the mean
    effects = {g: _effect(["CDKN1A"], []) for g in ["TP53", "KLF1", "GATA1"]}
    adata = _cells(effects)
    model = make_predictor("gears_graph", graph="go", kb=tmp_path / "none.sqlite", **FAST)
    model.fit(adata)
    pred = model.predict(["BAX"], on_unsupported="flag")
    assert pred.obs["fallback"].tolist() == [True]


def test_go_features_table_replaces_the_store():
    effects = {
        "TP53": _effect(["CDKN1A"], ["MDM2"]),
        "KLF1": _effect(["GCG"], ["INS"]),
        "GATA1": _effect(["INS"], ["GCG"]),
    }
    table = pd.DataFrame(0, index=["TP53", "BAX", "KLF1", "GATA1", "NEWGENE"],
                         columns=["go:a", "go:b", "go:c"])  # fmt: skip
    table.loc[["TP53", "NEWGENE"], "go:a"] = 1
    table.loc[["KLF1"], "go:b"] = 1
    table.loc[["GATA1"], "go:c"] = 1
    model = make_predictor("gears_graph", graph="go", go_features=table, **FAST)
    model.fit(_cells(effects))
    # NEWGENE is not measured: its embedding comes from its GO neighbour TP53 alone
    pred = model.predict(["NEWGENE", "BAX"], on_unsupported="flag")
    assert pred.obs["fallback"].tolist() == [False, True]
    assert pred.obs["unseen_genes"].tolist() == ["NEWGENE", "BAX"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"graph": "string"}, "graph must be one of"),
        ({"hidden": 0}, "hidden must be an integer"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"lr": 0.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"go_features": "go.csv"}, "go_features must be a DataFrame"),
        ({"layers": 3}, "has no option"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ValidationError, match=match):
        make_predictor("gears_graph", **options)


def test_predict_before_fit():
    with pytest.raises(ValidationError, match="not fitted"):
        make_predictor("gears_graph").predict(["g1"])


def test_simulated_linear_cells_beat_nothing_learned():
    """On data whose effects are shared through co-expression, the trained model's
    seen singles are closer to the truth than the training mean is."""
    adata = linear_cells(n_genes=12, n_singles=6, n_cells=30, seed=1, doubles=False)
    model = make_predictor("gears_graph", graph="coexpression", epochs=300, seed=0)
    model.fit(adata)
    data = model.data_
    seen = sorted(data.seen_singles)
    pred = model.predict(seen).X
    truth = data.profiles.loc[seen].to_numpy()
    err_model = np.abs(pred - truth).mean()
    err_mean = np.abs(data.train_mean()[None, :] - truth).mean()
    assert err_model < err_mean


def test_go_graph_is_the_normalised_jaccard_of_go_term_sets():
    effects = {"TP53": _effect(["CDKN1A"], []), "KLF1": _effect(["GCG"], []),
               "GATA1": _effect(["INS"], [])}  # fmt: skip
    table = pd.DataFrame(
        0, index=["TP53", "BAX", "KLF1", "NEWGENE"], columns=["go:a", "go:b", "go:c"]
    )
    table.loc["TP53", ["go:a", "go:b"]] = 1  # TP53 {a, b}
    table.loc["BAX", "go:a"] = 1  # BAX {a}: Jaccard with TP53 1/2
    table.loc["KLF1", ["go:b", "go:c"]] = 1  # KLF1 {b, c}: Jaccard with TP53 1/3
    table.loc["NEWGENE", "go:c"] = 1  # outside the graph: KLF1 only (1/2)
    model = make_predictor("gears_graph", graph="go", go_features=table, **FAST)
    model.fit(_cells(effects))
    node = model.node_index_
    rows = model._go_rows(["TP53", "NEWGENE"])
    assert rows["TP53"] == pytest.approx({node["BAX"]: 0.6, node["KLF1"]: 0.4})
    assert rows["NEWGENE"] == pytest.approx({node["KLF1"]: 1.0})
    np.testing.assert_allclose(model.adjacency_[node["TP53"], node["BAX"]], 0.6)
    assert model.adjacency_[node["GATA1"]].sum() == 0  # no GO terms: no GO neighbour


def test_predict_perturbation_and_time_points(cells):
    """``vc.perturb.predict_perturbation`` / ``vcell perturb predict -m gears_graph`` pass
    ``time=`` to every method: gears_graph raised a TypeError (an internal error of the
    CLI) even without ``--time``. With time points it predicts its pooled change on each
    day's control (the rule of methods without a time model)."""
    import virtualcell as vc

    timed = cells.copy()
    timed.obs["time"] = np.where(np.arange(timed.n_obs) % 2 == 0, "day2", "day10")
    pooled = vc.perturb.predict_perturbation(timed, perturbations=["g0"], method="gears_graph",
                                             graph="coexpression", **FAST)  # fmt: skip
    model = make_predictor("gears_graph", graph="coexpression", **FAST).fit(timed)
    np.testing.assert_allclose(pooled.X, model.predict(["g0"]).X)
    per_day = model.predict(["g0", "control"], time="all")
    assert list(per_day.obs["time"]) == ["day2", "day10", "day2", "day10"]
    change = pooled.X[0] - model.data_.control
    other = np.arange(timed.n_vars) != model.data_.gene_index["g0"]  # g0: its knock level
    for k in range(2):
        want = np.clip(per_day.X[2 + k] + change, 0, None)  # that day's control + change
        np.testing.assert_allclose(per_day.X[k, other], want[other], atol=1e-9)
    assert np.abs(per_day.X[2] - per_day.X[3]).max() > 1e-6  # the two days differ
