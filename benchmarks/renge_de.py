"""RENGE dev: why DE overlap ranks the methods as it does (the mechanics of ``de_overlap``).

For every method, fold and knocked-out gene of 4-fold CV over the knocked-out genes (fold
seeds ``--seeds``; the design seeds are 10-14), the DE sets the scorer builds
(``vc.perturb.score_predictions``: Wilcoxon + BH of the true cells and of cells sampled
from the prediction, ``Predictor.sample``, both against the control cells; the knocked-out
gene left out), and what drives their overlap:

- ``n_true`` / ``n_pred``: sizes of the true and predicted DE sets;
- ``de_overlap``, ``de_recall``, ``de_fdp``: as scored;
- ``rank_overlap``: the overlap the prediction's own ranking would get with no test, the
  ``|T|`` genes of largest ``|predicted change|`` against the true DE genes ``T``;
- ``pred_norm`` / ``true_norm``: L2 norm of the predicted / true change from control;
- ``z_med``: median over genes of ``|predicted change| / (control sd / sqrt(n))``, the
  size of the predicted change in units of the test's noise;
- ``n_pred_const`` / ``de_overlap_const``: the predicted DE set and overlap when every
  predicted cell is the predicted profile itself (cell-eval's mean baseline builds its
  cells so);
- ``n_pred_shift`` / ``de_overlap_shift``: the same with the sampler before this
  change: control cells shifted by the predicted change and *not* put back on the data's
  value lattice (RENGE's X is ``log1p`` of integer counts), so that every tied value
  moves past its twin among the control cells.

Writes ``<out>/<name>.md`` (means over genes per seed, then over seeds) and ``.csv``.

    PYTHONPATH=src python benchmarks/renge_de.py --seeds 10,11,12,13,14 [--out docs/tables]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import virtualcell as vc
from virtualcell._utils import atomic_path, markdown_table, write_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
#: the default of primed_network until 2026-12-07 and since, explicit
from renge_cv import DEFAULT, VARIANTS

#: name -> (registered method, options)
METHODS = {
    "train_mean": ("train_mean", {}),
    "go_forest": ("go_forest", {}),
    "go_ridge": ("go_ridge", {}),
    "genept_ridge": ("genept_ridge", {}),
    "linear": ("linear", {}),
    "primed_network": ("primed_network", DEFAULT),
    "primed_knowledge": (
        "primed_network",
        {**DEFAULT, "components": ("mean", "neighbours", "text")},
    ),
    "primed_next": ("primed_network", VARIANTS["primed_next"][0]),
}
#: the methods of the per-gene table
GENE_METHODS = ("train_mean", "go_forest", "primed_network", "primed_knowledge")
COLUMNS = ["n_true", "n_pred", "de_overlap", "de_recall", "de_fdp", "rank_overlap",
           "pred_norm", "true_norm", "z_med", "n_pred_const", "de_overlap_const",
           "n_pred_shift", "de_overlap_shift"]  # fmt: skip


def _rows(data: Path, seed: int, methods: dict[str, tuple], fold_count: int = 4) -> list[dict]:
    from virtualcell.data import split_perturbation
    from virtualcell.metrics import de_fdp, de_genes, de_overlap, de_recall

    rows = []
    for fold in range(fold_count):
        part = vc.perturb.load_task(data, task="unseen_singles", seed=seed, folds=fold_count,
                                    fold=fold)  # fmt: skip
        truth = None
        for name, (method, opts) in methods.items():
            t0 = time.perf_counter()
            model = vc.perturb.make_predictor(method, seed=seed, **opts).fit(part.train)
            pred = model.predict(part.conditions, on_unsupported="flag")
            if truth is None:
                truth = vc.perturb.Truth(part, model.data_.counts)
                ctrl = truth.x[truth.ctrl_rows]
                ctrl = np.asarray(ctrl.toarray() if hasattr(ctrl, "toarray") else ctrl, float)
                sd = ctrl.std(axis=0, ddof=1)
            values = np.asarray(pred.X, dtype=np.float64)
            table = vc.perturb.score_predictions(truth, values, predictor=model, seed=seed)
            # the predicted DE sets again, with the scorer's own sampling (one call, one stream)
            cells = model.sample(pred, n_cells=int(truth.n_cells.max()), seed=seed)
            px = np.asarray(cells.X.toarray() if hasattr(cells.X, "toarray") else cells.X)
            plab = cells.obs["perturbation"].astype(str).to_numpy()
            for i, cond in enumerate(truth.conditions):
                targets = set(split_perturbation(cond))
                keep = [g for g in truth.genes if g not in targets]
                sel = np.flatnonzero(plab == cond)[: truth.n_cells[i]]
                p_de = [g for g in de_genes(truth.de_reference.test(px[sel])) if g not in targets]
                t_de = [g for g in truth.true_de(cond) if g not in targets]
                idx = [truth.genes.index(g) for g in keep]
                d_pred = values[i, idx] - truth.control[idx]
                d_true = truth.profiles[i, idx] - truth.control[idx]
                order = np.argsort(-np.abs(d_pred), kind="stable")
                ranked = [keep[j] for j in order]
                noise = sd[idx] / np.sqrt(truth.n_cells[i])
                ok = noise > 0
                n = int(truth.n_cells[i])
                const = np.repeat(np.clip(values[i], 0.0, None)[None, :], n, axis=0)
                c_de = [g for g in de_genes(truth.de_reference.test(const)) if g not in targets]
                rng = np.random.default_rng([seed, i])
                pick = rng.integers(0, len(ctrl), size=n)
                shifted = np.clip(ctrl[pick] + (values[i] - truth.control)[None, :], 0.0, None)
                s_de = [g for g in de_genes(truth.de_reference.test(shifted)) if g not in targets]
                rows.append({
                    "seed": seed, "fold": fold, "method": name, "perturbation": cond,
                    "n_true": len(t_de), "n_pred": len(p_de),
                    "de_overlap": de_overlap(t_de, p_de), "de_recall": de_recall(t_de, p_de),
                    "de_fdp": de_fdp(t_de, p_de),
                    "scored_de_overlap": float(table.loc[i, "de_overlap"]),
                    "rank_overlap": de_overlap(t_de, ranked[: len(t_de)]),
                    "pred_norm": float(np.linalg.norm(d_pred)),
                    "true_norm": float(np.linalg.norm(d_true)),
                    "z_med": float(np.median(np.abs(d_pred[ok]) / noise[ok])),
                    "n_pred_const": len(c_de), "de_overlap_const": de_overlap(t_de, c_de),
                    "n_pred_shift": len(s_de), "de_overlap_shift": de_overlap(t_de, s_de),
                    "pearson_delta": float(table.loc[i, "pearson_delta"]),
                })  # fmt: skip
            print(f"seed {seed} fold {fold} {name}: {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)  # fmt: skip
    return rows


def _shift_check(data: Path, seed: int) -> str:
    """How many genes the DE test calls for resampled control cells shifted by a tiny
    constant (what ``Predictor.sample`` does for a near-zero predicted change)."""
    from virtualcell.metrics import de_genes
    from virtualcell.perturb._base import count_units, shift_cells

    part = vc.perturb.load_task(data, task="unseen_singles", seed=seed, folds=4, fold=0)
    truth = vc.perturb.Truth(part, False)
    ctrl = truth.x[truth.ctrl_rows]
    ctrl = np.asarray(ctrl.toarray() if hasattr(ctrl, "toarray") else ctrl, float)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(ctrl), size=int(truth.n_cells.max()))
    units = count_units(ctrl)

    def n_de(cells: np.ndarray) -> int:
        return len(de_genes(truth.de_reference.test(cells)))

    found = {eps: (n_de(np.clip(ctrl[pick] + eps, 0, None)),
                   n_de(shift_cells(ctrl[pick], np.full(ctrl.shape[1], eps), rng,
                                    unit=units[pick]).astype(np.float32)))
             for eps in (0.0, 0.001, -0.001, 0.05)}  # fmt: skip
    zeros = float(np.median((ctrl == 0).mean(axis=0)))
    said = "; ".join(f"{eps:+g}: {a} shifted, {b} on the lattice" for eps, (a, b) in found.items())
    return (f"Control cells resampled ({len(pick)} cells), every gene changed by a constant "
            f"and scored as a prediction, DE genes of {len(truth.genes)}: {said} (median "
            f"share of zeros per gene in the control cells {zeros:.2f}).")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="10,11,12,13,14")
    ap.add_argument("--out", default="docs/tables")
    ap.add_argument("--name", default="renge_de")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--data", default=None, help="shared data folder (VIRTUALCELL_DATA)")
    args = ap.parse_args()
    shared = Path(args.data or os.environ.get("VIRTUALCELL_DATA", "../shared/data"))
    data = shared / "perturbation/renge_dev/renge_hipsc_ko_dev.h5ad"
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = {m: METHODS[m] for m in args.methods.split(",") if m}
    rows = []
    for seed in seeds:
        rows += _rows(data, seed, methods)
    pp = pd.DataFrame(rows)
    out = Path(args.out)
    with atomic_path(out / f"{args.name}.csv") as tmp:
        pp.to_csv(tmp, index=False)
    cols = [*COLUMNS, "pearson_delta"]
    per_seed = pp.groupby(["method", "seed"])[cols].mean()
    mean = per_seed.groupby("method").mean().sort_values("de_overlap", ascending=False)
    sets = ["n_true", "n_pred", "de_overlap", "de_recall", "de_fdp", "rank_overlap",
            "pearson_delta"]  # fmt: skip
    table = [{"method": m, **{c: round(float(mean.loc[m, c]), 3) for c in sets}}
             for m in mean.index]  # fmt: skip
    table2 = [{"method": m, **{c: round(float(mean.loc[m, c]), 3) for c in cols
                               if c not in sets}} for m in mean.index]  # fmt: skip
    gene = pp.groupby(["perturbation", "method"])[["n_true", "n_pred", "de_overlap",
                                                   "pearson_delta"]].mean()  # fmt: skip
    wide = gene.unstack()
    gene_rows = []
    for g in wide.index:
        row = {"gene": g, "n_true": round(float(wide.loc[g, ("n_true", "train_mean")]), 1)}
        for m in [m for m in GENE_METHODS if m in methods]:
            row[f"n_pred {m}"] = round(float(wide.loc[g, ("n_pred", m)]), 1)
            row[f"overlap {m}"] = round(float(wide.loc[g, ("de_overlap", m)]), 3)
            row[f"pearson_delta {m}"] = round(float(wide.loc[g, ("pearson_delta", m)]), 3)
        gene_rows.append(row)
    parts = [
        "# RENGE dev: DE overlap mechanics (generated by `benchmarks/renge_de.py`)", "",
        f"4-fold CV over the 11 knocked-out TFs, fold seeds {args.seeds}; the knocked-out "
        "gene left out of every set; mean over genes per seed, then over seeds.", "",
        markdown_table(table), "", "## Size of the changes and other ways of making cells", "",
        _shift_check(data, seeds[0]), "", markdown_table(table2), "",
        "## Per knocked-out gene (mean over seeds)", "",
        markdown_table(gene_rows), "",
    ]  # fmt: skip
    write_text(out / f"{args.name}.md", "\n".join(parts))
    print(f"wrote {out / args.name}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
