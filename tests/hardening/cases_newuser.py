"""The newest features tried as a new user would: public Perturb-seq conventions, time
points, ``gears_graph``, published checkpoint folders and zero-shot text evaluation.

Each case runs on small but realistic files built once per process (a simulated screen of
300 cells x 30 genes rewritten in scPerturb / pertpy / screen conventions, with NaN labels,
``Non-Targeting`` controls, time points spelt ``day2``, a float16 matrix, duplicated gene
names, a cell without counts; a Geneformer and a scGPT folder in their published layouts;
labelled cells with cluster numbers as labels) and copied into the case's folder, so the
runner checks that none of them changes. Cases marked *regression* failed before the fix
of the same session (their docstring-like comment names what happened).
"""

from __future__ import annotations

import atexit
import functools
import json
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ._battery import RAISES, Case

__all__ = ["CASES"]

RETURNED = "returned"


# ----------------------------------------------------------------------------- inputs
def _screens(root: Path) -> None:
    """The simulated screen in several published conventions (module docstring)."""
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    import virtualcell as vc

    sim = vc.sim.simulate_perturbseq(30, cells_per_condition=30, singles=6, doubles=2,
                                     n_cell_types=1, keep_true_expression=False, seed=0)  # fmt: skip
    base = ad.AnnData(sp.csr_matrix(sim.X), obs=sim.obs[["perturbation", "perturbation_type"]].copy(),
                      var=pd.DataFrame(index=sim.var_names))  # fmt: skip
    labels = base.obs["perturbation"].astype(str)
    base.obs["perturbation"] = labels.to_numpy()
    base.write_h5ad(root / "screen.h5ad")

    def variant(name: str, **obs: Any) -> ad.AnnData:
        a = ad.AnnData(base.X.copy(), obs=pd.DataFrame(obs, index=base.obs_names),
                       var=base.var.copy())  # fmt: skip
        a.write_h5ad(root / name)
        return a

    variant("scperturb.h5ad", condition=labels.str.replace("+", "_").replace("control", "ctrl"))
    variant("guides.h5ad", guide_ids=labels.str.replace("+", "|").replace("control", "NT"))
    variant("nontargeting.h5ad", perturbation=labels.replace("control", "Non-Targeting"))
    variant("ntc.h5ad", target_gene=labels.replace("control", "NTC"))
    guides = labels.str.replace("+", "_").replace("control", "ctrl").astype(object)
    guides.iloc[:6], guides.iloc[6:9] = "no_guide", "multiplet"  # a guide caller's output
    variant("no_guide.h5ad", condition=guides)
    mixed = labels.astype(object).copy()
    for i, double in enumerate(sorted({c for c in labels if "+" in c})):
        a, b = double.split("+")
        mixed[labels == double] = f"{a}|{b}" if i % 2 == 0 else f"{b}_{a}"
    mixed.iloc[np.flatnonzero(labels == "control")[:7]] = "no_guide"
    variant("mixed_doubles.h5ad", perturbation=mixed)
    variant("only_unassigned.h5ad", perturbation=np.where(np.arange(base.n_obs) % 2, "no_guide",
                                                          "unassigned"))  # fmt: skip
    holes = labels.astype(object).copy()
    holes.iloc[:5] = np.nan
    variant("nan_labels.h5ad", perturbation=holes)
    rng = np.random.default_rng(0)
    days = rng.choice(["day2", "day3", "day10"], base.n_obs)
    variant("days.h5ad", perturbation=labels, time=days)
    holes_t = rng.choice([2.0, 3.0], base.n_obs)
    variant("days_float.h5ad", perturbation=labels, time=holes_t.copy())
    holes_t[7] = np.nan
    variant("days_nan.h5ad", perturbation=labels, time=holes_t)
    variant("days_no_control.h5ad", perturbation=labels,
            time=np.where(labels == "control", "day2", rng.choice(["day2", "day3"], base.n_obs)))  # fmt: skip
    half = base.copy()
    half.X = base.X.toarray().astype(np.float16)
    half.write_h5ad(root / "float16.h5ad")
    dup = base.copy()
    names = list(map(str, base.var_names))
    dup.var_names = [names[1], *names[1:]]  # the first gene renamed: the second one twice
    dup.write_h5ad(root / "duplicated_genes.h5ad")
    empty = base.copy()
    x = empty.X.tolil()
    x[0, :] = 0
    empty.X = x.tocsr()
    empty.write_h5ad(root / "zero_cell.h5ad")
    ens = base.copy()
    ens.var_names = [f"ENSG{i:011d}" for i in range(base.n_vars)]
    ens.write_h5ad(root / "ensembl.h5ad")


