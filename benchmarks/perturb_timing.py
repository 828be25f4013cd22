"""Wall time of fit + predict of every perturbation predictor (run on demand, not a test).

Simulated Perturb-seq, 1,000 genes x ~50,000 cells (``vc.sim.simulate_preset("epistasis")``:
200 singles, 100 doubles, 160 cells per condition, 2,000 control cells), GEARS split
(``doubles`` task, seed 0): each method is fitted on the training cells and predicts every
test condition; the table gives seconds side by side, measured in one run::

    python benchmarks/perturb_timing.py                 # 1,000 genes x 50k cells
    python benchmarks/perturb_timing.py --scale 0.1     # 10% of the cells, quick check

The oracle methods run with one torch thread (faster than the default on a shared, loaded
machine). Peak memory is the process maximum so far (methods run in order).
"""

from __future__ import annotations

import argparse
import resource
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the cells")
    parser.add_argument("--methods", default=None, help="comma-separated (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import virtualcell as vc
    from virtualcell._utils import markdown_table

    cpc = max(10, round(160 * args.scale))
    t0 = time.perf_counter()
    adata = vc.sim.simulate_preset(
        "epistasis", grn=args.genes, singles=200, doubles=100, cells_per_condition=cpc,
        n_control_cells=max(50, round(2000 * args.scale)), keep_true_expression=False,
        seed=args.seed,
    )  # fmt: skip
    sim_s = time.perf_counter() - t0
    task = vc.perturb.load_task(adata, task="doubles", seed=args.seed)
    conds = task.conditions
    print(
        f"data: {adata.n_obs} cells x {adata.n_vars} genes (simulated in {sim_s:.0f} s); "
        f"train {task.train.n_obs} cells; {len(conds)} test conditions",
        flush=True,
    )
    names = args.methods.split(",") if args.methods else vc.perturb.list_methods()
    rows = []
    for name in names:
        opts = {"threads": 1} if name.startswith("oracle") else {}
        model = vc.perturb.make_predictor(name, seed=args.seed, **opts)
        t1 = time.perf_counter()
        model.fit(task.train)
        fit_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        pred = model.predict(conds, on_unsupported="flag")
        pred_s = time.perf_counter() - t2
        rows.append(
            {
                "method": name,
                "fit s": round(fit_s, 1),
                "predict s": round(pred_s, 1),
                "fit+predict s": round(fit_s + pred_s, 1),
                "fallback": int(pred.obs["fallback"].sum()),
                "peak RSS GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
            }
        )
        print(rows[-1], flush=True)
    print()
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
