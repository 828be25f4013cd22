"""kNN annotation on a small TPM-like set, trivial baselines and the warning about them."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from virtualcell.cli import main
from virtualcell.represent import annotate, trivial_macro_f1


def smartseq_like(n_cells: int = 184, n_types: int = 6, n_genes: int = 3000, seed: int = 0):
    """TPM-like cells (rows sum to 1e6, non-integer): each type up-regulates 15 marker
    genes; every cell also expresses rare background genes with heavy-tailed levels, and
    how many it expresses differs between types (type0 the fewest) — as in full-length
    data, where cell types differ in the number of detected genes."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_cells) % n_types
    base = rng.lognormal(0.0, 1.0, n_genes)
    detect = rng.beta(0.3, 3.0, n_genes)
    complexity = np.linspace(0.6, 1.4, n_types)[y]
    on = rng.random((n_cells, n_genes)) < np.clip(detect * complexity[:, None], 0, 1)
    X = on * base * rng.lognormal(0.0, 1.5, (n_cells, n_genes))
    for t in range(n_types):
        markers = np.arange(t * 15, (t + 1) * 15)
        rows = y == t
        X[np.ix_(rows, markers)] = base[markers] * 8 * rng.lognormal(0, 0.5, (rows.sum(), 15))
    X = X / X.sum(1, keepdims=True) * 1e6
    a = ad.AnnData(sp.csr_matrix(X.astype(np.float32)))
    a.var_names = [f"g{i}" for i in range(n_genes)]
    a.obs_names = [f"c{i}" for i in range(n_cells)]
    a.obs["cell_type"] = [f"type{t}" for t in y]
    return a


@pytest.fixture(scope="module")
def tpm_cells():
    return smartseq_like()


def test_knn_does_not_collapse_onto_one_class_on_a_small_tpm_set(tpm_cells):
    """Euclidean kNN on the PCA embedding gave 51 of 54 query cells the label of the
    type with the fewest detected genes (macro-F1 0.13) while the linear probe was
    perfect: reference cells sit far from the centre of a PCA fitted on them (their rare
    genes), query cells near it, so the least complex reference cells were every query
    cell's neighbours."""
    kw = {"label_key": "cell_type", "query_fraction": 0.3, "seed": 0}
    knn = annotate(tpm_cells, method="knn", **kw)
    probe = annotate(tpm_cells, method="linear_probe", **kw)
    assert probe.metrics["macro_f1"] >= 0.95
    _, counts = np.unique(knn.labels, return_counts=True)
    assert counts.max() <= 0.25 * len(knn.labels)  # 6 balanced types: ~1/6 each
    assert knn.metrics["macro_f1"] >= 0.9
    assert knn.metrics["macro_f1"] >= probe.metrics["macro_f1"] - 0.05
    assert knn.warnings == []
    # the mechanism, kept as an option: plain Euclidean distances collapse here
    euclid = annotate(tpm_cells, method="knn", method_options={"metric": "euclidean"}, **kw)
    assert euclid.metrics["macro_f1"] < 0.5
    assert euclid.warnings and "trivial baseline" in euclid.warnings[0]


def test_trivial_macro_f1_by_hand():
    truth = np.array(["a", "a", "b", "c"])
    # majority "a": F1_a = 2*2 / (4 + 2), F1_b = F1_c = 0
    out = trivial_macro_f1(truth, np.array(["a", "a", "a", "b"]), seed=0)
    assert out["majority_macro_f1"] == pytest.approx((2 * 2 / 6) / 3)
    # a reference with one label: the prior draw is always that label
    only_a = trivial_macro_f1(truth, np.array(["a", "a"]), seed=1)
    assert only_a["prior_macro_f1"] == pytest.approx(only_a["majority_macro_f1"])
    # balanced prior on balanced truth: E[F1_c] is close to 1/k (k = 2 here)
    two = trivial_macro_f1(np.array(["x", "y"] * 50), np.array(["x", "y"]), seed=0, draws=400)
    assert two["prior_macro_f1"] == pytest.approx(0.5, abs=0.03)


def test_a_method_below_the_trivial_baseline_is_named(typed_cells):
    ref = typed_cells[:160].copy()
    query = typed_cells[160:].copy()
    # the query's truth is a cyclic relabelling of its types: every prediction is wrong
    order = sorted(query.obs["cell_type"].unique())
    shift = {c: order[(i + 1) % len(order)] for i, c in enumerate(order)}
    query.obs["cell_type"] = query.obs["cell_type"].map(shift).astype(str)
    res = annotate(ref, query=query, label_key="cell_type", method="linear_probe", seed=0)
    assert res.metrics["macro_f1"] == 0.0
    assert res.metrics["majority_macro_f1"] > 0 and res.metrics["prior_macro_f1"] > 0
    assert len(res.warnings) == 1 and "linear_probe macro-F1 0.000" in res.warnings[0]
    assert res.info["warnings"] == res.warnings
    good = annotate(typed_cells, label_key="cell_type", method="knn", query_fraction=0.3)
    assert good.warnings == [] and good.metrics["macro_f1"] > good.metrics["prior_macro_f1"]


def test_cli_explains_the_calibration_holdout_and_warns(tpm_cells, tmp_path, capsys, monkeypatch):
    from virtualcell import settings

    monkeypatch.setattr(settings, "verbosity", 1)  # the progress lines on stderr
    path = tmp_path / "tpm.h5ad"
    tpm_cells.write_h5ad(path)
    args = ["annotate", str(path), str(path), "--label-key", "cell_type"]
    args += ["--query-fraction", "0.3", "--json", "--method", "centroid"]
    assert main(args) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert {"majority_macro_f1", "prior_macro_f1", "warnings"} <= set(result)
    n_ref = 184 - result["n_query"]
    assert result["n_reference_fit"] + result["n_calibration"] == n_ref
    assert result["n_calibration"] > 0
    assert (
        f"fitted on {result['n_reference_fit']} of {n_ref} reference cells; "
        f"{result['n_calibration']} held out" in captured.err
    )


def test_knn_options_are_checked(typed_cells):
    from virtualcell import ValidationError

    with pytest.raises(ValidationError, match="metric"):
        annotate(
            typed_cells,
            label_key="cell_type",
            query_fraction=0.3,
            method_options={"metric": "manhattan"},
        )
    with pytest.raises(ValidationError, match="k must be"):
        annotate(typed_cells, label_key="cell_type", query_fraction=0.3, method_options={"k": 0})
