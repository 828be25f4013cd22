"""Simulated-data task families of the agent benchmark (top perturbation, cell-type count,
marker cluster, knockout-supported edges, multi-step): generators from shared simulations,
checkers and their :class:`~._tasks.Family` entries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import expression
from ._checks import (
    edges_named,
    first_count,
    go_named,
    judge,
    named_in_order,
)
from ._plans import (
    plan_data_celltypes,
    plan_data_edges,
    plan_data_marker,
    plan_data_perturbation,
    plan_multistep,
)
from ._tasks import Family, Task, _truth_reference
from ._tools import _go_library


# -- checkers ------------------------------------------------------------------------------
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
        truth = expression(
            a, layer="true_expression", space="input", sparse_output=False, what="marker truth"
        )
        means = (
            pd.DataFrame(truth.X, columns=truth.genes).groupby(a.obs["cluster"].to_numpy()).mean()
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


def families() -> list[Family]:
    """The families of this module (registered in :data:`~._tasks.TASK_FAMILIES`)."""
    return [
        Family(
            "data_perturbation",
            None,
            _check_perturbation,
            _truth_reference,
            plan_data_perturbation,
            6,
            "the first perturbation named is the true top one; more than one named: at "
            "least half correct",
        ),
        Family(
            "data_celltypes",
            None,
            _check_celltypes,
            _truth_reference,
            plan_data_celltypes,
            4,
            "the first number is the true count and no alternative follows it (3 or 4)",
            baselines=("majority",),
            majority=("answer", "{}"),
        ),
        Family(
            "data_marker",
            None,
            _check_marker,
            _truth_reference,
            plan_data_marker,
            4,
            "the first cluster named is the true one; more than one named: at least half correct",
        ),
        Family(
            "data_edges",
            None,
            _check_edges,
            _truth_reference,
            plan_data_edges,
            4,
            "F1 of the candidate edges named vs the supported ones >= 0.8; with none "
            "supported, no edge named and the answer says none",
        ),
        Family(
            "multistep",
            None,
            _check_multistep,
            _truth_reference,
            plan_multistep,
            10,
            "the first perturbation named is the true one and the first GO process named "
            "is one of the top-10 enrichment terms of its targets (more than one named: "
            "at least half of them)",
        ),
    ]
