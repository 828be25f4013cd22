"""vc.spatial niches: neighbourhood graph, niche embeddings, domains, evaluation, CLI."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import virtualcell as vc
from virtualcell import ValidationError


def built_tissue(n_cells: int = 900, n_niches: int = 3, n_types: int = 4, seed: int = 0):
    """Cells on a square section; the niche is the vertical band a cell sits in; each
    niche mixes the cell types in its own proportions, so that expression alone sees the
    types and only the neighbourhood tells the niches apart."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 600, size=(n_cells, 2))
    niche = np.minimum((xy[:, 0] / (600 / n_niches)).astype(int), n_niches - 1)
    mix = np.full((n_niches, n_types), 0.05)
    for k in range(n_niches):  # each niche dominated by two types, in its own order
        mix[k, k % n_types] += 0.6
        mix[k, (k + 1) % n_types] += 0.3
    mix /= mix.sum(1, keepdims=True)
    ctype = np.array([rng.choice(n_types, p=mix[k]) for k in niche])
    n_genes = 40
    base = rng.gamma(2.0, 1.0, size=n_genes)
    profiles = np.tile(base, (n_types, 1))
    for t in range(n_types):
        profiles[t, t * 8 : t * 8 + 8] *= 8.0  # 8 marker genes per type
    X = rng.poisson(profiles[ctype]).astype(np.float32)
    adata = ad.AnnData(sp.csr_matrix(X))
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    adata.obs["niche"] = pd.Categorical([f"niche{k}" for k in niche])
    adata.obs["cell_type"] = pd.Categorical([f"type{t}" for t in ctype])
    adata.obsm["spatial"] = xy
    return adata


@pytest.fixture(scope="module")
def tissue():
    return built_tissue()


# -- the graph ------------------------------------------------------------------------------
def test_knn_graph_is_symmetric_with_k_neighbours(tissue):
    a = tissue.copy()
    conn = vc.spatial.neighbors(a, n_neighbors=6)
    assert conn is a.obsp["spatial_connectivities"]
    assert (conn != conn.T).nnz == 0
    assert conn.diagonal().sum() == 0
    deg = np.asarray(conn.sum(1)).ravel()
    assert deg.min() >= 6  # the union of both directions: at least k
    # every cell's 6 nearest others are among its neighbours
    xy = a.obsm["spatial"]
    d = np.linalg.norm(xy[:50, None] - xy[None], axis=2)
    for i in range(50):
        nearest = np.argsort(d[i])[1:7]
        assert set(nearest) <= set(conn[i].indices)
    dist = a.obsp["spatial_distances"]
    assert (dist.indptr == conn.indptr).all() and (dist.indices == conn.indices).all()
    i, j = conn[0].indices[0], 0
    assert dist[j, i] == pytest.approx(np.linalg.norm(xy[i] - xy[j]), rel=1e-5)
    params = a.uns["spatial_neighbors"]
    assert params["connectivities_key"] == "spatial_connectivities"
    assert params["params"]["n_neighbors"] == 6


def test_directed_knn_rows_have_exactly_k_before_symmetrising():
    # on a regular 1-D lattice with distinct gaps every cell's k nearest are unique; a
    # point whose neighbours all pick it gets more than k after the union only
    a = ad.AnnData(np.ones((5, 2), dtype=np.float32))
    a.obsm["spatial"] = np.array([[0, 0], [1, 0], [3, 0], [6, 0], [10, 0]], dtype=float)
    conn = vc.spatial.neighbors(a, n_neighbors=1).toarray()
    # directed 1-NN: 0->1, 1->0, 2->1, 3->2, 4->3; symmetric union
    expected = np.zeros((5, 5))
    for i, j in [(0, 1), (2, 1), (3, 2), (4, 3)]:
        expected[i, j] = expected[j, i] = 1
    assert (conn == expected).all()


def test_radius_graph_joins_exactly_the_pairs_within_radius(tissue):
    a = tissue.copy()
    conn = vc.spatial.neighbors(a, radius=40.0)
    xy = a.obsm["spatial"]
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    want = (d <= 40.0) & ~np.eye(len(xy), dtype=bool)
    assert (conn.toarray().astype(bool) == want).all()
    assert a.uns["spatial_neighbors"]["params"]["radius"] == 40.0


