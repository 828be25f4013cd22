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


def _knockout_cells(genes: list[str]) -> ad.AnnData:
    """Counts of ``genes`` (the last one shifted by 1) in control cells and in knockouts
    of TP53, KLF1, GATA1, BAX and INS (each set low in its own cells)."""
    rng = np.random.default_rng(0)
    base = rng.uniform(1, 3, size=len(genes))
    rows, labels = [], []
    for cond in ["control", "TP53", "KLF1", "GATA1", "BAX", "INS"]:
        mean = base.copy()
        if cond != "control":
            mean[genes.index(cond)] = -3
        n = 40 if cond == "control" else 15
        rows.append(rng.poisson(np.exp(mean) * 5, size=(n, len(genes))))
        labels += [cond] * n
    x = np.vstack(rows).astype(np.float32)
    x[:, -1] += 1
    cells = ad.AnnData(x, obs=pd.DataFrame({"perturbation": labels}), var=pd.DataFrame(index=genes))
    cells.obs_names = [f"c{i}" for i in range(cells.n_obs)]
    return cells


def _count_queries(monkeypatch) -> list[list[str]]:
    """The gene lists ``go_tf_features`` is asked for from now on (sorted, in order)."""
    import virtualcell.perturb._knowledge as knowledge

    queries: list[list[str]] = []
    real = knowledge.go_tf_features

    def counted(genes, *args, **kwargs):
        queries.append(sorted(genes))
        return real(genes, *args, **kwargs)

    monkeypatch.setattr(knowledge, "go_tf_features", counted)
    return queries


def test_feature_method_uses_the_store(kb_path, monkeypatch):
    cells = _knockout_cells(GENES)
    model = make_predictor("go_ridge", kb=kb_path).fit(cells)
    queries = _count_queries(monkeypatch)
    pred = model.predict(["GCG", "NOTAGENE", "TP53+MDM2", "HBB"], on_unsupported="flag")
    again = model.predict(["GCG", "HBB"], on_unsupported="flag")
    monkeypatch.undo()
    # one knowledge query for every unseen gene of a request (TP53 was perturbed in
    # training), none for genes already looked up
    assert queries == [["GCG", "HBB", "MDM2", "NOTAGENE"]]
    # GCG and HBB have GO features in the test store; NOTAGENE and MDM2 do not
    assert pred.obs["fallback"].tolist() == [False, True, True, False]
    np.testing.assert_array_equal(again.X, pred.X[[0, 3]])
    net = make_predictor("network", prior="auto").fit(cells)  # the default store is absent
    assert net.predict(["MDM2"]).n_obs == 1


# DREAM4's G1 ... G100 include aliases of unrelated human genes (G1 of PRB3): a data set
# named outside the store's symbols gets no knowledge, while an alias inside a data set of
# official symbols still resolves.
ALIASES_ONLY = ["P53", "P21", "EKLF", "HDM2", "GLP1", "G6", "G7", "G8", "G9", "G10"]


def test_symbol_fraction_counts_official_symbols_only(kb_path):
    from virtualcell.knowledge import KnowledgeBase

    with KnowledgeBase(kb_path) as kb:
        assert kb.symbol_fraction(["TP53", "tp53", "P53", "G1"]) == 0.5
        assert kb.symbol_fraction(ALIASES_ONLY) == 0.0
        assert kb.symbol_fraction([]) == 0.0
        assert kb.resolve("P53") == "TP53"  # resolving is unchanged
        assert kb.names_genes(["TP53", "G1"]) and not kb.names_genes(ALIASES_ONLY)
        assert not kb.names_genes(["TP53", "G1", "G2"], least=0.5)


def test_no_knowledge_for_names_outside_the_store(kb_path, capsys, monkeypatch):
    import virtualcell as vc
    from virtualcell.grn._prior import knowledge_prior_edges

    monkeypatch.setattr(vc.settings, "verbosity", 1)  # the tests run quiet

    assert go_tf_features(["P53", "EKLF"], ALIASES_ONLY, kb=kb_path) is None
    assert tf_target_edges(ALIASES_ONLY, kb=kb_path) is None
    assert len(knowledge_prior_edges(ALIASES_ONLY, path=kb_path)) == 0
    assert "are official gene symbols" in capsys.readouterr().err
    # the same aliases among official symbols: resolved as before
    feats = go_tf_features(["P53", "EKLF"], [*GENES, "P53"], kb=kb_path)
    assert {"P53", "EKLF"} <= set(feats.index) and feats.loc["P53", "target:CDKN1A"] == 1
    mixed = ["P53", "P21", *GENES]
    edges = tf_target_edges(mixed, kb=kb_path)
    assert ("P53", "CDKN1A") in set(zip(edges["regulator"], edges["target"], strict=True))


def test_feature_method_falls_back_on_synthetic_names(kb_path):
    rng = np.random.default_rng(1)
    genes = ALIASES_ONLY
    rows, labels = [], []
    for cond in ["control", "P53", "EKLF", "HDM2", "G6", "P21"]:
        n = 30 if cond == "control" else 12
        rows.append(rng.poisson(5.0, size=(n, len(genes))))
        labels += [cond] * n
    cells = ad.AnnData(np.vstack(rows).astype(np.float32),
                       obs=pd.DataFrame({"perturbation": labels}), var=pd.DataFrame(index=genes))  # fmt: skip
    cells.obs_names = [f"c{i}" for i in range(cells.n_obs)]
    train = cells[cells.obs["perturbation"] != "P21"].copy()
    model = make_predictor("go_forest", kb=kb_path, seed=0).fit(train)
    pred = model.predict(["P21"], on_unsupported="flag")
    assert bool(pred.obs["fallback"].iloc[0])  # P21 (an alias of CDKN1A) is not a gene here


def test_primed_network_looks_up_unmeasured_genes_once(kb_path, monkeypatch):
    """``primed_network`` on knockouts whose genes have no column: the knowledge rows of
    the unseen, unmeasured genes of a request come from one query for those genes alone,
    a gene the store does not know is not asked again, and it is the only fallback."""
    cells = _knockout_cells([g for g in GENES if g not in ("GCG", "HBB")])
    model = make_predictor("primed_network", kb=kb_path, prior="none", n_estimators=20,
                           components=("mean", "neighbours")).fit(cells)  # fmt: skip
    queries = _count_queries(monkeypatch)
    pred = model.predict(["GCG", "HBB", "ZZZ9"], on_unsupported="flag")
    again = model.predict(["ZZZ9", "GCG"], on_unsupported="flag")
    monkeypatch.undo()
    assert queries == [["GCG", "HBB", "ZZZ9"]]
    assert pred.obs["fallback"].tolist() == [False, False, True]
    assert again.obs["fallback"].tolist() == [True, False]
    np.testing.assert_array_equal(again.X[1], pred.X[0])
