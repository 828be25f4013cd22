from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from virtualcell._errors import ValidationError
from virtualcell.knowledge import bh_fdr, enrich
from virtualcell.knowledge._enrich import enrichment_score

GENES = [f"G{i}" for i in range(200)]


def _sets():
    rng = np.random.default_rng(0)
    return {
        "A": GENES[:20],
        "B": GENES[10:60],
        "C": [GENES[i] for i in rng.choice(200, 30, replace=False)],
        "D": GENES[150:160],
    }


def test_ora_hand_computed():
    # universe 10 genes, set S = 4 genes, query = 3 genes, overlap 2:
    # P(X >= 2) = [C(4,2)C(6,1) + C(4,3)C(6,0)] / C(10,3) = (36 + 4) / 120 = 1/3
    universe = [f"U{i}" for i in range(10)]
    res = enrich(["U0", "U1", "U9"], gene_sets={"S": universe[:4]}, background=universe)
    row = res.iloc[0]
    assert row["overlap"] == 2 and row["set_size"] == 4 and row["universe"] == 10
    assert row["pvalue"] == pytest.approx(1 / 3)
    assert row["fdr"] == pytest.approx(1 / 3) and row["genes"] == "U0;U1"


def test_ora_matches_scipy_and_gseapy():
    sets, query = _sets(), [*GENES[:25], "NOT_IN_UNIVERSE"]
    res = enrich(query, gene_sets=sets, background=GENES).set_index("term")
    assert "D" not in res.index  # no overlap -> not tested (Enrichr/gseapy convention)
    for name in ["A", "B", "C"]:
        x = len(set(GENES[:25]) & set(sets[name]))
        assert res.loc[name, "pvalue"] == pytest.approx(
            hypergeom.sf(x - 1, 200, len(sets[name]), 25)
        )
    gseapy = pytest.importorskip("gseapy")
    ref = gseapy.enrich(
        gene_list=query, gene_sets=sets, background=GENES, outdir=None, no_plot=True
    )
    ref = ref.results.set_index("Term")
    for name in ["A", "B", "C"]:
        assert res.loc[name, "pvalue"] == pytest.approx(ref.loc[name, "P-value"], rel=1e-9)
        assert res.loc[name, "fdr"] == pytest.approx(ref.loc[name, "Adjusted P-value"], rel=1e-9)
        assert res.loc[name, "odds_ratio"] == pytest.approx(ref.loc[name, "Odds Ratio"], rel=1e-9)


def test_bh_fdr_hand():
    # p = [0.01, 0.04, 0.03, 0.5] -> sorted 0.01,0.03,0.04,0.5 * 4/rank = 0.04,0.06,0.0533,0.5
    # monotone from the top: 0.04, 0.0533, 0.0533, 0.5
    got = bh_fdr(np.array([0.01, 0.04, 0.03, 0.5]))
    np.testing.assert_allclose(got, [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def _es_loop(ranked_scores: np.ndarray, members: set[int]) -> float:
    n, nh = len(ranked_scores), len(members)
    w = sum(abs(ranked_scores[i]) for i in members)
    run, best = 0.0, 0.0
    for i in range(n):
        run += abs(ranked_scores[i]) / w if i in members else -1.0 / (n - nh)
        if abs(run) > abs(best):
            best = run
    return best


def test_enrichment_score_matches_running_sum():
    rng = np.random.default_rng(3)
    scores = np.sort(rng.normal(size=50))[::-1]
    for _ in range(20):
        pos = np.sort(rng.choice(50, 7, replace=False))
        got = enrichment_score(pos, np.abs(scores[pos]), 50)
        assert got == pytest.approx(_es_loop(scores, set(pos.tolist())))


def test_prerank_matches_gseapy_es_and_detects_signal():
    rng = np.random.default_rng(1)
    scores = pd.Series(rng.normal(size=200), index=GENES)
    scores[GENES[:20]] += 2.0  # set A is up
    sets = _sets()
    res = enrich(scores, gene_sets=sets, method="prerank", n_perm=500, seed=0).set_index("term")
    again = enrich(scores, gene_sets=sets, method="prerank", n_perm=500, seed=0).set_index("term")
    pd.testing.assert_frame_equal(res, again)  # seeded
    assert res.loc["A", "es"] > 0.5 and res.loc["A", "pvalue"] < 0.01 and res.loc["A", "nes"] > 1
    assert res.loc["D", "pvalue"] > 0.01
    gseapy = pytest.importorskip("gseapy")
    ref = gseapy.prerank(
        rnk=scores.sort_values(ascending=False),
        gene_sets=sets,
        permutation_num=100,
        min_size=1,
        max_size=1000,
        seed=1,
        outdir=None,
        no_plot=True,
        threads=1,
    ).res2d.set_index("Term")
    for name in sets:
        assert res.loc[name, "es"] == pytest.approx(float(ref.loc[name, "ES"]), abs=1e-6)


def test_enrich_errors(tiny_kb_path):
    with pytest.raises(ValidationError, match="none of the 1 query genes"):
        enrich(["XYZ"], gene_sets={"A": ["G1"]})
    with pytest.raises(ValidationError, match="pandas Series"):
        enrich(["G1"], gene_sets={"A": ["G1"]}, method="prerank")
    with pytest.raises(ValidationError, match="unknown enrichment method"):
        enrich(["G1"], gene_sets={"A": ["G1"]}, method="fisher")
    res = enrich(["KLF1", "GATA1"], gene_sets="tiny", kb=tiny_kb_path)
    assert res.iloc[0]["term"] == "ERYTHROCYTE_SET"