def test_cells_on_one_spot_stay_joined():
    a = ad.AnnData(np.ones((4, 2), dtype=np.float32))
    a.obsm["spatial"] = np.array([[0, 0], [0, 0], [5, 0], [9, 0]], dtype=float)
    conn = vc.spatial.neighbors(a, n_neighbors=1)
    assert conn[0, 1] == 1 and conn[1, 0] == 1
    assert a.obsp["spatial_distances"][0, 1] == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.obsm.pop("spatial"), "no obsm\\['spatial'\\]"),
        (lambda a: a.obsm.__setitem__("spatial", np.zeros((a.n_obs, 4))), "shape"),
        (lambda a: a.obsm["spatial"].__setitem__((3, 0), np.nan), "NaN"),
    ],
)
def test_bad_coordinates_are_one_line_errors(tissue, change, message):
    a = tissue.copy()
    a.obsm["spatial"] = a.obsm["spatial"].copy()
    change(a)
    with pytest.raises(ValidationError, match=message) as err:
        vc.spatial.neighbors(a)
    assert "\n" not in str(err.value)


def test_bad_graph_parameters(tissue):
    with pytest.raises(ValidationError, match="n_neighbors"):
        vc.spatial.neighbors(tissue.copy(), n_neighbors=tissue.n_obs)
    with pytest.raises(ValidationError, match="radius"):
        vc.spatial.neighbors(tissue.copy(), radius=-1.0)


# -- embeddings and domains -----------------------------------------------------------------
def test_registry_lists_baselines_and_methods():
    table = vc.spatial.list_niche_embeddings()
    assert {"expression", "neighbor_pca", "composition", "multihop", "niche_transformer"} <= set(
        table
    )
    assert set(vc.spatial.list_niche_embeddings(baseline=True)) == {"expression", "neighbor_pca"}


def test_methods_never_see_obs(tissue):
    a = tissue.copy()
    vc.spatial.neighbors(a)
    inputs = vc.spatial.NicheInputs.from_adata(a)
    assert not hasattr(inputs, "obs")
    z1 = vc.spatial.NICHE_EMBEDDINGS.get("composition")(inputs, seed=0)
    b = a.copy()
    b.obs["niche"] = "shuffled"  # a truth field changed: the embedding cannot change
    z2 = vc.spatial.NICHE_EMBEDDINGS.get("composition")(
        vc.spatial.NicheInputs.from_adata(b), seed=0
    )
    np.testing.assert_allclose(z1, z2)


def test_composition_recovers_planted_niches_better_than_expression(tissue):
    res = vc.spatial.evaluate_niches(
        tissue, methods=["composition", "multihop"], seeds=(0, 1), n_neighbors=10
    )
    ari = {r["method"]: r["score"] for r in res["results"]}
    assert ari["expression"] < 0.3  # expression sees cell types, not niches
    assert ari["composition"] > 0.6
    assert ari["composition"] > ari["expression"] + 0.3
    assert ari["multihop"] > ari["expression"]


def test_domains_writes_obs_and_respects_n_domains(tissue):
    a = tissue.copy()
    out = vc.spatial.domains(a, embedding="composition", n_domains=3)
    assert a.obs["vc_domain"].nunique() == 3
    assert list(out.index) == list(a.obs_names)
    assert "X_vc_niche" in a.obsm and "spatial_connectivities" in a.obsp
    assert vc.metrics.ari(truth=a.obs["niche"], clusters=a.obs["vc_domain"]) > 0.6
    # an obsm key is clustered as it is, Leiden bisected to the same count
    vc.spatial.domains(a, embedding="X_vc_niche", n_domains=3, method="leiden",
                       key_added="leiden_domain")  # fmt: skip
    assert a.obs["leiden_domain"].nunique() == 3
    auto = vc.spatial.domains(a, embedding="X_vc_niche", key_added="auto")
    assert 2 <= auto.nunique() <= 15


@pytest.mark.parametrize("n", [1, 0, 900, 10**6])
def test_n_domains_out_of_range(tissue, n):
    with pytest.raises(ValidationError, match="n_domains") as err:
        vc.spatial.domains(tissue.copy(), n_domains=n)
    assert "\n" not in str(err.value)
    with pytest.raises(ValidationError, match="n_domains"):
        vc.spatial.evaluate_niches(tissue, methods=[], n_domains=n)


