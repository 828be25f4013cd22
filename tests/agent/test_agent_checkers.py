"""Every family's checker on generated tasks: the reference answer passes and wrong answers
of the same shape fail (another item, a padded list, a hedge), on several seeds, on the
tiny test store and (when the reference extracts are present) on the reference store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from virtualcell.agent import DEFAULT_TASK_COUNTS, TASK_FAMILIES
from virtualcell.agent._checks import (
    HALLMARK_KEYWORDS,
    HALLMARK_SIBLINGS,
    _keyword_pattern,
    hallmark_named,
    hallmark_words,
)
from virtualcell.agent._tasks import Task, check, make_tasks, reference_answer

_KBDATA = Path(__file__).resolve().parents[1] / "knowledge" / "_kbdata.py"
GO_LIBRARY = {  # the agent tests' small GO-style library (as in conftest.py)
    "erythrocyte differentiation (GO:0030218)": ["KLF1", "GATA1", "HBB"],
    "insulin secretion (GO:0030073)": ["INS", "GCG"],
    "apoptotic process (GO:0006915)": ["TP53", "BAX", "CDKN1A", "MDM2"],
}


def _kbdata():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_checkers_kbdata", _KBDATA)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SEEDS = (0, 1, 2)
KB_FAMILIES = ("qa_process", "qa_targets", "naming_go", "naming_hallmark", "claims")

#: Hallmark sets (tiny-store genes) written as the MSigDB Hallmark GMT.
HALLMARK = {
    "HALLMARK_HEME_METABOLISM": ["KLF1", "GATA1", "HBB"],
    "HALLMARK_FATTY_ACID_METABOLISM": ["INS", "GCG", "BAX"],
    "HALLMARK_UV_RESPONSE_UP": ["TP53", "MDM2", "CDKN1A"],
    "HALLMARK_UV_RESPONSE_DN": ["BAX", "MDM2", "KLF1"],
    "HALLMARK_P53_PATHWAY": ["TP53", "CDKN1A", "BAX", "MDM2"],
}


@pytest.fixture(scope="module")
def hallmark_kb(tmp_path_factory):
    from virtualcell.knowledge import build
    from virtualcell.knowledge import load as kb_open

    root = _kbdata().write_sources(tmp_path_factory.mktemp("hallmark-src"))
    sets = root / "gene_sets"
    (sets / "GO_Biological_Process_test.gmt").write_text(
        "".join(f"{k}\t\t" + "\t".join(v) + "\n" for k, v in GO_LIBRARY.items())
    )
    (sets / "h.all.v7.0.symbols.gmt").write_text(
        "".join(f"{k}\t\t" + "\t".join(v) + "\n" for k, v in HALLMARK.items())
    )
    out = tmp_path_factory.mktemp("hallmark-kb") / "knowledge.sqlite"
    build(root, out=out, include_defaults=False)
    store = kb_open(out)
    yield store
    store.close()


@pytest.fixture(scope="module")
def reference_kb(tmp_path_factory):
    from virtualcell._settings import settings
    from virtualcell.knowledge import build
    from virtualcell.knowledge import load as kb_open

    source = settings.reference_data("knowledge")
    if source is None:
        pytest.skip("reference knowledge extracts not available (VIRTUALCELL_DATA)")
    out = tmp_path_factory.mktemp("ref-kb") / "knowledge.sqlite"
    build(source, out=out, include_defaults=False)
    store = kb_open(out)
    yield store
    store.close()


# -- wrong answers of the same shape as the right one ------------------------------------------
def _go_wrong(task: Task, others: list[Task]) -> list[str]:
    """A process of another task (not accepted here), and the right one padded."""
    ok = set(task.truth["go_ids"])
    out = []
    names = {i: " ".join(w) for w, i in task.info["go_vocab"].items()}
    foreign = [
        (i, names.get(i, ""))
        for o in others
        for i in o.truth["go_ids"]
        if i not in ok and names.get(i, "") not in task.truth["names"]
    ]
    assert foreign, f"no foreign GO term for {task.id}"
    i, n = foreign[0]
    out.append(f"It is {n} ({i}).")
    if len(foreign) >= 2:
        pad = ", ".join(f"{n2} ({i2})" for i2, n2 in foreign[:3])
        out.append(f"{task.truth['reference']} Also {pad}.")
    return out


def wrong_answers(task: Task, tasks: list[Task]) -> list[str]:
    """Deliberately wrong answers of the shape of ``task``'s reference answer."""
    t, fam = task.truth, task.family
    same = [o for o in tasks if o.family == fam and o.id != task.id]
    if fam in ("qa_process", "naming_go"):
        pool = same or [o for o in tasks if o.family in ("qa_process", "naming_go")]
        return _go_wrong(task, [o for o in pool if o.id != task.id])
    if fam == "qa_targets":
        genes = sorted(task.info["genes"] - set(t["targets"]) - {t["tf"]})
        genes = [g for g in genes if re.fullmatch(r"[A-Z][A-Z0-9]+", g)]  # plain symbols
        return [
            f"{t['tf']} regulates {genes[0]}.",
            f"{t['tf']} regulates {t['targets'][0]}, {genes[0]}, {genes[1]} and {genes[2]}.",
            f"{t['tf']} regulates {genes[0]} and {t['targets'][0]}.",
        ]
    if fam == "naming_hallmark":
        other = next(s for s in HALLMARK_KEYWORDS if s != t["set"] and not _siblings(s, t["set"]))
        return [
            " ".join(hallmark_words(other)),
            f"{other}",
            f"{' '.join(hallmark_words(other))} and {t['reference']}",
        ]
    if fam == "claims":
        others = [lab for lab in ("supported", "contradicted", "unknown") if lab != t["label"]]
        return [f"Verdict: {lab}." for lab in others] + [f"The claim is not {t['label']}."]
    if fam == "data_perturbation":
        wrong = [p for p in t["perturbations"] if p != t["answer"]]
        return [f"{wrong[0]} changes it the most.", ", ".join([t["answer"], *wrong])]
    if fam == "data_celltypes":
        k = t["answer"]
        return [f"{k + 1} cell types.", f"{k} or {k + 1} cell types.", "Several cell types."]
    if fam == "data_marker":
        wrong = [c for c in t["clusters"] if c != t["answer"]]
        return [f"Cluster {wrong[0]}.", f"Clusters {t['answer']}, {', '.join(wrong)}."]
    if fam == "data_edges":
        sup, cands = set(t["supported"]), t["candidates"]
        rest = [c for c in cands if c not in sup]
        out = [", ".join(cands) + "."]
        out.append(", ".join(rest) + "." if rest else "None of the edges is supported.")
        if not sup:
            out += ["", "I could not tell."]
        return out
    if fam == "multistep":
        wrong_p = next(p for p in t["perturbations"] if p != t["perturbation"])
        proc = t["reference"].split(" are enriched in ")[-1]
        return [
            f"{wrong_p} changes it the most; enriched: {proc}",
            f"{wrong_p} or {t['perturbation']} changes it the most; enriched: {proc}",
            f"{t['perturbation']} changes it the most; enriched: negative regulation of "
            "nitrogen compound metabolic process (GO:0051172)",
        ]
    raise AssertionError(fam)


