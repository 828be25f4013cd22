"""Tokenizer tests on hand-computed tiny examples, round-trips, coverage, batch independence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import virtualcell as vc
from virtualcell._errors import ValidationError
from virtualcell.tokenize import (
    BinTokenizer,
    ContinuousTokenizer,
    CoverageWarning,
    GeneTextTokenizer,
    GeneVocab,
    RankTokenizer,
    SentenceTokenizer,
    Tokenizer,
)

pytestmark = pytest.mark.usefixtures("warm_jit")

X3 = np.array([[4, 0, 2, 2, 0], [0, 1, 0, 3, 6], [5, 5, 0, 0, 1]], dtype=np.float32)
G5 = list("ABCDE")


def _random_counts(n=60, g=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.negative_binomial(1, 0.4, size=(n, g)).astype(np.float32)
    X[rng.random((n, g)) < 0.5] = 0
    return sp.csr_matrix(X), [f"g{i}" for i in range(g)]


def _all_tokenizers(X, genes):
    emb = pd.DataFrame(np.random.default_rng(1).normal(size=(len(genes), 4)), index=genes)
    return [
        RankTokenizer(max_len=12).fit(X, genes=genes),
        BinTokenizer(max_len=12, n_bins=5).fit(X, genes=genes),
        BinTokenizer(max_len=12, binning="fixed", gene_subset="hvg", n_hvg=15).fit(X, genes=genes),
        ContinuousTokenizer(max_len=12, downsample=(0.3, 0.8), total_tokens=True).fit(
            X, genes=genes
        ),
        ContinuousTokenizer(max_len=12, gene_subset="all").fit(X, genes=genes),
        SentenceTokenizer(max_len=12).fit(X, genes=genes),
        GeneTextTokenizer(emb, weighting="rank", max_len=12),
    ]


def test_vocab_special_ids_and_json():
    v = GeneVocab(["TP53", "GAPDH"])
    assert (v.pad_id, v.cls_id, v.mask_id, v.eos_id, v.unk_id) == (0, 1, 2, 3, 4)
    assert v["<pad>"] == 0 and v["TP53"] == 5 and len(v) == 7 and v.genes == ["TP53", "GAPDH"]
    assert GeneVocab.from_json(v.to_json()) == v
    with pytest.raises(ValidationError, match="duplicated"):
        GeneVocab(["A", "A"])


def test_rank_hand_computed():
    tk = RankTokenizer(max_len=3).fit(X3, genes=G5)
    # non-zero medians of CP10k: A (5000, 4545.45), B (1000, 4545.45), C 2500, D (2500, 3000), E (6000, 909.09)
    np.testing.assert_allclose(
        tk.gene_medians, [4772.727, 2772.727, 2500, 2750, 3454.545], rtol=1e-5
    )
    r = tk.encode(X3, genes=G5)
    assert tk.decode(r) == [["A", "C", "D"], ["E", "D", "B"], ["B", "A", "E"]]
    assert r.input_ids[:, 0].tolist() == [1, 1, 1]
    np.testing.assert_array_equal(r.values[0], [0, 1, 2, 3])
    assert r.input_ids.dtype == np.int64 and r.attention_mask.dtype == bool


def test_rank_ties_by_gene_id_and_truncation():
    X = np.array([[1, 1, 1, 0]], dtype=np.float32)
    tk = RankTokenizer(["A", "B", "C", "D"], max_len=2, add_cls=False).fit(
        np.ones((1, 4)), genes=list("ABCD")
    )
    r = tk.encode(X, genes=list("ABCD"))
    assert tk.decode(r) == [["A", "B"]]


def test_bin_quantile_and_fixed_hand_computed():
    tk = BinTokenizer(n_bins=4).fit(X3, genes=G5)
    assert tk.decode(tk.encode(X3, genes=G5)) == [
        {"A": 3, "C": 2, "D": 2},
        {"E": 3, "D": 2, "B": 1},
        {"A": 3, "B": 3, "E": 1},
    ]
    # fixed: target_sum=1 -> v = log1p(x/total); max over corpus = log1p(6/10)
    tk = BinTokenizer(n_bins=5, binning="fixed", gene_subset="all", target_sum=1.0).fit(
        X3, genes=G5
    )
    r = tk.encode(X3, genes=G5, padding="longest")
    edges = np.linspace(0, np.log1p(0.6), 5)
    exp = np.clip(np.searchsorted(edges, np.log1p(np.array([4, 2, 2]) / 8), "right"), 1, 4)
    assert tk.decode(r)[0] == {"A": exp[0], "C": exp[1], "D": exp[2], "B": 0, "E": 0}


def test_continuous_values_and_downsampling():
    tk = ContinuousTokenizer(add_cls=False).fit(X3, genes=G5)
    r = tk.encode(X3, genes=G5, padding="longest")
    np.testing.assert_array_equal(r.input_ids[0], [5, 7, 8])  # A C D in token order
    np.testing.assert_allclose(r.values[0], np.log1p(np.array([4, 2, 2]) / 8 * 1e4), rtol=1e-6)
    X = sp.csr_matrix(np.random.default_rng(0).poisson(20, size=(50, 30)).astype(np.float32))
    g = [f"g{i}" for i in range(30)]
    ds = ContinuousTokenizer(downsample=0.25, total_tokens=True).fit(X, genes=g)
    r = ds.encode(X, genes=g)
    ratio = r.extra["source_total"].sum() / r.extra["target_total"].sum()
    assert 0.22 < ratio < 0.28
    assert r.input_ids[0, 1] == ds.vocab["<tgt_total>"]
    np.testing.assert_allclose(r.values[:, 1], np.log10(r.extra["target_total"]), rtol=1e-6)


def test_downsampling_refuses_a_single_non_integer_value():
    # binomial thinning needs whole counts: the last stored value alone is not one
    X = sp.csr_matrix(np.random.default_rng(1).poisson(20, size=(400, 300)).astype(np.float32))
    X.data[-1] += 0.5
    g = [f"g{i}" for i in range(300)]
    ds = ContinuousTokenizer(downsample=0.5).fit(X, genes=g)
    with pytest.raises(ValidationError, match="integer counts"):
        ds.encode(X, genes=g)


def test_sentence_roundtrip_correlation():
    rng = np.random.default_rng(0)
    X = rng.negative_binomial(2, 0.05, size=(80, 60)).astype(np.float32)
    X[rng.random(X.shape) < 0.3] = 0
    g = [f"G{i}" for i in range(60)]
    tk = SentenceTokenizer(max_len=60).fit(X, genes=g)
    r = tk.encode(X, genes=g)
    assert r.texts[0].split()[0] == g[int(np.argmax(X[0]))]
    rec = tk.decode(r.texts, genes=g)
    truth = np.log1p(X / X.sum(1, keepdims=True) * 1e4)
    nz = truth > 0
    rho = np.corrcoef(rec[nz], truth[nz])[0, 1]
    assert rho > 0.8 and tk.slope < 0


def test_gene_text_weighting():
    E = pd.DataFrame(np.eye(5)[:, :3], index=G5)
    e = GeneTextTokenizer(E).embed(X3, genes=G5)
    np.testing.assert_allclose(e[0], np.array([2, 0, 1]) / np.sqrt(5), rtol=1e-6)
    e = GeneTextTokenizer(E, weighting="rank").embed(X3, genes=G5)
    np.testing.assert_allclose(e[2], np.array([2, 1, 0]) / np.sqrt(5), rtol=1e-6)


def test_coverage_warn_and_error():
    tk = RankTokenizer().fit(X3, genes=G5)
    rep = tk.coverage(["A", "B", "Z1", "Z2", "Z3"])
    assert (rep.n_input, rep.n_in_vocab, rep.unmapped) == (5, 2, ["Z1", "Z2", "Z3"])
    genes = ["A", "B", "Z1", "Z2", "Z3"]
    with pytest.warns(CoverageWarning, match="2/5"):
        tk.encode(X3, genes=genes)
    with pytest.raises(ValidationError, match="0/5"):
        tk.encode(X3, genes=["Q", "R", "S", "T", "U"])


def test_bad_values_raise_and_input_untouched():
    tk = RankTokenizer().fit(X3, genes=G5)
    bad = X3.copy()
    bad[1, 1] = -1
    before = bad.copy()
    with pytest.raises(ValidationError, match="negative"):
        tk.encode(bad, genes=G5)
    np.testing.assert_array_equal(bad, before)


def test_duplicated_input_gene_names_are_an_error():
    """Two columns named A would put token A twice into one cell (fit and encode alike)."""
    tk = RankTokenizer().fit(X3, genes=G5)
    dup = ["A", "A", "C", "B", "B"]
    with pytest.raises(ValidationError, match=r"2 gene name\(s\).*\['A', 'B'\]"):
        tk.encode(X3, genes=dup)
    with pytest.raises(ValidationError, match="var_names_make_unique"):
        RankTokenizer().fit(X3, genes=dup)


@pytest.mark.parametrize("i", range(7))
def test_save_load_roundtrip(tmp_path, i):
    X, genes = _random_counts()
    tk = _all_tokenizers(X, genes)[i]
    path = tk.save(tmp_path / "tok.json")
    back = Tokenizer.load(path)
    assert type(back) is type(tk) and back.config() == tk.config()
    a, b = tk.encode(X, genes=genes), back.encode(X, genes=genes)
    np.testing.assert_array_equal(a.input_ids, b.input_ids)
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("i", range(7))
def test_batch_independence_determinism_and_dense(i):
    X, genes = _random_counts()
    tk = _all_tokenizers(X, genes)[i]
    import anndata as ad

    adata = ad.AnnData(X)
    adata.var_names, adata.obs_names = genes, [f"c{j}" for j in range(X.shape[0])]
    full = tk.encode(adata, batch_size=7)
    perm = np.random.default_rng(3).permutation(X.shape[0])
    shuffled = tk.encode(adata[perm], batch_size=5)
    alone = tk.encode(adata[:4], batch_size=1)
    dense_ad = ad.AnnData(X.toarray())
    dense_ad.var_names, dense_ad.obs_names = adata.var_names, adata.obs_names
    dense = tk.encode(dense_ad, batch_size=64)
    np.testing.assert_array_equal(full.input_ids[perm], shuffled.input_ids)
    np.testing.assert_array_equal(full.values[perm], shuffled.values)
    np.testing.assert_array_equal(full.values[:4], alone.values)
    for k in full.extra:
        np.testing.assert_array_equal(full.extra[k][perm], shuffled.extra[k])
    np.testing.assert_array_equal(full.input_ids, dense.input_ids)
    np.testing.assert_array_equal(full.values, dense.values)
    np.testing.assert_array_equal(full.input_ids, tk.encode(adata, batch_size=7).input_ids)


def test_to_torch_and_namespace():
    tk = vc.tokenize.RankTokenizer(max_len=4).fit(X3, genes=G5)
    t = tk.encode(X3, genes=G5).to_torch()
    assert t["input_ids"].dtype.is_floating_point is False and t["values"].shape == (3, 5)
    assert set(vc.tokenize.__all__) >= {"RankTokenizer", "BinTokenizer", "GeneTextTokenizer"}
