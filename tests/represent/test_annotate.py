"""annotate: methods, calibration, unknown score, splits, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell import ValidationError
from virtualcell.represent import annotate, list_methods


@pytest.mark.parametrize("method", ["knn", "centroid", "linear_probe", "l1_logreg"])
def test_methods_label_separable_types(typed_cells, method):
    res = annotate(typed_cells, label_key="cell_type", method=method, query_fraction=0.3, seed=0)
    q = res.query
    assert {"vc_label", "vc_confidence", "vc_unknown_score", "vc_unknown"} <= set(q.obs)
    assert res.metrics["accuracy"] >= 0.9 and res.metrics["macro_f1"] >= 0.9
    assert np.allclose(res.probabilities.sum(1), 1.0)
    assert ((res.confidence >= 0) & (res.confidence <= 1)).all()
    assert ((res.unknown_score >= 0) & (res.unknown_score <= 1)).all()
    # the query is the held-out 30 %, stratified: every type present
    assert q.n_obs == 72 and q.obs["cell_type"].nunique() == 4
    split = q.uns["vc"]["annotate"]["split"]
    assert split["query_fraction"] == 0.3 and split["method"] == "stratified"
    # reproducible
    again = annotate(typed_cells, label_key="cell_type", method=method, query_fraction=0.3, seed=0)
    assert np.array_equal(res.labels, again.labels)
    assert np.allclose(res.unknown_score, again.unknown_score)


def test_celltypist_baseline(typed_cells):
    pytest.importorskip("celltypist")
    res = annotate(typed_cells, label_key="cell_type", method="celltypist", query_fraction=0.3)
    assert res.metrics["accuracy"] >= 0.8


def test_methods_listing_marks_baselines():
    assert set(list_methods(baseline=True)) == {"l1_logreg", "celltypist"}
    assert {"knn", "centroid", "linear_probe", "finetune"} <= set(list_methods())


def test_calibration_choices_change_confidence_not_labels(typed_cells):
    ref, qry, _ = vc.represent.split_reference(
        typed_cells, label_key="cell_type", query_fraction=0.3, seed=1
    )
    out = {}
    for cal in ("none", "temperature", "isotonic"):
        out[cal] = annotate(
            ref, query=qry.copy(), label_key="cell_type", method="centroid", calibration=cal, seed=1
        )
    assert np.array_equal(out["none"].labels, out["temperature"].labels)
    assert out["none"].info["n_calibration"] == 0
    assert out["temperature"].info["n_calibration"] > 0
    t = out["temperature"].info["calibration"]["temperature"]
    assert t != 1.0
    # raw confidence is the uncalibrated softmax; "none" reports it as is
    assert np.allclose(out["none"].confidence, out["none"].raw_confidence)
    assert "ece" in out["isotonic"].metrics and "ece_raw" in out["isotonic"].metrics


def test_unknown_score_finds_a_type_missing_from_the_reference(typed_cells):
    ref = typed_cells[typed_cells.obs["cell_type"] != "type3"].copy()
    res = annotate(ref, query=typed_cells.copy(), label_key="cell_type", method="knn", seed=0)
    novel = (typed_cells.obs["cell_type"] == "type3").to_numpy()
    assert vc.metrics.auroc(novel.astype(int), res.unknown_score) > 0.9
    assert res.metrics["n_unseen"] == novel.sum()
    # the threshold is the 95th percentile of held-out reference scores: few false alarms
    assert res.unknown[~novel].mean() < 0.1 < 0.3 < res.unknown[novel].mean()


def test_evaluate_novel_table(typed_cells):
    res = vc.represent.evaluate_novel(
        typed_cells, label_key="cell_type", method="centroid", query_fraction=0.3
    )
    assert isinstance(res, vc.metrics.EvalResult) and res.task == "represent/novel"
    table = pd.DataFrame(res["rows"])
    assert sorted(table["held_out"]) == ["type0", "type1", "type2", "type3"]
    assert (table["auroc"] > 0.8).all()
    assert {"auroc_confidence", "auroc_distance", "known_accuracy"} <= set(table.columns)
    # the contract's tidy table: one row per held-out type and metric, direction from
    # METRIC_SPECS (false alarms: lower is better)
    t = res.table
    assert list(t.columns[:9]) == list(vc.metrics.EVAL_COLUMNS)
    assert set(t["unit"]) == set(table["held_out"]) and set(t["method"]) == {"centroid"}
    assert set(t["metric"]) == {"auroc", "novel_flagged", "known_flagged", "known_accuracy"}
    hib = t.groupby("metric")["higher_is_better"].first()
    assert not hib["known_flagged"] and hib["auroc"] and hib["known_accuracy"]
    assert res.value("centroid", "auroc") == pytest.approx(table["auroc"].mean())


def test_evaluate_annotation_and_summary(typed_cells):
    from virtualcell.represent._evaluate import summarize

    res = vc.represent.evaluate_annotation(
        typed_cells, label_key="cell_type", methods=["knn", "l1_logreg"], seeds=[0, 1]
    )
    table = pd.DataFrame(res["rows"])
    assert len(table) == 4 and set(table["baseline"]) == {True, False}
    s = summarize(table)
    assert list(s.index) == ["knn", "l1_logreg"] and (s["n"] == 2).all()
    assert s.loc["knn", "accuracy_mean"] == pytest.approx(
        table[table.method == "knn"]["accuracy"].mean()
    )
    # the tidy table carries the same numbers: 2 methods x 2 seeds x 3 metrics
    assert len(res.table) == 12 and set(res.table["metric"]) == {"accuracy", "macro_f1", "ece"}
    summ = res.summary(by=("method", "baseline", "metric")).set_index(["method", "metric"])
    assert summ.loc[("knn", "accuracy"), "mean"] == pytest.approx(s.loc["knn", "accuracy_mean"])
    assert summ.loc[("knn", "accuracy"), "sd"] == pytest.approx(s.loc["knn", "accuracy_sd"])
    assert bool(summ.loc[("l1_logreg", "ece"), "baseline"])
    assert not summ.loc[("knn", "ece"), "higher_is_better"]


def test_evaluate_embedding_equals_the_metrics(typed_cells):
    cells = typed_cells.copy()
    emb = vc.represent.embed(cells, source="pca")  # also in obsm["X_vc"]
    res = vc.represent.evaluate_embedding(cells, label_key="cell_type", embedding=emb,
                                          seed=0, method="pca", baseline=True)  # fmt: skip
    labels = typed_cells.obs["cell_type"].astype(str).to_numpy()
    assert res["avg_bio"] == pytest.approx(vc.metrics.avg_bio(labels, emb, seed=0), abs=1e-12)
    clus = vc.metrics.leiden_nmi_ari(labels, emb, seed=0)
    assert res["nmi"] == clus["nmi"] and res["ari"] == clus["ari"]
    assert res.value("pca", "asw") == pytest.approx(vc.metrics.asw(labels, emb, rescale=True))
    assert list(res.table["metric"]) == ["avg_bio", "nmi", "ari", "asw"]
    assert vc.represent.evaluate_embedding(cells, label_key="cell_type")["nmi"] == res["nmi"]
    with pytest.raises(ValidationError, match="shape"):
        vc.represent.evaluate_embedding(cells, label_key="cell_type", embedding=emb[:5])
    with pytest.raises(ValidationError, match="obsm has no 'X_umap'"):
        vc.represent.evaluate_embedding(cells, label_key="cell_type", embedding="X_umap")


def test_batch_key_standardizes_features(typed_cells):
    res = annotate(
        typed_cells,
        label_key="cell_type",
        method="linear_probe",
        query_fraction=0.3,
        batch_key="batch",
        seed=0,
    )
    assert res.info["batch_key"] == "batch" and res.metrics["accuracy"] >= 0.9


def test_bad_input_is_named(typed_cells):
    with pytest.raises(ValidationError, match="label_key 'nope'"):
        annotate(typed_cells, label_key="nope", query_fraction=0.3)
    with pytest.raises(ValidationError, match="unknown annotation method"):
        annotate(typed_cells, label_key="cell_type", method="knnn", query_fraction=0.3)
    with pytest.raises(ValidationError, match="query_fraction"):
        annotate(typed_cells, label_key="cell_type", query_fraction=1.5)
    with pytest.raises(ValidationError, match="batch_key"):
        annotate(typed_cells, label_key="cell_type", query_fraction=0.3, batch_key="plate")
    with pytest.raises(ValidationError, match="model="):
        annotate(typed_cells, label_key="cell_type", method="finetune", query_fraction=0.3)
    scaled = typed_cells.copy()
    scaled.X = scaled.X.toarray() - 1.0
    with pytest.raises(ValidationError, match="negative"):
        annotate(scaled, label_key="cell_type", query_fraction=0.3)


@pytest.mark.shared_data
def test_pbmc68k_reduced_raw_layer():
    """Real cells: the bundled pbmc68k_reduced (log-normalised .raw)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pbmc = vc.datasets.pbmc68k_reduced()
    res = annotate(
        pbmc, label_key="bulk_labels", method="l1_logreg", layer="raw", query_fraction=0.3, seed=0
    )
    assert res.metrics["accuracy"] > 0.7


