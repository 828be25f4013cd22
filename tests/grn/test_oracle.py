"""Oracle-derived GRN methods: attention maps and in-silico deletion (tiny models)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import virtualcell as vc
from virtualcell._errors import ValidationError
from virtualcell.grn._oracle import _combine_layers

FAST = {"train_config": {"max_steps": 25, "batch_size": 32}, "n_cells": 60}


@pytest.fixture
def planted():
    """Non-negative cells: g1 follows g0 (activation), g2 falls with g0 (repression)."""
    rng = np.random.default_rng(0)
    n = 150
    g0 = rng.gamma(2.0, 1.0, n)
    X = np.column_stack(
        [
            g0,
            2.0 * g0 + rng.gamma(1.0, 0.2, n),
            np.maximum(6.0 - 1.5 * g0, 0) + rng.gamma(1.0, 0.2, n),
            rng.gamma(2.0, 1.0, n),
            rng.gamma(3.0, 1.0, n),
        ]
    )
    genes = [f"g{i}" for i in range(5)]
    truth = pd.DataFrame({"regulator": ["g0", "g0"], "target": ["g1", "g2"], "sign": [1, -1]})
    return pd.DataFrame(X, columns=genes), truth


def test_registered():
    names = vc.grn.METHODS.names()
    assert "attention" in names and "in_silico_deletion" in names


@pytest.mark.parametrize("method", ["attention", "in_silico_deletion"])
def test_edge_table_and_determinism(method, planted):
    X, truth = planted
    a = vc.grn.infer(X, method=method, seed=1, **FAST)
    b = vc.grn.infer(X, method=method, seed=1, **FAST)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 5 * 4
    assert (a["regulator"] != a["target"]).all()
    assert a["score"].is_monotonic_decreasing and np.isfinite(a["score"]).all()
    assert (a["score"] >= 0).all()
    assert ("sign" in a) == (method == "in_silico_deletion")
    c = vc.grn.infer(X, method=method, seed=2, **FAST)
    assert not np.allclose(
        a.sort_values(["regulator", "target"])["score"],
        c.sort_values(["regulator", "target"])["score"],
    )
    # evaluate scores this ranking exactly: average precision over the 20 candidate edges
    res = vc.grn.evaluate(a, truth, genes=list(X.columns))
    hits = [
        (r, t) in {("g0", "g1"), ("g0", "g2")} for r, t in zip(a.regulator, a.target, strict=True)
    ]
    ranks = np.flatnonzero(hits) + 1  # 1-based positions of the two true edges (no ties here)
    assert a["score"].is_unique
    expected = np.mean([(k + 1) / rank for k, rank in enumerate(ranks)])
    assert res["auprc"] == pytest.approx(expected)


def test_attention_is_a_distribution_and_regulator_rows_agree(planted):
    X, _ = planted
    full = vc.grn.infer(X, method="attention", seed=0, **FAST)
    # attention of one target over the gene keys is part of a softmax row (CLS takes the rest)
    per_target = full.groupby("target")["score"].sum()
    assert (per_target <= 1.0 + 1e-9).all() and (per_target > 0).all()
    sub = vc.grn.infer(X, method="attention", seed=0, regulators=["g0", "g3"], **FAST)
    merged = sub.merge(full, on=["regulator", "target"], suffixes=("_sub", "_full"))
    assert len(merged) == len(sub) == 2 * 4
    np.testing.assert_allclose(merged["score_sub"], merged["score_full"], rtol=1e-12)
    for layers in ("last", "rollout"):
        other = vc.grn.infer(X, method="attention", seed=0, layers=layers, **FAST)
        assert len(other) == 20


def test_rollout_matches_hand_computation():
    rng = np.random.default_rng(0)
    a1, a2 = (rng.dirichlet(np.ones(3), size=(1, 2, 3)) for _ in range(2))  # (cells, heads, q, k)
    maps = [torch.as_tensor(a) for a in (a1, a2)]

    def mix(a):
        m = 0.5 * a[0].mean(0) + 0.5 * np.eye(3)
        return m / m.sum(1, keepdims=True)

    np.testing.assert_allclose(_combine_layers(maps, "rollout")[0].numpy(), mix(a2) @ mix(a1))
    np.testing.assert_allclose(_combine_layers(maps, "last")[0].numpy(), a2[0].mean(0))
    np.testing.assert_allclose(
        _combine_layers(maps, "mean")[0].numpy(), (a1[0].mean(0) + a2[0].mean(0)) / 2
    )


def _recovery(edges: pd.DataFrame) -> tuple[float, float]:
    """(lowest score of the two planted edges, highest score of an edge touching g3/g4)."""
    key = edges.set_index(["regulator", "target"])["score"]
    noise = edges.regulator.isin(["g3", "g4"]) | edges.target.isin(["g3", "g4"])
    return min(key[("g0", "g1")], key[("g0", "g2")]), float(edges.loc[noise, "score"].max())


#: Self-pretraining used for the recovery tests (300 steps, as the default, of 32 cells).
RECOVER = {"train_config": {"max_steps": 300, "batch_size": 32}, "n_cells": 60}


def test_deletion_recovers_the_planted_network(planted):
    """After 300 steps of self-pretraining, in-silico deletion ranks both planted edges
    above every edge touching an unrelated gene (by a factor >= 2), with the right signs;
    the same criteria fail for the same table with shuffled scores (a method that learned
    nothing). Measured over seeds 0-4: factor 2.1-12.6, signs always right, AUPRC ratio
    2.7-3.7 (chance = 1)."""
    X, truth = planted
    e = vc.grn.infer(X, method="in_silico_deletion", seed=0, **RECOVER)
    planted_min, noise_max = _recovery(e)
    assert planted_min > 2 * noise_max
    signs = e.set_index(["regulator", "target"])["sign"]
    assert (signs[("g0", "g1")], signs[("g0", "g2")]) == (1, -1)
    assert vc.grn.evaluate(e, truth, genes=list(X.columns))["auprc_ratio"] > 2.0
    shuffled = e.assign(score=np.random.default_rng(0).permutation(e["score"].to_numpy()))
    planted_min, noise_max = _recovery(shuffled)
    assert not planted_min > 2 * noise_max


def test_attention_beats_chance_on_the_planted_network(planted):
    """Attention is weaker (unsigned, pulled by the indirect g1 - g2 link): measured AUPRC
    ratio 1.6-2.5 over seeds 0-4 (chance = 1); the test asks for > 1.5 at seed 0."""
    X, truth = planted
    e = vc.grn.infer(X, method="attention", seed=0, **RECOVER)
    assert vc.grn.evaluate(e, truth, genes=list(X.columns))["auprc_ratio"] > 1.5


def test_deletion_remove_mode_runs(planted):
    # 'remove' (drop the regulator's token) does not recover this tiny network reliably
    # (measured AUPRC ratio 0.8-5.8 over seeds 0-2 at 150 steps); only its output is checked
    X, _ = planted
    kw = {**FAST, "train_config": {"max_steps": 30, "batch_size": 32}}
    e = vc.grn.infer(X, method="in_silico_deletion", seed=0, knockout="remove", **kw)
    assert len(e) == 20 and set(np.unique(e["sign"])) <= {-1, 0, 1}
    zero = vc.grn.infer(X, method="in_silico_deletion", seed=0, knockout="zero", **kw)
    assert not np.allclose(
        e.sort_values(["regulator", "target"])["score"],
        zero.sort_values(["regulator", "target"])["score"],
    )


def test_pretrained_model_argument(planted, tmp_path):
    X, _ = planted
    adata = ad.AnnData(X.to_numpy(np.float32))
    adata.var_names = list(X.columns)
    tok = vc.tokenize.ContinuousTokenizer(gene_subset="all", max_len=5)
    model, _ = vc.train.pretrain(
        adata,
        tokenizer=tok,
        objective="mae",
        model_config={"d_model": 16, "n_layers": 1, "n_heads": 2},
        train_config=vc.train.TrainConfig(max_steps=5, batch_size=32, device="cpu"),
        out_dir=tmp_path / "m",
    )
    a = vc.grn.infer(adata, method="attention", model=model, n_cells=40)
    b = vc.grn.infer(adata, method="attention", model=str(tmp_path / "m"), n_cells=40)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
    d = vc.grn.infer(adata, method="in_silico_deletion", model=model, n_cells=40)
    assert len(d) == 20 and "sign" in d
    with pytest.raises(ValidationError, match="model_config"):
        vc.grn.infer(adata, method="attention", model=model, model_config={"d_model": 8})


def test_model_must_cover_every_gene(planted):
    X, _ = planted
    adata = ad.AnnData(X.to_numpy(np.float32))
    adata.var_names = list(X.columns)
    tok = vc.tokenize.ContinuousTokenizer(gene_subset="all", max_len=3)
    model, _ = vc.train.pretrain(
        adata,
        tokenizer=tok,
        objective="mae",
        model_config={"d_model": 8, "n_layers": 1, "n_heads": 1},
        train_config=vc.train.TrainConfig(max_steps=1, batch_size=16, device="cpu"),
    )
    with pytest.raises(ValidationError, match="missing from the token sequence"):
        vc.grn.infer(adata, method="attention", model=model)


def test_option_validation(planted):
    X, _ = planted
    with pytest.raises(ValidationError, match="layers"):
        vc.grn.infer(X, method="attention", layers="max")
    with pytest.raises(ValidationError, match="knockout"):
        vc.grn.infer(X, method="in_silico_deletion", knockout="half")