def _siblings(a: str, b: str) -> bool:
    return any(a in g and b in g for g in HALLMARK_SIBLINGS)


def _assert_family_checks(tasks: list[Task]) -> set[str]:
    seen = set()
    for task in tasks:
        ref = reference_answer(task)
        assert check(task, ref), f"{task.id}: reference answer {ref!r} fails"
        for bad in wrong_answers(task, tasks):
            assert not check(task, bad), f"{task.id}: wrong answer {bad!r} passes"
        seen.add(task.family)
    return seen


# -- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_every_family_reference_passes_wrong_fails_tiny_store(hallmark_kb, tmp_path, seed):
    counts = {**dict.fromkeys(DEFAULT_TASK_COUNTS, 2), "claims": 6, "data_celltypes": 1}
    tasks = make_tasks(hallmark_kb, folder=tmp_path, seed=seed, counts=counts)
    seen = _assert_family_checks(tasks)
    want = set(DEFAULT_TASK_COUNTS) - {"multistep"}  # the tiny store: too few TF targets
    assert want <= seen, want - seen


@pytest.mark.parametrize("seed", SEEDS)
def test_kb_families_on_the_reference_store(reference_kb, tmp_path, seed):
    counts = {f: DEFAULT_TASK_COUNTS[f] for f in KB_FAMILIES}
    tasks = make_tasks(reference_kb, folder=tmp_path, seed=seed, counts=counts)
    assert _assert_family_checks(tasks) == set(KB_FAMILIES)


