"""Bad input to the streamed primed network: one line naming the problem, never a silent
network (found by the new-user round: duplicated names, NaN values, an empty regulator
list, a prior that shares no gene with the data)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell import ValidationError


def _cells(n: int = 60, g: int = 6, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    x = rng.poisson(2.0, size=(n, g)).astype(np.float64)
    return ad.AnnData(x, var=pd.DataFrame(index=[f"G{i}" for i in range(g)]))


def test_duplicated_var_names_are_refused_with_their_names(tmp_path):
    a = _cells()
    a.var_names = ["G0", "G0", "G2", "G3", "G3", "G5"]
    path = tmp_path / "dup.h5ad"
    a.write_h5ad(path)
    with pytest.raises(ValidationError, match=r"2 duplicated gene name\(s\): G0, G3"):
        vc.grn.fit_primed_network_stream(str(path), regulators=["G2"])


def test_nan_values_are_refused_naming_the_cells(tmp_path):
    a = _cells()
    a.X[7, 2] = np.nan
    with pytest.raises(ValidationError, match=r"1 cell\(s\) among cells 0\.\.59 have NaN"):
        vc.grn.fit_primed_network_stream(a, regulators=["G0", "G1"], chunk_cells=100)
    path = tmp_path / "nan.h5ad"
    a.write_h5ad(path)
    with pytest.raises(ValidationError, match=r"among cells 0\.\.9 have NaN"):
        vc.grn.fit_primed_network_stream(str(path), regulators=["G0", "G1"], chunk_cells=10)


def test_empty_regulator_list_is_refused():
    with pytest.raises(ValidationError, match="regulators is empty"):
        vc.grn.fit_primed_network_stream(_cells(), regulators=[])


def test_a_prior_sharing_no_gene_is_said():
    prior = pd.DataFrame({"regulator": ["X1"], "target": ["X2"], "sign": [1]})
    with pytest.warns(UserWarning, match="link no regulator to a gene of the data"):
        net = vc.grn.fit_primed_network_stream(_cells(), regulators=["G0", "G1"], prior=prior)
    assert np.isfinite(net.coef).all()
    matched = pd.DataFrame({"regulator": ["G0"], "target": ["G3"], "sign": [1]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vc.grn.fit_primed_network_stream(_cells(), regulators=["G0", "G1"], prior=matched)
