"""vc.perturb.score / `vcell perturb score`: any tool's predictions, cell-eval's input
convention; the shared metrics equal cell-eval's."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import virtualcell as vc
from virtualcell import ValidationError
from virtualcell.cli import main

KEY, CTRL = "target", "non-targeting"
PERTS = ("G1", "G2", "G3", "G5", "G8", "G13", "G21", "G30")


def pair(seed: int = 0, n_genes: int = 40, cells: int = 15, n_ctrl: int = 30):
    """Real cells and a tool's predicted cells (another control level, weaker effects)."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n_genes)]
    base = rng.gamma(2.0, 1.0, n_genes)
    effects = {p: rng.normal(0, 0.6, n_genes) * (rng.random(n_genes) < 0.4) for p in PERTS}
    for p in PERTS:
        effects[p][genes.index(p)] = -0.9 * base[genes.index(p)]  # the knocked gene drops

    def make(noise, shift, scale, pred_noise):
        rows, labels = [], []
        for lab in (CTRL, *PERTS):
            n = n_ctrl if lab == CTRL else cells
            mu = base + shift
            if lab != CTRL:
                mu = mu + scale * effects[lab] + rng.normal(0, pred_noise, n_genes)
            rows.append(np.clip(mu + rng.normal(0, noise, (n, n_genes)), 0, None))
            labels += [lab] * n
        obs = pd.DataFrame({KEY: labels}, index=[f"c{i}" for i in range(len(labels))])
        return ad.AnnData(X=np.vstack(rows), obs=obs, var=pd.DataFrame(index=genes))

    return make(0.3, 0.05, 0.3, 0.6), make(0.3, 0.0, 1.0, 0.0)


def _cell_eval(pred, real):
    pytest.importorskip("cell_eval")
    from cell_eval._types import PerturbationAnndataPair
    from cell_eval.metrics._anndata import discrimination_score, mae, mse, pearson_delta

    data = PerturbationAnndataPair(real=real, pred=pred, pert_col=KEY, control_pert=CTRL)
    return {
        "pearson_delta": pearson_delta(data),
        "mse": mse(data),
        "mae": mae(data),
        "pds": discrimination_score(data, metric="l1"),
    }


def test_score_equals_cell_eval_on_the_shared_metrics():
    pred, real = pair()
    ref = _cell_eval(pred, real)
    # cell-eval keeps the target in pearson_delta / mse / mae and leaves it out of the
    # discrimination score: compare ours with include_targets=True
    ours = vc.perturb.score(pred, real, perturbation_key=KEY, control=CTRL, include_targets=True)
    per = {r["perturbation"]: r for r in ours.report["per_perturbation"]}
    assert set(per) == set(PERTS)
    for metric, values in ref.items():
        diff = max(abs(per[p][metric] - v) for p, v in values.items())
        assert diff < 1e-9, (metric, diff)
    assert 0.3 < np.mean(list(ref["pds"].values())) < 1.0  # a fixture that discriminates
    # target-excluded: cell-eval on the same files without the perturbation's own gene
    default = vc.perturb.score(pred, real, perturbation_key=KEY, control=CTRL)
    per = {r["perturbation"]: r for r in default.report["per_perturbation"]}
    for p in PERTS[:3]:
        keep = [g for g in real.var_names if g != p]
        rows_r = real.obs[KEY].isin([CTRL, p]).to_numpy()
        rows_p = pred.obs[KEY].isin([CTRL, p]).to_numpy()
        sub = _cell_eval(pred[rows_p, keep].copy(), real[rows_r, keep].copy())
        for metric in ("pearson_delta", "mse", "mae"):
            assert abs(per[p][metric] - sub[metric][p]) < 1e-9, (p, metric)
        assert per[p]["pearson_delta"] != pytest.approx(ref["pearson_delta"][p])


def test_score_aligns_gene_order_and_reports_summary():
    pred, real = pair(seed=1)
    shuffled = pred[:, list(reversed(pred.var_names))].copy()
    a = vc.perturb.score(pred, real, perturbation_key=KEY, control=CTRL)
    b = vc.perturb.score(shuffled, real, perturbation_key=KEY, control=CTRL)
    assert a.report["summary"] == pytest.approx(b.report["summary"], nan_ok=True)
    s = a.report["summary"]
    assert s["n_perturbations"] == len(PERTS)
    want = np.nanmean([r["pearson_delta"] for r in a.report["per_perturbation"]])
    assert s["pearson_delta"] == pytest.approx(want)
    assert a.task == "perturb/score" and set(a.table["unit"]) == set(PERTS)
    assert a.meta["looks_like_counts"] == {"pred": False, "real": False}


