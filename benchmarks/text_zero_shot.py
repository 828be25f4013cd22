"""Held-out-type zero-shot benchmark of ``vc.text`` methods on pbmc68k_reduced and wu2020.

Runs :func:`virtualcell.text.evaluate` (same held-out types, splits and label texts for
every method) and prints the per-method mean, sd and 95 % t interval over seeds
(:func:`virtualcell.metrics.mean_ci`). Variants of a method are given as
``NAME=METHOD:{json options}`` (e.g. ``'eszsl_b1=text_map:{"beta": 1.0}'``).

    python benchmarks/text_zero_shot.py --dataset pbmc68k_reduced --seeds 0-4 \\
        --method bridge --method text_map --method marker_score --method random --out pbmc.csv
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd

import virtualcell as vc

DATASETS = {
    "pbmc68k_reduced": {"label_key": "bulk_labels", "layer": "raw"},
    "wu2020": {"label_key": "cluster_orig", "layer": None},
}
SHOWN = ("zero_shot_macro_f1", "zero_shot_accuracy", "generalized_accuracy", "seen_accuracy")


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def _mapping(adata, label_key: str, layer: str | None, no_kb: bool) -> str:
    """Markdown table: each label, the text matched, its CL term (or "unmapped"), parents."""
    from virtualcell._utils import markdown_table
    from virtualcell.represent import expression

    labels = sorted(set(adata.obs[label_key].astype(str)))
    kb = None if no_kb else vc.knowledge.KnowledgeBase(vc.knowledge.default_path())
    genes = list(expression(adata, layer=layer)[1])
    lt = vc.text.label_texts(labels, genes=genes, kb=kb)
    cl = vc.knowledge.cell_ontology()
    rows = []
    for x in labels:
        t = lt.terms.loc[x]
        ok = bool(t["accepted"])
        parents = [cl.at[p, "label"] for p in cl.at[t["term_id"], "parents"]] if ok else []
        rows.append(
            {
                "label": f"`{x}`",
                "matched as": t["query"] if t["query"] != x else "",
                "CL term": f"{t['term_id']} {t['term_label']}" if ok else "unmapped",
                "score": f"{t['score']:.2f}" if ok else f"({t['score']:.2f})",
                "parents": "; ".join(parents),
                "named genes": ", ".join(
                    f"{g}{'+' if v > 0 else '-'}" for g, v in lt.markers[x].items()
                ),
                "texts": len(lt[x]),
            }
        )
    return markdown_table(pd.DataFrame(rows))


def _summary(table: pd.DataFrame) -> str:
    """Markdown: per method (rows) and metric (columns) ``mean [95 % t interval]``."""
    from virtualcell._utils import markdown_table

    rows = []
    for name, t in table.groupby("method", sort=False):
        row = {"method": name, "seeds": ",".join(str(x) for x in sorted(set(t["seed"])))}
        for m in SHOWN:
            v = t[m].to_numpy(dtype=float)
            if len(v) < 2:
                row[m] = f"{v.mean():.3f}"
                continue
            ci = vc.metrics.mean_ci(v)
            row[m] = f"{ci.mean:.3f} [{ci.low:.2f}, {ci.high:.2f}]"
        rows.append(row)
    return markdown_table(pd.DataFrame(rows))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=sorted(DATASETS))
    p.add_argument("--summarize", nargs="+", default=None, help="per-seed .csv files to tabulate")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--holdout-types", type=int, default=3)
    p.add_argument("--method", action="append", default=[])
    p.add_argument("--steps", type=int, default=None, help="bridge optimizer steps")
    p.add_argument("--no-kb", action="store_true")
    p.add_argument("--out", default=None, help="per-seed table (.csv)")
    p.add_argument("--mapping", action="store_true", help="print the label -> CL table only")
    p.add_argument("--texts", default=None, help="JSON {label: extra text} for every method")
    a = p.parse_args(argv)
    if a.summarize:
        print(_summary(pd.concat([pd.read_csv(f) for f in a.summarize], ignore_index=True)))
        return 0
    if a.dataset is None:
        p.error("--dataset is required")
    adata = getattr(vc.datasets, a.dataset)()
    spec = DATASETS[a.dataset]
    if a.mapping:
        print(_mapping(adata, spec["label_key"], spec["layer"], a.no_kb))
        return 0
    frames = []
    extra = None
    if a.texts:
        with open(a.texts, encoding="utf-8") as fh:
            extra = json.load(fh)
    for m in a.method or ["text_map", "marker_score", "random"]:
        name, _, rest = m.partition("=")
        method, _, opts = (rest or name).partition(":")
        options = json.loads(opts) if opts else {}
        if method == "bridge" and a.steps:
            options["train_config"] = vc.text.BRIDGE_TRAIN_CONFIG.replace(max_steps=a.steps)
        res = vc.text.evaluate(
            adata, label_key=spec["label_key"], layer=spec["layer"], seeds=_seeds(a.seeds),
            holdout_types=a.holdout_types, methods=[method], kb=False if a.no_kb else None,
            method_options={method: options}, texts=extra,
        )  # fmt: skip
        t = res.table.assign(method=name)
        frames.append(t)
        for metric in SHOWN:
            v = t[metric].to_numpy(dtype=float)
            if len(v) < 2:
                print(f"{a.dataset}\t{name}\t{metric}\t{v.mean():.3f}\tn=1", flush=True)
                continue
            ci = vc.metrics.mean_ci(v)
            print(f"{a.dataset}\t{name}\t{metric}\t{ci.mean:.3f} [{ci.low:.3f}, {ci.high:.3f}]"
                  f"\tsd {np.std(v, ddof=1):.3f}\tn={len(v)}", flush=True)  # fmt: skip
    table = pd.concat(frames, ignore_index=True)
    if a.out:
        from virtualcell._utils import atomic_path

        with atomic_path(a.out) as tmp:
            table.to_csv(tmp, index=False)
    print("held out:", dict(zip(table["seed"], table["held_out"], strict=False)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
