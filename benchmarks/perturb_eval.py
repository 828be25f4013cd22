"""The perturbation-prediction results of ``docs/perturb.md`` (run on demand, not a test).

DREAM4 size-100 networks (``--dream4``, default ``$VIRTUALCELL_DATA/grn/dream4``): the
``doubles`` task (all dual knockouts, a fixed split) and ``unseen_singles`` for every seed;
simulated Perturb-seq with strong epistasis (``vc.sim.simulate_preset("epistasis")``, a new
network and split per seed): both tasks. Every method of ``vc.perturb.METHODS`` runs next
to the baselines; each report is saved as JSON under ``--out`` and the tables (mean and
standard deviation over networks x seeds) are printed as markdown::

    python benchmarks/perturb_eval.py --out results/perturb_eval
    python benchmarks/perturb_eval.py --skip-sim --networks 1 --seeds 0   # quick

Timings are wall seconds of ``fit`` and ``predict`` as measured in the same run (on our
shared 2-core machine, under load: compare methods within one run only).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

METRICS = ("pearson_delta", "l2", "mse_top20_de", "pds", "centroid_accuracy", "de_overlap")


def _run(data, task, seed, out: Path, methods, tag: str) -> dict:
    import virtualcell as vc
    from virtualcell.perturb._evaluate import to_jsonable

    path = out / f"{tag}_{task}_seed{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    oracles = ("oracle_isp", "oracle_head")
    options = {m: {"threads": 1} for m in oracles if methods is None or m in methods}
    report = vc.perturb.evaluate(
        data, task=task, seed=seed, methods=methods, method_options=options,
        out=out / f"{tag}_{task}_seed{seed}",
    )  # fmt: skip
    report.pop("per_perturbation", None)
    report = to_jsonable(report)
    report["tag"] = tag
    from virtualcell._utils import write_json

    write_json(path, report)
    print(f"# {tag} {task} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return report


def _table(reports: list[dict], subgroup: str | None = None, stratum: str | None = None) -> str:
    from virtualcell._utils import markdown_table

    by: dict[str, dict[str, list[float]]] = {}
    base: dict[str, bool] = {}
    for rep in reports:
        for r in rep["results"]:
            if "error" in r:
                continue
            src = r
            if subgroup is not None:
                src = r.get("by_subgroup", {}).get(subgroup)
                if stratum is not None:
                    src = r.get("by_stratum", {}).get(subgroup, {}).get(stratum)
            if not src:
                continue
            base[r["method"]] = r["baseline"]
            for m in (*METRICS, "n"):
                v = src.get(m)
                if v is not None:
                    by.setdefault(r["method"], {}).setdefault(m, []).append(float(v))
            for m in ("fit_seconds", "predict_seconds"):
                if m in r:
                    by.setdefault(r["method"], {}).setdefault(m, []).append(float(r[m]))
    rows = []
    for name in sorted(by, key=lambda n: (not base[n], n)):
        row = {"method": name + (" (baseline)" if base[name] else "")}
        for m in METRICS:
            v = np.array(by[name].get(m, []), dtype=float)
            v = v[np.isfinite(v)]
            row[m] = f"{v.mean():.3f} ± {v.std():.3f}" if v.size else "n/a"
        if "n" in by[name]:
            row["n (all runs)"] = int(np.sum(by[name]["n"]))
        t = by[name].get("fit_seconds", []) + by[name].get("predict_seconds", [])
        if subgroup is None and t:
            fit = np.mean(by[name].get("fit_seconds", [0]))
            pred = np.mean(by[name].get("predict_seconds", [0]))
            row["fit+predict s"] = f"{fit + pred:.1f}"
        rows.append(row)
    return markdown_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("VIRTUALCELL_DATA", "../shared/data")) / "grn" / "dream4"
    parser.add_argument("--dream4", type=Path, default=default)
    parser.add_argument("--networks", default="1,2,3")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sim-genes", type=int, default=100)
    parser.add_argument("--methods", default=None, help="comma-separated (default: all)")
    parser.add_argument("--out", type=Path, default=Path("results/perturb_eval"))
    parser.add_argument("--skip-dream4", action="store_true")
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--figures", type=Path, default=None, help="folder for the docs figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    methods = args.methods.split(",") if args.methods else None
    seeds = [int(s) for s in args.seeds.split(",")]
    nets = [int(n) for n in args.networks.split(",")]
    groups: dict[tuple[str, str], list[dict]] = {}
    if not args.skip_dream4:
        for k in nets:
            folder = args.dream4 / "DREAM4_InSilico_Size100" / f"insilico_size100_{k}"
            rep = _run(folder, "doubles", 0, args.out, methods, f"dream4_100_{k}")
            groups.setdefault(("dream4", "doubles"), []).append(rep)
            for s in seeds:
                rep = _run(folder, "unseen_singles", s, args.out, methods, f"dream4_100_{k}")
                groups.setdefault(("dream4", "unseen_singles"), []).append(rep)
    if not args.skip_sim:
        import virtualcell as vc

        for s in seeds:
            path = args.out / f"sim_epistasis_{args.sim_genes}g_seed{s}.h5ad"
            if not path.exists():
                adata = vc.sim.simulate_preset(
                    "epistasis", grn=args.sim_genes, singles=60, doubles=60,
                    cells_per_condition=100, seed=s,
                )  # fmt: skip
                adata.write_h5ad(path)
            for task in ("doubles", "unseen_singles"):
                rep = _run(path, task, s, args.out, methods, f"sim_{args.sim_genes}g")
                groups.setdefault(("sim", task), []).append(rep)
    if args.figures is not None:
        _figures(args, groups)
    for (source, task), reps in groups.items():
        print(f"\n## {source} {task}: {len(reps)} runs\n")
        print(_table(reps))
        if task == "doubles" and source == "sim":
            for sub in ("combo_seen2", "combo_seen1", "combo_seen0"):
                print(f"\n### {sub}\n")
                print(_table(reps, sub))
                for stratum in ("additive", "moderate", "strong"):
                    print(f"\n#### {sub}, true interaction {stratum}\n")
                    print(_table(reps, sub, stratum))


def _figures(args, groups) -> None:
    """Figures of docs/perturb.md from this run's reports."""
    import virtualcell as vc

    args.figures.mkdir(parents=True, exist_ok=True)
    sim = groups.get(("sim", "doubles"), [])
    if sim:
        subs = ["combo_seen2", "combo_seen1", "combo_seen0", "unseen_single"]
        for metric in ("pearson_delta", "l2"):
            vc.pl.perturbation_bars(sim, metric=metric, subgroups=subs,
                                    path=args.figures / f"perturb_sim_{metric}.png")  # fmt: skip
        net = next(r for r in sim[0]["results"] if r["method"] == "network")
        vc.pl.interaction_confusion(net["interaction"], path=args.figures / "perturb_sim_modes.png")
    d4 = groups.get(("dream4", "doubles"), [])
    if d4:
        vc.pl.perturbation_bars(d4, metric="l2", subgroups=["combo_seen2"],
                                path=args.figures / "perturb_dream4_l2.png")  # fmt: skip
        folder = args.dream4 / "DREAM4_InSilico_Size100" / "insilico_size100_1"
        task = vc.perturb.load_task(folder, task="doubles", seed=0)
        model = vc.perturb.make_predictor("network", perturbation_type="knockout").fit(task.train)
        cond = task.conditions[0]
        truth = task.truth[task.truth.obs["perturbation"] == cond].X[0]
        ctrl = task.truth[task.truth.obs["perturbation"] == "control"].X[0]
        pred = model.predict([cond]).X[0]
        vc.pl.perturbation_scatter(truth, pred, ctrl, genes=list(task.truth.var_names),
                                   label=f"DREAM4 100/1 {cond} (network)",
                                   path=args.figures / "perturb_dream4_scatter.png")  # fmt: skip


if __name__ == "__main__":
    main()