def test_data_families_on_the_reference_store(reference_kb, tmp_path):
    counts = {"data_perturbation": 3, "data_marker": 1, "data_edges": 3, "multistep": 3}
    tasks = make_tasks(reference_kb, folder=tmp_path, seed=0, counts=counts)
    assert _assert_family_checks(tasks) == set(counts)


def test_hallmark_keywords_cannot_name_another_set():
    """A keyword of one set matches neither the name nor a keyword of a non-sibling set,
    and each set's name in words is read as that set."""
    for a, kws in HALLMARK_KEYWORDS.items():
        assert hallmark_named(" ".join(hallmark_words(a))) == [a]
        for b, other in HALLMARK_KEYWORDS.items():
            if a == b:
                continue
            for kw in kws:
                shared = _siblings(a, b) and kw in other
                if shared:
                    continue
                hit = re.search(_keyword_pattern(kw), " ".join(hallmark_words(b)), re.I)
                assert hit is None, f"{a} keyword {kw!r} matches the name of {b}"
                for kw2 in other:
                    assert not re.fullmatch(_keyword_pattern(kw), kw2, re.I), (a, kw, b, kw2)


@pytest.mark.parametrize(
    ("answer", "target", "ok"),
    [
        ("fatty acid metabolism", "HALLMARK_HEME_METABOLISM", False),  # passed before
        ("heme biosynthetic process (GO:0006783)", "HALLMARK_HEME_METABOLISM", True),
        ("erythrocyte differentiation", "HALLMARK_HEME_METABOLISM", True),
        ("response to UV (GO:0009411)", "HALLMARK_UV_RESPONSE_UP", True),  # was unsolvable
        ("cellular response to UV", "HALLMARK_UV_RESPONSE_DN", True),
        ("UV response up", "HALLMARK_UV_RESPONSE_DN", False),  # the sibling by name
        ("fatty acid beta-oxidation and heme", "HALLMARK_HEME_METABOLISM", False),
        ("type I interferon signaling", "HALLMARK_INTERFERON_GAMMA_RESPONSE", False),
        ("interferon-gamma-mediated signaling", "HALLMARK_INTERFERON_GAMMA_RESPONSE", True),
    ],
)
def test_hallmark_checker(answer, target, ok):
    task = Task("t", "naming_hallmark", "q", {"set": target, "reference": ""})
    assert check(task, answer) is ok


def test_families_are_one_registry():
    assert list(DEFAULT_TASK_COUNTS) == [
        "qa_process", "qa_targets", "naming_go", "naming_hallmark", "claims",
        "data_perturbation", "data_celltypes", "data_marker", "data_edges", "multistep",
    ]  # fmt: skip
    assert set(TASK_FAMILIES.names()) == set(DEFAULT_TASK_COUNTS)
    for name in TASK_FAMILIES.names():
        fam = TASK_FAMILIES.get(name)
        assert fam.name == name and fam.rule and fam.default_count >= 1


def test_unknown_family_is_a_clear_error(kb, tmp_path):
    import virtualcell as vc

    with pytest.raises(vc.ValidationError, match="unknown task family qa_proces"):
        make_tasks(kb, folder=Path(tmp_path), counts={"qa_proces": 1})
