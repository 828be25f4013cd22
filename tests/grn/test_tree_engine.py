"""The GRN tree methods' per-target loop on the shared engine: the same scores serially,
on local processes and on a Dask cluster; the per-worker binned-data cache."""

from __future__ import annotations

import numpy as np
import pytest

import virtualcell as vc
from virtualcell._utils import current_dask, n_workers, use_dask
from virtualcell.grn import _trees
from virtualcell.grn._base import prepare


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12))
    X[:, 5] = 2 * X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=300)
    X[:, 7] = np.tanh(X[:, 2]) + 0.3 * rng.normal(size=300)
    return prepare(X, genes=[f"g{i}" for i in range(12)], regulators=[f"g{i}" for i in range(4)])


def test_grnboost2_same_scores_serial_processes_and_dask(data):
    serial = _trees.grnboost2_scores(data, n_jobs=1, seed=3)
    assert not _trees._BINNED  # the serial path's cache is emptied after the call
    pooled = _trees.grnboost2_scores(data, n_jobs=2, seed=3)
    np.testing.assert_array_equal(serial, pooled)
    with use_dask("local", n_workers=2) as client:  # the default of every map inside
        assert current_dask() is client and n_workers() == 2
        on_dask = _trees.grnboost2_scores(data, seed=3)
        subset = _trees.grnboost2_scores(data, seed=3, targets=np.arange(4, 12))
        edges = vc.grn.infer(data.X, genes=data.genes, regulators=data.genes[:4],
                             method="genie3_et", n_estimators=10, seed=1)  # fmt: skip
    np.testing.assert_array_equal(serial, on_dask)
    np.testing.assert_array_equal(serial[:, 4:], subset[:, 4:])  # chunking changes nothing
    assert (subset[:, :4] == 0).all()
    # and the planted edges come out on top (the scores are not just equal, but right)
    assert serial[0, 5] > 0.3 and serial[1, 5] > 0.1 and serial[2, 7] > 0.5
    local = vc.grn.infer(data.X, genes=data.genes, regulators=data.genes[:4],
                         method="genie3_et", n_estimators=10, seed=1)  # fmt: skip
    np.testing.assert_allclose(edges["score"], local["score"])
