"""RENGE dev (real CRISPR knockouts of TFs in hiPSCs): 4-fold CV over the knocked-out genes,
seeds 0-2, every baseline next to ``network``, ``primed_network`` (its default until
2026-12-07: median anchor, GO forest and GenePT ridge averaged, network components
stacked; ``primed_next`` is the default since) and
``primed_stack`` (the default before: mean anchor, every weight stacked; the prior-only
and data-only variants on the first seed), per-gene differences from the best baseline of
each metric; DREAM4-100 nets 1-3 unseen singles and doubles; the simulator; BEELINE mEF
GRN.

Every variant's options are passed explicitly (also the default's), so a ``--cache`` of
runs made before a default changed is never resumed for it.

Writes ``docs/tables/<name>.md`` and ``docs/tables/<name>.csv`` (per seed x method x
knocked-out gene; ``--name``, default ``renge_cv``). All metrics are target-excluded (``vc.metrics.score_profiles``).

    PYTHONPATH=src python benchmarks/renge_cv.py [--seeds 0,1,2] [--out docs/tables]
        [--cache DIR]  # resumable evaluate runs: reruns read finished methods back
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

import virtualcell as vc
from virtualcell._utils import atomic_path, markdown_table, write_text

METRICS = ["pearson_delta", "pds", "pds_targets_out", "l2", "de_overlap"]
BASELINES = ["train_mean", "train_mean_ko", "go_forest", "go_ridge", "linear", "genept_ridge"]
#: the default of primed_network until 2026-12-07, explicit (see the module docstring); the
#: default since is ``primed_next`` below
DEFAULT = {
    "gate": "average",
    "anchor": "median",
    "stack_groups": 10,
    "components": ("mean", "data", "prior", "association", "neighbours", "text"),
    "knowledge_size": None,
    "paralog": 0.0,
}
#: the default before this round (``docs/tables/renge_stacking.md``: "stack (default)")
BEFORE = {"gate": "stack", "anchor": "mean", "paralog": 0.0}
#: the default of primed_network from 2026-12-07 until the paralog check (``primed_next``
#: below), explicit; the default since is ``primed_paralog``
NEXT = {
    **DEFAULT,
    "components": ("mean", "data", "prior", "association", "text"),
    "knowledge_size": 0.25,
}
#: name -> (options of primed_network, run on every seed?)
VARIANTS = {
    "primed_network": (DEFAULT, True),
    "primed_stack": (BEFORE, True),
    # the rule the declared selection on fold seeds 10-12 picked (docs/tables/renge_anchor.md)
    "primed_knowledge": ({**DEFAULT, "components": ("mean", "neighbours", "text")}, True),
    "primed_prior_only": ({**DEFAULT, "components": ("mean", "prior")}, False),
    "primed_data_only": ({**DEFAULT, "prior": "none", "components": ("mean", "data")}, False),
    # the learned part kept only where the training genes support it (docs/perturb.md,
    # "DREAM4 unseen singles: PDS")
    "primed_support": ({**DEFAULT, "support": "nested"}, True),
    # the GenePT direction at a quarter of the training genes' median deviation from the
    # anchor (the pick on design seeds of benchmarks/renge_pds_recombine.py)
    "primed_sized": ({**DEFAULT, "components": ("mean", "text"), "knowledge_size": 0.25}, True),
    # the default since the declared check on fold seeds 90-99: primed_sized's knowledge
    # part with the network components kept (their weights learned as before), so data
    # the store does not know (DREAM4, simulations) predict exactly as before
    "primed_next": (NEXT, True),
    # the default with the GenePT direction at half the training genes' median deviation
    # from the anchor: the design table's "median + 0.5 unit(text)" (renge_pds_recombine.md)
    # with the network components kept; the candidate of the check declared before fold
    # seeds 100-119 (docs/perturb.md)
    "primed_half": ({**NEXT, "knowledge_size": 0.5}, True),
    # primed_next plus half the change of the training genes whose GenePT embedding is a
    # near-duplicate of the gene's (cosine above the 99th percentile of the measured
    # genes' pairs: paralogs such as ZIC2 / ZIC3): the default since the declared check
    # on fold seeds 120-139 (docs/perturb.md)
    "primed_paralog": ({**NEXT, "paralog": 0.5}, True),
}


def _renge(data: Path, seeds: list[int], cache: Path | None, variants: list[str]) -> pd.DataFrame:
    frames = []
    for seed in seeds:
        first = True  # the baselines and `network` are kept from the seed's first run
        for name, (options, every_seed) in VARIANTS.items():
            if name not in variants:
                continue
            if not every_seed and seed != seeds[0]:
                continue  # these variants on the first seed only
            t0 = time.perf_counter()
            # with --cache, one folder per seed and variant: the baselines and `network`
            # are fitted once per seed and read back (resumed) by the other variants
            out = None if cache is None else cache / f"seed{seed}"
            res = vc.perturb.evaluate(
                data, task="unseen_singles", folds=4, seed=seed,
                methods=["network", "primed_network"],
                method_options={"primed_network": dict(options)}, out=out,
            )  # fmt: skip
            pp = res["per_perturbation"].copy()
            if not first:  # the baselines were scored in the seed's first run
                pp = pp[pp["method"] == "primed_network"]
            first = False
            pp["method"] = pp["method"].replace({"primed_network": name})
            pp["seed"] = seed
            frames.append(pp)
            print(f"seed {seed} {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return pd.concat(frames, ignore_index=True)


def _dream4(shared: Path, cache: Path | None) -> pd.DataFrame:
    rows = []
    for k in (1, 2, 3):
        folder = shared / "grn/dream4/DREAM4_InSilico_Size100" / f"insilico_size100_{k}"
        for task in ("unseen_singles", "doubles"):
            out = None if cache is None else cache / f"dream4_{k}_{task}"
            res = vc.perturb.evaluate(folder, task=task, seed=0, out=out,
                                      methods=["network", "primed_network"],
                                      method_options={"primed_network": dict(DEFAULT)})  # fmt: skip
            for r in res["results"]:
                if "error" in r:
                    continue
                rows.append({"net": k, "task": task, "method": r["method"],
                             **{m: r.get(m) for m in ("pearson_delta", "l2", "pds", "pds_targets_out")}})  # fmt: skip
    return pd.DataFrame(rows)


def _mef(shared: Path) -> pd.DataFrame:
    adata = vc.data.read_beeline(shared / "grn/beeline/real/mouse/mEF")
    truth = adata.uns["true_network"]
    rows = []
    prior = vc.grn.knowledge_prior_or_none(list(adata.var_names), "renge_cv")
    runs = [("pearson", {}), ("genie3_et", {}), ("grnboost2", {}), ("prior", {}),
            ("primed (data alone)", {"prior": "none"}), ("primed", {})]  # fmt: skip
    for label, opts in runs:
        method = label.split(" ")[0]
        edges = vc.grn.infer(adata, method=method, seed=0, **opts)
        r = vc.grn.evaluate(edges, truth, genes=adata.var_names)
        rows.append({"method": label, **{m: r[m] for m in ("auprc_ratio", "epr", "auroc")}})
    if prior is not None:  # the prior alone: known edges first, the rest tied
        table = prior.assign(score=1.0)[["regulator", "target", "score"]]
        r = vc.grn.evaluate(table, truth, genes=adata.var_names)
        rows.append({"method": f"prior alone ({len(prior)} known edges)",
                     **{m: r[m] for m in ("auprc_ratio", "epr", "auroc")}})  # fmt: skip
    return pd.DataFrame(rows)


def _sim(seeds: list[int]) -> pd.DataFrame:
    """The simulator (a known network, varying control cells, no knowledge names)."""
    rows = []
    for seed in seeds:
        adata = vc.sim.simulate_preset("epistasis", grn=60, singles=24, doubles=0,
                                       cells_per_condition=40, seed=100 + seed)  # fmt: skip
        res = vc.perturb.evaluate(adata, task="unseen_singles", folds=4, seed=seed,
                                  methods=["network", "primed_network"],
                                  method_options={"primed_network": dict(DEFAULT)})  # fmt: skip
        pp = res["per_perturbation"]
        keep = ["train_mean", "linear", "network", "primed_network"]
        mean = pp[pp["method"].isin(keep)].groupby("method")[["pearson_delta", "pds", "l2"]]
        for method, row in mean.mean().iterrows():
            rows.append({"sim seed": 100 + seed, "cv seed": seed, "method": method, **row})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="docs/tables")
    ap.add_argument("--data", default=None, help="shared data folder (VIRTUALCELL_DATA)")
    ap.add_argument("--skip", default="", help="comma list of renge,dream4,sim,mef to skip")
    ap.add_argument("--name", default="renge_cv", help="file name of the markdown table")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma list of the primed_network variants to run")  # fmt: skip
    ap.add_argument("--cache", default=None,
                    help="folder of resumable evaluate runs (per seed): reruns read the "
                    "finished methods back")  # fmt: skip
    args = ap.parse_args()
    import os

    shared = Path(args.data or os.environ.get("VIRTUALCELL_DATA", "../shared/data"))
    seeds = [int(s) for s in args.seeds.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    out = Path(args.out)
    command = "benchmarks/renge_cv.py" + "".join(
        f" --{k} {v}" for k, v in (("seeds", args.seeds), ("skip", args.skip),
                                   ("variants", args.variants), ("name", args.name))
        if v and v != ap.get_default(k)
    )  # fmt: skip
    parts = ["# RENGE dev: cross-validated unseen knockouts (generated by "
             f"`{command}`)", "",
             "4-fold CV over the 11 knocked-out TFs, seeds of fold assignment "
             f"{args.seeds}; metrics target-excluded; mean over genes per seed, then over "
             "seeds (sd over seeds in brackets).", ""]  # fmt: skip
    if "renge" not in skip:
        data = shared / "perturbation/renge_dev/renge_hipsc_ko_dev.h5ad"
        variants = [v for v in args.variants.split(",") if v]
        pp = _renge(data, seeds, Path(args.cache) if args.cache else None, variants)
        variants = [v for v in VARIANTS if v in set(pp["method"])]
        keep = [*BASELINES, "no_change", "network", *variants]
        pp = pp[pp["method"].isin(keep)]
        with atomic_path(out / f"{args.name}.csv") as tmp:
            pp[["seed", "fold", "method", "perturbation", *METRICS]].to_csv(tmp, index=False)
        per_seed = pp.groupby(["method", "seed"])[METRICS].mean()
        mean = per_seed.groupby("method").mean()
        sd = per_seed.groupby("method").std()
        n_seeds = per_seed.groupby("method").size()
        rows = []
        for m in mean.sort_values("pearson_delta", ascending=False).index:
            rows.append({"method": m, "seeds": int(n_seeds[m]),
                         **{k: f"{mean.loc[m, k]:.3f} ({sd.loc[m, k]:.3f})" for k in METRICS}})  # fmt: skip
        parts += [markdown_table(rows), "", "## Per knocked-out gene (mean over seeds)", ""]
        gene = pp.groupby(["perturbation", "method"])[["pearson_delta", "pds"]].mean()
        for metric in ("pearson_delta", "pds"):
            wide = gene[metric].unstack()
            best = max(BASELINES, key=lambda b, m=metric: mean.loc[b, m])
            rows = []
            for g in wide.index:
                rows.append({"gene": g, **{m: wide.loc[g, m] for m in
                             ["train_mean", best, "network", *variants]},
                             **{f"{v} - {best}": wide.loc[g, v] - wide.loc[g, best]
                                for v in ("primed_network", "primed_stack", "primed_support")
                                if v in wide}})  # fmt: skip
            parts += [f"{metric}; best baseline by mean {metric}: `{best}`.", "",
                      markdown_table(rows), ""]  # fmt: skip
            for variant in [
                v for v in ("primed_network", "primed_stack", "primed_support") if v in wide
            ]:
                diff = wide[variant] - wide[best]
                se = diff.std(ddof=1) / len(diff) ** 0.5
                parts += [f"- {variant} - {best} ({metric}): mean over genes {diff.mean():+.3f}, "
                          f"SE over genes {se:.3f}, better on {int((diff > 0).sum())} of "
                          f"{len(diff)} genes, worse on {int((diff < 0).sum())}."]  # fmt: skip
            parts += [""]
    if "dream4" not in skip:
        d4 = _dream4(shared, Path(args.cache) if args.cache else None)
        d4 = d4[d4["method"].isin(["train_mean", "additive", "network", "primed_network",
                                   "linear"])]  # fmt: skip
        parts += ["## DREAM4-100 nets 1-3 (seed 0, target-excluded)", "",
                  markdown_table(d4.to_dict("records")), ""]  # fmt: skip
    if "sim" not in skip:
        sim = _sim(seeds[:2])
        parts += ["## Simulator (`simulate_preset('epistasis', grn=60, singles=24)`), "
                  "unseen singles, 4-fold CV", "", markdown_table(sim.to_dict("records")), ""]  # fmt: skip
    mef_title = "## BEELINE mEF (real): GRN against refNetwork.csv"
    if "mef" not in skip:
        parts += [mef_title, "", markdown_table(_mef(shared).to_dict("records")), ""]
    elif (out / f"{args.name}.md").is_file():  # keep the last measured section, said so
        old = (out / f"{args.name}.md").read_text()
        if mef_title in old:
            section = old.split(mef_title, 1)[1].split("\n## ", 1)[0].strip()
            section = "\n".join(s for s in section.splitlines()
                                 if not s.startswith("(Not rerun")).strip()  # fmt: skip
            parts += [mef_title, "", "(Not rerun in this generation (`--skip mef`): the "
                      "table of the previous generation of this file.)", "", section, ""]  # fmt: skip
    write_text(out / f"{args.name}.md", "\n".join(parts))
    print(f"wrote {out / args.name}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
