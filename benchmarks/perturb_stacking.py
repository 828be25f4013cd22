"""RENGE dev: how should `primed_network` combine its components? Stacking rules compared on
the same cached components (4-fold CV over the 11 knocked-out TFs, fold seeds 0-2).

For every seed x fold, one `primed_network` with the components ``mean, data, prior,
association, neighbours (GO forest), text (GenePT ridge)`` is fitted on the training fold;
its leave-one-gene-out design over the *training* genes (what the stacking weights are
learned from) and the components of every held-out gene are cached. Each rule below turns
the design into weights using training genes only; the held-out genes are then scored
(target-excluded, ``vc.metrics.score_profiles``; PDS among the fold's genes, as
``vc.perturb.evaluate``). The rules were compared on these outer folds, so the table is
an exploration, not a selection: picking its best row would tune on the held-out genes.

Also: the spread of the ``go_forest`` baseline over the random seed of its forest alone
(same folds), the noise floor of any PDS difference here.

Writes ``docs/tables/renge_stacking.md``.

    PYTHONPATH=src python benchmarks/perturb_stacking.py [--cache DIR] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls

import virtualcell as vc
from virtualcell._utils import markdown_table, write_text
from virtualcell.perturb import Truth, score_predictions
from virtualcell.perturb._primed import PrimedNetworkModel

COMPONENTS = ("mean", "data", "prior", "association", "neighbours", "text")
NETWORK = ("data", "prior", "association")


def _components(data: Path, seed: int, cache: Path, name: str = "comp") -> list[dict]:
    """Per fold: the held-out genes' components, the truth, the training changes and the
    stack's leave-one-gene-out design (cached as ``cache/{name}_seed{seed}.pkl``)."""
    path = cache / f"{name}_seed{seed}.pkl"
    if path.exists():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    out = []
    for f in range(4):
        t0 = time.perf_counter()
        task = vc.perturb.load_task(data, task="unseen_singles", folds=4, fold=f, seed=seed)
        m = PrimedNetworkModel(components=COMPONENTS, seed=seed, gate="stack", anchor="mean",
                               perturbation_type=task.perturbation_type).fit(task.train)  # fmt: skip
        d = m.data_
        truth = Truth(task, d.counts)
        test = {g: m._component_table(g, d, m.net_, m.train_genes_, m.deltas_, None)
                for g in task.conditions}  # fmt: skip
        out.append({"fold": f, "conditions": list(task.conditions), "control": d.control,
                    "truth": truth, "truth_control": truth.control,
                    "truth_profiles": truth.profiles, "genes": truth.genes,
                    "design": m.stack_design_, "deltas": m.deltas_,
                    "train_genes": m.train_genes_, "test": test, "weights": m.weights_,
                    "gene_index": d.gene_index})  # fmt: skip
        print(f"seed {seed} fold {f}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    cache.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(out, fh)
    return out


# ---------------------------------------------------------------- rules (training genes only)
def _fixed(**w: float) -> Callable:
    def rule(names, blocks, targets):
        return np.array([1.0 if c == "mean" else w.get(c, 0.0) for c in names])

    return rule


def _stack(rest: tuple[str, ...], learn_mean: bool = False) -> Callable:
    """Non-negative least squares over the leave-one-gene-out design (the method's rule)."""

    def rule(names, blocks, targets):
        a, y = np.vstack(blocks), np.concatenate(targets)
        m = names.index("mean")
        cols = [names.index(c) for c in rest if c in names]
        w = np.zeros(len(names))
        if learn_mean:
            sub = [m, *cols]
            w[sub], _ = nnls(a[:, sub], y)
            return w
        w[m] = 1.0
        if cols:
            w[cols], _ = nnls(a[:, cols], y - a[:, m])
        return w

    return rule


def _averaged_knowledge(rest: tuple[str, ...]) -> Callable:
    """GO forest and GenePT ridge averaged into one component; its gain by NNLS."""

    def rule(names, blocks, targets):
        a, y = np.vstack(blocks), np.concatenate(targets)
        m, n, t = (names.index(c) for c in ("mean", "neighbours", "text"))
        cols = [names.index(c) for c in rest]
        design = np.column_stack([0.5 * (a[:, n] + a[:, t]), a[:, cols]])
        w_, _ = nnls(design, y - a[:, m])
        w = np.zeros(len(names))
        w[m], w[n], w[t] = 1.0, 0.5 * w_[0], 0.5 * w_[0]
        w[cols] = w_[1:]
        return w

    return rule


def _pearson_grid(comps: tuple[str, ...]) -> Callable:
    """The gain of ``comps`` (shared) maximising the mean Pearson correlation over the
    training genes' held-out predictions (a metric-aware choice instead of L2)."""

    def rule(names, blocks, targets):
        m = names.index("mean")
        idx = [names.index(c) for c in comps]

        def score(g):
            vals = []
            for b, t in zip(blocks, targets, strict=True):
                p = b[:, m] + g * b[:, idx].sum(axis=1) / len(idx)
                vals.append(np.corrcoef(p, t)[0, 1] if np.std(p) > 0 else -1.0)
            return float(np.mean(vals))

        gain = max(np.arange(0.0, 2.01, 0.25), key=lambda g: (round(score(g), 12), -abs(g - 1)))
        w = np.zeros(len(names))
        w[m] = 1.0
        w[idx] = gain / len(idx)
        return w

    return rule


RULES: dict[str, tuple[Callable, str]] = {
    "train_mean": (_fixed(), "mean only"),
    "mean+forest": (_fixed(neighbours=1.0), "= go_forest (the stack's own forest)"),
    "mean+text": (_fixed(text=1.0), "= genept_ridge"),
    "mean+avg(forest,text)": (_fixed(neighbours=0.5, text=0.5), "equal-weight ensemble"),
    "stack (default)": (_stack((*NETWORK, "neighbours")), "primed_network before: gate=stack"),
    "stack + text": (_stack((*NETWORK, "neighbours", "text")), "primed_text"),
    "stack, knowledge only": (_stack(("neighbours", "text")), "no network components"),
    "stack, mean weight learned": (_stack((*NETWORK, "neighbours"), learn_mean=True), ""),
    "stack of avg(forest,text)": (_averaged_knowledge(NETWORK), "one gain for both"),
    "pearson-grid gain, forest": (_pearson_grid(("neighbours",)), "metric-aware gain"),
    "pearson-grid gain, avg": (_pearson_grid(("neighbours", "text")), "metric-aware gain"),
}


def _score_rules(folds: list[dict], seed: int) -> pd.DataFrame:
    rows = []
    for fd in folds:
        names, blocks, targets = fd["design"]
        for rule, (fn, _) in RULES.items():
            w = fn(list(names), blocks, targets)
            pred = np.vstack([
                fd["control"] + sum(w[i] * fd["test"][g][c] for i, c in enumerate(names))
                for g in fd["conditions"]
            ])  # fmt: skip
            table = vc.metrics.score_profiles(
                fd["truth_profiles"], np.maximum(pred, 0.0), fd["truth_control"],
                labels=fd["conditions"], genes=fd["genes"],
            )  # fmt: skip
            for g, r in zip(fd["conditions"], table.to_dict("records"), strict=True):
                rows.append({"seed": seed, "fold": fd["fold"], "rule": rule, "gene": g,
                             **{k: r[k] for k in ("pearson_delta", "pds", "l2")},
                             **{f"w_{c}": w[i] for i, c in enumerate(names)}})  # fmt: skip
    return pd.DataFrame(rows)


def _inner_selection(folds: list[dict], seed: int, table: pd.DataFrame) -> pd.DataFrame:
    """A nested choice: per outer fold, the rule with the best mean Pearson over the
    training genes, each predicted by weights learned without it (leave-one-out over the
    rows of the design), then that rule's outer scores."""
    picked = []
    for fd in folds:
        names, blocks, targets = fd["design"]
        names = list(names)
        inner = {}
        for rule, (fn, _) in RULES.items():
            vals = []
            for k in range(len(blocks)):
                rest = [i for i in range(len(blocks)) if i != k]
                w = fn(names, [blocks[i] for i in rest], [targets[i] for i in rest])
                p = blocks[k] @ w
                vals.append(np.corrcoef(p, targets[k])[0, 1] if np.std(p) > 0 else np.nan)
            inner[rule] = float(np.nanmean(vals))
        best = max(inner, key=lambda r: inner[r])
        chosen = table[(table["seed"] == seed) & (table["fold"] == fd["fold"])
                       & (table["rule"] == best)]  # fmt: skip
        picked.append(chosen.assign(rule="nested choice of rule", chosen=best))
    return pd.concat(picked)


def _coexpression(data: Path, folds: list[dict]) -> dict[str, float]:
    """Does the co-expression of two knocked-out TFs in control cells (standardised within
    days) predict how similar their knockout responses are (target genes left out)?"""
    import anndata as ad

    adata = ad.read_h5ad(data)
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    labels = adata.obs["perturbation"].astype(str).to_numpy()
    days = adata.obs["time"].to_numpy()
    ctrl = labels == "control"
    z = np.zeros_like(x, dtype=np.float64)
    for d in np.unique(days):
        m = days == d
        mu, sd = x[m & ctrl].mean(axis=0), x[m & ctrl].std(axis=0) + 1e-9
        z[m] = (x[m] - mu) / sd
    delta = {}
    for fd in folds:
        for g, prof in zip(fd["conditions"], fd["truth_profiles"], strict=True):
            delta[g] = prof - fd["truth_control"]
    kos = sorted(delta)
    genes = list(map(str, adata.var_names))
    idx = [genes.index(g) for g in kos]
    keep = np.ones(len(genes), dtype=bool)
    keep[idx] = False
    resp = np.vstack([delta[g][keep] for g in kos])
    co = np.corrcoef(z[ctrl][:, idx].T)
    iu = np.triu_indices(len(kos), 1)
    profile = np.corrcoef(z[ctrl].T)[idx][:, keep]
    own = [float(np.corrcoef(profile[i], resp[i])[0, 1]) for i in range(len(kos))]
    return {
        "pairs": len(iu[0]),
        "coexpression vs response similarity": float(
            np.corrcoef(co[iu], np.corrcoef(resp)[iu])[0, 1]
        ),
        "own co-expression profile vs own response, min": min(own),
        "own co-expression profile vs own response, max": max(own),
    }


def _forest_noise(data: Path, seeds: list[int], n_forests: int) -> pd.DataFrame:
    """``go_forest`` on the same folds with ``n_forests`` random states of the forest."""
    rows = []
    for seed in seeds:
        for f in range(4):
            task = vc.perturb.load_task(data, task="unseen_singles", folds=4, fold=f, seed=seed)
            truth = None
            for k in range(n_forests):
                m = vc.perturb.make_predictor("go_forest", seed=seed if k == 0 else 1000 + k)
                m.fit(task.train)
                truth = truth or Truth(task, m.data_.counts)
                pred = m.predict(task.conditions, on_unsupported="flag")
                table = score_predictions(truth, np.asarray(pred.X))
                for c, r in zip(task.conditions, table.to_dict("records"), strict=True):
                    rows.append({"seed": seed, "forest": k, "gene": c,
                                 "pearson_delta": r["pearson_delta"], "pds": r["pds"]})  # fmt: skip
    return pd.DataFrame(rows)


def _dream4(shared: Path) -> pd.DataFrame:
    """DREAM4-100 unseen singles (seed 0): what ``train_mean`` knows. Every true change is
    ``y_g - wt`` with ``wt`` ONE noisy wild-type profile, so every change shares ``-noise(wt)``;
    the median knockout profile (most knockouts change little) minus ``wt`` estimates it.
    Also ``train_mean`` plus the ``network``'s own effect of the unseen knockout
    (``F({g}) - F({})``, gain 1 and 0.5, no tuning)."""
    rows = []
    for k in (1, 2, 3):
        folder = shared / "grn/dream4/DREAM4_InSilico_Size100" / f"insilico_size100_{k}"
        task = vc.perturb.load_task(folder, task="unseen_singles", seed=0)
        mean = vc.perturb.make_predictor("train_mean", perturbation_type="knockout")
        mean.fit(task.train)
        net = vc.perturb.make_predictor("network", perturbation_type="knockout", seed=0)
        net.fit(task.train)
        d = net.data_
        truth = Truth(task, d.counts)
        singles = [g for g in d.profiles.index if "+" not in g]
        median = np.median(d.profiles.loc[singles].to_numpy(), axis=0) - d.control
        base = np.asarray(mean.predict(task.conditions).X)
        effect = np.vstack([net._state(frozenset([d.gene_index[g]])) - net.f0_
                            for g in task.conditions])  # fmt: skip
        preds = {
            "train_mean": base,
            "network": np.asarray(net.predict(task.conditions).X),
            "control + (median knockout - wt)": np.tile(
                np.maximum(d.control + median, 0.0), (len(task.conditions), 1)
            ),
            "train_mean + network effect": np.maximum(base + effect, 0.0),
            "train_mean + 0.5 network effect": np.maximum(base + 0.5 * effect, 0.0),
        }
        for name, pred in preds.items():
            table = score_predictions(truth, pred)
            rows.append({"net": k, "prediction": name,
                         **table[["pearson_delta", "l2", "pds"]].mean().to_dict()})  # fmt: skip
        off = np.ones_like(effect, dtype=bool)  # the knocked-out gene itself left out
        for r, g in enumerate(task.conditions):
            off[r, d.gene_index[g]] = False
        size = np.linalg.norm(effect[off]) / np.linalg.norm((base - d.control)[off])
        rows.append({"net": k, "prediction": "size of the network effect / train_mean change "
                     "(knocked-out gene left out)", "pearson_delta": float(size),
                     "l2": np.nan, "pds": np.nan})  # fmt: skip
    return pd.DataFrame(rows)


def _fmt(mean: pd.DataFrame, sd: pd.DataFrame, row: str, col: str) -> str:
    return f"{mean.loc[row, col]:.3f} ({sd.loc[row, col]:.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument(
        "--cache",
        default=str(Path.home() / ".cache/virtualcell/perturb_stacking"),
        help="component cache (one pickle per seed)",
    )
    ap.add_argument("--out", default="docs/tables")
    ap.add_argument("--forests", type=int, default=5, help="random states of go_forest")
    ap.add_argument("--skip-dream4", action="store_true", help="leave the DREAM4 part out")
    args = ap.parse_args()
    shared = Path(os.environ.get("VIRTUALCELL_DATA", "../shared/data"))
    data = shared / "perturbation/renge_dev/renge_hipsc_ko_dev.h5ad"
    seeds = [int(s) for s in args.seeds.split(",")]
    cache = Path(args.cache)
    comps = {s: _components(data, s, cache) for s in seeds}
    table = pd.concat([_score_rules(comps[s], s) for s in seeds])
    nested = pd.concat([_inner_selection(comps[s], s, table) for s in seeds])
    table = pd.concat([table, nested.drop(columns="chosen")])
    per_seed = table.groupby(["rule", "seed"])[["pearson_delta", "pds", "l2"]].mean()
    mean, sd = per_seed.groupby("rule").mean(), per_seed.groupby("rule").std()
    what = {**{r: v[1] for r, v in RULES.items()}, "nested choice of rule": "see below"}
    rows = [{"rule": r, "what": what[r], "pearson_delta": _fmt(mean, sd, r, "pearson_delta"),
             "pds": _fmt(mean, sd, r, "pds"), "l2": _fmt(mean, sd, r, "l2")}
            for r in [*RULES, "nested choice of rule"]]  # fmt: skip
    parts = [
        "# RENGE dev: stacking rules of `primed_network` (generated by "
        "`benchmarks/perturb_stacking.py`)", "",
        f"4-fold CV over the 11 knocked-out TFs, fold seeds {args.seeds}; the same cached "
        "components for every rule; weights from the training genes of each fold only; "
        "target-excluded metrics; mean over genes per seed, then over seeds (sd over "
        "seeds). Compared on the outer folds: an exploration, not a selection.", "",
        markdown_table(rows), "",
    ]  # fmt: skip
    counts = nested.groupby(["seed", "fold"])["chosen"].first().value_counts()
    parts += [
        "Nested choice: per outer fold, the rule with the best leave-one-out Pearson "
        "over the training genes; chosen in how many of the seed x fold runs: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + ".",
        "",
    ]
    co = _coexpression(data, comps[seeds[0]])
    parts += ["Co-expression in control cells (within days) of the knocked-out TFs vs the "
              "similarity of their responses: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float)
                                                             else f"{k} {v}" for k, v in co.items())
              + ".", ""]  # fmt: skip
    gene = table.groupby(["gene", "rule"])["pds"].mean().unstack()
    cols = ["train_mean", "mean+forest", "mean+text", "mean+avg(forest,text)", "stack (default)",
            "stack + text"]  # fmt: skip
    parts += ["## PDS per knocked-out gene (mean over seeds)", "",
              markdown_table([{"gene": g, **{c: gene.loc[g, c] for c in cols}}
                              for g in gene.index]), ""]  # fmt: skip
    if args.forests > 1:
        noise = _forest_noise(data, seeds, args.forests)
        by = noise.groupby(["forest", "seed"])[["pearson_delta", "pds"]].mean()
        by = by.groupby("forest").mean()
        parts += ["## `go_forest` over the random state of its forest (same folds)", "",
                  markdown_table([{"forest random state": "fold seed" if k == 0 else 1000 + k,
                                   **by.loc[k].to_dict()} for k in by.index]), "",
                  f"Range over forests: pearson_delta {np.ptp(by['pearson_delta']):.3f}, "
                  f"PDS {np.ptp(by['pds']):.3f}.", ""]  # fmt: skip
    if not args.skip_dream4:
        parts += ["## DREAM4-100 unseen singles (seed 0): what `train_mean` knows", "",
                  (_dream4.__doc__ or "").split("\n\n")[0].replace("\n    ", " ").strip(), "",
                  markdown_table(_dream4(shared).to_dict("records")), ""]  # fmt: skip
    write_text(Path(args.out) / "renge_stacking.md", "\n".join(parts))
    print(f"wrote {Path(args.out) / 'renge_stacking.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
