"""Agent benchmark tasks with programmatic checkers, generated from ground truth the
package owns: the knowledge base (GO annotations, TRRUST/OmniPath TF targets, gene-set
libraries) and simulated data (known perturbation effects, cell types, GRN edges).

Families (each one entry of :data:`TASK_FAMILIES`) and how each answer is checked, on the
*verified* answer text. Reading of named items and the list rule (the first item named
must be correct; more than one named: at least half correct) are in :mod:`._checks`.

``qa_process``
    "Name a biological process gene G is involved in." Success: the first GO process named
    is a BP term G is annotated to directly, or a direct is_a/part_of parent of one that
    has >= 4 ancestors itself.
``qa_targets``
    "Name a target gene of TF T." Success: the first gene named (T left out) is a target
    of a T -> target edge.
``naming_go``
    12 genes sampled from a GO BP term with 15-60 annotated genes: "Name the biological
    process." Success: the first process named is the true term or an ancestor within two
    is_a/part_of steps with >= 4 ancestors of its own (GeneAgent's task; the sampled set is
    a subset, the term itself stays in the enrichment library, so top-term enrichment is a
    strong baseline).
``naming_hallmark``
    20 genes of a Hallmark set (the Hallmark library is withheld from the agent's default
    enrichment library). Success: the first set named, by its name or a curated keyword
    (:data:`._checks.HALLMARK_KEYWORDS`), is the true set or its sibling group.
``claims``
    "Is the claim '...' supported, contradicted or unknown?" with the label set by
    construction: a signed TF -> target edge (supported), the opposite sign of an edge with
    only one sign (contradicted), a gene pair without any edge (unknown). Success: the
    first label word not negated (``not supported``) is the true one.
``data_perturbation``
    "Which perturbation changes gene X most?" on simulated Perturb-seq. Truth: the largest
    |deterministic steady-state effect| (``uns['true_effects']``), chosen with a margin of
    1.5x over the second. Success: the first perturbation named is the true one.
``data_celltypes``
    "How many cell types?" (the ``cell_type`` column removed). Truth: the simulator's
    number of cell types. Success: the first number in the answer, with no alternative
    after it (``3 or 4``).
``data_marker``
    "Which cluster expresses gene Y most?" (clusters = renamed cell types). Truth: highest
    mean noise-free expression, with a margin of 1.5x. Success: the first cluster named.
``data_edges``
    "Which of these candidate edges are supported by the knockouts?" Candidates: true
    edges of a perturbed regulator and as many non-descendants. Truth: true edges whose
    target moves by >= 1 control sd. Success: F1 of the edges named >= 0.8; when none is
    supported, no edge named and the answer says none.
``multistep``
    "Find the perturbation that changes X most, list the TRRUST targets of the perturbed
    gene, and name a biological process enriched among them" (>= 3 tool calls; gene names
    of the simulated data are real TF symbols). Success: the first perturbation named is
    the true one and the first process named is one of the top-10 enrichment terms of its
    targets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._utils import Entry, Registry, write_json
from ._checks import (
    claim_label,
    edges_named,
    first_count,
    genes_named,
    go_named,
    hallmark_ok,
    hallmark_words,
    judge,
    named_in_order,
    norm_words,
)
from ._tools import _go_library

__all__ = [
    "DEFAULT_COUNTS",
    "FAMILIES",
    "TASK_FAMILIES",
    "Family",
    "Task",
    "check",
    "family_order",
    "make_tasks",
    "reference_answer",
]

_MIN_ANCESTORS = 4
_PROPAGATE = ("is_a", "part_of")


@dataclass
class Task:
    """One benchmark task: question, truth and (for data tasks) the data file.

    ``info`` holds what the checker reads besides the truth and is not written to
    ``tasks.json``: the store's GO BP term names (``go_vocab``) and gene symbols
    (``genes``), shared by the tasks of one set."""

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


@dataclass(frozen=True)
class Family:
    """One task family: how its tasks are generated and checked, the rule the checker
    applies, a reference answer written from the truth, the reference plan the scripted
    backend follows, and its default number of tasks.

    Attributes
    ----------
    name
        Family name (``Task.family``).
    generate
        ``generate(kb, rng, n) -> list[Task]`` for knowledge-base families; ``None`` for
        the simulated-data families, generated together from shared simulations.
    check
        ``check(task, answer) -> bool`` on the verified answer text.
    reference
        ``reference(task) -> str``: an answer that must pass (a test checks it does).
    plan
        ``plan(task, workspace, messages) -> reply``: the hand-written policy of the
        ``reference_solver`` (tool calls, then an answer written from their results).
    default_count
        Tasks of the family in the default set.
    rule
        The checker's rule in one sentence (docs and reports).
    """

    name: str
    generate: Callable[..., list[Task]] | None
    check: Callable[[Task, str], bool]
    reference: Callable[[Task], str]
    plan: Callable[..., str]
    default_count: int
    rule: str


# -- checkers ------------------------------------------------------------------------------
def _check_go(task: Task, text: str) -> bool:
    t = task.truth
    named = go_named(text, t["names"], task.info.get("go_vocab"))
    return judge(named, {*t["go_ids"], *t["names"]}, k=1)


def _check_targets(task: Task, text: str) -> bool:
    t = task.truth
    named = genes_named(text, task.info.get("genes"), exclude={t.get("tf", "")})
    return judge(named, t["targets"], k=1)


def _check_hallmark(task: Task, text: str) -> bool:
    return hallmark_ok(text, task.truth["set"])


def _check_claim(task: Task, text: str) -> bool:
    return claim_label(text) == task.truth["label"]


def _check_perturbation(task: Task, text: str) -> bool:
    t = task.truth
    return judge(named_in_order(text, t["perturbations"]), {t["answer"]}, k=1)


def _check_celltypes(task: Task, text: str) -> bool:
    value, alternative = first_count(text)
    return value == task.truth["answer"] and not alternative


def _check_marker(task: Task, text: str) -> bool:
    t = task.truth
    return judge(named_in_order(text, t["clusters"]), {t["answer"]}, k=1)


def _check_edges(task: Task, text: str) -> bool:
    t = task.truth
    named = edges_named(text) & set(t["candidates"])
    truth = set(t["supported"])
    if not truth:  # the answer must say so: silence is not "none"
        return not named and re.search(r"\b(?:none|no)\b", text, re.IGNORECASE) is not None
    tp = len(named & truth)
    return 2 * tp / (len(named) + len(truth)) >= 0.8


def _check_multistep(task: Task, text: str) -> bool:
    t = task.truth
    perts = named_in_order(text, t.get("perturbations") or [t["perturbation"]])
    if not perts or perts[0] != t["perturbation"]:
        return False
    named = go_named(text, t["names"], task.info.get("go_vocab"))
    return judge(named, {*t["go_ids"], *t["names"]}, k=1)


def check(task: Task, answer: str) -> bool:
    """Whether ``answer`` solves ``task`` (the family's rule; module docstring)."""
    return bool(TASK_FAMILIES.get(task.family).check(task, answer or ""))


def reference_answer(task: Task) -> str:
    """An answer written from the task's truth that its checker accepts."""
    return TASK_FAMILIES.get(task.family).reference(task)


# -- knowledge-base tasks --------------------------------------------------------------------
def _parents(kb, ids) -> dict[str, set[str]]:
    """Direct is_a / part_of parents of each GO id."""
    ids = sorted(set(ids))
    out: dict[str, set[str]] = {i: set() for i in ids}
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        e = kb._q(
            f"SELECT child, parent FROM go_edges WHERE child IN ({','.join('?' * len(chunk))}) "
            f"AND relation IN ({','.join('?' * len(_PROPAGATE))})",
            (*chunk, *_PROPAGATE),
        )
        for c, p in zip(e["child"], e["parent"], strict=True):
            out[c].add(p)
    return out


def _specific(kb, ids) -> set[str]:
    return {i for i in ids if len(kb.ancestors(i)) >= _MIN_ANCESTORS}


def _term_name(kb, go_id: str) -> str:
    try:
        return str(kb.go_term(go_id)["name"])
    except Exception:
        return ""


def _qa_process(kb, rng, n) -> list[Task]:
    """Accepted: a BP term the gene is annotated to directly, or a direct parent of one
    (is_a / part_of) that has at least 4 ancestors itself."""
    df = kb._q(
        "SELECT a.gene, COUNT(DISTINCT a.go_id) AS n FROM annotations a JOIN go_terms t "
        "ON t.id = a.go_id JOIN genes g ON g.symbol = a.gene WHERE t.namespace = 'BP' "
        "AND a.qualifier NOT LIKE '%NOT%' GROUP BY a.gene HAVING n >= 1 ORDER BY a.gene"
    )
    genes = df["gene"].tolist()
    out = []
    for g in rng.permutation(genes)[:n]:
        ann = kb.go_annotations(g, propagate=False)
        ann = ann[(ann["namespace"] == "BP") & ~ann["qualifier"].str.upper().str.contains("NOT")]
        direct = sorted(set(ann["go_id"]) - {"GO:0008150"})
        if not direct:
            continue
        parents = {p for ps in _parents(kb, direct).values() for p in ps}
        ok = set(direct) | _specific(kb, parents - {"GO:0008150"})
        names = sorted({nm for i in ok if (nm := _term_name(kb, i))})
        first = direct[0]
        out.append(
            Task(
                f"qa_process-{g}",
                "qa_process",
                f"Name one biological process that the gene {g} is involved in (give the GO term).",
                {
                    "go_ids": sorted(ok),
                    "names": names,
                    "reference": f"{g} is involved in {_term_name(kb, first)} ({first}).",
                },
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
                    {"tf": tf, "targets": targets, "reference": f"{tf} regulates {targets[0]}."},
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
        up = _parents(kb, [go_id])[go_id]
        up2 = {p for ps in _parents(kb, up).values() for p in ps} if up else set()
        ok = {go_id} | _specific(kb, (up | up2) - {"GO:0008150"})
        names = sorted({nm for i in ok if (nm := _term_name(kb, i))})
        out.append(
            Task(
                f"naming_go-{go_id}",
                "naming_go",
                "Which biological process (GO term) best describes this gene set: "
                + ", ".join(pick)
                + "?",
                {
                    "go_ids": sorted(ok),
                    "names": names,
                    "term": go_id,
                    "reference": f"{_term_name(kb, go_id)} ({go_id})",
                },
            )
        )
    return out


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
        out.append(
            Task(
                f"naming_hallmark-{name}",
                "naming_hallmark",
                "What biological process or pathway do these genes share: " + ", ".join(pick) + "?",
                {"set": name, "reference": " ".join(hallmark_words(name))},
            )
        )
    return out


def _claims(kb, rng, n) -> list[Task]:
    if not n:
        return []
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
        {"label": label, "claim": claim, "reference": f"Verdict: {label}."},
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
                    {
                        "answer": top,
                        "perturbations": perts,
                        "reference": f"{top} changes {g} the most.",
                    },
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
                                    "perturbations": perts,
                                    "go_ids": ids,
                                    "names": names,
                                    "targets": targets,
                                    "reference": f"{top} changes {g} the most; its targets "
                                    f"{', '.join(targets[:5])} are enriched in {top_terms[0]}.",
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
                    {
                        "candidates": cands,
                        "supported": supported,
                        "reference": ", ".join(supported)
                        if supported
                        else "None of the edges is supported.",
                    },
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
                {"answer": k, "reference": f"{k} cell types."},
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
                {
                    "answer": pick[1],
                    "clusters": sorted(set(a.obs["cluster"])),
                    "reference": f"Cluster {pick[1]}.",
                },
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


def _vocabulary(kb) -> tuple[dict[tuple[str, ...], str], frozenset[str]]:
    """The store's GO BP term names (normalised words -> GO id, the GO library's term names
    included) and gene symbols: what the checkers read answers against."""
    vocab: dict[tuple[str, ...], str] = {}
    terms = kb._q("SELECT id, name FROM go_terms WHERE namespace = 'BP' ORDER BY id")
    for go_id, name in zip(terms["id"], terms["name"], strict=True):
        if name:
            vocab.setdefault(norm_words(str(name)), str(go_id))
    lib = _go_library(kb)
    if lib:
        for term in kb.gene_sets(lib):
            m = re.search(r"^(.*?)\s*\((GO:\d{7})\)\s*$", term)
            if m:
                vocab.setdefault(norm_words(m.group(1)), m.group(2))
    genes = frozenset(kb._q("SELECT symbol FROM genes")["symbol"].astype(str))
    return vocab, genes


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
    unknown = sorted(set(counts) - set(TASK_FAMILIES.names()))
    if unknown:
        from .._errors import ValidationError

        raise ValidationError(
            f"unknown task famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
            f"known: {', '.join(FAMILIES)}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tasks: list[Task] = []
    order = family_order()
    for name in order:  # knowledge-base families draw from one generator, in order
        gen = TASK_FAMILIES.get(name).generate
        if gen is not None:
            tasks += gen(kb, rng, counts.get(name, 0))
    if any(counts.get(f, 0) for f in order if TASK_FAMILIES.get(f).generate is None):
        tasks += _data_tasks(kb, rng, counts, folder / "data", seed)
    vocab, genes = _vocabulary(kb)
    for t in tasks:
        t.info.update(go_vocab=vocab, genes=genes)
    write_json(folder / "tasks.json", [t.to_dict() for t in tasks])
    return tasks


# -- the families ------------------------------------------------------------------------------
def _truth_reference(task: Task) -> str:
    return str(task.truth["reference"])


def _family_builtins() -> list[Entry[Family]]:
    from ._plans import PLANS as P

    fams = [
        Family(
            "qa_process",
            _qa_process,
            _check_go,
            _truth_reference,
            P["qa_process"],
            10,
            "the first GO process named is a BP term the gene is annotated to directly, "
            "or a direct parent of one with >= 4 ancestors; more than one named: "
            "at least half correct",
        ),
        Family(
            "qa_targets",
            _qa_targets,
            _check_targets,
            _truth_reference,
            P["qa_targets"],
            10,
            "the first gene named (the TF itself left out) is a known target; more than "
            "one named: at least half are targets",
        ),
        Family(
            "naming_go",
            _naming_go,
            _check_go,
            _truth_reference,
            P["naming_go"],
            12,
            "the first GO process named is the sampled term or an ancestor within two "
            "is_a/part_of steps with >= 4 ancestors; more than one named: at least half "
            "correct",
        ),
        Family(
            "naming_hallmark",
            _naming_hallmark,
            _check_hallmark,
            _truth_reference,
            P["naming_hallmark"],
            4,
            "the first Hallmark set named (by its name or a curated keyword of the set) "
            "is the true set or, by a shared stem, its sibling group; more than one "
            "named: at least half correct",
        ),
        Family(
            "claims",
            _claims,
            _check_claim,
            _truth_reference,
            P["claims"],
            18,
            "the first label word not negated in the three words before it is the true label",
        ),
        Family(
            "data_perturbation",
            None,
            _check_perturbation,
            _truth_reference,
            P["data_perturbation"],
            6,
            "the first perturbation named is the true top one; more than one named: at "
            "least half correct",
        ),
        Family(
            "data_celltypes",
            None,
            _check_celltypes,
            _truth_reference,
            P["data_celltypes"],
            4,
            "the first number is the true count and no alternative follows it (3 or 4)",
        ),
        Family(
            "data_marker",
            None,
            _check_marker,
            _truth_reference,
            P["data_marker"],
            4,
            "the first cluster named is the true one; more than one named: at least half correct",
        ),
        Family(
            "data_edges",
            None,
            _check_edges,
            _truth_reference,
            P["data_edges"],
            4,
            "F1 of the candidate edges named vs the supported ones >= 0.8; with none "
            "supported, no edge named and the answer says none",
        ),
        Family(
            "multistep",
            None,
            _check_multistep,
            _truth_reference,
            P["multistep"],
            10,
            "the first perturbation named is the true one and the first GO process named "
            "is one of the top-10 enrichment terms of its targets (more than one named: "
            "at least half of them)",
        ),
    ]
    return [Entry(f.name, f, f.rule) for f in fams]


#: The task families (name -> :class:`Family`); users may add their own.
TASK_FAMILIES: Registry[Family] = Registry("agent task family", _family_builtins)
#: The built-in families in benchmark order.
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
DEFAULT_COUNTS = {f: TASK_FAMILIES.get(f).default_count for f in FAMILIES}


def family_order() -> list[str]:
    """The built-in families in benchmark order, then families users registered."""
    return [*FAMILIES, *sorted(set(TASK_FAMILIES.names()) - set(FAMILIES))]
