"""The primed network streamed from a file equals the in-memory fit."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import virtualcell as vc
from virtualcell import ValidationError
from virtualcell._utils import use_dask

PARTS = ("coef", "data_part", "prior_part", "association", "centre", "scale")
#: known edges: two onto regulators (their own coefficient is pinned at 0), one wrong sign
PRIOR = pd.DataFrame(
    {
        "regulator": ["G0", "G1", "G2", "G3", "G0", "G7"],
        "target": ["G8", "G9", "G20", "G1", "G25", "G3"],
        "sign": [1, -1, 1, 1, -1, 1],
    }
)
REGS = [f"G{i}" for i in range(8)]
GRID = dict(ridges=(0.01, 1.0), strengths=(1.0, 10.0), prior_means=(0.0, 0.7))


def _adata(n: int = 240, g: int = 30, seed: int = 0) -> ad.AnnData:
    """Sparse log counts; G0..G7 drive G8..G15; three time points shift every gene;
    half of the cells are the reference."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(0.4, size=(n, g)).astype(float)
    counts[:, 8:16] += rng.poisson(0.8 * counts[:, 0:8])
    time = rng.integers(0, 3, n)
    counts += rng.poisson(0.3 * time[:, None], size=(n, g))
    x = np.log1p(counts).astype(np.float32)
    obs = pd.DataFrame(
        {"time": np.array(["t0", "t1", "t2"])[time], "control": rng.random(n) < 0.5},
        index=[f"c{i}" for i in range(n)],
    )
    return ad.AnnData(
        sp.csr_matrix(x), obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(g)])
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    a = _adata()
    folder = tmp_path_factory.mktemp("stream")
    a.write_h5ad(folder / "cells.h5ad")
    a.write_zarr(folder / "cells.zarr")
    return a, folder


def _in_memory(a: ad.AnnData, **kw) -> vc.grn.PrimedNetwork:
    genes = list(a.var_names)
    return vc.grn.fit_primed_network(
        a.X.toarray().astype(np.float64), genes, prior=PRIOR,
        regulators=[genes.index(r) for r in REGS], groups=a.obs["time"].to_numpy(),
        reference=a.obs["control"].to_numpy(), **kw,
    )  # fmt: skip


def _assert_same(a: vc.grn.PrimedNetwork, b: vc.grn.PrimedNetwork) -> None:
    assert (a.ridge, a.strength, a.prior_mean) == (b.ridge, b.strength, b.prior_mean)
    assert a.groups == b.groups and list(a.regulators) == list(b.regulators)
    for part in PARTS:
        diff = np.abs(getattr(a, part) - getattr(b, part)).max()
        assert diff <= 1e-8, (part, diff)
    assert a.cv_mse.keys() == b.cv_mse.keys()
    for key, value in a.cv_mse.items():
        assert abs(value - b.cv_mse[key]) <= 1e-8, key


@pytest.mark.parametrize(
    "grid",
    [GRID, dict(ridges=(1.0,), strengths=(100.0,), prior_means=(0.5,))],
    ids=["cross-validated", "one-setting"],
)
def test_backed_stream_equals_in_memory_fit(files, grid):
    a, folder = files
    memory = _in_memory(a, **grid)
    assert memory.n_prior_edges == len(PRIOR)
    if not memory.cv_mse:  # the one setting puts the prior in play (the Woodbury path)
        assert np.abs(memory.prior_part).max() > 1e-4
    streamed = vc.grn.fit_primed_network_stream(
        folder / "cells.h5ad", regulators=REGS, prior=PRIOR, groupby="time",
        reference="control", chunk_cells=37, **grid,
    )  # fmt: skip
    _assert_same(memory, streamed)
    # a target never regulates itself, as in memory
    own = [list(a.var_names).index(r) for r in REGS]
    assert np.all(streamed.coef[np.arange(len(REGS)), own] == 0.0)