# -- evaluation contract ---------------------------------------------------------------------
def test_evaluate_returns_the_eval_contract(tissue):
    res = vc.spatial.evaluate_niches(tissue, methods=["composition"], seeds=(0, 1))
    assert isinstance(res, vc.metrics.EvalResult)
    t = res.table
    assert list(t.columns[: len(vc.metrics.EVAL_COLUMNS)]) == list(vc.metrics.EVAL_COLUMNS)
    assert set(t["metric"]) == {"ari", "nmi"}
    assert set(t["method"]) == {"expression", "neighbor_pca", "composition"}
    assert set(t["seed"]) == {0, 1}
    assert t.loc[t["method"] == "expression", "baseline"].all()
    assert not t.loc[t["method"] == "composition", "baseline"].any()
    assert t["higher_is_better"].all()
    assert res["metric"] == "ari" and res["higher_is_better"] is True
    assert res["n_domains"] == 3 and res["n_domains_from"] == "truth"
    for r in res["results"]:
        assert r["score"] == pytest.approx(res.value(r["method"], "ari"))


def test_evaluate_needs_the_truth_and_known_methods(tissue):
    a = tissue.copy()
    del a.obs["niche"]
    with pytest.raises(ValidationError, match="obs\\['niche'\\]"):
        vc.spatial.evaluate_niches(a)
    with pytest.raises(ValidationError, match="unknown niche embedding"):
        vc.spatial.evaluate_niches(tissue, methods=["nope"])


def test_niche_transformer_runs_tiny(tissue):
    a = tissue[:300].copy()
    z = vc.spatial.niche_embed(a, method="niche_transformer", steps=3, d_model=8, n_layers=1)
    # the 8-dimensional readout's principal components and 4 averaging scales beside them
    assert z.shape == (300, 5 * 8) and np.isfinite(z).all()


# -- command line ------------------------------------------------------------------------------
def test_cli_niches_json_shape(tissue, tmp_path):
    from typer.testing import CliRunner

    from virtualcell.cli import app

    path = tmp_path / "tissue.h5ad"
    tissue.write_h5ad(path)
    out = CliRunner().invoke(
        app, ["spatial", "niches", str(path), "--methods", "composition", "--json"]
    )
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert set(payload) == {"metric", "higher_is_better", "results"}
    assert payload["metric"] == "ari" and payload["higher_is_better"] is True
    assert [set(r) for r in payload["results"]] == [{"method", "baseline", "score"}] * 3
    assert {r["method"]: r["baseline"] for r in payload["results"]} == {
        "expression": True, "neighbor_pca": True, "composition": False
    }  # fmt: skip


def test_cli_niches_bad_input_exits_2(tissue, tmp_path):
    import subprocess
    import sys

    a = tissue.copy()
    del a.obsm["spatial"]
    path = tmp_path / "flat.h5ad"
    a.write_h5ad(path)
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from virtualcell.cli import main; sys.exit(main())",
         "spatial", "niches", str(path), "--methods", "composition", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "no obsm['spatial']" in proc.stderr and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1


# -- agent tool and benchmark task -------------------------------------------------------------
def test_agent_tools_run_on_a_section(tissue, tmp_path):
    ws = vc.agent.Workspace(tmp_path / "ws")
    tb = vc.agent.Toolbox(ws)
    assert {"spatial_domains", "evaluate_niches"} <= set(tb.names())
    ws.put(tissue.copy(), name="section")
    call = tb.call("evaluate_niches", {"adata": "section", "methods": ["composition"]})
    assert call.ok, call.error
    assert "ari_composition:" in call.observation and "ari_expression:" in call.observation
    res = call.result.value
    assert res.value("composition", "ari") > res.value("expression", "ari")
    bad = tb.call("spatial_domains", {"adata": "section", "n_domains": 1})
    assert not bad.ok and "n_domains" in bad.error


def test_bench_task_runs_one_cell(tissue):
    from virtualcell.bench import TASKS, RunContext
    from virtualcell.bench._spatial_niches import Section

    task = TASKS.get("spatial_niches")
    assert task.primary.name == "ari"
    methods = {m.name: m for m in task.methods()}
    assert methods["expression"].baseline and methods["neighbor_pca"].baseline
    assert not methods["composition"].baseline
    quick = {d.name for d in task.datasets("quick", None) if "quick" in d.presets}
    assert quick == {"sim_tissue_small"}
    rows = task.run(Section(tissue), split="all", method="composition", seed=0, options={},
                    context=RunContext())  # fmt: skip
    assert [r["metric"] for r in rows] == ["ari", "nmi"]
    assert rows[0]["value"] > 0.6
