"""The one parallel engine: same results serially, on local processes and on Dask."""

from __future__ import annotations

import os

import numpy as np
import pytest

from virtualcell import ValidationError
from virtualcell._utils import (
    current_dask,
    dask_client,
    imap_tasks,
    map_tasks,
)


def _row_sums(rows, *, X, scale=1.0):
    return [float(X[r].sum() * scale) for r in rows], os.getpid()


def _fail(item):
    if item == 3:
        raise RuntimeError("task 3 failed")
    return item


X = np.arange(40 * 1000, dtype=float).reshape(40, 1000)  # 320 kB, shared by every task
CHUNKS = [list(range(i, i + 4)) for i in range(0, 40, 4)]
EXPECTED = [[float(X[r].sum() * 2) for r in c] for c in CHUNKS]


def test_serial_and_local_processes_agree_and_keep_order():
    serial = map_tasks(_row_sums, CHUNKS, shared={"X": X, "scale": 2.0}, description=None)
    assert [s for s, _ in serial] == EXPECTED
    assert {pid for _, pid in serial} == {os.getpid()}
    pooled = map_tasks(_row_sums, CHUNKS, shared={"X": X, "scale": 2.0}, n_jobs=2, description=None)
    assert [s for s, _ in pooled] == EXPECTED
    assert os.getpid() not in {pid for _, pid in pooled}
    done = sorted(i for i, _ in imap_tasks(_row_sums, CHUNKS, shared={"X": X}, n_jobs=2))
    assert done == list(range(len(CHUNKS)))


def test_a_failing_task_raises():
    with pytest.raises(RuntimeError, match="task 3 failed"):
        map_tasks(_fail, range(6), description=None)
    with pytest.raises(RuntimeError, match="task 3 failed"):
        map_tasks(_fail, range(6), n_jobs=2, description=None)


def test_dask_local_cluster():
    res = map_tasks(
        _row_sums, CHUNKS, shared={"X": X, "scale": 2.0}, n_jobs=2, dask="local", description=None
    )
    assert [s for s, _ in res] == EXPECTED
    assert len({pid for _, pid in res} - {os.getpid()}) >= 1
    assert current_dask() is None  # a per-call cluster is not left as the default
    # (use_dask as the default of nested maps: tests/grn/test_tree_engine.py)


def test_bad_dask_address_is_one_line():
    with pytest.raises(ValidationError, match="cannot reach the Dask scheduler"):
        with dask_client("tcp://127.0.0.1:9", timeout_s=1):
            pass
    with pytest.raises(ValidationError, match="dask must be 'local' or a scheduler address"):
        map_tasks(_fail, [1], dask="  ", description=None)
