"""The readout table of ``oracle_embeddings.py`` records: per seed, mean ± sd, and a check.

Reads one or more ``--log`` files (JSON lines of ``oracle_embeddings.py``, one per
checkpoint) and prints, for every readout, AvgBIO per pretraining seed and the mean ± sd
(sample sd, ``ddof=1``) over the seeds of each ``--groups`` entry, on pbmc68k_reduced
and wu2020, beside HVG+PCA. A record's seed is its checkpoint's ``extra.recipe.args.seed``
(the shipped copy keeps its recipe) or, failing that, its ``control_seed``.

``--check READOUT`` evaluates a rule declared before the runs: over the seeds of the
*first* group, is the mean of READOUT >= HVG+PCA on both sets, and above the mean of
``--control`` (the random-gene-vector readout) on both? Prints ``confirmed`` or
``refuted`` with the four comparisons (4-decimal means).

Usage::

    python benchmarks/oracle_readout_table.py --log results/oracle/embeddings.jsonl \\
        --groups 3,4,5 0,1,2,3,4,5 --check mean+input_pca
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from oracle_summary import fmt_mean_sd  # benchmarks/ is on sys.path when run as a script

QUERIES = ("pbmc68k_reduced", "wu2020")
ROWS = (
    ("pca_hvg", "HVG + PCA (baseline)"),
    ("input_expr_random", "random gene vectors, `input` weighting (control)"),
    ("input_expr_random_pca", "same, z+PCA (control)"),
    ("mean", "`pooled` (mean pooling)"),
    ("mean_pca", "`pooled`, z+PCA"),
    ("input_expr", "`input` (the shipped default)"),
    ("input_expr_pca", "`input`, z+PCA"),
    ("mean+input", "`pooled+input`"),
    ("mean+input_pca", "`pooled+input`, z+PCA"),
)


def _seed(record: dict) -> int:
    """The pretraining seed of a record's checkpoint (its recipe), else the control seed."""
    try:
        config = json.loads((Path(record["model"]) / "config.json").read_text())
        return int(config["extra"]["recipe"]["args"]["seed"])
    except (OSError, KeyError, TypeError, ValueError):
        return int(record["control_seed"])


def load(paths: list[str]) -> dict[int, dict]:
    """``seed -> scores`` (the last record of a seed wins)."""
    out: dict[int, dict] = {}
    for path in paths:
        for line in filter(None, Path(path).read_text().splitlines()):
            record = json.loads(line)
            out[_seed(record)] = record["scores"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log", nargs="+", required=True)
    p.add_argument("--groups", nargs="+", default=None, help="comma-separated seed groups")
    p.add_argument("--check", default=None, help="readout of the declared rule")
    p.add_argument("--control", default="input_expr_random_pca")
    args = p.parse_args()

    scores = load(args.log)
    seeds = sorted(scores)
    groups = [[int(s) for s in g.split(",")] for g in (args.groups or [",".join(map(str, seeds))])]
    missing = sorted({s for g in groups for s in g} - set(seeds))
    if missing:
        raise SystemExit(f"no record for seed(s) {missing} in {args.log}")
    names = [",".join(map(str, g)) for g in groups]
    head = ["embedding"]
    head += [f"{q} seeds {n}" for n in names for q in ("pbmc68k", "wu2020")]
    head += [f"per seed {' '.join(map(str, seeds))} (pbmc68k / wu2020)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key, label in ROWS:
        cells = [label]
        for g in groups:
            cells += [fmt_mean_sd([scores[s][q][key] for s in g]) for q in QUERIES]
        per = [" ".join(f"{scores[s][q][key]:.3f}" for s in seeds) for q in QUERIES]
        cells.append(" / ".join(per))
        print("| " + " | ".join(cells) + " |")
    if args.check:
        g = groups[0]
        verdict = True
        print(f"\nrule on seeds {names[0]}: mean {args.check} >= pca_hvg and > {args.control}")
        for q in QUERIES:
            got = float(np.mean([scores[s][q][args.check] for s in g]))
            for ref in ("pca_hvg", args.control):
                want = float(np.mean([scores[s][q][ref] for s in g]))
                ok = got >= want if ref == "pca_hvg" else got > want
                verdict &= ok
                op = ">=" if ref == "pca_hvg" else ">"
                print(f"  {q}: {got:.4f} {op} {ref} {want:.4f}: {'yes' if ok else 'no'}")
        print("confirmed" if verdict else "refuted")


if __name__ == "__main__":
    main()
