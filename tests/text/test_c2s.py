"""Cell sentences (C2S): a CellGPT with a cell-type prefix — type as text, generation."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell._errors import ValidationError

pytestmark = pytest.mark.usefixtures("warm_jit")

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "dropout": 0.0}


@pytest.fixture(scope="module")
def c2s(typed_cells_text, tmp_path_factory):
    cfg = vc.text.C2S_TRAIN_CONFIG.replace(max_steps=150, batch_size=32, lr=3e-3, warmup_steps=5)
    out = tmp_path_factory.mktemp("c2s") / "model"
    model = vc.text.train_c2s(typed_cells_text, label_key="cell_type", top_k=8, model_config=TINY,
                              train_config=cfg, out_dir=out)  # fmt: skip
    return model, out


def test_sequences_carry_the_type_prefix_and_eos():
    from virtualcell.text._c2s import _sequences

    ids = np.array([[7, 8, 9], [7, 0, 0]])
    mask = np.array([[True, True, True], [True, False, False]])
    seq, att = _sequences(ids, mask, np.array([5, 6]), eos=2)
    assert seq.tolist() == [[1, 5, 7, 8, 9, 2], [1, 6, 7, 2, 0, 0]]
    assert att.sum(1).tolist() == [6, 4]


def test_type_prediction_as_text(c2s, typed_cells_text):
    model, folder = c2s
    assert model.extra["labels"] == ["type0", "type1", "type2", "type3"]
    assert vc.text.type_token("type1") in model.tokenizer.vocab
    a = typed_cells_text.copy()
    pred = vc.text.predict_c2s(a, folder)  # through the saved folder
    truth = a.obs["cell_type"].astype(str).to_numpy()
    assert vc.metrics.accuracy(truth, pred) > 0.8  # chance is 0.25
    assert list(a.obs["vc_c2s_label"].cat.categories) == model.extra["labels"]
    ll = vc.text.log_likelihoods(a[:5], model)
    assert ll.shape == (5, 4) and (ll.to_numpy() < 0).all()


def test_generated_cells_are_of_the_requested_type(c2s):
    model, _ = c2s
    g = vc.text.generate(model, cell_type=["type1", "type2"], n_cells=20, temperature=0.7, seed=0)
    assert g.n_obs == 40 and list(g.var_names) == list(model.tokenizer.vocab.genes)
    assert (g.obs["cell_type"].astype(str).to_numpy()[:20] == "type1").all()
    # type1 over-expresses GN6..GN11: of its 8-gene sentences at most 6/8 can be its own
    # genes, 6/48 by chance; type2's sentences hold few of them
    own = {f"GN{i}" for i in range(6, 12)}

    def share(rows):
        words = " ".join(g.obs["cell_sentence"][rows]).split()
        return np.mean([w in own for w in words])

    assert share(slice(0, 20)) > 0.35 > share(slice(20, 40))
    assert len(set(g.obs["cell_sentence"][:20])) > 1  # sampled, not one greedy sentence
    again = vc.text.generate(model, cell_type=["type1", "type2"], n_cells=20, temperature=0.7,
                             seed=0)  # fmt: skip
    assert (again.obs["cell_sentence"] == g.obs["cell_sentence"]).all()  # seeded


def test_generate_refuses_bad_input(c2s):
    model, _ = c2s
    with pytest.raises(ValidationError, match="unknown cell type"):
        vc.text.generate(model, cell_type="nope")
    with pytest.raises(ValidationError, match="n_cells"):
        vc.text.generate(model, cell_type="type1", n_cells=0)
    with pytest.raises(ValidationError, match="C2S model"):
        vc.text.predict_c2s(None, vc.models.PCAEncoder(vc.models.PCAConfig()))
    with pytest.raises(ValidationError, match="top_k"):
        vc.text.train_c2s(None, label_key="cell_type", top_k=1)


def test_evaluate_c2s_tables(typed_cells_text):
    cfg = vc.text.C2S_TRAIN_CONFIG.replace(max_steps=20, batch_size=32, warmup_steps=2)
    res = vc.text.evaluate_c2s(typed_cells_text, label_key="cell_type", seeds=[0], top_k=8,
                               model_config=TINY, train_config=cfg)  # fmt: skip
    assert set(res.prediction["method"]) == {"c2s", "l1_logreg"}
    assert ((res.prediction["accuracy"] >= 0) & (res.prediction["accuracy"] <= 1)).all()
    gen = res.generation.set_index("generator")
    assert set(gen.index) == {"c2s", "type_mean", "train_cells", "real_test"}
    assert gen.loc["real_test", "energy_distance"] == pytest.approx(0.0, abs=1e-4)  # float32
    assert gen.loc["real_test", "mean_pearson"] == pytest.approx(1.0)
    # the reference sets are labelled by the classifier far above chance (0.25)
    assert gen.loc["train_cells", "classifier_accuracy"] > 0.8
    assert set(res.summary()) == {"prediction", "generation"}
