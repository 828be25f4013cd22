"""Every multi-omic embedding method on report seeds (not a test; numbers for docs).

Run on demand; one JSON line per (split, seed, method) on stdout::

    python benchmarks/multiomic_embed_seeds.py --seeds 0 1 2 3 4 5 --splits rna+protein

Data seed ``s`` is ``vc.sim.simulate_multiome(100, n_cells=3000, seed=s)``; every method
runs with its defaults, ``n_comps=20`` and method seed 0, and is scored by
``vc.multiomic.evaluate_embedding`` (AvgBIO and its parts; FOSCTTM and modality ASW where
the method embeds each modality alone into its space). Seconds include the scoring.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    import virtualcell as vc

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--splits", nargs="+", default=["rna+protein", "rna+atac"])
    ap.add_argument("--methods", nargs="*", default=None)
    args = ap.parse_args()
    for seed in args.seeds:
        mdata = vc.sim.simulate_multiome(100, n_cells=3000, seed=seed)
        for split in args.splits:
            mods = split.split("+")
            names = args.methods or vc.multiomic.EMBED_METHODS.names()
            for method in [m for m in names if vc.multiomic.method_applicable(m, mods)]:
                t0 = time.perf_counter()
                res = vc.multiomic.evaluate_embedding(
                    mdata, methods=[method], modalities=mods, seeds=[0]
                )
                row = {"split": split, "seed": seed, "method": method}
                row["baseline"] = vc.multiomic.EMBED_METHODS.entry(method).baseline
                for metric in ("avg_bio", "nmi", "ari", "asw", "foscttm", "modality_asw"):
                    value = res.value(method, metric)
                    row[metric] = None if value != value else round(value, 4)
                row["seconds"] = round(time.perf_counter() - t0, 1)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
