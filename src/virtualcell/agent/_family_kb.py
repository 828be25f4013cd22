"""Knowledge-base task families of the agent benchmark (GO processes, TF targets, gene-set
naming, claims): generators, checkers and their :class:`~._tasks.Family` entries."""

from __future__ import annotations

from ._checks import (
    claim_label,
    genes_named,
    go_named,
    hallmark_ok,
    hallmark_words,
    judge,
)
from ._plans import plan_claims, plan_naming, plan_qa_process, plan_qa_targets
from ._tasks import Family, Task, _truth_reference

_MIN_ANCESTORS = 4
_PROPAGATE = ("is_a", "part_of")


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


def families() -> list[Family]:
    """The families of this module (registered in :data:`~._tasks.TASK_FAMILIES`)."""
    return [
        Family(
            "qa_process",
            _qa_process,
            _check_go,
            _truth_reference,
            plan_qa_process,
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
            plan_qa_targets,
            10,
            "the first gene named (the TF itself left out) is a known target; more than "
            "one named: at least half are targets",
        ),
        Family(
            "naming_go",
            _naming_go,
            _check_go,
            _truth_reference,
            plan_naming,
            12,
            "the first GO process named is the sampled term or an ancestor within two "
            "is_a/part_of steps with >= 4 ancestors; more than one named: at least half "
            "correct",
            baselines=("top_enrichment",),
        ),
        Family(
            "naming_hallmark",
            _naming_hallmark,
            _check_hallmark,
            _truth_reference,
            plan_naming,
            4,
            "the first Hallmark set named (by its name or a curated keyword of the set) "
            "is the true set or, by a shared stem, its sibling group; more than one "
            "named: at least half correct",
            baselines=("top_enrichment",),
        ),
        Family(
            "claims",
            _claims,
            _check_claim,
            _truth_reference,
            plan_claims,
            18,
            "the first label word not negated in the three words before it is the true label",
            baselines=("majority",),
            majority=("label", "Verdict: {}."),
        ),
    ]
