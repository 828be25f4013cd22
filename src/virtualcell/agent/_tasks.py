"""Agent benchmark tasks with programmatic checkers, generated from ground truth the
package owns: the knowledge base (GO annotations, TRRUST/OmniPath TF targets, gene-set
libraries) and simulated data (known perturbation effects, cell types, GRN edges).

Families and how each answer is checked (on the *verified* answer text):

``qa_process``
    "Name a biological process gene G is involved in." Success: the answer names (GO id
    or exact term name) a BP term G is annotated to, directly or by propagation over
    is_a/part_of, excluding very general terms (fewer than 4 ancestors).
``qa_targets``
    "Name a target gene of TF T." Success: the answer names a T -> target edge's target.
``naming_go``
    12 genes sampled from a GO BP term with 15-60 annotated genes: "Name the biological
    process." Success: the true term or one of its ancestors with >= 4 ancestors of its own
    (GeneAgent's task; the sampled set is a subset, the term itself stays in the
    enrichment library, so top-term enrichment is a strong baseline).
``naming_hallmark``
    20 genes of a Hallmark set (the Hallmark library is withheld from the agent's default
    enrichment library): success when the answer contains a content word of the set name.
``claims``
    "Is the claim '...' supported, contradicted or unknown?" with the label set by
    construction: a signed TF -> target edge (supported), the opposite sign of an edge with
    only one sign (contradicted), a gene pair without any edge (unknown). Success: the
    first label word of the answer is the true one.
``data_perturbation``
    "Which perturbation changes gene X most?" on simulated Perturb-seq. Truth: the largest
    |deterministic steady-state effect| (``uns['true_effects']``), chosen with a margin of
    1.5x over the second. Success: the first perturbation named is the true one.
``data_celltypes``
    "How many cell types?" (the ``cell_type`` column removed). Truth: the simulator's
    number of cell types. Success: the first number in the answer.
``data_marker``
    "Which cluster expresses gene Y most?" (clusters = renamed cell types). Truth: highest
    mean noise-free expression, with a margin of 1.5x. Success: the first cluster named.
``data_edges``
    "Which of these candidate edges are supported by the knockouts?" Candidates: true
    edges of a perturbed regulator and as many non-descendants. Truth: true edges whose
    target moves by >= 1 control sd. Success: F1 of the edges named >= 0.8.
``multistep``
    "Find the perturbation that changes X most, list the TRRUST targets of the perturbed
    gene, and name a biological process enriched among them" (>= 3 tool calls; gene names
    of the simulated data are real TF symbols). Success: the answer names the perturbed
    gene and one of the top-10 enrichment terms of its targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._utils import write_json
from ._tools import _go_library

__all__ = ["FAMILIES", "Task", "check", "make_tasks"]

FAMILIES = (
    "qa_process",
    "qa_targets",
    "naming_go",
    "naming_hallmark",
    "claims",
    "data_perturbation",
    "data_celltypes",
    "data_marker",
    "data_edges",
    "multistep",
)
#: Default number of tasks per family (82 in all).
DEFAULT_COUNTS = {
    "qa_process": 10,
    "qa_targets": 10,
    "naming_go": 12,
    "naming_hallmark": 4,
    "claims": 18,
    "data_perturbation": 6,
    "data_celltypes": 4,
    "data_marker": 4,
    "data_edges": 4,
    "multistep": 10,
}
LABELS = ("supported", "contradicted", "unknown")
_MIN_ANCESTORS = 4


@dataclass
class Task:
    """One benchmark task: question, truth and (for data tasks) the data file."""

    id: str
    family: str
    question: str
    truth: dict[str, Any]
    data: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "family": self.family,
            "question": self.question,
            "truth": self.truth,
            "data": self.data,
        }


# -- checkers ------------------------------------------------------------------------------
def _mentions(text: str, term: str) -> int:
    """Position of ``term`` in ``text`` as a whole word (case-insensitive), or -1."""
    m = re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text, re.IGNORECASE)
    return m.start() if m else -1


def _first_of(text: str, options: list[str]) -> str | None:
    found = [(p, o) for o in options if (p := _mentions(text, o)) >= 0]
    return min(found)[1] if found else None


_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}


def check(task: Task, answer: str) -> bool:
    """Whether ``answer`` solves ``task`` (the rules are in the module docstring)."""
    t, text = task.truth, answer or ""
    fam = task.family
    if fam in ("qa_process", "naming_go"):
        return any(i in text for i in t["go_ids"]) or any(
            _mentions(text, n) >= 0 for n in t["names"]
        )
    if fam == "qa_targets":
        return any(_mentions(text, g) >= 0 for g in t["targets"])
    if fam == "naming_hallmark":
        return any(_mentions(text, w) >= 0 for w in t["keywords"])
    if fam == "claims":
        words = {"supported": "supported", "contradicted": "contradicted", "unknown": "unknown"}
        first = _first_of(text, list(words))
        return first == t["label"]
    if fam == "data_perturbation":
        return _first_of(text, t["perturbations"]) == t["answer"]
    if fam == "data_celltypes":
        m = re.search(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r")\b", text, re.IGNORECASE)
        if not m:
            return False
        v = m.group(1).lower()
        return (int(v) if v.isdigit() else _NUMBER_WORDS[v]) == t["answer"]
    if fam == "data_marker":
        return _first_of(text, t["clusters"]) == t["answer"]
    if fam == "data_edges":
        named = {
            f"{a}->{b}"
            for a, b in re.findall(r"([A-Za-z0-9_.-]+)\s*(?:->|→)\s*([A-Za-z0-9_.-]+)", text)
        }
        named &= set(t["candidates"])
        truth = set(t["supported"])
        if not truth:
            return not named
        tp = len(named & truth)
        f1 = 2 * tp / (len(named) + len(truth)) if named or truth else 1.0
        return f1 >= 0.8
    if fam == "multistep":
        return _mentions(text, t["perturbation"]) >= 0 and (
            any(i in text for i in t["go_ids"]) or any(_mentions(text, n) >= 0 for n in t["names"])
        )
    raise KeyError(fam)


# -- knowledge-base tasks --------------------------------------------------------------------
def _specific_ancestors(kb, go_id: str) -> set[str]:
    return {a for a in kb.ancestors(go_id) if len(kb.ancestors(a)) >= _MIN_ANCESTORS}


def _qa_process(kb, rng, n) -> list[Task]:
    df = kb._q(
        "SELECT a.gene, COUNT(DISTINCT a.go_id) AS n FROM annotations a JOIN go_terms t "
        "ON t.id = a.go_id JOIN genes g ON g.symbol = a.gene WHERE t.namespace = 'BP' "
        "AND a.qualifier NOT LIKE '%NOT%' GROUP BY a.gene HAVING n >= 1 ORDER BY a.gene"
    )
    genes = df["gene"].tolist()
    out = []
    for g in rng.permutation(genes)[:n]:
        ann = kb.go_annotations(g, propagate=True)
        ann = ann[(ann["namespace"] == "BP") & ~ann["qualifier"].str.upper().str.contains("NOT")]
        direct = set(ann.loc[ann["via"] == "", "go_id"])
        ok = direct | {i for i in ann["go_id"] if len(kb.ancestors(i)) >= _MIN_ANCESTORS}
        ok = {i for i in ok if i != "GO:0008150"}
        if not ok:
            continue
        names = sorted(set(ann.loc[ann["go_id"].isin(ok), "name"]))
        out.append(
            Task(
                f"qa_process-{g}",
                "qa_process",
                f"Name one biological process that the gene {g} is involved in (give the GO term).",
                {"go_ids": sorted(ok), "names": names},
            )
        )
    return out


def _qa_targets(kb, rng, n) -> list[Task]:
    df = kb._q(
        "SELECT tf, COUNT(DISTINCT target) AS n FROM tf_targets GROUP BY tf HAVING n >= 2 ORDER BY tf"
    )
    out = []
    for tf in rng.permutation(df["tf"].tolist())[:n]:
        targets = sorted(set(kb.targets(tf)["target"]) - {tf})
        if targets:
            out.append(
                Task(
                    f"qa_targets-{tf}",
                    "qa_targets",
                    f"Name a target gene regulated by the transcription factor {tf}.",
                    {"targets": targets},
                )
            )
    return out


def _naming_go(kb, rng, n, size: int = 12) -> list[Task]:
    df = kb._q(
        "SELECT a.go_id, COUNT(DISTINCT a.gene) AS n FROM annotations a JOIN go_terms t "
        "ON t.id = a.go_id WHERE t.namespace = 'BP' GROUP BY a.go_id "
        "HAVING n BETWEEN 15 AND 60 ORDER BY a.go_id"
    )
    small = df.empty
    if small:  # tiny stores: any BP term with >= 2 genes
        df = kb._q(
            "SELECT a.go_id, COUNT(DISTINCT a.gene) AS n FROM annotations a JOIN go_terms t "
            "ON t.id = a.go_id WHERE t.namespace = 'BP' GROUP BY a.go_id HAVING n >= 2 "
            "ORDER BY a.go_id"
        )
    out = []
    for go_id in rng.permutation(df["go_id"].tolist()):
        if len(out) >= n:
            break
        if len(kb.ancestors(go_id)) < _MIN_ANCESTORS and not small:
            continue
        genes = kb.genes_for_term(go_id)
        if len(genes) < (2 if small else size):
            continue
        pick = sorted(rng.choice(genes, size=min(size, len(genes)), replace=False).tolist())
        ok = {go_id} | _specific_ancestors(kb, go_id)
        names = sorted({kb.go_term(i)["name"] for i in ok})
        out.append(
            Task(
                f"naming_go-{go_id}",
                "naming_go",
                "Which biological process (GO term) best describes this gene set: "
                + ", ".join(pick)
                + "?",
                {"go_ids": sorted(ok), "names": names, "term": go_id},
            )
        )
    return out


_HALLMARK_STOP = {
    "hallmark",
    "response",
    "signaling",
    "via",
    "pathway",
    "up",
    "dn",
    "early",
    "late",
    "v1",
    "v2",
}


def _naming_hallmark(kb, rng, n, size: int = 20) -> list[Task]:
    libs = [
        lib
        for lib in kb.gene_set_libraries()
        if "h.all" in lib.lower() or "hallmark" in lib.lower()
    ]
    if not libs:
        return []
    sets = kb.gene_sets(libs[0])
    out = []
    for name in rng.permutation(sorted(sets))[:n]:
        genes = sets[name]
        pick = sorted(rng.choice(genes, size=min(size, len(genes)), replace=False).tolist())
        words = [w for w in name.lower().split("_") if w not in _HALLMARK_STOP and len(w) > 2]
        out.append(
            Task(
                f"naming_hallmark-{name}",
                "naming_hallmark",
                "What biological process or pathway do these genes share: " + ", ".join(pick) + "?",
                {"set": name, "keywords": words},
            )
        )
    return out


def _claims(kb, rng, n) -> list[Task]:
    e = kb._q("SELECT tf, target, sign FROM tf_targets WHERE tf != target ORDER BY tf, target")
    g = e.groupby(["tf", "target"])["sign"].agg(lambda s: set(int(v) for v in s))
    signed = [(k, next(iter(v))) for k, v in g.items() if len(v) == 1 and next(iter(v)) != 0]
    out: list[Task] = []
    verb = {1: "activates", -1: "represses"}
    per = max(1, n // 3)
    order = rng.permutation(len(signed))
    for i in order[:per]:
        (tf, t), s = signed[i]
        out.append(_claim_task(f"{tf} {verb[s]} {t}", "supported"))
    for i in order[per : 2 * per]:
        (tf, t), s = signed[i]
        out.append(_claim_task(f"{tf} {verb[-s]} {t}", "contradicted"))
    genes = kb._q("SELECT symbol FROM genes ORDER BY symbol")["symbol"].tolist()
    tfs = sorted(set(e["tf"]))
    have = set(g.index)
    tries = 0
    while sum(t.truth["label"] == "unknown" for t in out) < n - 2 * per and tries < 1000:
        tries += 1
        tf, t = rng.choice(tfs), rng.choice(genes)
        if tf == t or (tf, t) in have or (t, tf) in have:
            continue
        out.append(_claim_task(f"{tf} activates {t}", "unknown"))
    return out


def _claim_task(claim: str, label: str) -> Task:
    return Task(
        f"claims-{claim.replace(' ', '_')}",
        "claims",
        f"According to the knowledge base, is the claim '{claim}' supported, contradicted or "
        "unknown?",
        {"label": label, "claim": claim},
    )


# -- simulated data tasks ------------------------------------------------------------------
def _rename_to_symbols(adata, kb, rng) -> None:
    """Give simulated genes real symbols: regulators become TFs with TRRUST targets."""
    e = kb._q("SELECT tf, COUNT(DISTINCT target) AS n FROM tf_targets GROUP BY tf HAVING n >= 3")
    tfs = rng.permutation(sorted(e["tf"])).tolist()
    others = rng.permutation(
        kb._q("SELECT DISTINCT target FROM tf_targets")["target"].tolist()
    ).tolist()
    regs = adata.var["n_targets"].to_numpy() > 0
    names, used = [], set()
    for is_reg in regs:
        pool = tfs if is_reg and tfs else others
        while pool and pool[0] in used:
            pool.pop(0)
        name = pool.pop(0) if pool else f"GENE{len(names)}"
        used.add(name)
        names.append(name)
    old = list(map(str, adata.var_names))
    mapping = dict(zip(old, names, strict=True))
    adata.var_names = names
    lab = adata.obs["perturbation"].astype(str)
    adata.obs["perturbation"] = lab.map(
        lambda p: "+".join(mapping.get(x, x) for x in p.split("+")) if p != "control" else p
    )
    tn = adata.uns["true_network"].copy()
    tn["regulator"] = tn["regulator"].map(mapping)
    tn["target"] = tn["target"].map(mapping)
    adata.uns["true_network"] = tn
    te = dict(adata.uns["true_effects"])
    te["conditions"] = [
        "+".join(mapping.get(x, x) for x in str(c).split("+")) if str(c) != "control" else "control"
        for c in te["conditions"]
    ]
    adata.uns["true_effects"] = te


def _sim_perturb(seed: int, kb=None):
    from .. import sim

    adata = sim.simulate_perturbseq(
        40,
        n_cell_types=3,
        cells_per_condition=45,
        singles=10,
        doubles=0,
        seed=seed,
        n_master_regulators=6,
    )
    if kb is not None:
        _rename_to_symbols(adata, kb, np.random.default_rng(seed + 101))
    return adata


def _effects(adata) -> pd.DataFrame:
    from .. import sim

    eff = sim.true_effects(adata, by_cell_type=False)
    return eff.drop(index="control", errors="ignore")


def _clear_top(effects: pd.DataFrame, genes, margin: float = 1.5):
    """(gene, top perturbation) pairs whose top |effect| beats the second by ``margin``."""
    out = []
    for g in genes:
        col = (
            effects[g]
            .drop(index=[p for p in effects.index if g in p.split("+")], errors="ignore")
            .abs()
        )
        col = col.sort_values(ascending=False)
        if len(col) >= 2 and col.iloc[0] > 0 and col.iloc[0] >= margin * col.iloc[1]:
            out.append((g, col.index[0]))
    return out


def _strip_truth(adata):
    """A copy without the simulator's answers (truth tables, noise-free layer)."""
    out = adata.copy()
    for k in ("true_network", "true_effects"):
        out.uns.pop(k, None)
    if "true_expression" in out.layers:
        del out.layers["true_expression"]
    for k in list(out.varm.keys()):
        del out.varm[k]
    out.var = out.var.iloc[:, :0]  # the simulator's per-gene parameters reveal the network
    return out