def test_linear_probe_C_by_inner_cross_validation():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from virtualcell.represent._methods import PROBE_C_GRID, LinearProbeAnnotator

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    x = rng.normal(size=(60, 100))
    x[:, 0] += 1.0 * y  # one weak signal among noise dimensions
    probe = LinearProbeAnnotator(C="cv", seed=3)
    probe._fit_classifier(x, y)
    # the reference: scikit-learn's grid search over the same grid, folds and score
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=3)),
        {"logisticregression__C": list(PROBE_C_GRID)},
        cv=StratifiedKFold(3, shuffle=True, random_state=3),
        scoring="f1_macro",
    ).fit(x, y)
    assert probe.C_ == grid.best_params_["logisticregression__C"]
    assert probe.C_ < 1.0  # 100 dimensions, 60 cells, one signal: shrinkage wins
    single = LinearProbeAnnotator(C="cv")
    single._fit_classifier(x[:41], np.r_[y[:40], 2])  # a class with one cell: no inner CV
    assert single.C_ == 1.0
    with pytest.raises(ValidationError, match="positive number or 'cv'"):
        LinearProbeAnnotator(C=0)
    res = annotate(x_cells := _cells(x, y), label_key="t", method="linear_probe",
                   query_fraction=0.3, method_options={"C": "cv"})  # fmt: skip
    assert x_cells.n_obs == 60 and res.metrics["macro_f1"] > res.metrics["majority_macro_f1"]


def _cells(x: np.ndarray, y: np.ndarray):
    import anndata as ad

    counts = np.round(np.exp(x / 2 + 1)).astype(np.float32)
    a = ad.AnnData(counts)
    a.var_names = [f"G{i}" for i in range(x.shape[1])]
    a.obs["t"] = pd.Categorical([f"t{v}" for v in y])
    return a
