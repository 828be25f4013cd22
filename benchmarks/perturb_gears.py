"""``gears_graph`` (GEARS-style graph model) on RENGE dev and DREAM4-100, beside the
baselines and the ``primed_network`` variants.

RENGE dev: 4-fold CV over the knocked-out genes (``vc.perturb.evaluate``, task
``unseen_singles``), for each fold seed; every baseline is refitted in the same run. The
``primed_network`` / ``primed_knowledge`` rows are read from ``docs/tables/renge_cv.csv``
(written by ``benchmarks/renge_cv.py`` on the same fold seeds, same evaluation path) where
that file has the seed, and are left out otherwise (say so in the table). DREAM4-100 nets
1-3: unseen singles and doubles, seed 0. All metrics target-excluded.

    PYTHONPATH=src python benchmarks/perturb_gears.py --seeds 0,1,2 [--variant NAME=JSON]
        [--skip dream4] [--name perturb_gears] [--cache DIR]

Writes ``docs/tables/<name>.md`` and ``docs/tables/<name>.csv`` (per seed x method x gene).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

import virtualcell as vc
from virtualcell._utils import atomic_path, markdown_table, write_text

METRICS = ["pearson_delta", "pds", "l2", "de_overlap"]
BASELINES = ["train_mean", "train_mean_ko", "go_forest", "go_ridge", "linear", "genept_ridge"]
PRIMED = ["primed_network", "primed_knowledge"]


def _renge(
    data: Path, seeds: list[int], variants: dict[str, dict], cache: Path | None
) -> pd.DataFrame:
    frames = []
    for seed in seeds:
        for i, (name, options) in enumerate(variants.items()):
            t0 = time.perf_counter()
            out = None if cache is None else cache / f"renge_seed{seed}_{name}"
            res = vc.perturb.evaluate(
                data, task="unseen_singles", folds=4, seed=seed, methods=["gears_graph"],
                method_options={"gears_graph": dict(options)}, out=out,
            )  # fmt: skip
            pp = res["per_perturbation"].copy()
            if i > 0:  # the baselines were scored with the first variant
                pp = pp[pp["method"] == "gears_graph"]
            pp["method"] = pp["method"].replace({"gears_graph": name})
            pp["seed"] = seed
            frames.append(pp)
            print(f"seed {seed} {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return pd.concat(frames, ignore_index=True)


def _primed_knowledge(data: Path, seeds: list[int], cache: Path | None) -> pd.DataFrame:
    """``primed_knowledge`` (``benchmarks/renge_cv.py``'s options) on ``seeds``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from renge_cv import VARIANTS

    options = dict(VARIANTS["primed_knowledge"][0])
    frames = []
    for seed in seeds:
        out = None if cache is None else cache / f"renge_seed{seed}_primed_knowledge"
        res = vc.perturb.evaluate(data, task="unseen_singles", folds=4, seed=seed,
                                  methods=["primed_network"],
                                  method_options={"primed_network": options}, out=out)  # fmt: skip
        pp = res["per_perturbation"]
        frames.append(pp[pp["method"] == "primed_network"].assign(method="primed_knowledge",
                                                                  seed=seed))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _dream4(shared: Path, options: dict) -> pd.DataFrame:
    rows = []
    for k in (1, 2, 3):
        folder = shared / "grn/dream4/DREAM4_InSilico_Size100" / f"insilico_size100_{k}"
        for task in ("unseen_singles", "doubles"):
            t0 = time.perf_counter()
            res = vc.perturb.evaluate(folder, task=task, seed=0, methods=["gears_graph"],
                                      method_options={"gears_graph": dict(options)})  # fmt: skip
            for r in res["results"]:
                if "error" in r or r["method"] not in ("train_mean", "additive", "linear",
                                                        "gears_graph"):  # fmt: skip
                    continue
                rows.append({"net": k, "task": task, "method": r["method"],
                             **{m: r.get(m) for m in ("pearson_delta", "l2", "pds")}})  # fmt: skip
            print(f"dream4 {k} {task}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return pd.DataFrame(rows)


def _summary(pp: pd.DataFrame) -> list[dict]:
    per_seed = pp.groupby(["method", "seed"])[METRICS].mean()
    mean = per_seed.groupby("method").mean()
    sd = per_seed.groupby("method").std()
    n = per_seed.groupby("method").size()
    rows = []
    for m in mean.sort_values("pearson_delta", ascending=False).index:
        rows.append({"method": m, "seeds": int(n[m]),
                     **{k: f"{mean.loc[m, k]:.3f} ({sd.loc[m, k]:.3f})" for k in METRICS}})  # fmt: skip
    return rows


def _paired(pp: pd.DataFrame, method: str, against: str, metric: str) -> str:
    """Per (seed, gene) difference ``method - against`` on ``metric``, summarised."""
    wide = pp.pivot_table(index=["seed", "perturbation"], columns="method", values=metric)
    if method not in wide or against not in wide:
        return ""
    gene = (wide[method] - wide[against]).groupby(level="perturbation").mean()
    se = gene.std(ddof=1) / len(gene) ** 0.5
    seeds = (wide[method] - wide[against]).groupby(level="seed").mean()
    return (f"- {method} - {against} ({metric}): mean over genes {gene.mean():+.3f} (SE "
            f"{se:.3f}); better on {int((gene > 0).sum())} of {len(gene)} genes; better "
            f"on {int((seeds > 0).sum())} of {len(seeds)} seeds")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="docs/tables")
    ap.add_argument("--name", default="perturb_gears")
    ap.add_argument("--data", default=None, help="shared data folder (VIRTUALCELL_DATA)")
    ap.add_argument("--skip", default="", help="comma list of renge,dream4 to skip")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=JSON options of gears_graph (repeatable; default: "
                    "gears_graph={})")  # fmt: skip
    ap.add_argument("--cache", default=None, help="folder of resumable evaluate runs")
    ap.add_argument("--primed-knowledge", action="store_true",
                    help="run primed_knowledge on the seeds docs/tables/renge_cv.csv lacks")  # fmt: skip
    args = ap.parse_args()
    shared = Path(args.data or os.environ.get("VIRTUALCELL_DATA", "../shared/data"))
    seeds = [int(s) for s in args.seeds.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    variants = {"gears_graph": {}}
    if args.variant:
        variants = {}
        for v in args.variant:
            name, _, text = v.partition("=")
            variants[name] = json.loads(text or "{}")
    out = Path(args.out)
    parts = [f"# gears_graph (generated by `benchmarks/perturb_gears.py --seeds {args.seeds}`)",
             "", "Variants: " + "; ".join(f"`{k}` = {json.dumps(v)}" for k, v in
                                           variants.items()), ""]  # fmt: skip
    if "renge" not in skip:
        data = shared / "perturbation/renge_dev/renge_hipsc_ko_dev.h5ad"
        pp = _renge(data, seeds, variants, Path(args.cache) if args.cache else None)
        table = Path(__file__).resolve().parents[1] / "docs/tables/renge_cv.csv"
        primed_note = "not available for these seeds"
        if table.is_file():
            old = pd.read_csv(table)
            old = old[old["method"].isin(PRIMED) & old["seed"].isin(seeds)]
            if len(old):
                pp = pd.concat([pp, old], ignore_index=True)
                primed_note = (f"read from `docs/tables/renge_cv.csv` for seeds "
                               f"{sorted(set(old['seed']))}")  # fmt: skip
        missing = [s for s in seeds if not ((pp["method"] == "primed_knowledge")
                                            & (pp["seed"] == s)).any()]  # fmt: skip
        if args.primed_knowledge and missing:
            cache = Path(args.cache) if args.cache else None
            pp = pd.concat([pp, _primed_knowledge(data, missing, cache)], ignore_index=True)
            primed_note = f"primed_knowledge run here on seeds {missing}"
        keep = [*BASELINES, *PRIMED, *variants]
        pp = pp[pp["method"].isin(keep)]
        with atomic_path(out / f"{args.name}.csv") as tmp:
            pp[["seed", "fold", "method", "perturbation", *METRICS]].to_csv(tmp, index=False)
        parts += ["## RENGE dev, unseen singles, 4-fold CV over the 11 knocked-out TFs", "",
                  "Mean over genes per seed, then over seeds (sd over seeds in brackets); "
                  f"primed rows {primed_note}.", "", markdown_table(_summary(pp)), ""]  # fmt: skip
        for name in variants:
            for against in ("train_mean", "go_forest", "primed_knowledge"):
                for metric in ("pearson_delta", "pds"):
                    line = _paired(pp, name, against, metric)
                    if line:
                        parts.append(line)
        parts.append("")
    if "dream4" not in skip:
        first = next(iter(variants.values()))
        d4 = _dream4(shared, first)
        parts += ["## DREAM4-100 nets 1-3 (seed 0, target-excluded)", "",
                  markdown_table(d4.to_dict("records")), ""]  # fmt: skip
        with atomic_path(out / f"{args.name}_dream4.csv") as tmp:
            d4.to_csv(tmp, index=False)
    write_text(out / f"{args.name}.md", "\n".join(parts))
    print(f"wrote {out / args.name}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
