"""The cell–text bridge on tiny data: training, zero-shot annotation, search, evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from _textdata import needs_embedder

import virtualcell as vc
from virtualcell._errors import ValidationError

pytestmark = [pytest.mark.usefixtures("warm_jit"), needs_embedder]


def test_bridge_annotates_seen_types(bridge, typed_cells_text):
    model, _ = bridge
    assert model.extra["labels"] == ["type0", "type1", "type2"]
    assert model.training["steps"] == 80
    a = typed_cells_text[typed_cells_text.obs["cell_type"] != "type3"].copy()
    res = vc.text.annotate(a, model, ontology=False)
    truth = a.obs["cell_type"].astype(str).to_numpy()
    assert vc.metrics.accuracy(truth, res.labels) > 0.9
    assert list(a.obs["vc_text_label"].cat.categories) == ["type0", "type1", "type2"]
    assert "vc_text_label_score" in a.obs and "vc_text_label" in a.uns
    assert res.similarity.shape == (a.n_obs, 3)
    np.testing.assert_allclose(res.probabilities.sum(1), 1.0, rtol=1e-5)


def test_saved_bridge_reloads_and_answers_the_same(bridge, typed_cells_text):
    model, folder = bridge
    back = vc.models.load(folder)
    a = typed_cells_text[:40].copy()
    np.testing.assert_allclose(back.embed_cells(a), model.embed_cells(a), atol=1e-5)
    r1 = vc.text.annotate(a.copy(), folder, ontology=False)
    r2 = vc.text.annotate(a.copy(), model, ontology=False)
    assert (r1.labels == r2.labels).all()


def test_search_finds_cells_of_the_described_genes(bridge, typed_cells_text):
    model, _ = bridge
    a = typed_cells_text.copy()
    hits = vc.text.search(a, model, query="a cell with high expression of GN6, GN7, GN8, GN9", k=10)
    assert list(hits["rank"]) == list(range(1, 11))
    types = a.obs.loc[hits.index, "cell_type"]
    assert (types == "type1").mean() >= 0.8
    assert a.obs["vc_text_similarity"].notna().all()
    with pytest.raises(ValidationError, match="non-empty"):
        vc.text.search(a, model, query="  ")


def test_annotate_refuses_bad_input(bridge, typed_cells_text):
    model, _ = bridge
    with pytest.raises(ValidationError, match="at least two"):
        vc.text.annotate(typed_cells_text.copy(), model, labels=["type0"], ontology=False)
    with pytest.raises(ValidationError, match="CellTextModel"):
        vc.text.annotate(typed_cells_text.copy(), 3, ontology=False)


def test_train_bridge_refuses_bad_options(typed_cells_text):
    with pytest.raises(ValidationError, match="label_key 'nope'"):
        vc.text.train_bridge(typed_cells_text, label_key="nope", ontology=False)
    with pytest.raises(ValidationError, match=r"CellTextConfig\.embed_dim"):
        vc.text.train_bridge(
            typed_cells_text, label_key="cell_type", model_config={"embed_dim": 0}, ontology=False
        )


TEXTS = {f"type{g}": f"cells expressing GN{6 * g}, GN{6 * g + 1}, GN{6 * g + 2}" for g in range(4)}


def test_evaluate_protocol_and_json(typed_cells_text):
    cfg = vc.text.BRIDGE_TRAIN_CONFIG.replace(max_steps=30, batch_size=128, warmup_steps=3)
    res = vc.text.evaluate(
        typed_cells_text, label_key="cell_type", holdout_types=2, seeds=[0],
        methods=("bridge", "marker_score", "genept", "random"), kb=False, ontology=False,
        texts=TEXTS, method_options={"bridge": {"train_config": cfg, "n_comps": 8}},
    )  # fmt: skip
    held = res.held_out[0]
    assert held == vc.text.split_types(typed_cells_text.obs["cell_type"], holdout_types=2, seed=0)
    assert set(res.table["method"]) == {"bridge", "marker_score", "random"}
    assert "genept" in res.skipped  # no knowledge store: skipped, said why
    t = res.table.set_index("method")
    metrics = [c for c in t.columns if c.startswith(("zero_shot", "recall", "generalized"))]
    assert ((t[metrics] >= 0) & (t[metrics] <= 1)).all().all()
    # the label texts name each type's own genes: the marker-score baseline must find them
    assert t.loc["marker_score", "zero_shot_macro_f1"] == pytest.approx(1.0)
    assert t.loc["marker_score", "recall_at_1_cell_to_text"] > 0.95
    out = res.to_json(seed=0)
    assert {"zero_shot_macro_f1", "recall_at_5_cell_to_text", "baselines"} <= set(out)
    assert set(out["baselines"]) == {"marker_score", "random", "genept"}
    assert out["baselines"]["genept"]["zero_shot_macro_f1"] is None
    assert out["held_out_types"] == {"0": held}
    assert set(out["methods"]) == {"bridge"}  # every non-baseline method, by name
    assert out["methods"]["bridge"]["zero_shot_macro_f1"] == out["zero_shot_macro_f1"]
    assert out["ci95"]["bridge"]["zero_shot_macro_f1"] == [None, None]  # one seed: none


def test_split_types_checks():
    labels = ["a"] * 10 + ["b"] * 10 + ["c"] * 3 + ["d"] * 8
    assert len(vc.text.split_types(labels, holdout_types=2, seed=1)) == 2
    assert "c" not in vc.text.split_types(labels, holdout_types=2, seed=1, min_cells=5)
    with pytest.raises(ValidationError, match="at least 2 labels must stay"):
        vc.text.split_types(labels, holdout_types=3, seed=0)
    with pytest.raises(ValidationError, match=">= 2"):
        vc.text.split_types(labels, holdout_types=1, seed=0)


@pytest.mark.slow
@pytest.mark.shared_data
def test_zero_shot_beats_chance_on_pbmc68k():
    a = vc.datasets.pbmc68k_reduced()
    res = vc.text.evaluate(a, label_key="bulk_labels", layer="raw", seeds=[0],
                           methods=("bridge", "random"), kb=False)  # fmt: skip
    t = res.table.set_index("method")
    assert t.loc["bridge", "zero_shot_accuracy"] > t.loc["random", "zero_shot_accuracy"]
    assert t.loc["bridge", "seen_accuracy"] > 0.6


def test_evaluate_refuses_cluster_numbers_as_type_names():
    """Zero-shot annotation reads the held-out types' names: Leiden/Louvain numbers
    describe no cell type (they were scored and printed as if they did)."""
    from _textdata import make_typed

    a = make_typed(n_cells=60)
    a.obs["leiden"] = np.unique(a.obs["cell_type"].astype(str), return_inverse=True)[1].astype(str)
    with pytest.raises(ValidationError, match=r"obs\['leiden'\] holds numbers \(0, 1, 2, 3\)"):
        vc.text.evaluate(a, label_key="leiden", holdout_types=2, seeds=[0], kb=False)
    from virtualcell.text._evaluate import _check_label_names

    _check_label_names(["0", "1"], "leiden", {"0": "a T cell", "1": "a B cell"})  # described
    _check_label_names(["0", "T cell"], "leiden", None)  # some names: left to the user