def test_score_errors_name_the_problem():
    pred, real = pair(seed=2)
    with pytest.raises(ValidationError, match="pred has no obs column 'nope'"):
        vc.perturb.score(pred, real, perturbation_key="nope", control=CTRL)
    with pytest.raises(ValidationError, match="control label 'ctrl' not in"):
        vc.perturb.score(pred, real, perturbation_key=KEY, control="ctrl")
    other = pred.copy()
    other.var_names = [f"X{i}" for i in range(other.n_vars)]
    with pytest.raises(ValidationError, match="gene mismatch: 40 gene"):
        vc.perturb.score(other, real, perturbation_key=KEY, control=CTRL)
    extra = pred.copy()
    extra.obs[KEY] = extra.obs[KEY].astype(str).replace({"G1": "G39"})
    with pytest.raises(ValidationError, match="no real cells: \\['G39'\\]"):
        vc.perturb.score(extra, real, perturbation_key=KEY, control=CTRL)


def test_counts_are_scored_as_given_and_flagged():
    pred, real = pair(seed=3)
    pred.X = np.round(pred.X * 10)
    real.X = np.round(real.X * 10)
    out = vc.perturb.score(pred, real, perturbation_key=KEY, control=CTRL)
    assert out.meta["looks_like_counts"] == {"pred": True, "real": True}
    pb = pd.DataFrame(real.X).groupby(real.obs[KEY].to_numpy()).mean()
    first = out.report["per_perturbation"][0]
    g = first["perturbation"]
    keep = [i for i, name in enumerate(real.var_names) if name != g]
    pp = pd.DataFrame(pred.X).groupby(pred.obs[KEY].to_numpy()).mean()
    dt = (pb.loc[g] - pb.loc[CTRL]).to_numpy()[keep]
    dp = (pp.loc[g] - pp.loc[CTRL]).to_numpy()[keep]
    assert first["pearson_delta"] == pytest.approx(np.corrcoef(dt, dp)[0, 1])  # no log1p


def _cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_score_json_shape_and_errors(tmp_path, capsys):
    pred, real = pair(seed=4)
    pp, rp = tmp_path / "pred.h5ad", tmp_path / "real.h5ad"
    pred.write_h5ad(pp)
    real.write_h5ad(rp)
    args = ["perturb", "score", str(pp), str(rp), "--perturbation-key", KEY, "--control", CTRL]
    code, out, err = _cli([*args, "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc) == ["summary", "per_perturbation"]
    for key in ("pearson_delta", "l2", "pds", "mse", "target_abs_error"):
        assert isinstance(doc["summary"][key], float)
    assert len(doc["per_perturbation"]) == len(PERTS)
    api = vc.perturb.score(pp, rp, perturbation_key=KEY, control=CTRL)
    assert doc["summary"]["pearson_delta"] == pytest.approx(api.report["summary"]["pearson_delta"])
    code, out, err = _cli([*args, "--include-targets", "--json"], capsys)
    assert code == 0 and json.loads(out)["summary"]["pearson_delta"] != pytest.approx(
        doc["summary"]["pearson_delta"]
    )
    code, out, err = _cli(["perturb", "score", str(pp), str(rp), "--perturbation-key", "x",
                           "--control", CTRL, "--json"], capsys)  # fmt: skip
    assert code == 2 and out == "" and "no obs column 'x'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = _cli(["perturb", "score", str(tmp_path / "none.h5ad"), str(rp),
                           "--perturbation-key", KEY, "--control", CTRL], capsys)  # fmt: skip
    assert code == 2 and "no such file" in err
    code, out, err = _cli(["perturb", "score", "--help"], capsys)
    assert code == 0 and "looks like raw counts" in " ".join((out + err).split())


