"""Tiny labelled cells and a trained bridge, shared by the text-bridge tests."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("warm_jit")


@pytest.fixture(scope="session")
def typed_cells_text():
    """240 count cells x 48 genes, 4 types (type0..type3), each over-expressing 6 genes."""
    from _textdata import make_typed

    return make_typed()


@pytest.fixture(scope="session")
def bridge(typed_cells_text, tmp_path_factory):
    """A bridge trained for 80 steps on types 0-2 (type3 held out), saved to a folder."""
    from virtualcell.text import BRIDGE_TRAIN_CONFIG, train_bridge

    a = typed_cells_text
    seen = a[a.obs["cell_type"] != "type3"].copy()
    out = tmp_path_factory.mktemp("bridge") / "model"
    model = train_bridge(
        seen, label_key="cell_type", ontology=False, n_comps=8,
        model_config={"embed_dim": 16, "hidden": 32},
        train_config=BRIDGE_TRAIN_CONFIG.replace(max_steps=80, batch_size=128, warmup_steps=5),
        out_dir=out,
    )  # fmt: skip
    return model, out
