"""Knowledge-base features and priors of vc.perturb on a tiny store built from the real
source formats (the knowledge tests' fixture data)."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from virtualcell.perturb import make_predictor
from virtualcell.perturb._knowledge import go_tf_features, tf_target_edges

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "knowledge"))
from _kbdata import write_sources

GENES = ["TP53", "CDKN1A", "MDM2", "BAX", "KLF1", "HBB", "GATA1", "INS", "GCG", "NOTAGENE"]


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory):
    from virtualcell.knowledge import build

    out = tmp_path_factory.mktemp("kb") / "knowledge.sqlite"
    build(write_sources(tmp_path_factory.mktemp("src")), out=out, include_defaults=False)
    return out


def test_tf_target_edges_and_features(kb_path):
    edges = tf_target_edges(GENES, kb=kb_path)
    pairs = set(zip(edges["regulator"], edges["target"], edges["sign"], strict=True))
    assert {("TP53", "CDKN1A", 1), ("TP53", "MDM2", 1), ("KLF1", "HBB", 1)} <= pairs
    assert tf_target_edges(["G1", "G2", "G3"], kb=kb_path) is None  # synthetic names
    feats = go_tf_features(["TP53", "BAX", "NOTAGENE"], GENES, kb=kb_path)
    assert "NOTAGENE" not in feats.index
    assert feats.loc["TP53", "go:GO:0006915"] == 1 and feats.loc["BAX", "go:GO:0006915"] == 1
    assert feats.loc["TP53", "target:CDKN1A"] == 1 and feats.loc["TP53", "is_tf"] == 1
    assert feats.loc["BAX", "is_tf"] == 0


def test_feature_method_uses_the_store(kb_path):
    rng = np.random.default_rng(0)
    base = rng.uniform(1, 3, size=len(GENES))
    rows, labels = [], []
    for cond in ["control", "TP53", "KLF1", "GATA1", "BAX", "INS"]:
        mean = base.copy()
        if cond != "control":
            mean[GENES.index(cond)] = -3
        n = 40 if cond == "control" else 15
        rows.append(rng.poisson(np.exp(mean) * 5, size=(n, len(GENES))))
        labels += [cond] * n
    x = np.vstack(rows).astype(np.float32)
    x[:, -1] += 1
    cells = ad.AnnData(x, obs=pd.DataFrame({"perturbation": labels}), var=pd.DataFrame(index=GENES))
    cells.obs_names = [f"c{i}" for i in range(cells.n_obs)]
    model = make_predictor("go_ridge", kb=kb_path).fit(cells)
    import virtualcell.perturb._knowledge as knowledge

    queries = []
    real = knowledge.go_tf_features

    def counted(genes, *args, **kwargs):
        queries.append(sorted(genes))
        return real(genes, *args, **kwargs)

    knowledge.go_tf_features = counted
    try:
        pred = model.predict(["GCG", "NOTAGENE", "TP53+MDM2", "HBB"], on_unsupported="flag")
        again = model.predict(["GCG", "HBB"], on_unsupported="flag")
    finally:
        knowledge.go_tf_features = real
    # one knowledge query for every unseen gene of a request (TP53 was perturbed in
    # training), none for genes already looked up
    assert queries == [["GCG", "HBB", "MDM2", "NOTAGENE"]]
    # GCG and HBB have GO features in the test store; NOTAGENE and MDM2 do not
    assert pred.obs["fallback"].tolist() == [False, True, True, False]
    np.testing.assert_array_equal(again.X, pred.X[[0, 3]])
    net = make_predictor("network", prior="auto").fit(cells)  # the default store is absent
    assert net.predict(["MDM2"]).n_obs == 1
