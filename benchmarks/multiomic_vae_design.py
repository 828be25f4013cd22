"""Design runs of ``joint_vae`` on RNA + protein (design seeds only; not a test).

Run on demand; one JSON line per (seed, method / variant) on stdout::

    python benchmarks/multiomic_vae_design.py --seeds 100 101 102 103 104

Each data seed is ``vc.sim.simulate_multiome(100, n_cells=3000, seed=s)``; the baselines
(``concat_pca``, ``protein_pca``, ``cca``) and every ``joint_vae`` variant below are scored
by AvgBIO (method seed 0) and, where a method embeds each modality alone, FOSCTTM and the
modality ASW. The variants are the design choices compared in ``docs/multiomic.md``; the
report seeds (0-5) are never run through this script.
"""

from __future__ import annotations

import argparse
import json
import time

VARIANTS = {
    "vae_old": {"modality_dropout": 0.0},
    "vae_drop": {"modality_dropout": 0.5},
    "vae_drop_val": {
        "modality_dropout": 0.5,
        "val_fraction": 0.1,
        "n_steps": 4000,
        "warmup_steps": 500,
    },
}


def main() -> None:
    import virtualcell as vc

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--baselines", nargs="*", default=["concat_pca", "protein_pca", "cca"])
    ap.add_argument("--modalities", default="rna,protein")
    args = ap.parse_args()
    for seed in args.seeds:
        mdata = vc.sim.simulate_multiome(100, n_cells=3000, seed=seed)
        lab = mdata.obs["cell_type"].astype(str).to_numpy()
        runs = [(b, b, None) for b in args.baselines]
        runs += [(v, "joint_vae", VARIANTS[v]) for v in args.variants]
        for name, method, options in runs:
            t0 = time.perf_counter()
            z, parts = vc.multiomic.embed_per_modality(
                mdata, method=method, modalities=args.modalities, method_options=options
            )
            seconds = time.perf_counter() - t0
            row = {"seed": seed, "method": name, "seconds": round(seconds, 1)}
            row.update({k: round(float(v), 4) for k, v in vc.metrics.avg_bio_parts(lab, z).items()})
            if parts is not None:
                a, b = parts.values()
                row["foscttm"] = round(vc.metrics.foscttm(a, b), 4)
                row["modality_asw"] = round(vc.metrics.modality_asw(a, b, labels=lab), 4)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
