"""text_map (ESZSL) and text_map_conse (ConSE): zero-shot on a compositional toy.

Each type is a pair of attributes; an attribute is a block of over-expressed genes and a
word of the label. The text encoder is a bag of those words, so a held-out pair ("a c")
is recognisable only by composing what the seen types taught about "a" and "c" (the seen
pairs form a 5-cycle, whose word vectors span the whole word space).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import virtualcell as vc
from virtualcell._errors import ValidationError
from virtualcell.text import LabelTexts

WORDS = ("a", "b", "c", "d", "e")
SEEN = ("a b", "b c", "c d", "d e", "a e")
HELD = ("a c", "b d")


def bag_of_words(texts: list[str]) -> np.ndarray:
    return np.array([[t.split().count(w) + 0.05 for w in WORDS] for t in texts], dtype=float)


def toy(n_per_type: int = 40, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    labels = [t for t in SEEN + HELD for _ in range(n_per_type)]
    rate = np.ones((len(labels), 6 * len(WORDS) + 12))
    for i, t in enumerate(labels):
        for w in t.split():
            j = WORDS.index(w)
            rate[i, 6 * j : 6 * j + 6] = 8.0
    a = ad.AnnData(rng.poisson(rate).astype(np.float32))
    a.obs["cell_type"] = labels
    a.obs_names = [f"c{i}" for i in range(a.n_obs)]
    a.var_names = [f"GN{i}" for i in range(a.n_vars)]
    return a


def texts_of(labels) -> LabelTexts:
    return LabelTexts(texts={x: [x] for x in labels})


@pytest.mark.parametrize("name", ["text_map", "text_map_conse"])
def test_held_out_pairs_are_composed_from_seen_attributes(name):
    a = toy()
    seen = a[a.obs["cell_type"].isin(SEEN)].copy()
    held = a[a.obs["cell_type"].isin(HELD)].copy()
    m = vc.text.ZERO_SHOT_METHODS.get(name)(n_comps=8, text_encoder=bag_of_words)
    m.fit(seen, label_key="cell_type", seed=0, texts=texts_of(SEEN))
    assert m.classes == sorted(SEEN) and 0 <= m.offset <= 3
    S = m.scores(held, texts_of(HELD))
    pred = np.asarray(HELD)[S.argmax(1)]
    assert np.mean(pred == held.obs["cell_type"].to_numpy()) > 0.9  # chance: 0.5


def test_calibrated_stacking_moves_cells_between_seen_and_unseen():
    a = toy(seed=1)
    seen = a[a.obs["cell_type"].isin(SEEN)].copy()
    everything = texts_of(SEEN + HELD)
    preds = {}
    for cal in (-100.0, 0.0, 100.0):
        m = vc.text.ZERO_SHOT_METHODS.get("text_map")(
            n_comps=8, text_encoder=bag_of_words, calibration=cal
        ).fit(seen, label_key="cell_type", texts=texts_of(SEEN))
        assert m.offset == cal
        preds[cal] = np.asarray(SEEN + HELD)[m.scores(a, everything).argmax(1)]
    assert not np.isin(preds[-100.0], HELD).any()  # seen labels favoured: no unseen label
    assert np.isin(preds[100.0], HELD).all()  # seen labels pushed down: only unseen labels
    # scores are standardised within each cell: the offset is in those units
    m = vc.text.ZERO_SHOT_METHODS.get("text_map")(n_comps=8, text_encoder=bag_of_words)
    m.fit(seen, label_key="cell_type", texts=texts_of(SEEN))
    S = m.scores(a, everything) + np.isin(list(everything.texts), SEEN) * m.offset
    assert np.allclose(S.mean(1), 0) and np.allclose(S.std(1), 1)


def test_text_map_in_the_evaluation_protocol():
    a = toy(seed=2)
    res = vc.text.evaluate(
        a, label_key="cell_type", holdout_types=2, seeds=[3, 4], kb=False, ontology=False,
        methods=("text_map", "random"),
        method_options={"text_map": {"n_comps": 8, "text_encoder": bag_of_words}},
    )  # fmt: skip
    held = res.held_out[3]
    assert held == vc.text.split_types(a.obs["cell_type"], holdout_types=2, seed=3)
    t = res.table[res.table["seed"] == 3].set_index("method")
    assert list(t.index) == ["text_map", "random"] and not t.loc["text_map", "baseline"]
    assert t.loc["text_map", "n_held_out"] == 80
    rates = [c for c in t.columns if c.startswith(("zero_shot", "generalized", "recall"))]
    assert ((t[rates] >= 0) & (t[rates] <= 1)).all().all()
    # the summary's interval is mean_ci over the two seeds; the JSON carries it too
    v = res.table.loc[res.table["method"] == "text_map", "zero_shot_macro_f1"].to_numpy()
    ci = vc.metrics.mean_ci(v)
    row = res.summary().loc["text_map"]
    assert row["zero_shot_macro_f1_ci_low"] == pytest.approx(ci.low)
    assert row["zero_shot_macro_f1_ci_high"] == pytest.approx(ci.high)
    out = res.to_json()
    assert set(out["methods"]) == {"text_map"} and set(out["baselines"]) == {"random"}
    assert out["ci95"]["text_map"]["zero_shot_macro_f1"] == [
        pytest.approx(ci.low, abs=1e-4),
        pytest.approx(ci.high, abs=1e-4),
    ]


def test_text_map_refuses_bad_options():
    cls = vc.text.ZERO_SHOT_METHODS.get("text_map")
    with pytest.raises(ValidationError, match="kind"):
        cls(kind="nope")
    with pytest.raises(ValidationError, match="calibration"):
        cls(calibration="auto")
    with pytest.raises(ValidationError, match="beta"):
        cls(beta=0)
    with pytest.raises(ValidationError, match="cells must be one of pca, oracle"):
        cls(cells="scgpt")


def test_text_map_on_the_shipped_oracle_cells():
    """``cells="oracle"``: the cell side is the shipped oracle's embedding (its own
    readout), standardised on the reference; the compositional toy still composes."""
    from virtualcell.models import shipped_oracle_path

    a = toy(seed=2)
    vocab = vc.models.load(shipped_oracle_path()).tokenizer.vocab.genes
    a.var_names = list(vocab[100 : 100 + a.n_vars])  # genes the oracle knows
    seen = a[a.obs["cell_type"].isin(SEEN)].copy()
    held = a[a.obs["cell_type"].isin(HELD)].copy()
    m = vc.text.ZERO_SHOT_METHODS.get("text_map")(cells="oracle", text_encoder=bag_of_words)
    m.fit(seen, label_key="cell_type", seed=0, texts=texts_of(SEEN))
    want = vc.represent.embed(seen.copy(), source="oracle")
    np.testing.assert_allclose(m._features(seen, None)[:, :-1], (want - m.mu) / m.sd, atol=1e-5)
    pred = np.asarray(HELD)[m.scores(held, texts_of(HELD)).argmax(1)]
    assert np.mean(pred == held.obs["cell_type"].to_numpy()) > 0.9  # chance: 0.5