def _de_case(shifts_real: dict, shifts_pred: dict, *, n_ctrl: int = 40, n: int = 20, seed: int = 0):
    """Real and predicted cells of one knockout ``G1`` over genes G0-G9 whose DE genes are
    known by construction: the knockout's cells are control cells (each file its own,
    drawn alike) with only the genes of ``shifts_*`` shifted; every other gene holds a
    subset of its control values, so it cannot test as DE."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(10)]

    def make(shifts):
        ctrl = np.round(rng.gamma(3.0, 1.0, (n_ctrl, len(genes))), 2)
        pert = ctrl[:n].copy()
        for g, s in shifts.items():
            pert[:, genes.index(g)] += s
        obs = pd.DataFrame({KEY: [CTRL] * n_ctrl + ["G1"] * n},
                           index=[f"c{i}" for i in range(n_ctrl + n)])  # fmt: skip
        return ad.AnnData(np.clip(np.vstack([ctrl, pert]), 0, None), obs=obs,
                          var=pd.DataFrame(index=genes))  # fmt: skip

    return make(shifts_real), make(shifts_pred)


def test_score_de_metrics_on_cells_against_a_hand_computed_case():
    # true DE (the target G1 left out), ranked by |log2 FC|: G3 (+8), G2 (+5);
    # predicted: G4 (+9), G2 (+6), G5 (+2.5) -> overlap at k = |T| = 2: {G2} of {G3, G2}
    real, pred = _de_case({"G1": -2.5, "G3": 8.0, "G2": 5.0},
                          {"G1": -2.5, "G4": 9.0, "G2": 6.0, "G5": 2.5})  # fmt: skip
    tables = []
    for x in (real, pred):  # the DE sets as the definition reads (vc.metrics.de_test)
        lab = x.obs[KEY].to_numpy()
        tables.append(vc.metrics.de_genes(vc.metrics.de_test(
            x.X[lab == "G1"], x.X[lab == CTRL], genes=list(x.var_names))))  # fmt: skip
    # |log2 FC| of the knocked gene G1 (about 4) falls between those of the shifted genes
    assert tables == [["G3", "G2", "G1"], ["G4", "G2", "G1", "G5"]]
    row = vc.perturb.score(pred, real, perturbation_key=KEY, control=CTRL)["per_perturbation"][0]
    assert row["de_overlap"] == pytest.approx(1 / 2)
    assert row["de_recall"] == pytest.approx(1 / 2)  # G2 of {G3, G2}
    assert row["de_fdp"] == pytest.approx(2 / 3)  # G4, G5 of {G4, G2, G5}
    # with the target kept: k = 3, {G4, G2, G1} against {G3, G2, G1}
    kept = vc.perturb.score(pred, real, perturbation_key=KEY, control=CTRL, include_targets=True)
    k_row = kept["per_perturbation"][0]
    assert k_row["de_overlap"] == pytest.approx(2 / 3)
    assert k_row["de_recall"] == pytest.approx(2 / 3) and k_row["de_fdp"] == pytest.approx(2 / 4)
    # profiles (one row per perturbation) have no cells: the DE metrics are NaN, not 0
    prof = vc.metrics.mean_profiles(pred, perturbation_key=KEY)[0]
    prof_ad = ad.AnnData(prof.to_numpy(), obs=pd.DataFrame(
        {KEY: prof.index.get_level_values(0).astype(str)}, index=[f"p{i}" for i in range(len(prof))]),
        var=pd.DataFrame(index=list(pred.var_names)))  # fmt: skip
    res = vc.perturb.score(prof_ad, real, perturbation_key=KEY, control=CTRL)
    assert np.isnan(res["per_perturbation"][0]["de_overlap"])
    assert np.isnan(res["summary"]["de_overlap"])
    # pred_cells: the DE metrics from those cells, the profile metrics from pred
    both = vc.perturb.score(prof_ad, real, perturbation_key=KEY, control=CTRL, pred_cells=pred)
    assert both["per_perturbation"][0]["de_overlap"] == pytest.approx(1 / 2)
    assert both["per_perturbation"][0]["pearson_delta"] == pytest.approx(
        res["per_perturbation"][0]["pearson_delta"]
    )
    with pytest.raises(ValidationError, match="pred_cells has no obs column"):
        vc.perturb.score(prof_ad, real, perturbation_key=KEY, control=CTRL,
                         pred_cells=pred.copy().obs.drop(columns=KEY).pipe(
                             lambda o: ad.AnnData(pred.X, obs=o, var=pred.var)))  # fmt: skip
