"""Dense retrieval and GenePT embeddings with the real offline MiniLM model (skipped when
sentence-transformers or the packaged model is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from virtualcell.knowledge import embedder_available, gene_text_embeddings

pytestmark = pytest.mark.skipif(not embedder_available(), reason="sentence embedder not installed")


def test_dense_and_hybrid_search(tiny_kb, tiny_kb_path):
    dense = tiny_kb.search("formation of red blood cells", k=2, kinds=["go_term"], mode="dense")
    assert "GO:0030218" in {h.id for h in dense} and set(dense[0].ranks) == {"dense"}
    assert all("erythrocyte" in h.title for h in dense)
    # "apoptosis" matches BAX's name lexically and "apoptotic process" only densely:
    # hybrid returns both at the top
    hybrid = tiny_kb.search("apoptosis", k=3, mode="hybrid")
    assert {h.id for h in hybrid[:2]} == {"GO:0006915", "gene:BAX"}
    assert tiny_kb.search("apoptosis", k=3, mode="lexical", kinds=["go_term"]) == []
    assert list(tiny_kb_path.parent.glob("knowledge.sqlite.dense-go_term-v*-*.npy"))
    # the hybrid verifier bridges wording that lexical matching cannot
    v = tiny_kb.verify("KLF1 is involved in red blood cell development", mode="hybrid")
    assert v.label == "supported"
    assert "GO:0030218" in [t for t, _ in v.terms]


def test_gene_text_embeddings_cached(tiny_kb, monkeypatch):
    from virtualcell.knowledge import _dense
    from virtualcell.knowledge._genept import gene_text

    emb = gene_text_embeddings(["KLF1", "p53", "UNKNOWN_GENE"], kb=tiny_kb)
    assert list(emb.index) == ["KLF1", "p53"] and emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb.to_numpy(), axis=1), 1.0, atol=1e-5)
    text = gene_text(tiny_kb, ["KLF1"])["KLF1"]
    assert (
        text.startswith("KLF1: KLF transcription factor 1")
        and "erythrocyte differentiation" in text
    )
    direct = _dense.embed([text])[0]
    np.testing.assert_allclose(emb.loc["KLF1"].to_numpy(), direct, atol=1e-5)

    def boom(*a, **k):
        raise AssertionError("cache miss")

    monkeypatch.setattr(_dense, "embed", boom)
    again = gene_text_embeddings(["TP53", "KLF1"], kb=tiny_kb)  # both cached now
    np.testing.assert_allclose(again.loc["KLF1"].to_numpy(), emb.loc["KLF1"].to_numpy())
    assert emb.attrs["version"] == 1
