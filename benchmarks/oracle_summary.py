"""Summarise ``represent_pretrain.py`` runs: zero-shot AvgBIO per recipe, mean ± sd over seeds.

Runs are grouped by the name without its ``_s<seed>`` suffix. Columns: pbmc68k_reduced and
wu2020 AvgBIO of the oracle with ``<cls>`` and mean pooling (the same weights), the
random-gene-vector control over the same tokens and HVG+PCA (identical in every run).

Usage::

    python benchmarks/oracle_summary.py --log results/oracle/runs.jsonl [--names A B ...]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np


def fmt_mean_sd(values: list[float]) -> str:
    """One value as is; several as mean ± sd (ddof 1), 3 decimals."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log", default="results/oracle/runs.jsonl")
    p.add_argument("--names", nargs="*", default=None, help="recipes to show (default: all)")
    args = p.parse_args()
    runs = [json.loads(line) for line in Path(args.log).read_text().splitlines() if line]
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        groups[re.sub(r"_s\d+$", "", r["name"])].append(r)
    cols = [("oracle_cls", "cls"), ("oracle_mean", "mean"), ("random_vectors_1/rank", "random")]
    sets = ("pbmc68k_reduced", "wu2020")
    head = ["recipe", "seeds", "train pooling", "steps", "wall s"]
    head += [f"{s[:7]} {c}" for s in sets for _, c in cols] + [f"{s[:7]} PCA" for s in sets]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, rs in groups.items():
        if args.names and name not in args.names:
            continue
        row = [name, str(len(rs)), rs[0]["args"]["pooling"], str(rs[0]["steps"])]
        row.append(f"{np.mean([r['wall_s'] for r in rs]):.0f}")
        for s in sets:
            for key, _ in cols:
                row.append(fmt_mean_sd([r["scores"][s][key]["avg_bio"] for r in rs]))
        for s in sets:
            row.append(fmt_mean_sd([r["scores"][s]["pca_hvg"]["avg_bio"] for r in rs]))
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
