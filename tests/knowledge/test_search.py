from __future__ import annotations

import math

import numpy as np
import pytest

from virtualcell._errors import ValidationError
from virtualcell.knowledge import BM25
from virtualcell.knowledge._bm25 import tokenize
from virtualcell.knowledge._search import rrf

DOCS = [
    "insulin secretion from beta cells",
    "regulation of insulin secretion by glucose glucose",
    "red blood cell differentiation",
    "apoptotic process",
]


def _bm25_reference(docs, query, k1=1.2, b=0.75):
    """Textbook BM25 written as plain loops."""
    toks = [tokenize(d) for d in docs]
    n = len(docs)
    avgdl = sum(map(len, toks)) / n
    out = []
    for t in toks:
        s = 0.0
        for q in tokenize(query):
            df = sum(q in d for d in toks)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = t.count(q)
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(t) / avgdl))
        out.append(s)
    return np.array(out)


@pytest.mark.parametrize(
    "query", ["insulin secretion", "glucose", "cell", "insulin insulin", "zzz"]
)
def test_bm25_matches_reference(query):
    got = BM25().fit(DOCS).scores(query)
    np.testing.assert_allclose(got, _bm25_reference(DOCS, query), rtol=1e-5, atol=1e-6)


def test_bm25_save_load(tmp_path):
    bm = BM25(k1=1.5, b=0.5).fit(DOCS)
    bm.save(tmp_path / "i.npz")
    again = BM25.load(tmp_path / "i.npz")
    np.testing.assert_allclose(again.scores("insulin glucose"), bm.scores("insulin glucose"))
    np.testing.assert_allclose(
        bm.scores("glucose", rows=np.array([1, 3])), bm.scores("glucose")[[1, 3]]
    )


def test_tokenize():
    assert tokenize("The T-cell receptor of genes") == ["t-cell", "t", "cell", "receptor"]


def test_rrf_values():
    fused = rrf([[1, 2, 3], [3, 1]], c=60)
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)


def test_lexical_search_with_citations(tiny_kb):
    hits = tiny_kb.search("erythrocyte differentiation", k=3, kinds=["go_term"], mode="lexical")
    assert hits[0].id == "GO:0030218" and hits[0].kind == "go_term"
    assert any("GO:0030218" in c and "GO 2099-01-01" in c for c in hits[0].citations)
    assert "2 genes annotated directly" in hits[0].citations
    genes = tiny_kb.search("insulin", k=5, kinds=["gene"], mode="lexical")
    assert genes[0].id == "gene:INS"
    assert any(c.startswith("GO:0030073 insulin secretion [IDA]") for c in genes[0].citations)
    assert any(c.startswith("NCBI Gene:3630") for c in genes[0].citations)
    sets = tiny_kb.search("P53 SET", k=1, kinds=["gene_set"], mode="lexical")
    assert sets[0].id == "set:tiny:P53_SET" and "gene-set library tiny" in sets[0].citations[0]


def test_exact_name_ranks_first(tiny_kb):
    hits = tiny_kb.search("insulin secretion", k=5, mode="lexical")
    assert hits[0].id == "GO:0030073" and "exact" in hits[0].ranks
    assert tiny_kb.search("tp53", k=1, mode="lexical")[0].id == "gene:TP53"


def test_search_errors_and_caches(tiny_kb, tiny_kb_path):
    with pytest.raises(ValidationError, match="empty"):
        tiny_kb.search("  ")
    with pytest.raises(ValidationError, match="unknown passage kind"):
        tiny_kb.search("x", kinds=["protein"], mode="lexical")
    with pytest.raises(ValidationError, match="unknown search mode"):
        tiny_kb.search("x", mode="fuzzy")
    tiny_kb.search("apoptosis", mode="lexical")
    names = {p.name.split("-v")[0] for p in tiny_kb_path.parent.glob("knowledge.sqlite.*")}
    assert {"knowledge.sqlite.passages", "knowledge.sqlite.bm25"} <= names
