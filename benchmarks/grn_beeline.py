"""Every GRN method on the reference benchmarks, BEELINE-style summary.

Data sets (from the reference-data folder, ``VIRTUALCELL_DATA`` or ``--data``):

* ``curated``: BEELINE GSD, HSC, VSC, mCAD (2000 cells, replicate 0);
* ``synthetic``: BEELINE dyn-BF, BFC, CY, LI, LL, TF;
* ``mEF``: BEELINE real mouse embryonic fibroblasts (``refNetwork.csv``);
* ``sergio``: SERGIO DS4 (100 genes, 900 cells, total expression);
* ``dream4_10`` (networks 1-5) and ``dream4_100`` (1-3): all challenge profiles except
  the noise-free dual knockouts (a bonus-round answer); gold standards from ``gold/``.

Every candidate pair of distinct genes is scored (BEELINE universe). Methods that need
``PseudoTime`` or ``perturbation`` annotations run only where those exist. Output:
per-run csv, family medians (AUPRC ratio, EPR) as markdown + csv, a heatmap, and the
goal check (best virtualcell method vs best of correlation / GENIE3 / GRNBoost2 /
PIDC per family). Run::

    python benchmarks/grn_beeline.py --out results/grn
    # only some methods / families, merged into the existing per-run table:
    python benchmarks/grn_beeline.py --out results/grn --merge \\
        --methods attention,in_silico_deletion --families curated,synthetic,dream4_10
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

BASELINES = (
    "pearson",
    "spearman",
    "partial_correlation",
    "mutual_information",
    "genie3",
    "genie3_et",
    "grnboost2",
    "pidc",
)
#: Oracle-derived methods (a tiny CellEncoder pretrained on each data set's own cells).
ORACLE = ("attention", "in_silico_deletion")
OURS = ("perturbation", "pidc_leadlag", "pseudotime", "ensemble", "prior", *ORACLE)
TREE_KW = {
    "genie3": {"n_estimators": 100},
    "genie3_et": {"n_estimators": 100},
    "pseudotime": {"n_estimators": 50},
}


def datasets(root: Path):
    import virtualcell as vc

    b = root / "beeline"
    for name in ("GSD", "HSC", "VSC", "mCAD"):
        yield "curated", name, lambda n=name: vc.data.read_beeline(b / "curated" / f"{n}_2000_0")
    for name in ("BF", "BFC", "CY", "LI", "LL", "TF"):
        yield (
            "synthetic",
            f"dyn-{name}",
            lambda n=name: vc.data.read_beeline(b / "synthetic" / f"dyn-{n}_2000_0"),
        )
    yield "mEF", "mEF", lambda: vc.data.read_beeline(b / "real" / "mouse" / "mEF")
    ds4 = root / "sergio" / "De-noised_100G_3T_300cPerT_dynamics_9_DS4"
    yield "sergio", "DS4", lambda: vc.grn.read_sergio(ds4)
    d4 = root / "dream4"
    for size, nets in ((10, range(1, 6)), (100, range(1, 4))):
        for k in nets:

            def load(size=size, k=k):
                folder = d4 / f"DREAM4_InSilico_Size{size}" / f"insilico_size{size}_{k}"
                adata = vc.grn.load_dataset(folder)
                gold = d4 / "gold" / f"DREAM4_GoldStandard_InSilico_Size{size}_{k}.tsv"
                adata.uns["true_network"] = vc.data.read_network(gold)
                return adata

            yield f"dream4_{size}", f"size{size}_{k}", load


def applicable(method: str, adata) -> bool:
    from virtualcell.grn._pseudotime import pseudotime_columns

    if method in ("pseudotime", "pidc_leadlag"):
        return bool(pseudotime_columns(adata.obs))
    if method == "prior":  # needs a built knowledge store (`vcell knowledge build`)
        import virtualcell as vc

        return vc.knowledge.default_path().is_file()
    if method == "perturbation":
        return "perturbation" in adata.obs and (adata.obs["perturbation"] != "control").any()
    return True


def main() -> None:
    import virtualcell as vc

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="reference data root (has grn/)")
    ap.add_argument("--out", type=Path, default=Path("results/grn"))
    ap.add_argument("--methods", default=",".join(vc.grn.METHODS.names()))
    ap.add_argument("--families", default=None, help="comma list, default all")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument(
        "--summarise-only", action="store_true", help="re-read OUT/beeline_runs.csv, no runs"
    )
    ap.add_argument(
        "--merge",
        action="store_true",
        help="update OUT/beeline_runs.csv: replace only the (dataset, method) rows run now",
    )
    args = ap.parse_args()
    if args.summarise_only:
        summarise(pd.read_csv(args.out / "beeline_runs.csv"), args.out)
        return
    vc.settings.verbosity = 0
    root = (args.data / "grn") if args.data else vc.settings.reference_data("grn")
    if root is None or not root.is_dir():
        raise SystemExit("reference data not found: set VIRTUALCELL_DATA or pass --data")
    args.out.mkdir(parents=True, exist_ok=True)
    methods = args.methods.split(",")
    families = set(args.families.split(",")) if args.families else None

    rows = []
    for family, name, load in datasets(root):
        if families and family not in families:
            continue
        adata = load()
        truth = adata.uns["true_network"]
        for method in methods:
            if not applicable(method, adata):
                continue
            t0 = time.perf_counter()
            edges = vc.grn.infer(
                adata, method=method, n_jobs=args.n_jobs, seed=0, **TREE_KW.get(method, {})
            )
            wall = time.perf_counter() - t0
            res = vc.grn.evaluate(edges, truth, genes=list(adata.var_names))
            rows.append(
                {
                    "family": family,
                    "dataset": name,
                    "method": method,
                    "auprc": res["auprc"],
                    "auroc": res["auroc"],
                    "auprc_ratio": res["auprc_ratio"],
                    "epr": res["epr"],
                    "signed_accuracy": res["signed_accuracy"],
                    "seconds": wall,
                }
            )
            print(
                f"{family:10s} {name:12s} {method:20s} AUPRCr {res['auprc_ratio']:5.2f} "
                f"EPR {res['epr']:5.2f} {wall:6.1f}s",
                flush=True,
            )
    runs = pd.DataFrame(rows)
    old_path = args.out / "beeline_runs.csv"
    if args.merge and old_path.is_file() and not runs.empty:
        old = pd.read_csv(old_path)
        done = set(zip(runs["dataset"], runs["method"], strict=True))
        stale = [(d, m) in done for d, m in zip(old["dataset"], old["method"], strict=True)]
        runs = pd.concat([old[~pd.Series(stale, index=old.index)], runs], ignore_index=True)
    runs.to_csv(old_path, index=False)
    summarise(runs, args.out)


def summarise(runs: pd.DataFrame, out: Path) -> None:
    """Family medians, heatmaps and the goal check from the per-run table."""
    import virtualcell as vc
    from virtualcell._utils import markdown_table

    ratio = runs.pivot_table(
        index="method", columns="family", values="auprc_ratio", aggfunc="median"
    )
    epr = runs.pivot_table(index="method", columns="family", values="epr", aggfunc="median")
    d4 = runs[runs["family"].str.startswith("dream4")]
    if not d4.empty:
        ratio["dream4"] = d4.groupby("method")["auprc_ratio"].median()
        epr["dream4"] = d4.groupby("method")["epr"].median()
    secs = runs.groupby("method")["seconds"].sum().rename("total_seconds")
    ratio.to_csv(out / "beeline_auprc_ratio.csv")
    epr.to_csv(out / "beeline_epr.csv")
    vc.pl.grn_heatmap(ratio, path=out / "beeline_auprc_ratio.png", overwrite=True)
    vc.pl.grn_heatmap(epr, path=out / "beeline_epr.png", title="median EPR", overwrite=True)
    print("\n## median AUPRC ratio (random = 1)\n")
    print(markdown_table(ratio.reset_index(), digits=2))
    print("\n## median EPR (random = 1)\n")
    print(markdown_table(epr.reset_index(), digits=2))
    print("\n## total inference seconds per method\n")
    print(markdown_table(secs.to_frame().reset_index(), digits=1))
    print("\n## goal: best virtualcell method / best baseline (median AUPRC ratio)\n")
    goal = []
    for fam in ratio.columns:
        base = ratio.loc[ratio.index.intersection(BASELINES), fam].dropna()
        ours = ratio.loc[ratio.index.intersection(OURS), fam].dropna()
        if base.empty or ours.empty:
            continue
        goal.append(
            {
                "family": fam,
                "best_baseline": f"{base.idxmax()} {base.max():.2f}",
                "best_virtualcell": f"{ours.idxmax()} {ours.max():.2f}",
                "ratio": ours.max() / base.max(),
                "goal_met (>= 1.2)": bool(ours.max() >= 1.2 * base.max()),
            }
        )
    goal_df = pd.DataFrame(goal)
    goal_df.to_csv(out / "beeline_goal.csv", index=False)
    print(markdown_table(goal_df, digits=2))


if __name__ == "__main__":
    main()