def _write(adata, folder: Path, name: str) -> str:
    from .._utils import atomic_path

    path = folder / f"{name}.h5ad"
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    return str(path)


def _data_tasks(kb, rng, counts: dict[str, int], folder: Path, seed: int) -> list[Task]:

    out: list[Task] = []
    folder.mkdir(parents=True, exist_ok=True)
    # perturbation effects + knockout-supported edges + multi-step, on real-symbol data
    n_sets = 2
    sets = [_sim_perturb(seed * 10 + i, kb) for i in range(n_sets)]
    files = [_write(_strip_truth(a), folder, f"perturb_{i}") for i, a in enumerate(sets)]
    per_fam = {"data_perturbation": [], "data_edges": [], "multistep": []}
    for i, adata in enumerate(sets):
        eff = _effects(adata)
        perts = [p for p in eff.index if p != "control"]
        pert_genes = {x for p in perts for x in p.split("+")}
        cand_genes = [g for g in map(str, adata.var_names) if g not in pert_genes]
        for g, top in _clear_top(eff, cand_genes):
            per_fam["data_perturbation"].append(
                Task(
                    f"data_perturbation-{i}-{g}",
                    "data_perturbation",
                    f"In the data (handle 'data'), which perturbation changes the expression of {g} the most?",
                    {"answer": top, "perturbations": perts},
                    data=files[i],
                )
            )
            if kb is not None and not kb.targets(top).empty:
                targets = sorted(set(kb.targets(top)["target"]) - {top})
                if len(targets) >= 3:
                    from ..knowledge import enrich

                    lib = _go_library(kb) or ""
                    try:
                        top_terms = (
                            enrich(targets, gene_sets=lib, kb=kb.path).head(10)["term"].tolist()
                        )
                    except Exception:
                        top_terms = []
                    ids = [m for t in top_terms for m in re.findall(r"GO:\d{7}", t)]
                    names = [re.sub(r"\s*\(GO:\d{7}\)\s*$", "", t) for t in top_terms]
                    if top_terms:
                        per_fam["multistep"].append(
                            Task(
                                f"multistep-{i}-{g}",
                                "multistep",
                                f"In the data (handle 'data'), find the perturbation that changes {g} the "
                                "most, list the known targets of that perturbed gene in the knowledge base, "
                                "and name a biological process enriched among those targets.",
                                {
                                    "perturbation": top,
                                    "go_ids": ids,
                                    "names": names,
                                    "targets": targets,
                                },
                                data=files[i],
                            )
                        )
        # candidate edges for the knockout question
        tn = adata.uns["true_network"]
        te = adata.uns["true_effects"]
        sd = np.asarray(te["control_sd"], dtype=float)
        sd = sd.mean(axis=0) if sd.ndim == 2 else sd
        genes = list(map(str, adata.var_names))
        for p in [p for p in perts if "+" not in p]:
            true_t = tn.loc[tn["regulator"] == p, "target"].astype(str).tolist()
            if len(true_t) < 2:
                continue
            down = _descendants(tn, p)
            non = [g for g in genes if g not in down and g != p]
            if len(non) < 2:
                continue
            fake = rng.choice(non, size=min(len(true_t), len(non)), replace=False).tolist()
            cands = [f"{p}->{t}" for t in true_t + fake]
            cands = rng.permutation(cands).tolist()
            row = eff.loc[p]
            supported = [
                f"{p}->{t}" for t in true_t if abs(row[t]) >= 1.0 * max(sd[genes.index(t)], 1e-9)
            ]
            per_fam["data_edges"].append(
                Task(
                    f"data_edges-{i}-{p}",
                    "data_edges",
                    "In the data (handle 'data'), which of these candidate regulatory edges are "
                    "supported by the knockout of the regulator: " + ", ".join(cands) + "?",
                    {"candidates": cands, "supported": supported},
                    data=files[i],
                )
            )
    for fam, tasks in per_fam.items():
        idx = rng.permutation(len(tasks))[: counts.get(fam, 0)]
        out += [tasks[j] for j in sorted(idx)]
    # cell-type counts
    for j in range(counts.get("data_celltypes", 0)):
        k = int(rng.integers(2, 5))
        a = _sim_controls(k, 300, seed * 100 + j, basal_low=(0.05, 0.2), basal_high=(3.0, 5.0))
        clean = _strip_truth(a)
        del clean.obs["cell_type"]
        f = _write(clean, folder, f"celltypes_{j}")
        out.append(
            Task(
                f"data_celltypes-{j}",
                "data_celltypes",
                "How many distinct cell types are in the data (handle 'data')?",
                {"answer": k},
                data=f,
            )
        )
    # marker -> cluster
    made = 0
    for j in range(counts.get("data_marker", 0) * 3):
        if made >= counts.get("data_marker", 0):
            break
        a = _sim_controls(3, 240, seed * 1000 + j)
        clusters = {f"type_{c}": f"c{c + 1}" for c in range(3)}
        a.obs["cluster"] = [clusters.get(v, v) for v in a.obs["cell_type"].astype(str)]
        means = (
            pd.DataFrame(np.asarray(a.layers["true_expression"]), columns=a.var_names)
            .groupby(a.obs["cluster"].to_numpy())
            .mean()
        )
        order = rng.permutation(list(map(str, a.var_names)))
        pick = None
        for g in order:
            col = means[g].sort_values(ascending=False)
            if col.iloc[0] >= 1.5 * col.iloc[1] and col.iloc[0] > 0.5:
                pick = (g, col.index[0])
                break
        if pick is None:
            continue
        clean = _strip_truth(a)
        del clean.obs["cell_type"]
        f = _write(clean, folder, f"clusters_{j}")
        out.append(
            Task(
                f"data_marker-{j}-{pick[0]}",
                "data_marker",
                f"In the data (handle 'data'), which cluster (obs column 'cluster') expresses {pick[0]} the most?",
                {"answer": pick[1], "clusters": sorted(set(a.obs["cluster"]))},
                data=f,
            )
        )
        made += 1
    return out


