"""The tissue tools (``vc.spatial`` / ligand-receptor table) through a real Toolbox."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

import virtualcell as vc


def _section() -> ad.AnnData:
    rng = np.random.default_rng(0)
    n = 200
    kinds = np.where(np.arange(n) < 100, "A", "B")
    xy = rng.random((n, 2)) * 100.0  # A and B mixed
    counts = rng.poisson(2, size=(n, 3))
    counts[kinds == "A", 0] += 8  # ligand L in A
    counts[kinds == "B", 1] += 8  # receptor R in B
    adata = ad.AnnData(
        X=counts.astype(np.float32),
        obs=pd.DataFrame({"cell_type": pd.Categorical(kinds)}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=["L", "R", "Z"]),
    )
    adata.obsm["spatial"] = xy
    adata.uns["lr_pairs"] = pd.DataFrame({"ligand": ["L"], "receptor": ["R"]})
    return adata


def test_cell_communication_tool_runs_on_a_workspace_section():
    tb = vc.agent.Toolbox(names=["cell_communication", "ligand_receptor_pairs"])
    assert set(tb.names()) == {"cell_communication", "ligand_receptor_pairs"}
    handle = tb.workspace.add_result("read_data", {}, _section()).handle
    call = tb.call("cell_communication", {"adata": handle, "method": "neighbor_product"})
    assert call.ok, call.observation
    top = call.result.value.iloc[0]
    assert (top["ligand"], top["sender"], top["receiver"]) == ("L", "A", "B")
    bad = tb.call("cell_communication", {"adata": handle, "groupby": "nope"})
    assert not bad.ok and "no column 'nope'" in bad.observation


def test_ligand_receptor_tool_needs_an_open_store():
    tb = vc.agent.Toolbox(names=["ligand_receptor_pairs"])
    call = tb.call("ligand_receptor_pairs", {})
    assert not call.ok and "no knowledge store is open" in call.observation