def test_the_cross_validation_error_of_every_setting_matches(files):
    a, folder = files
    memory = _in_memory(a, **GRID)
    streamed = vc.grn.fit_primed_network_stream(
        folder / "cells.h5ad", regulators=REGS, prior=PRIOR, groupby="time",
        reference="control", **GRID,
    )  # fmt: skip
    assert len(memory.cv_mse) == 8
    assert len(set(np.round(list(memory.cv_mse.values()), 6))) > 1  # settings differ
    _assert_same(memory, streamed)


def test_chunk_size_zarr_and_in_memory_anndata_give_the_same_network(files):
    a, folder = files
    kw = dict(regulators=REGS, prior=PRIOR, groupby="time", reference="control", **GRID)
    one = vc.grn.fit_primed_network_stream(folder / "cells.h5ad", chunk_cells=1, **kw)
    for other in (
        vc.grn.fit_primed_network_stream(folder / "cells.h5ad", chunk_cells=10_000, **kw),
        vc.grn.fit_primed_network_stream(folder / "cells.zarr", chunk_cells=50, **kw),
        vc.grn.fit_primed_network_stream(a, chunk_cells=64, **kw),
        vc.grn.fit_primed_network_stream(ad.read_h5ad(folder / "cells.h5ad", backed="r"), **kw),
    ):
        _assert_same(one, other)