def _checkpoints(root: Path) -> None:
    """A tiny Geneformer folder (Hugging Face BERT + gene dictionaries) and a tiny scGPT
    folder (best_model.pt, vocab.json, args.json), with counts, log-normalised and float16
    cells over their genes."""
    import anndata as ad
    import scipy.sparse as sp
    import torch
    import transformers

    import virtualcell as vc

    genes = [f"ENSG{i:011d}" for i in range(40)]
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (24, 40)).astype(np.float32)
    counts[:, 0] += 1
    cells = ad.AnnData(sp.csr_matrix(counts))
    cells.var_names = genes
    cells.obs_names = [f"c{i}" for i in range(24)]
    cells.write_h5ad(root / "cells.h5ad")
    logged = cells.copy()
    logged.X = sp.csr_matrix(np.log1p(counts / counts.sum(1, keepdims=True) * 1e4))
    logged.write_h5ad(root / "cells_log.h5ad")
    logged.raw = cells.copy()
    logged.write_h5ad(root / "cells_log_raw.h5ad")
    half = cells.copy()
    half.X = counts.astype(np.float16)
    half.write_h5ad(root / "cells_float16.h5ad")
    torch.manual_seed(0)
    tokens = {"<pad>": 0, "<mask>": 1, **{g: i + 2 for i, g in enumerate(genes)}}
    config = transformers.BertConfig(
        vocab_size=len(tokens), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=48, hidden_act="relu", pad_token_id=0,
    )  # fmt: skip
    gf = root / "gf"
    transformers.BertForMaskedLM(config).save_pretrained(gf)
    (gf / "token_dictionary.pkl").write_bytes(pickle.dumps(tokens))
    (gf / "gene_median_dictionary.pkl").write_bytes(
        pickle.dumps({g: 1.0 + i % 3 for i, g in enumerate(genes)})
    )
    vocab = {"<pad>": 0, "<cls>": 1, "<eoc>": 2, **{g: i + 3 for i, g in enumerate(genes)}}
    args = {"embsize": 16, "nheads": 2, "d_hid": 32, "nlayers": 1, "n_bins": 51,
            "pad_token": "<pad>", "pad_value": -2, "max_seq_len": 64}  # fmt: skip
    net = vc.models.ScGPTNetwork(vc.models.ScGPTConfig(ntoken=len(vocab), **args), pad_id=0)
    sg = root / "sg"
    sg.mkdir()
    torch.save(net.state_dict(), sg / "best_model.pt")
    (sg / "vocab.json").write_text(json.dumps(vocab))
    (sg / "args.json").write_text(json.dumps(args))
    for name, folder, missing in (("gf_no_tokens", gf, "token_dictionary.pkl"),
                                  ("sg_no_vocab", sg, "vocab.json")):  # fmt: skip
        shutil.copytree(folder, root / name)
        (root / name / missing).unlink()