def _sim_controls(n_types: int, n_cells: int, seed: int, **grn_kwargs: Any):
    """Unperturbed simulated cells of ``n_types`` cell types (40 genes, 8 master regulators)."""
    from .. import sim

    a = sim.simulate_perturbseq(
        40,
        n_cell_types=n_types,
        cells_per_condition=20,
        n_control_cells=n_cells,
        singles=1,
        doubles=0,
        seed=seed,
        n_master_regulators=8,
        **grn_kwargs,
    )
    return a[a.obs["perturbation"] == "control"].copy()


def _descendants(tn: pd.DataFrame, root: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for r, t in zip(tn["regulator"].astype(str), tn["target"].astype(str), strict=True):
        children.setdefault(r, []).append(t)
    seen, todo = set(), [root]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def make_tasks(
    kb,
    *,
    folder: str | Path,
    seed: int = 0,
    counts: dict[str, int] | None = None,
) -> list[Task]:
    """Generate the benchmark tasks (deterministic for a seed) and write their data.

    Parameters
    ----------
    kb
        An opened knowledge base.
    folder
        Where the simulated data sets and ``tasks.json`` are written.
    seed
        Seed of every sampling step and simulation.
    counts
        Tasks per family (default :data:`DEFAULT_COUNTS`); a family may get fewer when
        the store or the simulation offers fewer valid tasks.
    """
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tasks: list[Task] = []
    tasks += _qa_process(kb, rng, counts.get("qa_process", 0))
    tasks += _qa_targets(kb, rng, counts.get("qa_targets", 0))
    tasks += _naming_go(kb, rng, counts.get("naming_go", 0))
    tasks += _naming_hallmark(kb, rng, counts.get("naming_hallmark", 0))
    if counts.get("claims", 0):
        tasks += _claims(kb, rng, counts["claims"])
    if any(counts.get(f, 0) for f in FAMILIES if f.startswith(("data_", "multi"))):
        tasks += _data_tasks(kb, rng, counts, folder / "data", seed)
    write_json(folder / "tasks.json", [t.to_dict() for t in tasks])
    return tasks
