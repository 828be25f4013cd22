"""``vc.pl`` figures of simulations: what is drawn, not only that a file appears."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import FancyArrowPatch

import virtualcell as vc


@pytest.fixture(scope="module")
def small():
    return vc.sim.simulate_perturbseq(
        12, n_cell_types=2, cells_per_condition=12, singles=4, doubles=2, seed=3
    )


def test_network_draws_every_gene_and_edge_with_its_sign(small, tmp_path):
    net = small.uns["true_network"]
    fig = vc.pl.network(small, path=tmp_path / "net.png")
    assert isinstance(fig, Figure) and (tmp_path / "net.png").stat().st_size > 1000
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(net)
    colours = [tuple(np.round(a.get_edgecolor()[:3], 3)) for a in arrows]
    green = tuple(np.round(np.array([44, 160, 44]) / 255, 3))
    red = tuple(np.round(np.array([214, 39, 40]) / 255, 3))
    assert colours.count(green) == int((net["sign"] == 1).sum())
    assert colours.count(red) == int((net["sign"] == -1).sum())
    nodes = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in nodes) == small.n_vars
    labels = {t.get_text() for t in ax.texts}
    assert labels == set(small.var_names)
    assert f"{small.n_vars} genes, {len(net)} edges" in ax.get_title()


def test_network_draws_into_a_given_axes():
    edges = pd.DataFrame({"regulator": ["A", "A"], "target": ["B", "C"], "sign": [1, -1]})
    outer = Figure()
    left, ax = outer.add_subplot(1, 2, 1), outer.add_subplot(1, 2, 2)
    fig = vc.pl.network(edges, ax=ax)
    assert fig is outer and len(ax.patches) == 2 and not left.patches


def test_heatmap_shows_the_computed_shifts(small, tmp_path):
    shifts = vc.sim.condition_shifts(small)
    fig = vc.pl.perturbation_heatmap(small, path=tmp_path / "hm.svg")
    ax = fig.axes[0]
    (image,) = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    np.testing.assert_allclose(image.get_array(), shifts.to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(shifts.index)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(small.var_names)
    assert shifts.index[0] == "control" and np.allclose(shifts.loc["control"], 0)
    vmax = np.percentile(np.abs(shifts.to_numpy()), 99)
    assert image.get_clim() == pytest.approx((-vmax, vmax))
    assert (tmp_path / "hm.svg").read_text().lstrip().startswith("<?xml")
    # the table itself can be drawn (compute in vc.sim, draw in vc.pl)
    fig2 = vc.pl.perturbation_heatmap(shifts.iloc[:3])
    (image2,) = [a for a in fig2.axes[0].get_children() if isinstance(a, AxesImage)]
    assert image2.get_array().shape == (3, small.n_vars)


def test_condition_shifts_hand_computed():
    import anndata as ad

    X = np.array([[1.0, 3.0], [3.0, 1.0], [4.0, 0.0], [0.0, 4.0]])
    adata = ad.AnnData(X)
    adata.obs["perturbation"] = ["control", "control", "A", "B"]
    adata.layers["v"] = X
    shifts = vc.sim.condition_shifts(adata, layer="v")
    assert list(shifts.index) == ["control", "A", "B"]
    np.testing.assert_allclose(shifts.to_numpy(), [[0, 0], [2, -2], [-2, 2]])
    with pytest.raises(vc.ValidationError, match="not in obs"):
        vc.sim.condition_shifts(adata, layer="v", conditions=["control", "Z"])


def test_umap_needs_coordinates_and_draws_them(small, tmp_path):
    with pytest.raises(vc.ValidationError, match="embed_umap"):
        vc.pl.umap(small)
    work = small.copy()
    rng = np.random.default_rng(0)
    work.obsm["X_umap"] = rng.normal(size=(work.n_obs, 2))
    fig = vc.pl.umap(work, path=tmp_path / "u.png", max_categories=3)
    ax = fig.axes[0]
    points = np.vstack([c.get_offsets() for c in ax.collections])
    assert len(points) == work.n_obs
    assert {tuple(p) for p in np.round(points, 6)} == {
        tuple(p) for p in np.round(work.obsm["X_umap"], 6)
    }
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "control" in legend and "other" in legend and len(legend) == 4
    assert ax.get_xlabel() == "UMAP1"


@pytest.mark.slow
def test_embed_umap_stores_coordinates_without_touching_x(small):
    work = small.copy()
    before = work.X.copy()
    coords = vc.sim.embed_umap(work, seed=0)
    assert coords.shape == (work.n_obs, 2) and "X_umap" in work.obsm
    assert (work.X != before).nnz == 0


def test_plot_functions_follow_the_contract():
    import inspect

    for f in (vc.pl.network, vc.pl.perturbation_heatmap, vc.pl.umap):
        params = inspect.signature(f).parameters
        names = list(params)
        assert names[1:3] == ["ax", "path"], f.__name__
        assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in names[1:])
