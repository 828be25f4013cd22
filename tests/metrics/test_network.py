"""Network metrics against scikit-learn, networkx and hand-computed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import virtualcell as vc
from virtualcell._errors import ValidationError

GENES = ["A", "B", "C", "D"]
TRUTH = pd.DataFrame({"regulator": ["A", "A", "B", "C"], "target": ["B", "C", "D", "C"]})
# C->C is a self-loop: dropped. Universe: 12 ordered pairs, 3 true edges, density 1/4.
SCORES = pd.DataFrame(
    {
        "regulator": ["A", "B", "A", "D", "C", "A"],
        "target": ["B", "D", "D", "A", "B", "A"],  # A->A ignored (self-loop)
        "score": [0.9, 0.8, 0.8, 0.5, 0.1, 5.0],
    }
)


def _dense_reference():
    pairs = [(r, t) for r, t in itertools.product(GENES, GENES) if r != t]
    truth = {("A", "B"), ("A", "C"), ("B", "D")}
    listed = {(r, t): s for r, t, s in SCORES.itertuples(index=False) if r != t}
    y = np.array([p in truth for p in pairs])
    s = np.array([listed.get(p, -1.0) for p in pairs])  # unlisted tied below all
    return y, s


def test_table_input_against_sklearn():
    y, s = _dense_reference()
    kw = {"genes": GENES}
    assert vc.metrics.auroc(TRUTH, SCORES, **kw) == pytest.approx(skm.roc_auc_score(y, s))
    assert vc.metrics.auprc(TRUTH, SCORES, **kw) == pytest.approx(skm.average_precision_score(y, s))
    prec, rec, _ = skm.precision_recall_curve(y, s)
    assert vc.metrics.auprc(TRUTH, SCORES, method="trapezoid", **kw) == pytest.approx(
        skm.auc(rec, prec)
    )
    assert vc.metrics.auprc_ratio(TRUTH, SCORES, **kw) == pytest.approx(
        skm.average_precision_score(y, s) / 0.25
    )


def test_epr_hand_computed_with_ties():
    # k = 3 true edges; top listed scores 0.9, 0.8, 0.8 -> set {A->B, B->D, A->D}: 2/3 true
    assert vc.metrics.early_precision(TRUTH, SCORES, genes=GENES) == pytest.approx(2 / 3)
    assert vc.metrics.epr(TRUTH, SCORES, genes=GENES) == pytest.approx((2 / 3) / 0.25)
    # k = 2: the k-th score 0.8 is tied -> all three edges at >= 0.8 kept
    assert vc.metrics.epr(TRUTH, SCORES, k=2, genes=GENES) == pytest.approx((2 / 3) / 0.25)
    assert vc.metrics.epr(TRUTH, SCORES, k=1, genes=GENES) == pytest.approx(1 / 0.25)
    # more k than listed edges: all 5 listed edges, 2 true
    assert vc.metrics.early_precision(TRUTH, SCORES, k=10, genes=GENES) == pytest.approx(2 / 5)


@pytest.mark.parametrize("seed", [0, 1])
def test_arrays_and_matrices_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 12
    truth = (rng.random((n, n)) < 0.15).astype(int)
    score = truth * 0.5 + rng.random((n, n))
    score = np.round(score, 1)  # create ties
    off = ~np.eye(n, dtype=bool)
    y, s = truth[off], score[off]
    assert vc.metrics.auroc(truth, score) == pytest.approx(skm.roc_auc_score(y, s))
    assert vc.metrics.auprc(truth, score) == pytest.approx(skm.average_precision_score(y, s))
    assert vc.metrics.auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    assert vc.metrics.auprc(y, s) == pytest.approx(skm.average_precision_score(y, s))
    assert vc.metrics.auprc_ratio(y, s) == pytest.approx(
        skm.average_precision_score(y, s) / y.mean()
    )
    with_loops = vc.metrics.auroc(truth, score, self_loops=True)
    assert with_loops == pytest.approx(skm.roc_auc_score(truth.ravel(), score.ravel()))


def test_tf_restricted_universe():
    # regulators A, B: universe = 2 x 3 = 6 pairs; C->C dropped as a self-loop
    y = np.array([1, 1, 0, 0, 0, 1])  # A->B A->C A->D B->A B->C B->D
    s = np.array([0.9, -1, 0.8, -1, -1, 0.8])
    got = vc.metrics.auprc(TRUTH, SCORES, genes=GENES, regulators=["A", "B"])
    assert got == pytest.approx(skm.average_precision_score(y, s))
    truth_c = pd.concat([TRUTH, pd.DataFrame({"regulator": ["C"], "target": ["A"]})])
    with pytest.raises(ValidationError, match=r"outside regulators: \['C'\]"):
        vc.metrics.auroc(truth_c, SCORES, genes=GENES, regulators=["A", "B"])
    assert vc.metrics.auroc(
        truth_c, SCORES, genes=GENES, regulators=["A", "B"], outside="drop"
    ) == pytest.approx(skm.roc_auc_score(y, s))


def test_aliases_and_label_column():
    beeline = TRUTH.rename(columns={"regulator": "Gene1", "target": "Gene2"})
    dream = pd.DataFrame(
        {"TF": ["A", "A", "B", "D"], "target": ["B", "C", "D", "A"], "label": [1, 1, 1, 0]}
    )
    want = vc.metrics.auprc(TRUTH, SCORES, genes=GENES)
    assert vc.metrics.auprc(beeline, SCORES, genes=GENES) == pytest.approx(want)
    assert vc.metrics.auprc(dream, SCORES, genes=GENES) == pytest.approx(want)


def test_bad_network_input():
    bad = pd.DataFrame({"regulator": ["A", "Q"], "target": ["B", "Z"]})
    with pytest.raises(ValidationError, match=r"not in genes: \['Q', 'Z'\]"):
        vc.metrics.auroc(bad, SCORES, genes=GENES)
    with pytest.raises(ValidationError, match="genes="):
        vc.metrics.auroc(TRUTH, SCORES)
    with pytest.raises(ValidationError, match="twice"):
        vc.metrics.auroc(TRUTH, pd.concat([SCORES, SCORES]), genes=GENES)
    with pytest.raises(ValidationError, match="lacks column"):
        vc.metrics.auroc(TRUTH, SCORES.drop(columns="score"), genes=GENES)
    with pytest.raises(ValidationError, match="NaN"):
        vc.metrics.auroc([0, 1, 0], [0.1, np.nan, 0.3])
    with pytest.raises(ValidationError, match="both true and false"):
        vc.metrics.auroc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValidationError, match="differ in shape"):
        vc.metrics.auprc([0, 1], [0.1, 0.2, 0.3])


def test_signed_accuracy():
    assert vc.metrics.signed_accuracy([1, -1, 1, 0, -1], [1, 1, 0, 1, -1]) == pytest.approx(2 / 3)
    truth = pd.DataFrame(
        {"Gene1": ["A", "A", "B"], "Gene2": ["B", "C", "D"], "sign": ["+", "-", "+"]}
    )
    pred = pd.DataFrame(
        {"regulator": ["A", "A", "C"], "target": ["B", "C", "D"], "score": [0.5, 0.3, -1]}
    )
    assert vc.metrics.signed_accuracy(truth, pred) == pytest.approx(0.5)


def _star_network():
    genes = [f"g{i}" for i in range(10)]
    truth = pd.DataFrame(
        {
            "regulator": ["g0"] * 5 + ["g1"] * 3,
            "target": ["g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9"],
        }
    )
    return genes, truth


def test_hub_enrichment_hand_computed():
    genes, truth = _star_network()
    perfect = truth.assign(score=1.0)
    # 1 hub (ceil 10% of 10): true g0, predicted g0 -> 1 / (1*1/10) = 10
    assert vc.metrics.regulator_hub_enrichment(truth, perfect, genes=genes) == pytest.approx(10)
    # 2 hubs: both g0, g1 -> 2 / (2*2/10) = 5
    assert vc.metrics.regulator_hub_enrichment(
        truth, perfect, genes=genes, n_hubs=2
    ) == pytest.approx(5)
    wrong = pd.DataFrame({"regulator": ["g9"] * 8, "target": genes[:8], "score": 1.0})
    assert vc.metrics.regulator_hub_enrichment(truth, wrong, genes=genes) == 0.0
    # target hubs: every true target has in-degree 1 -> hub = first by gene order (g2)
    assert vc.metrics.target_hub_enrichment(truth, perfect, genes=genes) == pytest.approx(10)
    assert vc.metrics.target_hub_enrichment(truth, wrong, genes=genes) == 0.0


def test_centrality_enrichment_against_networkx():
    import networkx as nx

    genes, truth = _star_network()
    graph = nx.Graph()
    graph.add_nodes_from(genes)
    graph.add_edges_from(truth.itertuples(index=False))
    cent = nx.eigenvector_centrality(graph, max_iter=10_000, tol=1e-10)
    top = max(genes, key=lambda g: abs(cent[g]))
    assert top == "g0"
    perfect = truth.assign(score=1.0)
    assert vc.metrics.centrality_enrichment(truth, perfect, genes=genes) == pytest.approx(10)
    # prediction whose central gene is g1 (a star around g1)
    other = pd.DataFrame(
        {"regulator": ["g1"] * 8, "target": [g for g in genes if g != "g1"][:8], "score": 1.0}
    )
    assert vc.metrics.centrality_enrichment(truth, other, genes=genes) == 0.0
    with pytest.raises(ValidationError, match="edge tables or square"):
        vc.metrics.hub_enrichment([0, 1, 1], [0.1, 0.2, 0.3], kind="target")
