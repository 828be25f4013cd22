"""Knowledge-base benchmark: build time/size, retrieval recall@10 and latency, claim
verification accuracy.

Run (the dense index is embedded once, then cached beside the store)::

    python benchmarks/knowledge_retrieval.py --source <reference data>/knowledge --n 200

Question sets (seeded, built from the GO tables of the store):

* ``term-by-name``  query ``"genes annotated to {term name}"``; hit when the term's GO ID is
  among the top 10 passages of any kind.
* ``term-by-definition``  query = the term's definition with the words of the term name
  removed; hit when the GO ID is in the top 10 GO-term passages. Definitions are part of
  the indexed passages, so this is partly self-retrieval; masking the name words keeps it
  from being trivial.
* ``genes-of-term``  query ``"genes annotated to {term name}"`` restricted to gene
  passages; recall@10 = |top-10 genes ∩ directly annotated genes| / min(10, #annotated).

Terms: biological-process terms with 5-200 directly annotated genes, sampled uniformly.

Claims for verification (``"{GENE} is involved in {term name}"``):

* true: a (gene, term) pair with a direct, non-NOT annotation;
* false-random: a gene with >= 20 annotations and a random BP term (5-200 genes) that is
  not among the gene's propagated annotations (so neither it nor a descendant is annotated);
* false-sibling: as false-random but the term is a sibling (shares an is_a parent) of one
  of the gene's direct terms - a hard negative;
* TF claims from the TF->target table: ``"TF activates T"`` for an activation-only edge
  (expected supported), ``"TF represses T"`` for the same edge (expected contradicted),
  ``"TF regulates T"`` for a random TF/gene pair without an edge (expected unknown).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

# this folder holds a tokenizers.py that would shadow Hugging Face's ``tokenizers`` package
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import virtualcell as vc  # noqa: E402


def questions(kb, n: int, seed: int) -> pd.DataFrame:
    terms = kb._q(
        "SELECT t.id, t.name, t.definition, COUNT(DISTINCT a.gene) AS n FROM go_terms t "
        "JOIN annotations a ON a.go_id = t.id WHERE t.namespace = 'BP' GROUP BY t.id "
        "HAVING n BETWEEN 5 AND 200"
    )
    return terms.sample(n=min(n, len(terms)), random_state=seed).reset_index(drop=True)


def masked(definition: str, name: str) -> str:
    """The definition without the words of the term name (a paraphrase-style query)."""
    words = {w.lower() for w in name.replace("-", " ").split()}
    kept = [w for w in definition.split() if w.lower().strip(".,;()") not in words]
    return " ".join(kept) or definition


def run_retrieval(kb, qs: pd.DataFrame, modes: list[str]) -> pd.DataFrame:
    rows = []
    has_def = (qs["definition"].fillna("") != "").any()
    for mode in modes:
        kb.search("warm up the index", k=10, mode=mode)  # builds / loads caches
        lat, name_hits, def_hits, gene_rec = [], [], [], []
        for q in qs.itertuples():
            query = f"genes annotated to {q.name}"
            t0 = time.perf_counter()
            hits = kb.search(query, k=10, mode=mode)
            lat.append(time.perf_counter() - t0)
            name_hits.append(any(h.id == q.id for h in hits))
            if has_def and q.definition:
                dh = kb.search(masked(q.definition, q.name), k=10, kinds=["go_term"], mode=mode)
                def_hits.append(any(h.id == q.id for h in dh))
            answer = set(kb.genes_for_term(q.id, propagate=False))
            gh = kb.search(query, k=10, kinds=["gene"], mode=mode)
            got = {h.id.removeprefix("gene:") for h in gh}
            gene_rec.append(len(got & answer) / min(10, len(answer)))
        rows.append(
            {
                "mode": mode,
                "term-by-name R@10": np.mean(name_hits),
                "term-by-definition R@10": np.mean(def_hits) if def_hits else np.nan,
                "genes-of-term R@10": np.mean(gene_rec),
                "p50 ms": 1000 * np.percentile(lat, 50),
                "p95 ms": 1000 * np.percentile(lat, 95),
            }
        )
    return pd.DataFrame(rows)


def claims(kb, n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    ann = kb._q(
        "SELECT a.gene, a.go_id, a.qualifier FROM annotations a JOIN go_terms t ON t.id = a.go_id "
        "WHERE t.namespace = 'BP'"
    )
    ann = ann[~ann["qualifier"].fillna("").str.contains("NOT")]
    # claims must name genes the gene table knows (the parser resolves symbols through it)
    known = set(kb._q("SELECT symbol FROM genes")["symbol"])
    ann = ann[ann["gene"].isin(known)]
    size = ann.groupby("go_id")["gene"].nunique()
    ok_terms = sorted(size[(size >= 5) & (size <= 200)].index)
    names = kb._terms["name"]
    per_gene = ann.groupby("gene")["go_id"].agg(set)
    rich = sorted(per_gene[per_gene.map(len) >= 20].index)
    out = []
    true_pairs = ann[ann["go_id"].isin(ok_terms)].drop_duplicates(["gene", "go_id"])
    for r in true_pairs.sample(n=n, random_state=seed).itertuples():
        out.append((f"{r.gene} is involved in {names[r.go_id]}", "supported", "true"))
    parents, children = kb._dag
    ok = set(ok_terms)
    made = {"false-random": 0, "false-sibling": 0}
    if not parents:  # no GO DAG (offline default store): no sibling negatives
        made["false-sibling"] = n
    while min(made.values()) < n:
        g = rng.choice(rich)
        prop = set(kb.go_annotations(g, propagate=True)["go_id"])
        if made["false-random"] < n:
            t = rng.choice(ok_terms)
            if t not in prop:
                out.append((f"{g} is involved in {names[t]}", "unknown", "false-random"))
                made["false-random"] += 1
        if made["false-sibling"] < n:
            d = rng.choice(sorted(per_gene[g]))
            sibs = sorted({c for p in parents.get(d, []) for c in children.get(p, [])} & ok - prop)
            if sibs:
                t = rng.choice(sibs)
                out.append((f"{g} is involved in {names[t]}", "unknown", "false-sibling"))
                made["false-sibling"] += 1
    tt = kb._q(
        "SELECT tf, target, sign FROM tf_targets WHERE tf IN (SELECT symbol FROM genes) "
        "AND target IN (SELECT symbol FROM genes)"
    )  # OmniPath also lists complexes and UniProt IDs, which a claim cannot name
    signs = tt.groupby(["tf", "target"])["sign"].agg(set)
    act = sorted(k for k, v in signs.items() if v == {1})
    for tf, tg in rng.sample(act, n):
        out.append((f"{tf} activates {tg}", "supported", "tf-true"))
        out.append((f"{tf} represses {tg}", "contradicted", "tf-opposite"))
    tfs, genes = sorted(tt["tf"].unique()), sorted(tt["target"].unique())
    k = 0
    while k < n:
        tf, tg = rng.choice(tfs), rng.choice(genes)
        if (tf, tg) not in signs.index and tf != tg:
            out.append((f"{tf} regulates {tg}", "unknown", "tf-no-edge"))
            k += 1
    return pd.DataFrame(out, columns=["claim", "expected", "group"])


def run_verification(kb, cl: pd.DataFrame, mode: str) -> pd.DataFrame:
    pred = []
    for c in cl["claim"]:
        pred.append(kb.verify(c, mode=mode).label)
    cl = cl.assign(predicted=pred)
    acc = (cl["expected"] == cl["predicted"]).mean()
    print(f"\nverification ({mode}): accuracy {acc:.3f} on {len(cl)} claims")
    print(pd.crosstab(cl["expected"], cl["predicted"], margins=True).to_string())
    by = cl.assign(ok=cl["expected"] == cl["predicted"]).groupby("group")["ok"].mean()
    print("accuracy by group:", by.round(3).to_dict())
    return cl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--reuse", action="store_true", help="reuse an existing store at --out")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--n-claims", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="lexical,dense,hybrid")
    args = ap.parse_args()
    out = args.out or vc.knowledge.default_path()
    if not (args.reuse and Path(out).exists()):
        stats = vc.knowledge.build(args.source, out=out)
        print(f"build: {stats.seconds:.1f} s, {stats.bytes / 1e6:.1f} MB; counts {stats.counts}")
        for note in stats.notes:
            print("note:", note)
    kb = vc.knowledge.load(out)
    modes = args.modes.split(",")
    if not vc.knowledge.embedder_available():
        modes = ["lexical"]
    t0 = time.perf_counter()
    kb.search("index build", mode="lexical")
    print(f"lexical index (passages + BM25) ready in {time.perf_counter() - t0:.1f} s")
    if any(m != "lexical" for m in modes):
        t0 = time.perf_counter()
        kb.search("index build", mode="dense")
        print(f"dense index ready in {time.perf_counter() - t0:.1f} s")
    qs = questions(kb, args.n, args.seed)
    res = run_retrieval(kb, qs, modes)
    print(f"\nretrieval on {len(qs)} GO questions (seed {args.seed}):")
    print(res.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    cl = claims(kb, args.n_claims, args.seed)
    for mode in ("lexical", "hybrid") if "hybrid" in modes else ("lexical",):
        run_verification(kb, cl, mode)


if __name__ == "__main__":
    main()
