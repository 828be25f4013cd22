"""Shared test configuration.

* ``VIRTUALCELL_DATA`` defaults to ``../shared/data`` beside the checkout (the reference
  data); tests that need it use the ``shared_data`` fixture and skip when it is absent.
* Downloads are forbidden (``VIRTUALCELL_OFFLINE=1``) and the cache is a temporary folder,
  so no test touches the network or the user's cache.
* ``--runslow`` enables tests marked ``slow``.
* ``cells`` / ``rank_tok`` (and their factories): tiny synthetic cells and a fitted rank
  tokenizer, shared by the model and training tests.
* ``warm_jit`` (session): compiles the numba tokenizer kernels and scanpy's numba code
  (neighbours, Leiden) once per run, so that ``--durations`` shows each test's own work;
  test modules that need them say ``pytestmark = pytest.mark.usefixtures("warm_jit")``.
* Under pytest-xdist (``make test`` runs ``pytest -n 2``) each worker computes on one
  thread (torch, BLAS/OpenMP; subprocesses inherit ``OMP_NUM_THREADS=1``), so the workers
  do not oversubscribe the cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

_REPO = Path(__file__).resolve().parents[1]
_DEFAULT_SHARED = _REPO.parent / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")
    parser.addoption("--runnetwork", action="store_true", help="run tests marked network")


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("VIRTUALCELL_DATA") and _DEFAULT_SHARED.is_dir():
        os.environ["VIRTUALCELL_DATA"] = str(_DEFAULT_SHARED)
    os.environ.setdefault("VIRTUALCELL_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _one_thread_per_worker()


def _one_thread_per_worker() -> None:
    """Under ``pytest -n N`` (pytest-xdist) each worker computes on one thread, so that N
    workers do not oversubscribe N cores: torch intra-op and BLAS/OpenMP pools of this
    process, and (through the environment) those of the subprocesses tests start."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gates = {
        "slow": (config.getoption("--runslow"), "slow: run with --runslow"),
        "network": (config.getoption("--runnetwork"), "needs internet: run with --runnetwork"),
    }
    for item in items:
        for marker, (enabled, reason) in gates.items():
            # the marker itself, not any keyword: a parameter id or a test named "network"
            # (a perturbation method) must not skip the test
            if item.get_closest_marker(marker) is not None and not enabled:
                item.add_marker(pytest.mark.skip(reason=reason))
        if item.get_closest_marker("gpu") is not None:
            import torch

            if not torch.cuda.is_available():
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets a private cache folder and offline mode; settings restored after."""
    from virtualcell import settings

    monkeypatch.setattr(settings, "cache_dir", tmp_path_factory.mktemp("vc-cache"))
    monkeypatch.setattr(settings, "offline", True)
    monkeypatch.setattr(settings, "verbosity", 0)
    data = os.environ.get("VIRTUALCELL_DATA")
    monkeypatch.setattr(settings, "data_dir", Path(data) if data else None)
    yield


@pytest.fixture(scope="session")
def warm_jit() -> None:
    """Compile the numba kernels (rank / top-k encode, float32 and float64) and scanpy's
    neighbour graph + Leiden once on tiny data."""
    import warnings

    import scanpy as sc

    from virtualcell.tokenize import RankTokenizer, SentenceTokenizer

    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.poisson(2.0, size=(80, 12)).astype(np.float32))
    genes = [f"g{i}" for i in range(12)]
    for data in (X, X.astype(np.float64)):
        RankTokenizer(max_len=4).fit(data, genes=genes).encode(data, genes=genes)
        SentenceTokenizer(max_len=4).fit(data, genes=genes).encode(data, genes=genes)
    adata = ad.AnnData(rng.normal(size=(60, 4)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.neighbors(adata, n_neighbors=5, use_rep="X")
        sc.tl.leiden(adata, flavor="igraph", n_iterations=2, directed=False)


@pytest.fixture
def shared_data() -> Path:
    """Root of the reference data (``../shared/data``); skips the test when absent."""
    from virtualcell import settings

    if settings.data_dir is None or not settings.data_dir.is_dir():
        pytest.skip("reference data (VIRTUALCELL_DATA / ../shared/data) not available")
    return settings.data_dir


def make_cells(n_cells: int = 120, n_genes: int = 40, seed: int = 0, groups: int = 2) -> ad.AnnData:
    """Counts with ``groups`` cell types, each over-expressing its own block of genes."""
    rng = np.random.default_rng(seed)
    label = np.arange(n_cells) % groups
    rate = rng.gamma(2.0, 1.0, size=(1, n_genes)).repeat(n_cells, 0)
    block = n_genes // (2 * groups)
    for g in range(groups):
        rate[label == g, g * block : (g + 1) * block] *= 8.0
    X = sp.csr_matrix(rng.poisson(rate).astype(np.float32))
    adata = ad.AnnData(X)
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    adata.obs["cell_type"] = [f"type{g}" for g in label]
    adata.obs["score"] = (label * 2.0 + rng.normal(0, 0.1, n_cells)).astype(np.float32)
    return adata


def rank_tokenizer_cls():
    from virtualcell.tokenize import RankTokenizer

    return RankTokenizer


@pytest.fixture
def cells() -> ad.AnnData:
    return make_cells()


@pytest.fixture
def rank_tok(cells):
    return rank_tokenizer_cls()(max_len=24).fit(cells)


@pytest.fixture
def cell_factory():
    return make_cells


@pytest.fixture
def tokenizer_factory():
    return rank_tokenizer_cls()