def _labelled(root: Path) -> None:
    """Labelled counts whose label columns are cluster numbers / names with holes."""
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    n, g = 120, 40
    label = np.arange(n) % 4
    rate = rng.gamma(2.0, 1.0, (1, g)).repeat(n, 0)
    for k in range(4):
        rate[label == k, 5 * k : 5 * k + 5] *= 8.0
    obs = pd.DataFrame({"leiden": label.astype(str),
                        "cell_type": [f"type{k}" for k in label]},
                       index=[f"c{i}" for i in range(n)])  # fmt: skip
    obs.loc[obs.index[::9], "cell_type"] = np.nan
    cells = ad.AnnData(sp.csr_matrix(rng.poisson(rate).astype(np.float32)), obs=obs)
    cells.var_names = [f"GN{i}" for i in range(g)]
    cells.write_h5ad(root / "labelled.h5ad")


@functools.cache
def _inputs() -> Path:
    root = Path(tempfile.mkdtemp(prefix="vc-battery-newuser-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    _screens(root)
    _checkpoints(root)
    _labelled(root)
    return root


def _copy_inputs(folder: Path) -> None:
    shutil.copytree(_inputs(), folder, dirs_exist_ok=True)


# ----------------------------------------------------------------------------- library calls
def _read(folder: Path, name: str) -> Any:
    import anndata as ad

    return ad.read_h5ad(folder / name)


def _fit_scperturb(folder: Path) -> None:
    import virtualcell as vc

    vc.perturb.make_predictor("train_mean").fit(_read(folder, "scperturb.h5ad"))


def _fit_non_targeting(folder: Path) -> None:
    import virtualcell as vc

    vc.perturb.make_predictor("train_mean").fit(_read(folder, "nontargeting.h5ad"))


def _gears_through_predict_perturbation(folder: Path) -> None:
    import virtualcell as vc

    pred = vc.perturb.predict_perturbation(
        _read(folder, "screen.h5ad"), perturbations=["G08", "G01"], method="gears_graph",
        graph="coexpression", epochs=30, seed=0,
    )  # fmt: skip
    assert pred.n_obs == 2 and np.isfinite(pred.X).all()


def _days_in_natural_order(folder: Path) -> None:
    import virtualcell as vc

    train = _read(folder, "days.h5ad")
    pred = vc.perturb.make_predictor("train_mean").fit(train).predict(["control", "G08"],
                                                                       time="all")  # fmt: skip
    assert list(pred.obs["time"][:3]) == ["day2", "day3", "day10"], list(pred.obs["time"])
    real = train[train.obs["perturbation"].isin(["control", "G08"]).to_numpy()].copy()
    per = vc.perturb.score(pred, real, time_key="time")["per_perturbation"]
    assert [r["time"] for r in per] == ["day2", "day3", "day10"], [r["time"] for r in per]


def _by_time_in_the_prediction_space(folder: Path) -> None:
    """One time point: the per-day scores must be the pooled ones (counts data)."""
    import virtualcell as vc

    screen = _read(folder, "screen.h5ad")
    screen.obs["time"] = 2.0
    res = vc.perturb.evaluate(screen, task="unseen_singles", seed=0, methods=["train_mean"],
                              by_time=True)  # fmt: skip
    row = next(r for r in res["results"] if r["method"] == "train_mean")
    by_day, pooled = row["by_time"]["l2"], row["l2"]
    assert abs(by_day - pooled) < 1e-6 * pooled, (by_day, pooled)


def _geneformer_log(folder: Path) -> None:
    import virtualcell as vc

    vc.models.load(f"geneformer:{folder / 'gf'}").embed(_read(folder, "cells_log.h5ad"))


def _text_eval_cluster_numbers(folder: Path) -> None:
    import virtualcell as vc

    vc.text.evaluate(_read(folder, "labelled.h5ad"), label_key="leiden", holdout_types=2,
                     seeds=[0], kb=False)  # fmt: skip


# ----------------------------------------------------------------------------- cases
P = "vcell perturb predict {tmp}"
E = "vcell perturb evaluate {tmp}"
OUT = "-o {tmp}/pred.h5ad"
EV = "--task unseen_singles --baselines-only --json"


def _cli(id: str, call: str, expect: int, message: str, *, outputs: tuple[str, ...] = (),
         output: str | None = None) -> Case:  # fmt: skip
    return Case(id, call, expect, message, setup=_copy_inputs, outputs=outputs, output=output)


def _api(id: str, call: str, run: Any, message: str, *, expect: str = RAISES) -> Case:
    return Case(id, call, expect, message, setup=_copy_inputs, run=run)


CASES: list[Case] = [
    # --- perturb predict on public conventions (regressions: predict refused them all)
    _cli("newuser-predict-scperturb-condition-ctrl",
         f"{P}/scperturb.h5ad -p G08,G12_G26,ctrl -m train_mean {OUT}", 0, "",
         output=r"wrote 3 predicted profiles"),
    _cli("newuser-predict-guide-ids-pipe-nt",
         f"{P}/guides.h5ad -p 'G12|G26,NT' -m train_mean {OUT}", 0, "",
         output=r"wrote 2 predicted profiles"),
    _cli("newuser-predict-non-targeting-control",
         f"{P}/nontargeting.h5ad -p G08,Non-Targeting -m train_mean {OUT}", 0, "",
         output=r"wrote 2 predicted profiles"),
    _cli("newuser-predict-ntc-control",  # regression: NTC read as a gene, no controls
         f"{P}/ntc.h5ad -p G08,NTC -m train_mean {OUT}", 0, "",
         output=r"wrote 2 predicted profiles"),
    _cli("newuser-predict-nan-labels-left-out",
         f"{P}/nan_labels.h5ad -p G08 -m train_mean {OUT}", 0, "",
         output=r"wrote 1 predicted profiles"),
    _cli("newuser-predict-control-label-typo",
         f"{P}/scperturb.h5ad -p G08 --control ctl -m train_mean {OUT}", 2,
         r"control label 'ctl' \(--control\) is not a value of obs\['condition'\]",
         outputs=("pred.h5ad",)),
    _cli("newuser-predict-key-absent",
         f"{P}/scperturb.h5ad -p G08 --perturbation-key cond -m train_mean {OUT}", 2,
         r"obs has no column 'cond' \(--perturbation-key\); obs columns: condition",
         outputs=("pred.h5ad",)),
    _cli("newuser-predict-unknown-gene",
         f"{P}/screen.h5ad -p G99 -m train_mean {OUT}", 2,
         r"knows nothing of G99", outputs=("pred.h5ad",)),
    _cli("newuser-predict-float16",  # regression: internal error in scipy.sparse
         f"{P}/float16.h5ad -p G08 -m train_mean {OUT}", 0, "",
         output=r"wrote 1 predicted profiles"),
    _cli("newuser-predict-gears-graph-cli",  # regression: internal error (TypeError: time)
         f"{P}/screen.h5ad -p G08 -m gears_graph {OUT}", 0, "",
         output=r"wrote 1 predicted profiles"),
    _api("newuser-api-gears-graph-predict-perturbation",  # regression: TypeError
         "vc.perturb.predict_perturbation(adata, perturbations=['G08', 'G01'], "
         "method='gears_graph', graph='coexpression')",
         _gears_through_predict_perturbation, "", expect=RETURNED),
    _cli("newuser-evaluate-no-guide-left-out",  # regression: 'no_guide' scored as gene 'no'
         f"{E}/no_guide.h5ad {EV}", 0, "",
         output=r'"unassigned": \{\s*"no_guide": 6,\s*"multiplet": 3\s*\}'),
    _cli("newuser-predict-no-guide-is-no-condition",  # regression: predicted the 'no' profile
         f"{P}/no_guide.h5ad -p no_guide -m train_mean {OUT}", 2,
         r"--perturbations: 'no_guide' names no condition", outputs=("pred.h5ad",)),
    _cli("newuser-evaluate-mixed-doubles-and-no-guide",  # regression: B_A next to A|B was one
         f"{E}/mixed_doubles.h5ad --task doubles --baselines-only --json", 0, "",  # gene 'B_A'
         output=r'"combo_seen1": 2\s*\}[\s\S]*"unassigned": \{\s*"no_guide": 7\s*\}'),
    _cli("newuser-evaluate-only-unassigned-cells",
         f"{E}/only_unassigned.h5ad {EV}", 2,
         r"obs\['perturbation'\] \(only cells without a guide: "),
    # --- time points
    _cli("newuser-predict-time-empty",  # regression: pooled profiles written silently
         f"{P}/days.h5ad -p G08 -m train_mean --time , {OUT}", 2,
         r"--time is empty", outputs=("pred.h5ad",)),
    _cli("newuser-predict-time-number-for-labels",
         f"{P}/days.h5ad -p G08 -m train_mean --time 2 {OUT}", 2,
         r"time '2' is not a time point .*\['day2', 'day3', 'day10'\]",
         outputs=("pred.h5ad",)),
    _api("newuser-api-days-in-natural-order",  # regression: day10 before day2
         "make_predictor('train_mean').fit(days).predict(..., time='all'); "
         "vc.perturb.score(..., time_key='time')",
         _days_in_natural_order, "", expect=RETURNED),
    _api("newuser-api-by-time-on-counts",  # regression: truth scored as raw counts
         "vc.perturb.evaluate(counts with one time point, by_time=True): by_time == pooled",
         _by_time_in_the_prediction_space, "", expect=RETURNED),
    _cli("newuser-evaluate-by-time-missing-time",  # regression: every method failed, exit 1
         f"{E}/days_nan.h5ad {EV} --by-time", 2,
         r"obs\['time'\] has 1 missing value"),
    _cli("newuser-evaluate-by-time-day-without-controls",  # regression: as above
         f"{E}/days_no_control.h5ad {EV} --by-time", 2,
         r"time point 'day3' has no control cells"),
    _cli("newuser-evaluate-by-time-float-days",  # regression: days named '2.0' (G08@2.0)
         f"{E}/days_float.h5ad {EV} --by-time", 0, "",
         output=r'"per_day": \{\s*"2": \{[^}]*\},\s*"3": \{'),
    _cli("newuser-evaluate-by-time-no-time-column",
         f"{E}/screen.h5ad {EV} --by-time", 2, r"by_time needs obs\['time'\]"),
    # --- evaluate on odd files
    _cli("newuser-evaluate-control-label-typo",  # regression: --control silently ignored
         f"{E}/scperturb.h5ad {EV} --control ctl", 2,
         r"control label 'ctl' \(--control\) is not a value of obs\['condition'\] \(detected"),
    _cli("newuser-evaluate-groupby-typo",  # regression: ignored without network
         f"{E}/screen.h5ad {EV} --groupby zone", 2,
         r"groupby column 'zone' \(--groupby\) not in obs \(columns: perturbation"),
    _cli("newuser-evaluate-duplicated-genes",  # regression: each method failed, exit 1
         f"{E}/duplicated_genes.h5ad {EV}", 2,
         r"1 gene name\(s\) occur more than once in var_names \(G02\)"),
    _cli("newuser-evaluate-zero-count-cell",  # regression: each method failed, exit 1
         f"{E}/zero_cell.h5ad {EV}", 2,
         r"1 cell\(s\) without counts \(total 0: cell000\).*filter_cells"),
    _cli("newuser-evaluate-ensembl-ids",
         f"{E}/ensembl.h5ad {EV}", 2,
         r"none of the 6 perturbed genes is a measured gene \(var_names\): G08"),
    _api("newuser-api-fit-scperturb-columns",  # regression: message named no column
         "vc.perturb.make_predictor('train_mean').fit(scperturb)", _fit_scperturb,
         r"no 'perturbation' column .*columns: condition\).*standardize_labels"),
    _api("newuser-api-fit-non-targeting",  # regression: message named no label
         "vc.perturb.make_predictor('train_mean').fit(non_targeting)", _fit_non_targeting,
         r"no control rows .*labels: Non-Targeting, G08.*standardize_labels"),
    # --- published checkpoints
    _cli("newuser-embed-geneformer-log-normalised",  # regression: embedded silently
         "vcell embed {tmp}/cells_log.h5ad --model geneformer:{tmp}/gf --out {tmp}/e.h5ad", 2,
         r"Geneformer .*reads raw counts, but X does not look like counts", outputs=("e.h5ad",)),
    _cli("newuser-embed-geneformer-log-names-raw",  # regression: embedded silently
         "vcell embed {tmp}/cells_log_raw.h5ad --model geneformer:{tmp}/gf --out {tmp}/e.h5ad",
         2, r"layer='raw' \(vcell embed --layer raw\)", outputs=("e.h5ad",)),
    _cli("newuser-embed-geneformer-raw-layer",
         "vcell embed {tmp}/cells_log_raw.h5ad --model geneformer:{tmp}/gf --layer raw "
         "--out {tmp}/e.h5ad", 0, "", output=r"wrote .*e\.h5ad with obsm\['X_vc'\] of shape \(24, 16\)"),
    _cli("newuser-embed-geneformer-float16",
         "vcell embed {tmp}/cells_float16.h5ad --model geneformer:{tmp}/gf --out {tmp}/e.h5ad",
         0, "", output=r"of shape \(24, 16\)"),
    _api("newuser-api-geneformer-log-normalised",  # regression: embedded silently
         "vc.models.load('geneformer:gf').embed(log_normalised)", _geneformer_log,
         r"does not look like counts"),
    _cli("newuser-embed-geneformer-without-prefix",  # regression: 'format_version None'
         "vcell embed {tmp}/cells.h5ad --model {tmp}/gf --out {tmp}/e.h5ad", 2,
         r"published Geneformer folder: pass geneformer:.*gf", outputs=("e.h5ad",)),
    _cli("newuser-embed-scgpt-without-prefix",  # regression: 'config.json: missing'
         "vcell embed {tmp}/cells.h5ad --model {tmp}/sg --out {tmp}/e.h5ad", 2,
         r"published scGPT folder: pass scgpt:.*sg", outputs=("e.h5ad",)),
    _cli("newuser-embed-geneformer-missing-token-dictionary",
         "vcell embed {tmp}/cells.h5ad --model geneformer:{tmp}/gf_no_tokens --out {tmp}/e.h5ad",
         2, r"no gene token dictionary", outputs=("e.h5ad",)),
    _cli("newuser-embed-scgpt-missing-vocab",
         "vcell embed {tmp}/cells.h5ad --model scgpt:{tmp}/sg_no_vocab --out {tmp}/e.h5ad", 2,
         r"vocab\.json: missing", outputs=("e.h5ad",)),
    # --- text and annotation
    _cli("newuser-text-eval-cluster-numbers",  # regression: ran ~80 s, scored names '3'
         "vcell text eval {tmp}/labelled.h5ad --label-key leiden --no-kb --json", 2,
         r"obs\['leiden'\] holds numbers \(0, 1, 2, 3\), not cell-type names"),
    _api("newuser-api-text-eval-cluster-numbers",  # regression: as above
         "vc.text.evaluate(cells, label_key='leiden', kb=False)", _text_eval_cluster_numbers,
         r"holds numbers"),
    _cli("newuser-annotate-labels-with-holes",
         "vcell annotate {tmp}/labelled.h5ad --label-key cell_type --query-fraction 0.3 --json",
         2, r"obs\['cell_type'\] has missing values, e\.g\. cells \['c0'"),
]  # fmt: skip