def test_serial_processes_and_dask_give_the_same_network(files):
    _, folder = files
    kw = dict(regulators=REGS, prior=PRIOR, groupby="time", reference="control", **GRID)
    path = folder / "cells.h5ad"
    serial = vc.grn.fit_primed_network_stream(path, chunk_cells=50, **kw)
    processes = vc.grn.fit_primed_network_stream(path, chunk_cells=50, n_jobs=2, **kw)
    _assert_same(serial, processes)
    with use_dask("local", n_workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        on_dask = vc.grn.fit_primed_network_stream(path, chunk_cells=50, **kw)
        stats = vc.grn.primed_statistics(path, regulators=REGS, groupby="time",
                                         reference="control", dask=client)  # fmt: skip
    _assert_same(serial, on_dask)
    assert stats.timing["tasks"] == 2  # one cell range per worker
    np.testing.assert_allclose(stats.fold_cells.sum(), 240)


def test_a_target_subset_fits_those_columns_as_the_whole(files):
    _, folder = files
    stats = vc.grn.primed_statistics(folder / "cells.h5ad", regulators=REGS, groupby="time")
    one = dict(ridges=(1.0,), strengths=(10.0,), prior_means=(0.7,))
    whole = vc.grn.solve_primed(stats, prior=PRIOR, **one)
    timing: dict[str, float] = {}
    part = vc.grn.solve_primed(stats, prior=PRIOR, targets=[1, 3, 8, 25], target_chunk=3,
                               timing=timing, **one)  # fmt: skip
    np.testing.assert_allclose(part.coef[:, [1, 3, 8, 25]], whole.coef[:, [1, 3, 8, 25]],
                               atol=1e-12)  # fmt: skip
    assert not part.coef[:, 9].any() and whole.coef[:, 9].any()
    assert timing["solve_s"] >= 0


def test_regulators_absent_from_the_file_are_named(files):
    _, folder = files
    with pytest.raises(ValidationError, match=r"2 of 4 regulators are not in var_names: TP53, MYC"):
        vc.grn.primed_statistics(folder / "cells.h5ad", regulators=["G0", "TP53", "G1", "MYC"])
    with pytest.raises(ValidationError, match="not in var_names: TP53"):
        vc.grn.fit_primed_network_stream(folder / "cells.h5ad", regulators=["TP53"],
                                         missing="drop")  # fmt: skip
    stats = vc.grn.primed_statistics(folder / "cells.h5ad", regulators=["G0", "TP53"],
                                     missing="drop", folds=1)  # fmt: skip
    assert list(stats.regulators) == [0] and stats.folds == 1
    backed = ad.read_h5ad(folder / "cells.h5ad", backed="r")
    with pytest.raises(ValidationError, match="view of a backed AnnData"):
        vc.grn.primed_statistics(backed[:100])
    with pytest.raises(ValidationError, match="groupby column 'batch' not in obs"):
        vc.grn.primed_statistics(folder / "cells.h5ad", groupby="batch")


# -- interventional data: a gene is not fitted on the cells perturbing it -------------

#: singles and doubles of regulators (G0, G3) and of targets (G9, G20, G25), and a gene
#: that is not measured (its cells are fitted for every gene)
CONDITIONS = ["G0", "G3", "G9", "G20", "G0+G9", "G25+G3", "NOTAGENE", "G1"]


def perturbed_cells(folder, *, seed: int, label_seed: int):
    """``(adata, folder)``: cells of :func:`_adata` with random ``CONDITIONS`` labels
    (40 % controls) in ``obs["perturbation"]``, written to ``folder`` as
    ``cells.h5ad`` and ``cells.zarr``."""
    a = _adata(seed=seed)
    rng = np.random.default_rng(label_seed)
    labels = np.array(CONDITIONS, dtype=object)[rng.integers(0, len(CONDITIONS), a.n_obs)]
    labels[rng.random(a.n_obs) < 0.4] = "control"
    a.obs["perturbation"] = labels
    a.write_h5ad(folder / "cells.h5ad")
    a.write_zarr(folder / "cells.zarr")
    return a, folder


@pytest.fixture(scope="module")
def perturbed_files(tmp_path_factory):
    return perturbed_cells(tmp_path_factory.mktemp("perturbed"), seed=3, label_seed=1)


def _perturbed_lists(a: ad.AnnData) -> list[list[int]]:
    genes = list(a.var_names)
    return [
        [genes.index(g) for g in lab.split("+") if g in genes] if lab != "control" else []
        for lab in a.obs["perturbation"]
    ]


@pytest.mark.parametrize(
    "grid",
    [GRID, dict(ridges=(1.0,), strengths=(100.0,), prior_means=(0.5,))],
    ids=["cross-validated", "one-setting"],
)
def test_perturbed_cells_streamed_equal_the_in_memory_fit(perturbed_files, grid):
    a, folder = perturbed_files
    memory = _in_memory(a, perturbed=_perturbed_lists(a), **grid)
    kw = dict(regulators=REGS, prior=PRIOR, groupby="time", reference="control", **grid)
    streamed = vc.grn.fit_primed_network_stream(
        folder / "cells.h5ad", perturbed="perturbation", chunk_cells=29, **kw
    )
    _assert_same(memory, streamed)
    # the exclusion matters: without it (same grid point) the perturbed targets, and
    # only they, change
    chosen = dict(ridges=(memory.ridge,), strengths=(memory.strength,),
                  prior_means=(memory.prior_mean,))  # fmt: skip
    plain = _in_memory(a, **chosen)
    hit = [list(a.var_names).index(g) for g in ("G0", "G1", "G3", "G9", "G20", "G25")]
    rest = np.setdiff1d(np.arange(a.n_vars), hit)
    assert np.abs(plain.coef[:, hit] - streamed.coef[:, hit]).max(axis=0).min() > 1e-4  # each
    assert np.abs(plain.coef[:, rest] - streamed.coef[:, rest]).max() <= 1e-8
    assert np.abs(plain.association - streamed.association).max() > 1e-3


def test_perturbed_stream_on_every_source_chunk_size_and_backend(perturbed_files):
    a, folder = perturbed_files
    memory = _in_memory(a, perturbed=_perturbed_lists(a), **GRID)
    kw = dict(regulators=REGS, prior=PRIOR, groupby="time", reference="control", **GRID)
    path, zarr = folder / "cells.h5ad", folder / "cells.zarr"
    names = [lab.split("+") if lab != "control" else [] for lab in a.obs["perturbation"]]
    names = [[g for g in cell if g != "NOTAGENE"] for cell in names]
    for other in (
        vc.grn.fit_primed_network_stream(path, perturbed="perturbation", chunk_cells=1, **kw),
        vc.grn.fit_primed_network_stream(path, perturbed="perturbation", chunk_cells=240, **kw),
        vc.grn.fit_primed_network_stream(zarr, perturbed="perturbation", chunk_cells=50, **kw),
        vc.grn.fit_primed_network_stream(a, perturbed=_perturbed_lists(a), chunk_cells=64, **kw),
        vc.grn.fit_primed_network_stream(ad.read_h5ad(path, backed="r"), perturbed=names, **kw),
        vc.grn.fit_primed_network_stream(path, perturbed="perturbation", n_jobs=2, **kw),
    ):
        _assert_same(memory, other)
    with use_dask("local", n_workers=2):
        on_dask = vc.grn.fit_primed_network_stream(path, perturbed="perturbation", **kw)
    _assert_same(memory, on_dask)


def test_perturbed_statistics_hold_one_set_per_condition(perturbed_files):
    a, folder = perturbed_files
    stats = vc.grn.primed_statistics(folder / "cells.h5ad", regulators=REGS, groupby="time",
                                     perturbed="perturbation")  # fmt: skip
    labels = {ps.label for ps in stats.perturbed}
    assert labels == {"G0", "G3", "G9", "G20", "G0+G9", "G3+G25", "G1"}  # NOTAGENE: not measured
    counts = a.obs["perturbation"].value_counts()
    for ps in stats.perturbed:
        expected = counts.get(ps.label, 0) + (
            counts.get("G25+G3", 0) if ps.label == "G3+G25" else 0
        )
        assert ps.cells.sum() == expected
        assert ps.fold_cross().shape == (stats.folds, len(REGS), len(REGS) + ps.genes.size)
    g9 = list(a.var_names).index("G9")
    assert sorted(stats.perturbed[i].label for i in stats.sets_of()[g9]) == ["G0+G9", "G9"]


def test_a_worker_holds_only_the_perturbed_sets_of_its_own_cells(perturbed_files):
    """Each task of the pass allocates the statistics of the sets with cells in its span
    only (every set in every worker made memory grow with the screen's size, not the
    worker's share); the sets are still all there, equal, after the merge."""
    from virtualcell.grn._stream_stats import _stats_task

    a, folder = perturbed_files
    labels = a.obs["perturbation"].to_numpy()
    genes = list(a.var_names)
    sets = sorted({lab for lab in labels if lab != "control" and "NOTAGENE" not in lab})
    set_genes = [np.array(sorted(genes.index(g) for g in lab.split("+"))) for lab in sets]
    set_of = np.array([sets.index(lab) if lab in sets else -1 for lab in labels])
    first = np.flatnonzero(set_of == 0)[0]
    span = (int(first), int(first) + 1)  # one cell: one set
    part = _stats_task(
        span, source=str(folder / "cells.h5ad"), layer=None,
        codes=np.zeros(a.n_obs, dtype=np.int64), ref=np.ones(a.n_obs, dtype=np.int64),
        fold_of=np.zeros(a.n_obs, dtype=np.int64), n_groups=1, n_folds=1,
        regulators=np.array([genes.index(g) for g in REGS]), chunk_cells=50,
        set_of=set_of, set_genes=set_genes,
    )  # fmt: skip
    for key in ("s_cross", "s_rows", "s_total", "s_total_all", "s_squares"):
        assert set(part[key]) == {0}, key
    assert part["s_count"].sum() == 1 and part["s_count"][0].sum() == 1
    stats = vc.grn.primed_statistics(folder / "cells.h5ad", regulators=REGS, groupby="time",
                                     perturbed="perturbation", chunk_cells=7)  # fmt: skip
    assert len(stats.perturbed) == len({ps.label for ps in stats.perturbed}) == 7


def test_perturbed_input_errors_are_one_line(perturbed_files):
    _, folder = perturbed_files
    path = folder / "cells.h5ad"
    with pytest.raises(ValidationError, match=r"perturbed column 'guide' not in obs"):
        vc.grn.primed_statistics(path, perturbed="guide")
    with pytest.raises(ValidationError, match="perturbed has 3 entries for 240 cells"):
        vc.grn.primed_statistics(path, perturbed=[[0], [], [1]])
    with pytest.raises(ValidationError, match="perturbed gene 'TP53' is not in var_names"):
        vc.grn.primed_statistics(path, perturbed=[["TP53"]] * 240)
