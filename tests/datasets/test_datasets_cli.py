"""``vcell datasets`` and ``vcell genes`` commands."""

from __future__ import annotations

import json

from virtualcell.cli import main


def test_datasets_list_and_info(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "norman2019" in out and "wu2020" in out and "on first download" in out
    assert main(["datasets", "info", "tenx_10k_subset"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["files"][0]["sha256"].startswith("b2ef5476")


def test_fetch_offline_names_what_to_download(capsys):
    assert main(["datasets", "fetch", "adamson2016"]) == 2
    err = capsys.readouterr().err
    assert "AdamsonWeissman2016_GSM2406681_10X010.h5ad" in err and "offline" in err


def test_genes_coverage_on_bundled_dataset(capsys):
    assert main(["genes", "wu2020", "--key", "gene_ids", "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert "27856/30727 mapped" in out
