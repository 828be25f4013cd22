"""Annotation side by side: every method vs the L1-LR and CellTypist baselines, 5 seeds.

Datasets (labels only for scoring and for the reference part):

* ``pbmc68k`` — pbmc68k_reduced (``bulk_labels``, expm1 of ``.raw``); per seed a stratified
  70/30 reference/query split;
* ``wu2020`` — scirpy's 200 T cells (``cluster_orig``, counts); same protocol;
* ``sim`` — ``vc.sim.simulate_batches`` (200 genes, 5 types, 3 batches, seed = run seed):
  reference = batches 0 and 1, query = batch 2 (cross-batch transfer).

Prints mean ± sd tables (accuracy, macro-F1, ECE uncalibrated -> calibrated) and writes
``--out`` (JSON with every row). With ``--model DIR`` the oracle methods (kNN and linear
probe on its embedding, full fine-tuning) run too on the real datasets. ``--novel``
adds the held-out-type evaluation (AUROC of the unknown score per type).

Usage::

    nice python benchmarks/represent_annotate.py --seeds 0 1 2 3 4 --novel
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import anndata as ad
import pandas as pd
from _represent_data import pbmc68k, wu2020

warnings.filterwarnings("ignore")


def sim(seed: int) -> tuple[ad.AnnData, ad.AnnData]:
    import virtualcell as vc

    a = vc.sim.simulate_batches(200, n_cell_types=5, n_cells=1500, n_batches=3, seed=seed)
    q = (a.obs["batch"] == "batch2").to_numpy()
    return a[~q].copy(), a[q].copy()


def fmt(mean: float, sd: float) -> str:
    return f"{mean:.3f} ± {sd:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--datasets", nargs="+", default=["pbmc68k", "wu2020", "sim"])
    p.add_argument(
        "--methods",
        nargs="*",
        default=["knn", "centroid", "linear_probe", "l1_logreg", "celltypist"],
    )
    p.add_argument("--model", default=None, help="pretrained checkpoint for the oracle methods")
    p.add_argument("--finetune-steps", type=int, default=150)
    p.add_argument(
        "--oracle-methods",
        nargs="+",
        default=["knn", "centroid", "linear_probe", "finetune"],
        help="which oracle variants run with --model",
    )
    p.add_argument(
        "--readouts",
        nargs="+",
        default=["pooled"],
        choices=["pooled", "input"],
        help="oracle embedding readouts (OracleSource readout=); one method row per readout",
    )
    p.add_argument(
        "--probe-C", default=None, help="linear_probe C (a number or 'cv'); default the method's"
    )
    p.add_argument("--novel", action="store_true", help="held-out-type evaluation")
    p.add_argument("--novel-methods", nargs="+", default=["knn", "l1_logreg"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="results/represent_annotate.json")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import virtualcell as vc
    from virtualcell._utils import markdown_table

    label = {"pbmc68k": "bulk_labels", "wu2020": "cluster_orig", "sim": "cell_type"}
    variants: list[tuple[str, str, dict]] = [(m, m, {}) for m in args.methods]
    if args.model:
        oracle = [
            (
                f"{m}[oracle]" if r == "pooled" else f"{m}[oracle:{r}]",
                m,
                {"embedding": "oracle", "model": args.model, "method_options": {"readout": r}},
            )
            for r in args.readouts
            for m in ("knn", "centroid", "linear_probe")
        ] + [
            (
                "finetune[oracle]",
                "finetune",
                {"model": args.model, "method_options": {"max_steps": args.finetune_steps}},
            ),
        ]
        variants += [v for v in oracle if v[1] in args.oracle_methods]
    if args.probe_C is not None:
        C = args.probe_C if args.probe_C == "cv" else float(args.probe_C)
        variants = [
            (f"{n}[C={args.probe_C}]", m, {**kw, "method_options": {**kw.get("method_options", {}), "C": C}})
            if m == "linear_probe" else (n, m, kw)
            for n, m, kw in variants
        ]  # fmt: skip
    rows = []
    t0 = time.perf_counter()
    for ds in args.datasets:
        full = {"pbmc68k": pbmc68k, "wu2020": wu2020}.get(ds)
        for seed in args.seeds:
            if full is not None:
                ref, qry, _ = vc.represent.split_reference(
                    full(), label_key=label[ds], query_fraction=0.3, seed=seed
                )
            else:
                ref, qry = sim(seed)
            for name, method, kw in variants:
                if ds == "sim" and "oracle" in name:
                    continue  # simulated gene names are not in the oracle vocabulary
                kw = dict(kw)
                model = kw.pop("model", None)
                t = time.perf_counter()
                res = vc.represent.annotate(
                    ref,
                    query=qry.copy(),
                    label_key=label[ds],
                    method=method,
                    model=model,
                    seed=seed,
                    **kw,
                )
                rows.append(
                    {
                        "dataset": ds,
                        "method": name,
                        "baseline": res.info["baseline"],
                        "seed": seed,
                        "seconds": time.perf_counter() - t,
                        **{
                            k: res.metrics.get(k)
                            for k in ("accuracy", "macro_f1", "ece", "ece_raw")
                        },
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    out: dict = {"rows": rows, "seeds": args.seeds, "wall_s": time.perf_counter() - t0}
    print("\n| dataset | method | accuracy | macro-F1 | ECE raw -> calibrated |")
    print("|---|---|---|---|---|")
    for (ds, m), g in table.groupby(["dataset", "method"], sort=False):
        mark = " (baseline)" if g["baseline"].iloc[0] else ""
        print(
            f"| {ds} | {m}{mark} | {fmt(g.accuracy.mean(), g.accuracy.std())} | "
            f"{fmt(g.macro_f1.mean(), g.macro_f1.std())} | "
            f"{g.ece_raw.mean():.3f} -> {g.ece.mean():.3f} |"
        )
    if args.novel:
        novel = []
        for ds in [d for d in args.datasets if d != "sim"]:
            data = {"pbmc68k": pbmc68k, "wu2020": wu2020}[ds]()
            for m in args.novel_methods:
                res = vc.represent.evaluate_novel(data, label_key=label[ds], method=m, seed=0)
                t = pd.DataFrame(res["rows"])  # one record per held-out type, with method
                t.insert(0, "dataset", ds)
                novel.append(t)
        nt = pd.concat(novel)
        out["novel"] = nt.to_dict(orient="records")
        print("\n" + markdown_table(nt))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
