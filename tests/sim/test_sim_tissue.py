"""simulate_tissue: niches on a 2-D section and ligand -> receptor signalling with a truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import virtualcell as vc
from virtualcell import ValidationError

KW = dict(n_cells=2000, method="fast")


@pytest.fixture(scope="module")
def tissue():
    return vc.sim.simulate_tissue(100, seed=1, **KW)


@pytest.fixture(scope="module")
def silent():
    """The same section (same seed) with signalling switched off."""
    return vc.sim.simulate_tissue(100, seed=1, signal_strength=0.0, **KW)


def test_contract_fields(tissue):
    a = tissue
    assert a.shape == (2000, 100)
    assert sp.issparse(a.X) and a.X.dtype == np.int32 and a.X.min() >= 0
    assert list(a.var_names) == sorted(a.var_names) and a.var_names[0] == "G001"
    assert set(a.uns["true_network"]["regulator"]) <= set(a.var_names)
    for key in ("cell_type", "niche"):
        col = a.obs[key]
        assert isinstance(col.dtype, pd.CategoricalDtype)
        assert all(isinstance(c, str) for c in col.cat.categories)
    assert a.obs["niche"].nunique() == 4 and a.obs["cell_type"].nunique() == 6
    xy = a.obsm["spatial"]
    assert isinstance(xy, np.ndarray) and xy.dtype == np.float64 and xy.shape == (2000, 2)
    side = np.sqrt(2000 / a.uns["vc"]["sim"]["cell_density"])  # micrometres
    assert xy.min() >= 0 and xy.max() <= side and xy.max() > 0.9 * side
    pairs = a.uns["lr_pairs"]
    assert list(pairs.columns) == ["ligand", "receptor"] and len(pairs) == 10
    assert set(pairs["ligand"]) | set(pairs["receptor"]) <= set(a.var_names)
    truth = a.uns["true_communication"]
    assert list(truth.columns[:5]) == ["ligand", "receptor", "sender", "receiver", "active"]
    assert truth["active"].dtype == bool
    assert len(truth) == 10 * 6 * 6
    assert not truth.duplicated(["ligand", "receptor", "sender", "receiver"]).any()
    assert set(zip(truth["ligand"], truth["receptor"], strict=True)) == set(
        zip(pairs["ligand"], pairs["receptor"], strict=True)
    )
    assert set(truth["sender"]) == set(truth["receiver"]) == set(a.obs["cell_type"])
    assert 0 < truth["active"].sum() < len(truth)
    p = a.uns["vc"]["sim"]
    assert p["model"] == "tissue" and p["seed"] == 1 and p["n_niches"] == 4


def test_written_and_read_back(tissue, tmp_path):
    import anndata as ad

    tissue.write_h5ad(tmp_path / "t.h5ad")
    back = ad.read_h5ad(tmp_path / "t.h5ad")
    pd.testing.assert_frame_equal(back.uns["true_communication"], tissue.uns["true_communication"])
    np.testing.assert_array_equal(back.obsm["spatial"], tissue.obsm["spatial"])
    assert (back.X != tissue.X).nnz == 0
    assert back.obs["niche"].equals(tissue.obs["niche"])


def test_deterministic_by_seed(tissue):
    again = vc.sim.simulate_tissue(100, seed=1, **KW)
    assert (again.X != tissue.X).nnz == 0
    np.testing.assert_array_equal(again.obsm["spatial"], tissue.obsm["spatial"])
    pd.testing.assert_frame_equal(again.uns["true_communication"], tissue.uns["true_communication"])
    other = vc.sim.simulate_tissue(100, seed=2, **KW)
    assert not np.array_equal(other.obsm["spatial"], tissue.obsm["spatial"])
    assert not other.uns["lr_pairs"].equals(tissue.uns["lr_pairs"])


def test_niches_are_spatial_domains_with_different_compositions(tissue):
    from scipy.spatial import cKDTree

    a = tissue
    niche = a.obs["niche"].to_numpy()
    _, nn = cKDTree(a.obsm["spatial"]).query(a.obsm["spatial"], k=7)
    same = (niche[nn[:, 1:]] == niche[:, None]).mean()
    assert same > 0.85  # contiguous domains, not a salt-and-pepper labelling
    comp = pd.crosstab(a.obs["niche"], a.obs["cell_type"], normalize="index").to_numpy()
    tv = 0.5 * np.abs(comp[:, None, :] - comp[None, :, :]).sum(-1)
    assert tv.max() > 0.4  # some niches differ strongly in composition
    # a shared cell type: present in every niche with a similar share
    shared = a.uns["vc"]["sim"]["shared_types"]
    assert len(shared) == 1
    share = comp[:, list(a.obs["cell_type"].cat.categories).index(shared[0])]
    big = a.obs["niche"].value_counts().reindex(a.obs["niche"].cat.categories).to_numpy() >= 200
    assert share[big].min() > 0.1 and share[big].max() < 0.45
    # cell type alone does not identify the niche: most types occur in >= 2 niches
    assert ((comp > 0.05).sum(axis=0) >= 2).sum() >= 3


def _near_far_effect(a, sender: str, receiver: str, genes: list[str]) -> float:
    """Mean |standardised difference| in ``genes`` (log-normalised counts) between cells of
    ``receiver`` with a ``sender`` cell within the signalling radius and those with none."""
    from scipy.spatial import cKDTree

    radius = a.uns["vc"]["sim"]["radius"]
    xy = a.obsm["spatial"]
    ct = a.obs["cell_type"].astype(str).to_numpy()
    recv = np.flatnonzero(ct == receiver)
    send = xy[ct == sender]
    k = 2 if sender == receiver else 1  # a cell is not its own neighbour
    if len(send) < k:
        return np.nan
    d, _ = cKDTree(send).query(xy[recv], k=k)
    d = d[:, -1] if d.ndim > 1 else d
    near, far = recv[d <= radius], recv[d > radius]
    if len(near) < 10 or len(far) < 10:
        return np.nan
    counts = a.X.toarray().astype(float)
    x = np.log1p(counts / counts.sum(1, keepdims=True) * 1e3)[:, a.var_names.get_indexer(genes)]
    sd = x[recv].std(0) + 1e-9
    return float(np.mean(np.abs(x[near].mean(0) - x[far].mean(0)) / sd))


def _effects(a, rows: pd.DataFrame, signalling: pd.DataFrame) -> np.ndarray:
    down = {
        (r.ligand, r.receptor): r.downstream.split(",")
        for r in signalling.itertuples()
        if r.signalling
    }
    out = [_near_far_effect(a, r.sender, r.receiver, down[(r.ligand, r.receptor)])
           for r in rows.itertuples()]  # fmt: skip
    return np.asarray(out)


def test_signalling_changes_receivers_near_senders(tissue, silent):
    """Active rows: receivers near senders differ from far ones in the receptor's
    downstream genes, much more than inactive rows of the same pairs and than the same
    rows when signalling is off (this fails if the signalling effect is missing)."""
    sig = tissue.uns["vc"]["sim"]["signalling"]
    truth = tissue.uns["true_communication"]
    live = sig[sig["signalling"]]
    on = set(zip(live["ligand"], live["receptor"], strict=True))
    rows = truth[[(a, b) in on for a, b in zip(truth["ligand"], truth["receptor"], strict=True)]]
    active, inactive = rows[rows["active"]], rows[~rows["active"]]
    e_active = _effects(tissue, active, sig)
    e_inactive = _effects(tissue, inactive, sig)
    e_off = _effects(silent, active, sig)
    ok = ~np.isnan(e_active) & ~np.isnan(e_off)
    assert ok.sum() >= 5
    assert np.nanmean(e_active) > 1.5 * np.nanmean(e_inactive)
    assert e_active[ok].mean() > 1.5 * e_off[ok].mean()
    assert not silent.uns["true_communication"]["active"].any()


def test_only_the_downstream_genes_change():
    """Signalling enters the network at the target regulators: with the same seed (and
    ``cle`` kinetics, whose random draws do not depend on the state), switching it off
    changes the target regulators and their downstream genes and nothing else."""
    kw = dict(n_cells=400, method="cle", n_steps=20, seed=5)
    on = vc.sim.simulate_tissue(100, **kw)
    off = vc.sim.simulate_tissue(100, signal_strength=0.0, **kw)
    sig = on.uns["vc"]["sim"]["signalling"]
    down = set(",".join(sig["downstream"]).split(",")) - {""}
    diff = np.abs(np.asarray(on.layers["true_expression"]) - off.layers["true_expression"])
    moved = set(on.var_names[diff.max(axis=0) > 0])
    assert moved and moved <= down
    assert set(sig.loc[sig["signalling"], "target"]) & moved
    stimulated = on.obsm["true_stimulation"].to_numpy().max(axis=1) > 0
    assert stimulated.any() and (diff[~stimulated] == 0).all()


def test_truth_follows_the_rules(tissue):
    a = tissue
    truth = a.uns["true_communication"]
    p = a.uns["vc"]["sim"]
    assert (truth.loc[truth["active"], "contact_fraction"] >= p["min_contact_fraction"]).all()
    sig = p["signalling"]
    decoys = sig[~sig["signalling"]]
    assert len(decoys) == p["n_lr_pairs"] - p["n_signalling"] > 0
    act_pairs = set(truth.loc[truth["active"], "ligand"])
    assert not act_pairs & set(decoys["ligand"])  # decoys never signal
    # decoys are expressed: their ligand and receptor are high in some cell type
    mean = (
        pd.DataFrame(a.layers["true_expression"], columns=a.var_names)
        .groupby(a.obs["cell_type"].to_numpy())
        .mean()
    )
    median = float(np.median(mean.to_numpy()))
    for lig, rec in zip(decoys["ligand"], decoys["receptor"], strict=True):
        for gene in (lig, rec):
            assert mean[gene].max() > 0.75 * median
            assert mean[gene].max() > 1.5 * mean[gene].min()
    # the stimulation truth is zero for every cell of a type no active row reaches
    stim = a.obsm["true_stimulation"]
    for col in stim.columns:
        lig, rec = col.split("->")
        reached = set(truth.loc[truth["active"] & (truth["ligand"] == lig), "receiver"])
        unreached = ~a.obs["cell_type"].astype(str).isin(reached).to_numpy()
        assert (stim[col].to_numpy()[unreached] == 0).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_cells": 5}, "n_cells"),
        ({"n_signalling": 11}, "n_signalling"),
        ({"radius": 0}, "radius"),
        ({"n_shared_types": 6}, "n_shared_types"),
        ({"method": "exact"}, "method"),
        ({"n_lr_pairs": 60}, "pairs need"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        vc.sim.simulate_tissue(100, **{"n_cells": 50, **kwargs})


def test_cli_spatial_preset(tmp_path, capsys):
    import json

    import anndata as ad

    from virtualcell.cli import main

    out = tmp_path / "tissue.h5ad"
    code = main(["sim", "--preset", "spatial", "--cells", "400", "--niches", "3", "--seed", "4",
                 "--out", str(out), "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["preset"] == "spatial" and summary["n_cells"] == 400
    assert summary["n_niches"] == 3
    a = ad.read_h5ad(out)
    assert a.obsm["spatial"].shape == (400, 2) and a.obs["niche"].nunique() == 3
    assert a.uns["vc"]["sim"]["preset"] == "spatial" and a.uns["vc"]["sim"]["seed"] == 4
    assert {"ligand", "receptor", "sender", "receiver", "active"} <= set(
        a.uns["true_communication"].columns
    )
    assert summary["n_active_communication"] == int(a.uns["true_communication"]["active"].sum())
    assert not [p for p in tmp_path.iterdir() if p.name != "tissue.h5ad"]  # no temp left


def test_cli_epistasis_preset(tmp_path):
    import anndata as ad

    from virtualcell.cli import main

    out = tmp_path / "epi.h5ad"
    code = main(["sim", "--preset", "epistasis", "--genes", "30", "--singles", "6", "--doubles",
                 "3", "--cells-per-condition", "20", "--out", str(out)])  # fmt: skip
    assert code == 0
    a = ad.read_h5ad(out)
    assert a.uns["vc"]["sim"]["preset"] == "epistasis"
    assert a.uns["vc"]["sim"]["method"] == "fast"  # the preset's value, not the CLI default


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "nope", "--out", "{tmp}/a.h5ad"], "unknown simulator preset 'nope'"),
        (["--preset", "spatial", "--out", "{tmp}/a.h5mu"], "--preset spatial writes .h5ad"),
        (["--preset", "spatial", "--singles", "3", "--out", "{tmp}/a.h5ad"],
         "--singles does not apply to --preset spatial"),
        (["--cells", "300", "--out", "{tmp}/a.h5ad"], "--cells does not apply without --preset"),
        (["--preset", "spatial", "--cells", "5", "--out", "{tmp}/a.h5ad"], "--cells"),
        (["--preset", "spatial", "--niches", "0", "--out", "{tmp}/a.h5ad"], "--niches"),
    ],
)  # fmt: skip
def test_cli_bad_options(tmp_path, capsys, args, message):
    from virtualcell.cli import main

    code = main(["sim", *[a.replace("{tmp}", str(tmp_path)) for a in args]])
    assert code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(("error:", "Error:"))]
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_chunked_technical_noise_is_the_same_model():
    """Chunks (bounded memory, CSR out) draw the same outlier genes and library sizes and
    give the same dropout rate and gene means as the whole-matrix noise."""
    rng = np.random.default_rng(0)
    expr = rng.gamma(2.0, 1.0, (3000, 40)).astype(np.float32)
    noise = vc.sim.TechnicalNoise(outlier_prob=0.2)
    whole, info_w = vc.sim.add_technical_noise(expr, noise, np.random.default_rng(1))
    chunked, info_c = vc.sim.add_technical_noise(
        expr, noise, np.random.default_rng(1), chunk_size=700
    )
    assert sp.issparse(chunked) and chunked.dtype == np.int32 and chunked.shape == whole.shape
    np.testing.assert_array_equal(info_w["outlier_factor"], info_c["outlier_factor"])
    np.testing.assert_array_equal(info_w["library_size"], info_c["library_size"])
    dense = chunked.toarray()
    assert abs((dense > 0).mean() - (whole > 0).mean()) < 0.01
    rel = np.abs(dense.mean(0) - whole.mean(0)) / whole.mean(0)
    assert np.median(rel) < 0.05
    same, _ = vc.sim.add_technical_noise(expr, noise, np.random.default_rng(1), chunk_size=3000)
    np.testing.assert_array_equal(same, whole)  # one chunk = the whole-matrix path


def test_chunks_and_without_true_expression():
    """Small chunks (the memory bound of large sections) give the same section and truth;
    the noise-free layer can be left out."""
    kw = dict(n_cells=500, method="fast", seed=3)
    whole = vc.sim.simulate_tissue(100, **kw)
    chunked = vc.sim.simulate_tissue(100, chunk_size=128, keep_true_expression=False, **kw)
    assert "true_expression" not in chunked.layers
    assert sp.issparse(chunked.X) and chunked.X.dtype == np.int32
    np.testing.assert_array_equal(chunked.obsm["spatial"], whole.obsm["spatial"])
    pd.testing.assert_frame_equal(
        chunked.uns["true_communication"], whole.uns["true_communication"]
    )
    # same model: per-type mean library sizes and detection rates agree closely
    for a in (whole, chunked):
        a.obs["detected"] = np.asarray((a.X > 0).mean(axis=1)).ravel()
    assert abs(chunked.obs["detected"].mean() - whole.obs["detected"].mean()) < 0.02
