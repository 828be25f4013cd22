"""Method options from the command line: ``vcell perturb predict --option KEY=VALUE`` and
``vcell perturb evaluate --method-option METHOD.KEY=VALUE`` reach the method exactly as
the library's keyword arguments do; malformed pairs get one line, no traceback."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

import virtualcell as vc
from conftest import linear_cells
from virtualcell.cli import main


@pytest.fixture
def cells_file(tmp_path):
    path = tmp_path / "cells.h5ad"
    linear_cells(n_genes=12, n_singles=6, n_cells=15, doubles=False).write_h5ad(path)
    return path


def test_predict_option_reaches_the_method(cells_file, tmp_path):
    out = tmp_path / "pred.h5ad"
    code = main(["perturb", "predict", str(cells_file), "-p", "g2,g7", "-m", "primed_network",
                 "--option", "prior=none", "--option", "change_scale=1.5",
                 "--option", 'components=["mean", "data"]', "-o", str(out)])  # fmt: skip
    assert code == 0
    cli = ad.read_h5ad(out)
    lib = vc.perturb.predict_perturbation(
        ad.read_h5ad(cells_file), perturbations=["g2", "g7"], method="primed_network",
        prior="none", change_scale=1.5, components=["mean", "data"],
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(cli.X), np.asarray(lib.X), rtol=0, atol=1e-12)
    plain = vc.perturb.predict_perturbation(
        ad.read_h5ad(cells_file), perturbations=["g7"], method="primed_network",
        prior="none", components=["mean", "data"],
    )  # fmt: skip
    assert np.abs(np.asarray(cli.X)[1] - np.asarray(plain.X)[0]).max() > 1e-3  # it mattered


def test_evaluate_method_option_reaches_the_method(cells_file, capsys):
    code = main(["perturb", "evaluate", str(cells_file), "--task", "unseen_singles",
                 "--methods", "primed_network", "--method-option", "primed_network.prior=none",
                 "--method-option", 'primed_network.components=["mean"]',
                 "--method-option", "primed_network.change_scale=2", "--json"])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    model = {r["method"]: r for r in report["results"]}["primed_network"]["model"]
    assert model["change_scale"] == 2 and model["weights"] == {"mean": 1.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "--method-option", "knowledge_size=0.25"], "METHOD.KEY=VALUE"),
        (["evaluate", "--method-option", "primed_network.knowledge_size"], "KEY=VALUE"),
        (
            ["evaluate", "--methods", "primed_network", "--method-option", "network.ridge=1"],
            "options given for methods not evaluated: ['network']",
        ),
        (
            ["predict", "-p", "g2", "-m", "primed_network", "--option", "change_scale"],
            "--option must be KEY=VALUE",
        ),
        (
            ["predict", "-p", "g2", "-m", "train_mean", "--option", "bogus=1"],
            "has no option(s) ['bogus']",
        ),
    ],
)
def test_malformed_options_one_line(cells_file, tmp_path, capsys, args, message):
    command, rest = args[0], args[1:]
    extra = (
        ["--task", "unseen_singles"] if command == "evaluate" else ["-o", str(tmp_path / "p.h5ad")]
    )
    code = main(["perturb", command, str(cells_file), *extra, *rest])
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and "Traceback" not in err
