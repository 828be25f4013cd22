"""Real Perturb-seq label conventions (scPerturb / pertpy / screen outputs) read by
``vc.perturb.load_task`` / ``evaluate`` / ``vcell perturb evaluate``, on small .h5ad files
written here, including the cases where the labels cannot be read (one-line errors)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from conftest import linear_cells
from virtualcell import ValidationError
from virtualcell.cli import main
from virtualcell.data import detect_perturbation_key, standardize_perturbations


def _screen(labels_of: dict[str, str], column: str, *, genes=None, extra=None) -> ad.AnnData:
    """linear_cells (control + g0..g5 + doubles) relabelled: ``labels_of`` maps the package
    label to the published one; the package column is removed."""
    adata = linear_cells(n_genes=12, n_singles=6, n_cells=12, doubles=True)
    canon = adata.obs["perturbation"].astype(str)
    obs = pd.DataFrame(index=adata.obs_names)
    obs[column] = [labels_of.get(c, c) for c in canon]
    for key, values in (extra or {}).items():
        obs[key] = values
    out = ad.AnnData(adata.X, obs=obs, var=adata.var.copy())
    if genes is not None:
        out.var_names = genes
    out.uns["canon"] = list(canon)
    return out


def _write(tmp_path, adata, name="screen.h5ad") -> str:
    path = tmp_path / name
    adata.write_h5ad(path)
    return str(path)


def _canonical_of(path: str, **kw) -> list[str]:
    task = vc.perturb.load_task(path, task="doubles", seed=0, **kw)
    return sorted(set(task.train.obs["perturbation"]) | set(task.conditions))


def test_scperturb_style_condition_underscore_doubles(tmp_path):
    labels = {"control": "control", **{f"g{i}+g{i + 1}": f"g{i}_g{i + 1}" for i in (0, 2, 4)}}
    adata = _screen(labels, "perturbation")
    got = _canonical_of(_write(tmp_path, adata))
    assert set(got) <= set(adata.uns["canon"]) and "g0+g1" in got and "control" in got


@pytest.mark.parametrize(
    ("column", "control", "sep"),
    [
        ("condition", "ctrl", "+"),  # GEARS-style names in a pertpy column
        ("target_gene", "non-targeting", "|"),
        ("gene", "NT", ","),
        ("guide_ids", "non-targeting_1", "+"),
    ],
)
def test_columns_controls_and_separators_detected(tmp_path, column, control, sep):
    labels = {"control": control, **{f"g{i}+g{i + 1}": f"g{i + 1}{sep}g{i}" for i in (0, 2, 4)}}
    adata = _screen(labels, column)
    path = _write(tmp_path, adata)
    task = vc.perturb.load_task(path, task="doubles", seed=0)
    assert task.labels["column"] == column and task.labels["detected"]
    assert control in task.labels["control_labels"]
    seen = set(task.train.obs["perturbation"]) | set(task.conditions)
    assert seen <= set(adata.uns["canon"]) and any("+" in c for c in task.conditions)
    # the labels give the same split and truth as the package's own convention
    own = linear_cells(n_genes=12, n_singles=6, n_cells=12, doubles=True)
    ref = vc.perturb.load_task(own, task="doubles", seed=0)
    assert task.conditions == ref.conditions
    np.testing.assert_array_equal(task.truth.X, ref.truth.X)


def test_numbered_controls_and_guide_suffixes(tmp_path):
    adata = linear_cells(n_genes=10, n_singles=5, n_cells=10, doubles=False)
    canon = adata.obs["perturbation"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    labels = [
        f"non-targeting_{rng.integers(1, 4)}" if c == "control" else f"{c}_sg{rng.integers(1, 3)}"
        for c in canon
    ]
    obs = pd.DataFrame({"guide_identity": labels}, index=adata.obs_names)
    path = _write(tmp_path, ad.AnnData(adata.X, obs=obs, var=adata.var))
    task = vc.perturb.load_task(path, task="unseen_singles", seed=0)
    assert task.labels["column"] == "guide_identity"
    assert set(task.train.obs["perturbation"]) | set(task.conditions) == set(canon)


def test_underscore_genes_decided_by_var_names(tmp_path):
    genes = [f"g{i}" for i in range(10)] + ["HLA_A", "HLA_B"]
    labels = {"g0": "HLA_A", "g1": "HLA_B", "g0+g1": "HLA_A_HLA_B", "g2+g3": "g2_g3",
              "g4+g5": "g4_g5"}  # fmt: skip
    adata = _screen(labels, "perturbation", genes=genes)
    # rename g0/g1 measured genes so the targets are HLA_A / HLA_B
    path = _write(tmp_path, adata)
    task = vc.perturb.load_task(path, task="doubles", seed=0)
    seen = set(task.train.obs["perturbation"]) | set(task.conditions)
    assert {"HLA_A", "HLA_B", "HLA_A+HLA_B", "g2+g3"} <= seen
    assert not any("HLA+" in c or c.startswith("A+") for c in seen)


def test_ambiguous_underscore_is_an_error_naming_column_and_label(tmp_path):
    genes = [f"g{i}" for i in range(11)] + ["g0_g1"]
    labels = {"g0+g1": "g0_g1", "g2+g3": "g2_g3", "g4+g5": "g4_g5"}
    adata = _screen(labels, "perturbation", genes=genes)
    path = _write(tmp_path, adata)
    with pytest.raises(ValidationError, match=r"obs\['perturbation'\].*'g0_g1' = "):
        vc.perturb.load_task(path, task="doubles", seed=0)
    code = main(["perturb", "evaluate", path, "--task", "doubles", "--baselines-only"])
    assert code == 2


def test_no_control_and_bad_options_are_one_line_errors(tmp_path, capsys):
    adata = _screen({"control": "WT"}, "condition")
    path = _write(tmp_path, adata)
    with pytest.raises(ValidationError, match=r"obs\['condition'\].*'WT'.*--control") as err:
        vc.perturb.load_task(path, task="unseen_singles", seed=0)
    assert "\n" not in str(err.value)
    # --control names it; --perturbation-key is checked too
    task = vc.perturb.load_task(path, task="unseen_singles", seed=0, control="WT")
    assert task.labels["column"] == "condition" and "WT" in task.labels["control_labels"]
    with pytest.raises(ValidationError, match="no column 'cond'"):
        vc.perturb.load_task(path, task="unseen_singles", perturbation_key="cond")
    with pytest.raises(ValidationError, match=r"'wt ' .*is not a value of obs\['condition'\]"):
        vc.perturb.load_task(path, task="unseen_singles", perturbation_key="condition",
                             control="wt ")  # fmt: skip
    nothing = ad.AnnData(np.ones((4, 3), dtype=np.float32), obs=pd.DataFrame(
        {"batch": list("abab")}, index=list("wxyz")))  # fmt: skip
    with pytest.raises(ValidationError, match="no perturbation column in obs"):
        detect_perturbation_key(nothing)
    # CLI: the same, exit 2 and one line
    args = ["perturb", "evaluate", path, "--task", "unseen_singles", "--baselines-only"]
    assert main(args) == 2
    assert "--control" in capsys.readouterr().err
    assert main([*args, "--control", "WT", "--perturbation-key", "condition", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labels"]["column"] == "condition" and not report["labels"]["detected"]


def test_unlabelled_cells_left_out(tmp_path):
    adata = _screen({}, "perturbation")
    labels = adata.obs["perturbation"].astype(object).to_numpy()
    labels[:5] = np.nan  # cells without an assigned guide
    adata.obs["perturbation"] = labels
    path = _write(tmp_path, adata)
    task = vc.perturb.load_task(path, task="doubles", seed=0)
    assert task.labels["n_unlabelled_cells"] == 5
    n_ctrl_truth = int(task.truth.obs["perturbation"].eq("control").sum())
    assert task.train.n_obs + task.truth.n_obs - n_ctrl_truth == adata.n_obs - 5


def test_standardize_pipes_and_numbered_controls():
    obs = pd.DataFrame({"c": ["NT-3", "ctrl12", "A|B", "B", "non-targeting_00012"]})
    adata = ad.AnnData(np.zeros((5, 2), dtype=np.float32), obs=obs.set_axis(list("vwxyz")))
    out = standardize_perturbations(adata, perturbation_key="c")
    assert out.obs["perturbation"].tolist() == ["control", "control", "A+B", "B", "control"]


def test_vcell_perturb_predict_reads_the_same_conventions(tmp_path, capsys):
    """``vcell perturb predict`` reads a scPerturb file (``condition``, ``ctrl``, ``A_B``)
    like ``evaluate`` does, and ``-p`` may use the file's own spelling (it refused every
    such file: "adata.obs has no 'perturbation' column")."""
    labels = {"control": "ctrl", **{f"g{i}+g{i + 1}": f"g{i}_g{i + 1}" for i in (0, 2, 4)}}
    path = _write(tmp_path, _screen(labels, "condition"))
    out = tmp_path / "pred.h5ad"
    code = main(["perturb", "predict", path, "-p", "g1,g0_g1,g2+g3,ctrl", "-m", "train_mean",
                 "-o", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    pred = ad.read_h5ad(out)
    assert list(pred.obs["perturbation"]) == ["g1", "g0+g1", "g2+g3", "control"]
    code = main(["perturb", "predict", path, "-p", "g1", "--control", "ctl", "-o",
                 str(tmp_path / "x.h5ad")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "control label 'ctl' (--control)" in err
    assert not (tmp_path / "x.h5ad").exists()


def test_fit_on_another_convention_names_the_columns_and_the_reader():
    """``make_predictor(...).fit`` on a scPerturb AnnData (or with ``Non-Targeting``
    controls) names the obs columns / labels and ``standardize_labels``, whose output fits."""
    labels = {"control": "ctrl", **{f"g{i}+g{i + 1}": f"g{i}_g{i + 1}" for i in (0, 2, 4)}}
    adata = _screen(labels, "condition")
    model = vc.perturb.make_predictor("train_mean")
    with pytest.raises(ValidationError, match=r"columns: condition\).*standardize_labels"):
        model.fit(adata)
    nt = _screen({"control": "Non-Targeting"}, "perturbation")
    with pytest.raises(ValidationError, match=r"labels: Non-Targeting, g0.*standardize_labels"):
        model.fit(nt)
    fixed, info = vc.perturb.standardize_labels(adata)
    assert info["column"] == "condition" and "g0+g1" in set(fixed.obs["perturbation"])
    assert model.fit(fixed).predict(["g0+g1"]).n_obs == 1


def test_cells_without_a_guide_left_out_with_one_line(tmp_path, capsys, monkeypatch):
    """``no_guide`` / ``multiplet`` cells (a guide caller's output) are dropped before any
    method with one stderr line naming each label and its cells; ``no_guide`` was read as
    a perturbation of a gene ``no`` and ``multiplet`` as one of ``multiplet``."""
    adata = _screen({}, "perturbation")
    labels = adata.obs["perturbation"].astype(str).to_numpy().copy()
    labels[:6] = "no_guide"
    labels[6:9] = "multiplet"
    adata.obs["perturbation"] = labels
    path = _write(tmp_path, adata)
    monkeypatch.setattr(vc.settings, "verbosity", 1)  # the tests run quiet
    task = vc.perturb.load_task(path, task="doubles", seed=0)
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if "without a usable guide" in x]
    assert len(line) == 1 and "'no_guide' 6, 'multiplet' 3" in line[0], err
    assert task.labels["unassigned"] == {"no_guide": 6, "multiplet": 3}
    seen = set(task.train.obs["perturbation"]) | set(task.conditions)
    assert seen <= set(adata.uns["canon"]) and not {"no", "multiplet"} & seen
    n_ctrl_truth = int(task.truth.obs["perturbation"].eq("control").sum())
    assert task.train.n_obs + task.truth.n_obs - n_ctrl_truth == adata.n_obs - 9


def test_only_unassigned_cells_and_fit_on_no_guide_are_one_line_errors(tmp_path, capsys):
    adata = _screen({}, "perturbation")
    rng = np.random.default_rng(0)
    adata.obs["perturbation"] = rng.choice(["no_guide", "unassigned"], adata.n_obs)
    path = _write(tmp_path, adata)
    with pytest.raises(ValidationError, match=r"every cell of obs\['perturbation'\] is unassigned"):
        vc.perturb.load_task(path, task="unseen_singles", perturbation_key="perturbation")
    code = main(["perturb", "evaluate", path, "--task", "unseen_singles", "--baselines-only"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "obs['perturbation'] (only cells without a guide: '" in err
    # fit() reads the package grammar only: a no_guide label is refused, not a gene "no"
    raw = _screen({}, "perturbation")
    labels = raw.obs["perturbation"].astype(str).to_numpy().copy()
    labels[:4] = "no_guide"
    raw.obs["perturbation"] = labels
    with pytest.raises(ValidationError, match=r"'no_guide' \(4 cells\).*standardize_labels"):
        vc.perturb.make_predictor("train_mean").fit(raw)


def test_mixed_doubles_with_a_no_guide_group_read_as_the_package_grammar(tmp_path):
    """A new user's file: doubles spelt ``A|B`` and ``B_A`` in one ``perturbation``
    column, plus a ``no_guide`` group. ``B_A`` was read as one unmeasured "gene" (the
    doubles task lost those doubles and scored them as singles); the task is now the one
    of the same cells in the package grammar without the no_guide cells."""
    adata = _screen({}, "perturbation")
    canon = adata.obs["perturbation"].astype(str).to_numpy().copy()
    labels = canon.astype(object).copy()
    for i, d in enumerate(sorted({c for c in canon if "+" in c})):
        a, b = d.split("+")
        labels[canon == d] = f"{a}|{b}" if i % 2 == 0 else f"{b}_{a}"
    ctrl = np.flatnonzero(canon == "control")
    labels[ctrl[:5]] = "no_guide"
    adata.obs["perturbation"] = labels
    task = vc.perturb.load_task(_write(tmp_path, adata), task="doubles", seed=0)
    own = linear_cells(n_genes=12, n_singles=6, n_cells=12, doubles=True)
    own = own[np.setdiff1d(np.arange(own.n_obs), ctrl[:5])].copy()
    ref = vc.perturb.load_task(own, task="doubles", seed=0)
    assert task.labels["unassigned"] == {"no_guide": 5}
    assert task.conditions == ref.conditions and any("+" in c for c in task.conditions)
    np.testing.assert_array_equal(task.truth.X, ref.truth.X)
    np.testing.assert_array_equal(task.train.X, ref.train.X)
