"""The perturbation-prediction results of ``docs/perturb.md`` (run on demand, not a test).

DREAM4 size-100 networks (``--dream4``, default ``$VIRTUALCELL_DATA/grn/dream4``): the
``doubles`` task (all dual knockouts, a fixed split) and ``unseen_singles`` for every seed;
simulated Perturb-seq with strong epistasis (``vc.sim.simulate_preset("epistasis")``, a new
network and split per seed): both tasks. Every method of ``vc.perturb.METHODS`` runs next
to the baselines, scored with the perturbed genes left out (the default) and again with
``include_targets=True`` (the numbers before that rule; the oracle methods, a minute per
fit, only in the first pass); each report is saved as JSON under ``--out`` with the load
average before and after it, and the tables (mean and standard deviation over networks x
seeds; "new (old)" cells) are printed as markdown and written to ``--tables`` (``.md``
and ``.csv``)::

    python benchmarks/perturb_eval.py --out results/perturb_eval
    python benchmarks/perturb_eval.py --skip-sim --networks 1 --seeds 0   # quick
    # the oracles (a minute per fit) in a second pass, merged into the tables:
    python benchmarks/perturb_eval.py --methods oracle_isp,oracle_head --skip-old \\
        --out results/perturb_oracles
    python benchmarks/perturb_eval.py --methods network --merge results/perturb_oracles

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

METRICS = (
    "pearson_delta",
    "l2",
    "mse_top20_de",
    "pds",
    "centroid_accuracy",
    "target_abs_error",
    "de_overlap",
)
#: Metrics whose value changes with ``include_targets`` (shown as "new (old)").
CHANGED = ("pearson_delta", "l2", "mse_top20_de", "centroid_accuracy", "de_overlap")
ORACLES = ("oracle_isp", "oracle_head")
#: Baselines from the simplest: a tie for the best baseline goes to the first.
SIMPLEST = ("no_change", "train_mean", "train_mean_ko", "matching_mean", "additive", "linear",
            "linear_rotation", "genept_ridge", "go_ridge", "go_forest")  # fmt: skip


def _jsonable(obj):
    import math

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not hasattr(v, "to_csv")}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _run(data, task, seed, out: Path, methods, tag: str, *, include_targets=False) -> dict:
    import virtualcell as vc

    suffix = "_alltargets" if include_targets else ""
    path = out / f"{tag}_{task}_seed{seed}{suffix}.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    if include_targets:  # the old numbers: no oracle refits (a minute each)
        names = vc.perturb.list_methods() if methods is None else methods
        methods = [m for m in names if m not in ORACLES]
    options = {m: {"threads": 1} for m in ORACLES if methods is None or m in methods}
    result = vc.perturb.evaluate(
        data, task=task, seed=seed, methods=methods, method_options=options,
        include_targets=include_targets, out=out / f"{tag}_{task}_seed{seed}{suffix}",
    )  # fmt: skip
    report = _jsonable(dict(result.report))
    report["tag"] = tag
    report["load_before"] = [round(x, 2) for x in load_before]
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    from virtualcell._utils import write_json

    write_json(path, report)
    print(f"# {tag} {task} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return report


def _records(pairs: list[tuple[dict, dict | None]], subgroup=None, stratum=None):
    """One row per (run, method): new and old (``include_targets``) value of each metric."""
    import pandas as pd

    rows = {}
    for new, old in pairs:
        for which, rep in (("new", new), ("old", old)):
            if rep is None:
                continue
            run = f"{rep['tag']}/{rep['task']}/{rep['seed']}"
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
                row = rows.setdefault((run, r["method"]), {"run": run, "method": r["method"],
                                                           "baseline": r["baseline"]})  # fmt: skip
                for m in METRICS:
                    v = src.get(m)
                    row[f"{which}:{m}"] = np.nan if v is None else float(v)
                if which == "new":
                    row["n"] = src.get("n", rep.get("n_test"))
                    row["seconds"] = r.get("fit_seconds", 0.0) + r.get("predict_seconds", 0.0)
    return pd.DataFrame(list(rows.values()))


def _fmt(v: np.ndarray) -> str:
    v = v[np.isfinite(v)]
    return f"{v.mean():.3f} ± {v.std():.3f}" if v.size else "n/a"


def _table(pairs, subgroup=None, stratum=None, *, csv_rows=None, label="") -> str:
    """Mean ± sd over runs, "new (old)" for the metrics the target rule changes."""
    from virtualcell._utils import markdown_table

    df = _records(pairs, subgroup, stratum)
    if df.empty:
        return "(no runs)"
    rows = []
    rank = {n: i for i, n in enumerate(SIMPLEST)}
    order = sorted(
        df["method"].unique(),
        key=lambda n: (not df[df.method == n].baseline.iloc[0], rank.get(n, len(rank)), n),
    )
    for name in order:
        part = df[df["method"] == name]
        row = {"method": name + (" (baseline)" if part.baseline.iloc[0] else "")}
        for m in METRICS:
            new = part.get(f"new:{m}", np.full(len(part), np.nan)).to_numpy(dtype=float)
            old = part.get(f"old:{m}", np.full(len(part), np.nan)).to_numpy(dtype=float)
            cell = _fmt(new)
            if m in CHANGED and np.isfinite(old).any():
                o = old[np.isfinite(old)]
                cell += f" ({o.mean():.3f})"
            row[m] = cell
            if csv_rows is not None:
                csv_rows.append({"table": label, "method": name, "baseline": bool(part.baseline.iloc[0]),
                                 "metric": m, "new_mean": np.nanmean(new) if np.isfinite(new).any() else np.nan,
                                 "old_mean": np.nanmean(old) if np.isfinite(old).any() else np.nan,
                                 "runs": int(np.isfinite(new).sum())})  # fmt: skip
        row["runs"] = len(part)
        same = next((r for r in rows if all(r[m] == row[m] for m in METRICS)), None)
        if same is not None and part.baseline.iloc[0]:  # identical numbers: one row
            same["method"] = same["method"].replace(" (baseline)", f", {name} (baseline)")
            continue
        if subgroup is None:
            row["fit+predict s"] = f"{part['seconds'].mean():.1f}"
        rows.append(row)
    return markdown_table(rows)


def _versus(pairs, subgroup=None) -> str:
    """Each method against the best baseline (by mean over runs) of each metric: means and
    in how many runs the method is better, target-excluded and old."""
    from virtualcell._utils import markdown_table
    from virtualcell.metrics import higher_is_better

    df = _records(pairs, subgroup)
    if df.empty:
        return "(no runs)"
    rows = []
    for m in ("pearson_delta", "l2"):
        sign = 1.0 if higher_is_better(m) else -1.0
        for which in ("new", "old"):
            col = f"{which}:{m}"
            if col not in df or not np.isfinite(df[col]).any():
                continue
            base = df[df.baseline].groupby("method")[col].mean().dropna()
            order = [n for n in SIMPLEST if n in base.index] + [
                n for n in base.index if n not in SIMPLEST
            ]
            best = (base.reindex(order) * sign).idxmax()  # ties: the simplest baseline
            ref = df[df.method == best].set_index("run")[col]
            for name in sorted(df[~df.baseline].method.unique()):
                mine = df[df.method == name].set_index("run")[col]
                common = mine.index.intersection(ref.index)
                diff = sign * (mine[common] - ref[common])
                ok = np.isfinite(diff)
                if not ok.any():
                    continue
                rows.append({
                    "metric": m, "scoring": "targets out" if which == "new" else "targets in (old)",
                    "method": name, "method mean": f"{mine[common].mean():.3f}",
                    "best baseline": best, "baseline mean": f"{ref[common].mean():.3f}",
                    "method better in": f"{int((diff[ok] > 0).sum())} of {int(ok.sum())} runs",
                })  # fmt: skip
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
    parser.add_argument("--tables", type=Path, default=None,
                        help="write the tables to TABLES.md and TABLES.csv")  # fmt: skip
    parser.add_argument("--skip-dream4", action="store_true")
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--skip-old", action="store_true", help="no include_targets pass")
    parser.add_argument("--merge", type=Path, action="append", default=[],
                        help="add the methods of another --out folder's reports (same runs)")  # fmt: skip
    parser.add_argument("--figures", type=Path, default=None, help="folder for the docs figures")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    methods = args.methods.split(",") if args.methods else None
    seeds = [int(s) for s in args.seeds.split(",")]
    nets = [int(n) for n in args.networks.split(",")]
    groups: dict[tuple[str, str], list[tuple[dict, dict | None]]] = {}

    def both(data, task, seed, tag):
        new = _run(data, task, seed, args.out, methods, tag)
        for extra in args.merge:  # methods of another pass (e.g. the oracles), same runs
            path = extra / f"{tag}_{task}_seed{seed}.json"
            if path.exists():
                have = {r["method"] for r in new["results"]}
                more = json.loads(path.read_text())["results"]
                new["results"] += [r for r in more if r["method"] not in have]
        old = None
        if not args.skip_old:
            old = _run(data, task, seed, args.out, methods, tag, include_targets=True)
        return new, old

    if not args.skip_dream4:
        for k in nets:
            folder = args.dream4 / "DREAM4_InSilico_Size100" / f"insilico_size100_{k}"
            # doubles: the split is fixed (every dual knockout), so one seed per network
            pair = both(folder, "doubles", 0, f"dream4_100_{k}")
            groups.setdefault(("dream4", "doubles"), []).append(pair)
            for s in seeds:
                pair = both(folder, "unseen_singles", s, f"dream4_100_{k}")
                groups.setdefault(("dream4", "unseen_singles"), []).append(pair)
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
                pair = both(path, task, s, f"sim_{args.sim_genes}g")
                groups.setdefault(("sim", task), []).append(pair)
    if args.figures is not None:
        _figures(args, {k: [p[0] for p in v] for k, v in groups.items()})
    lines: list[str] = []
    csv_rows: list[dict] = []
    for (source, task), pairs in groups.items():
        loads = [p[0].get("load_before", [np.nan])[0] for p in pairs]
        lines.append(
            f"\n## {source} {task}: {len(pairs)} runs (1-min load {min(loads):.1f}-{max(loads):.1f})\n"
        )
        lines.append(_table(pairs, csv_rows=csv_rows, label=f"{source}/{task}"))
        lines.append("\nMethods against the best baseline:\n")
        lines.append(_versus(pairs))
        if task == "doubles" and source == "sim":
            for sub in ("combo_seen2", "combo_seen1", "combo_seen0"):
                lines.append(f"\n### {sub}\n")
                lines.append(_table(pairs, sub, csv_rows=csv_rows, label=f"{source}/{task}/{sub}"))
                lines.append("")
                lines.append(_versus(pairs, sub))
                for stratum in ("additive", "moderate", "strong"):
                    lines.append(f"\n#### {sub}, true interaction {stratum}\n")
                    lines.append(_table(pairs, sub, stratum))
    text = "\n".join(lines)
    print(text)
    if args.tables is not None:
        import pandas as pd

        from virtualcell._utils import atomic_path, write_text

        write_text(args.tables.with_suffix(".md"), text + "\n")
        with atomic_path(args.tables.with_suffix(".csv")) as tmp:
            pd.DataFrame(csv_rows).to_csv(tmp, index=False, float_format="%.4f")


def _figures(args, groups) -> None:
    """Figures of docs/perturb.md from this run's reports."""
    import virtualcell as vc

    args.figures.mkdir(parents=True, exist_ok=True)
    sim = groups.get(("sim", "doubles"), [])
    if sim:
        subs = ["combo_seen2", "combo_seen1", "combo_seen0", "unseen_single"]
        for metric in ("pearson_delta", "l2"):
            vc.pl.perturbation_bars(sim, metric=metric, subgroups=subs,
                                    path=args.figures / f"perturb_sim_{metric}.png", overwrite=True)  # fmt: skip
        net = next(r for r in sim[0]["results"] if r["method"] == "network")
        vc.pl.interaction_confusion(
            net["interaction"], path=args.figures / "perturb_sim_modes.png", overwrite=True
        )
    d4 = groups.get(("dream4", "doubles"), [])
    if d4:
        vc.pl.perturbation_bars(d4, metric="l2", subgroups=["combo_seen2"],
                                path=args.figures / "perturb_dream4_l2.png", overwrite=True)  # fmt: skip
        folder = args.dream4 / "DREAM4_InSilico_Size100" / "insilico_size100_1"
        task = vc.perturb.load_task(folder, task="doubles", seed=0)
        model = vc.perturb.make_predictor("network", perturbation_type="knockout").fit(task.train)
        cond = task.conditions[0]
        truth = task.truth[task.truth.obs["perturbation"] == cond].X[0]
        ctrl = task.truth[task.truth.obs["perturbation"] == "control"].X[0]
        pred = model.predict([cond]).X[0]
        vc.pl.perturbation_scatter(truth, pred, ctrl, genes=list(task.truth.var_names),
                                   label=f"DREAM4 100/1 {cond} (network)",
                                   path=args.figures / "perturb_dream4_scatter.png", overwrite=True)  # fmt: skip


if __name__ == "__main__":
    main()
