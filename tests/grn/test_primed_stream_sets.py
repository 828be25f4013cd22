"""Perturbed sets held as their standardised cells or as their Gram blocks (whichever is
smaller) give the in-memory fit, alone or mixed, serial or on two processes."""

from __future__ import annotations

import numpy as np
import pytest
from test_primed_stream import PARTS, PRIOR, REGS, _adata, _in_memory

import virtualcell as vc
from virtualcell.grn import _stream_sets

GRID = dict(ridges=(0.01, 1.0), strengths=(1.0, 10.0), prior_means=(0.0, 0.7))
#: set sizes chosen around the rule's threshold (``folds x regulators`` = 24 cells with
#: 8 regulators and 3 folds): large singles and a large double keep Gram blocks, small
#: ones (a double, a gene that is not a regulator) keep their cells
SIZES = {"G0": 90, "G3": 12, "G9": 40, "G20": 6, "G0+G9": 15, "G25+G3": 30, "G1": 8}
N_CELLS = 320


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    """``(adata, path)``: :func:`_adata` cells with ``SIZES`` cells per condition, the
    rest controls, in random order (every set spans both halves of the file)."""
    a = _adata(n=N_CELLS, seed=7)
    labels = np.array(
        [lab for lab, k in SIZES.items() for _ in range(k)]
        + ["control"] * (N_CELLS - sum(SIZES.values())),
        dtype=object,
    )
    a.obs["perturbation"] = np.random.default_rng(4).permutation(labels)
    half = a.obs["perturbation"].to_numpy()
    for lab in SIZES:
        assert lab in half[: N_CELLS // 2] and lab in half[N_CELLS // 2 :]
    path = tmp_path_factory.mktemp("sets") / "cells.h5ad"
    a.write_h5ad(path)
    return a, path


def _lists(a) -> list[list[int]]:
    genes = list(a.var_names)
    return [
        [genes.index(g) for g in lab.split("+")] if lab != "control" else []
        for lab in a.obs["perturbation"]
    ]


def _same(a: vc.grn.PrimedNetwork, b: vc.grn.PrimedNetwork, tol: float = 1e-10) -> None:
    assert (a.ridge, a.strength, a.prior_mean) == (b.ridge, b.strength, b.prior_mean)
    for part in PARTS:
        diff = np.abs(getattr(a, part) - getattr(b, part)).max()
        assert diff <= tol, (part, diff)
    assert a.cv_mse.keys() == b.cv_mse.keys()
    for key, value in a.cv_mse.items():
        assert abs(value - b.cv_mse[key]) <= tol, key


def _stats(path, monkeypatch, ratio, **kw) -> vc.grn.PrimedStatistics:
    with monkeypatch.context() as m:
        if ratio is not None:
            m.setattr(_stream_sets, "_CELLS_RATIO", ratio)
        return vc.grn.primed_statistics(path, regulators=REGS, groupby="time",
                                        reference="control", perturbed="perturbation", **kw)  # fmt: skip


def test_each_set_takes_the_smaller_form(sized, monkeypatch):
    _, path = sized
    stats = _stats(path, monkeypatch, None, chunk_cells=41)
    r, folds = len(REGS), stats.folds
    as_cells = {ps.label for ps in stats.perturbed if ps.z is not None}
    assert as_cells == {"G3", "G20", "G0+G9", "G1"}  # fewer than ~folds x r = 24 cells
    for ps in stats.perturbed:
        n, k = int(ps.cells.sum()), ps.genes.size
        assert n == SIZES["G25+G3" if ps.label == "G3+G25" else ps.label]
        if ps.z is not None:
            assert ps.cross is None and ps.z.shape == (n, r + k)
            assert ps.cell_fold.shape == (n,)
            assert np.array_equal(np.bincount(ps.cell_fold, minlength=folds), ps.cells)
            assert n * (r + k + 1) < folds * r * (r + k)  # cells and folds: fewer bytes
        else:
            assert ps.z is None and ps.cross.shape == (folds, r, r + k)
            assert n * (r + k + 1) >= folds * r * (r + k)
        held = [ps.genes, ps.regulator_rows, ps.cells, ps.rows, ps.sumsq]
        held += [ps.cross] if ps.z is None else [ps.z, ps.cell_fold]
        assert ps.nbytes == sum(x.nbytes for x in held)


@pytest.mark.parametrize("folds", [3, 1])
def test_cells_and_blocks_hold_the_same_statistics(sized, monkeypatch, folds):
    _, path = sized
    blocks = _stats(path, monkeypatch, 0.0, folds=folds, chunk_cells=50)
    cells = _stats(path, monkeypatch, np.inf, folds=folds, chunk_cells=50)
    assert all(ps.z is None for ps in blocks.perturbed)
    assert all(ps.cross is None for ps in cells.perturbed)
    mixed = _stats(path, monkeypatch, None, folds=folds, chunk_cells=50)
    held = [sum(ps.nbytes for ps in st.perturbed) for st in (mixed, cells, blocks)]
    assert held[0] < min(held[1:])  # each set in its smaller form
    for b, c in zip(blocks.perturbed, cells.perturbed, strict=True):
        assert b.label == c.label
        np.testing.assert_array_equal(b.cells, c.cells)
        np.testing.assert_allclose(c.fold_cross(), b.cross, rtol=0, atol=1e-10)
        np.testing.assert_allclose(c.sumsq, b.sumsq, rtol=0, atol=1e-10)
        np.testing.assert_array_equal(c.rows, b.rows)
        assert np.abs(b.cross).max() > 1.0  # not trivially equal


@pytest.mark.parametrize(
    ("ratio", "n_jobs"),
    [(None, 1), (None, 2), (np.inf, 1), (np.inf, 2), (0.0, 1)],
    ids=["mixed-serial", "mixed-2-processes", "cells-serial", "cells-2-processes", "blocks"],
)
def test_the_streamed_fit_equals_the_in_memory_fit(sized, monkeypatch, ratio, n_jobs):
    a, path = sized
    memory = _in_memory(a, perturbed=_lists(a), **GRID)
    stats = _stats(path, monkeypatch, ratio, chunk_cells=23, n_jobs=n_jobs)
    forms = {ps.z is None for ps in stats.perturbed}
    assert forms == ({True, False} if ratio is None else {ratio == 0.0})
    streamed = vc.grn.solve_primed(stats, prior=PRIOR, n_jobs=n_jobs, target_chunk=2, **GRID)
    _same(memory, streamed)
    # the exclusion is in play for the perturbed targets (set genes, regulators or not)
    plain = _in_memory(a, ridges=(memory.ridge,), strengths=(memory.strength,),
                       prior_means=(memory.prior_mean,))  # fmt: skip
    hit = [list(a.var_names).index(g) for g in ("G0", "G1", "G3", "G9", "G20", "G25")]
    assert np.abs(plain.coef[:, hit] - streamed.coef[:, hit]).max(axis=0).min() > 1e-4
    assert np.abs(plain.association - streamed.association).max() > 1e-3


def test_a_set_spanning_two_workers_keeps_its_cells_in_file_order(sized, monkeypatch):
    _, path = sized
    serial = _stats(path, monkeypatch, np.inf, chunk_cells=7)
    processes = _stats(path, monkeypatch, np.inf, chunk_cells=1000, n_jobs=2)
    assert processes.timing["tasks"] == 2
    for s, p in zip(serial.perturbed, processes.perturbed, strict=True):
        np.testing.assert_array_equal(s.z, p.z)
        np.testing.assert_array_equal(s.cell_fold, p.cell_fold)


def test_one_fold_and_one_setting(sized, monkeypatch):
    a, path = sized
    one = dict(ridges=(1.0,), strengths=(10.0,), prior_means=(0.7,))
    for grid in (one, GRID):
        memory = _in_memory(a, perturbed=_lists(a), folds=1, **grid)
        for ratio in (None, np.inf):
            stats = _stats(path, monkeypatch, ratio, folds=1)
            assert stats.folds == 1
            _same(memory, vc.grn.solve_primed(stats, prior=PRIOR, **grid))


def test_a_chunk_of_perturbed_targets_carries_only_its_sets(sized, monkeypatch):
    from virtualcell.grn import _parallel

    a, path = sized
    stats = _stats(path, monkeypatch, None)
    sent = []
    real = _parallel.map_tasks

    def spy(fn, items, **kw):  # the perturbed targets' tasks: (targets, sets, members)
        sent.extend(item for item in items if isinstance(item, tuple))
        return real(fn, items, **kw)

    monkeypatch.setattr(_parallel, "map_tasks", spy)
    net = vc.grn.solve_primed(stats, prior=PRIOR, target_chunk=1, **GRID)
    _same(_in_memory(a, perturbed=_lists(a), **GRID), net)
    genes = list(a.var_names)
    g9 = genes.index("G9")
    labels = {
        int(t): sorted(s.label for s in sets.values()) for targets, sets, _ in sent for t in targets
    }
    assert labels[g9] == ["G0+G9", "G9"] and labels[genes.index("G20")] == ["G20"]
    assert len(sent) == 2 * 6  # the cross-validation and the final solve, one target each
