"""RENGE dev, design fold seeds: can any recombination of what ``primed_network`` knows
about an unseen gene move PDS against ``genept_ridge``? An exploration (issue 22), not a
selection: nothing here is reported as a result on fresh seeds.

Per fold seed and fold (``vc.perturb.load_task(..., task="unseen_singles", folds=4)``),
``primed_network`` with every component is fitted on the training genes once, and each
held-out gene's raw components are kept (``text``: GenePT ridge minus the training mean;
``neighbours``: GO forest minus the mean; ``data`` / ``prior`` / ``association``: the
network's propagations; anchors: the training changes' mean and median). Then every
candidate below is scored with ``vc.metrics.score_profiles`` (target-excluded), the mean
over genes per seed, and the paired difference from ``genept_ridge`` (= mean + text) over
seeds (mean +- SE):

* ``pk`` = median + (text + neighbours) / 2 (``primed_knowledge``), with the network
  parts added;
* the text / knowledge part as a unit direction times ``c`` x the median norm of the
  training genes' deviations from the median (its size from the training genes, not from
  the ridge), alone on the median and added to ``pk``;
* co-expression neighbours: the training changes weighted by the (positive) correlation,
  within day in the control cells, of the unseen gene's correlation profile with each
  training gene's (what GEARS's co-expression graph encodes), added to ``pk``.

    PYTHONPATH=src python benchmarks/renge_pds_recombine.py [--seeds 0,1,2,10,...]
        [--cache DIR] [--name renge_pds_recombine] [--out docs/tables]

Writes ``<out>/<name>.md``; ``--cache`` keeps the fitted components (one pickle per seed
and fold) so a rerun only scores.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

import virtualcell as vc
from virtualcell._utils import atomic_path, markdown_table, write_text
from virtualcell.perturb._scoring import Truth
from virtualcell.perturb._tasks import load_task

METRICS = ["pearson_delta", "pds", "pds_targets_out", "l2"]
ALL = ("mean", "data", "prior", "association", "neighbours", "text")
DESIGN = "0,1,2,10,11,12,13,14,20,21,22,23,24,25,26,27,28,29"


def components(data: Path, seed: int, fold: int) -> dict:
    """The raw components of every held-out gene of one fold (and what scoring needs)."""
    task = load_task(data, task="unseen_singles", folds=4, fold=fold, seed=seed)
    model = vc.perturb.make_predictor("primed_network", components=ALL, knowledge_size=None,
                                      seed=seed)  # fmt: skip
    model.fit(task.train)
    d = model.data_
    truth = Truth(task, d.counts)
    comps = {g: model._component_table(g, d, model.net_, model.train_genes_, model.deltas_, None)
             for g in truth.conditions}  # fmt: skip
    return {"conditions": truth.conditions, "profiles": truth.profiles,
            "truth_control": truth.control, "genes": truth.genes, "control": d.control,
            "deltas": model.deltas_, "train": list(model.train_genes_), "comps": comps}  # fmt: skip


def coexpression(data: Path) -> tuple[np.ndarray, dict[str, int]]:
    """Gene x gene correlation of the genes' correlation profiles, in the control cells
    standardised within day (no knocked-out cell is used)."""
    cells = ad.read_h5ad(data)
    ctrl = cells[cells.obs["perturbation"].astype(str) == "control"]
    x = ctrl.X.toarray() if hasattr(ctrl.X, "toarray") else np.asarray(ctrl.X)
    x = np.asarray(x, dtype=np.float64)
    z = np.zeros_like(x)
    day = ctrl.obs["time"].astype(str).to_numpy()
    for t in np.unique(day):
        m = day == t
        z[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-9)
    corr = np.corrcoef(z.T)
    np.fill_diagonal(corr, 0.0)
    return np.corrcoef(corr), {g: i for i, g in enumerate(cells.var_names)}


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def candidates(rec: dict, sim: np.ndarray, index: dict[str, int]) -> dict[str, np.ndarray]:
    """Every candidate's predicted profiles (conditions x genes) for one fold."""
    d = rec["deltas"]
    mean, med = d.mean(0), np.median(d, 0)
    size = float(np.median(np.linalg.norm(d - med, axis=1)))
    train = [index[g] for g in rec["train"]]
    out: dict[str, list[np.ndarray]] = {}
    for cond in rec["conditions"]:
        k = rec["comps"][cond]
        t, n = k["text"], k["neighbours"]
        pk = med + 0.5 * t + 0.5 * n
        w = np.clip(sim[index[cond], train], 0, None)
        coexp = (w / w.sum()) @ (d - mean) if w.sum() > 0 else np.zeros_like(mean)
        rows = {
            "genept_ridge": mean + t, "go_forest": mean + n, "train_mean": mean,
            "pk": pk, "median + text": med + t, "mean + (text + neighbours) / 2": mean + 0.5 * (t + n),
            "pk + data": pk + k["data"], "pk + association": pk + k["association"],
            "pk + prior": pk + k["prior"], "pk + co-expression neighbours / 2": pk + 0.5 * coexp,
            "pk + co-expression neighbours": pk + coexp,
        }  # fmt: skip
        for c in (0.25, 0.5, 1.0, 1.5):
            rows[f"median + {c} unit(text)"] = med + c * size * _unit(t)
            rows[f"median + {c} unit(text + neighbours)"] = med + c * size * _unit(t + n)
        for c in (0.1, 0.3, 0.5):
            rows[f"pk + {c} unit(text)"] = pk + c * size * _unit(t)
        for name, v in rows.items():
            out.setdefault(name, []).append(rec["control"] + v)
    return {k: np.vstack(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default=DESIGN)
    ap.add_argument("--data", default=None, help="shared data folder (VIRTUALCELL_DATA)")
    ap.add_argument("--cache", default=None, type=Path)
    ap.add_argument("--name", default="renge_pds_recombine")
    ap.add_argument("--out", default="docs/tables", type=Path)
    args = ap.parse_args()
    shared = Path(args.data or os.environ.get("VIRTUALCELL_DATA", "../shared/data"))
    data = shared / "perturbation/renge_dev/renge_hipsc_ko_dev.h5ad"
    seeds = [int(s) for s in args.seeds.split(",")]
    sim, index = coexpression(data)
    rows = []
    for seed in seeds:
        for fold in range(4):
            path = None if args.cache is None else args.cache / f"seed{seed}_fold{fold}.pkl"
            if path is not None and path.is_file():
                rec = pickle.loads(path.read_bytes())
            else:
                rec = components(data, seed, fold)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(path) as tmp:
                        tmp.write_bytes(pickle.dumps(rec))
            for name, pred in candidates(rec, sim, index).items():
                tab = vc.metrics.score_profiles(rec["profiles"], pred, rec["truth_control"],
                                                labels=rec["conditions"], genes=rec["genes"])  # fmt: skip
                rows.append(tab[METRICS].mean().to_dict() | {"method": name, "seed": seed,
                                                              "n": len(tab)})  # fmt: skip
            print(f"seed {seed} fold {fold}", file=sys.stderr)
    folds = pd.DataFrame(rows)
    # the mean over the seed's 11 genes: folds weighted by their held-out genes
    per_seed = folds.groupby(["method", "seed"]).apply(
        lambda g: pd.Series({m: np.average(g[m], weights=g["n"]) for m in METRICS}),
        include_groups=False,
    )
    base = per_seed.loc["genept_ridge"]
    table = []
    for name in per_seed.index.get_level_values(0).unique():
        row = {"candidate": name}
        for m in METRICS:
            diff = per_seed.loc[name][m] - base[m]
            se = diff.std(ddof=1) / np.sqrt(len(diff))
            row[m] = f"{per_seed.loc[name][m].mean():.3f}"
            row[f"{m} - genept_ridge"] = f"{diff.mean():+.3f} ± {se:.3f}"
        table.append(row)
    table.sort(key=lambda r: -float(r["pearson_delta"]))
    command = "benchmarks/renge_pds_recombine.py" + (
        f" --seeds {args.seeds}" if args.seeds != DESIGN else "")  # fmt: skip
    text = [f"# RENGE dev: recombinations of `primed_network`'s components (generated by `{command}`)",
            "", f"Design fold seeds {args.seeds} ({len(seeds)}), 4-fold CV over the 11 "
            "knocked-out TFs; target-excluded metrics, mean over genes per seed, then over "
            "seeds; difference from `genept_ridge` paired by seed (mean ± SE over seeds). "
            "An exploration on seeds used for design, not a result (module docstring).", "",
            markdown_table(table), ""]  # fmt: skip
    write_text(args.out / f"{args.name}.md", "\n".join(text))
    print(f"wrote {args.out / args.name}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
