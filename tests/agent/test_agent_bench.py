"""The agent benchmark: task generation from owned ground truth, checkers, runner, CLI."""

from __future__ import annotations

import json

import pytest

import virtualcell as vc
from virtualcell.agent._bench import keyword_router, run_benchmark, select_tasks
from virtualcell.agent._tasks import DEFAULT_COUNTS, FAMILIES, Task, check, make_tasks

SMALL = {
    "qa_process": 2,
    "qa_targets": 1,
    "naming_go": 2,
    "naming_hallmark": 1,
    "claims": 3,
    "data_perturbation": 1,
    "data_celltypes": 1,
    "data_marker": 1,
    "data_edges": 1,
    "multistep": 1,
}


def test_default_task_set_is_large_enough():
    assert sum(DEFAULT_COUNTS.values()) >= 80 and set(DEFAULT_COUNTS) == set(FAMILIES)


@pytest.mark.parametrize(
    ("family", "truth", "good", "bad"),
    [
        (
            "qa_process",
            {"go_ids": ["GO:0030218"], "names": ["erythrocyte differentiation"]},
            "KLF1 is involved in erythrocyte differentiation.",
            "KLF1 is involved in insulin secretion.",
        ),
        (
            "qa_targets",
            {"tf": "KLF1", "targets": ["HBB"]},
            "KLF1 regulates HBB.",
            "KLF1 regulates HBBP1.",
        ),
        (
            "qa_targets",
            {"tf": "KLF1", "targets": ["HBB"]},
            "KLF1 regulates HBB.",
            "KLF1 regulates HBB, GATA1, TP53 and MDM2.",
        ),  # padded: passed before
        (
            "naming_go",
            {"go_ids": ["GO:0030218"], "names": ["x"]},
            "It is GO:0030218.",
            "It is GO:0030219.",
        ),
        (
            "naming_go",
            {"go_ids": ["GO:0030218"], "names": ["erythrocyte differentiation"]},
            "erythrocyte differentiation",
            "regulation of erythrocyte differentiation (GO:0045646)",  # passed before
        ),
        ("naming_hallmark", {"set": "HALLMARK_HYPOXIA"}, "response to hypoxia", "glycolysis"),
        (
            "naming_hallmark",
            {"set": "HALLMARK_HEME_METABOLISM"},
            "heme biosynthetic process",
            "fatty acid metabolism",  # passed before: "metabolism" was a keyword
        ),
        (
            "claims",
            {"label": "contradicted"},
            "Verdict: contradicted (not supported).",
            "supported, not contradicted",
        ),
        ("claims", {"label": "supported"}, "Verdict: supported.", "The claim is not supported."),
        (
            "data_perturbation",
            {"answer": "G2", "perturbations": ["G1", "G2", "G12"]},
            "G2 changes G5 most",
            "G12 or G2",
        ),
        (
            "data_perturbation",
            {"answer": "G2", "perturbations": ["G1", "G2", "G12"]},
            "G2",
            "G2, G1, G12",  # every perturbation: passed before
        ),
        ("data_celltypes", {"answer": 3}, "There are three cell types.", "2 or 3"),
        ("data_celltypes", {"answer": 3}, "3 cell types", "3 or 4 cell types"),
        (
            "data_marker",
            {"answer": "c2", "clusters": ["c1", "c2", "c3"]},
            "Cluster c2.",
            "c1 then c2",
        ),
        (
            "data_edges",
            {"candidates": ["A->B", "A->C", "A->D"], "supported": ["A->B", "A->C"]},
            "A->B and A -> C",
            "A->B, A->D",
        ),
        ("data_edges", {"candidates": ["A->B", "A->C"], "supported": []}, "None.", "Unclear."),
        (
            "multistep",
            {"perturbation": "TP53", "go_ids": ["GO:0006915"], "names": ["apoptotic process"]},
            "TP53 changes it; enriched: apoptotic process",
            "MDM2 changes it; apoptotic process",
        ),
        (
            "multistep",
            {
                "perturbation": "TP53",
                "perturbations": ["TP53", "MDM2"],
                "go_ids": ["GO:0006915"],
                "names": ["apoptotic process"],
            },
            "TP53 changes it; enriched: apoptotic process",
            "MDM2 or TP53 changes it; apoptotic process",  # passed before
        ),
    ],
)
def test_checkers(family, truth, good, bad):
    t = Task("t", family, "q", truth)
    assert check(t, good) and not check(t, bad) and not check(t, "")


def test_tasks_generated_from_owned_truth(kb, tmp_path):
    tasks = make_tasks(kb, folder=tmp_path, seed=0, counts=SMALL)
    again = make_tasks(kb, folder=tmp_path / "again", seed=0, counts=SMALL)
    assert [t.to_dict() for t in tasks] == [
        {
            **t.to_dict(),
            "data": t.data.replace(str(tmp_path / "again"), str(tmp_path)) if t.data else None,
        }
        for t in again
    ]
    fams = {t.family for t in tasks}
    assert {"qa_process", "qa_targets", "claims", "data_perturbation", "data_celltypes"} <= fams
    assert "naming_hallmark" not in fams  # the tiny store has no Hallmark library
    by_claim = {t.truth["claim"]: t.truth["label"] for t in tasks if t.family == "claims"}
    for claim, label in by_claim.items():  # labels by construction agree with the verifier here
        assert kb.verify(claim, mode="lexical").label == label, claim
    targets = next(t for t in tasks if t.family == "qa_targets")
    tf = targets.question.rstrip(".").split()[-1]
    assert set(targets.truth["targets"]) == set(kb.targets(tf)["target"]) - {tf}
    data = [t for t in tasks if t.data]
    assert data and all((tmp_path / "data").exists() for _ in data)
    import anndata as ad

    a = ad.read_h5ad(next(t.data for t in tasks if t.family == "data_celltypes"))
    assert (
        "cell_type" not in a.obs
        and "true_network" not in a.uns
        and "true_expression" not in a.layers
    )
    assert json.loads((tmp_path / "tasks.json").read_text())[0]["id"] == tasks[0].id


def test_select_tasks_round_robin():
    tasks = [Task(f"{f}-{i}", f, "q", {}) for f in FAMILIES for i in range(3)]
    picked = select_tasks(tasks, 12)
    assert [t.family for t in picked[:10]] == list(FAMILIES) and len(picked) == 12


def test_run_benchmark_scripted_and_baselines(kb, tmp_path):
    counts = {**SMALL, "data_celltypes": 0}  # k-means over k is the slow part; tested above
    res = run_benchmark("scripted", kb=kb, folder=tmp_path, seed=0, counts=counts)
    assert res["backend"] == "scripted" and res["system"] == "reference_solver"
    assert res["kind"] == "reference_solver" and res["tasks"] == sum(
        r["n"] for r in res["by_family"].values()
    )
    assert set(res["baselines"]) == {"keyword_router", "top_enrichment", "majority"}
    assert 0.5 <= res["success_rate"] <= 1.0 and res["valid_call_rate"] == 1.0
    assert res["by_family"]["qa_targets"]["success_rate"] == 1.0
    assert res["by_family"]["claims"]["success_rate"] == 1.0
    assert (
        res["baselines_by_family"]["keyword_router"].get("multistep", 0.0) == 0.0
    )  # one call only
    rows = json.loads((tmp_path / "results-scripted.json").read_text())["rows"]
    assert len(rows) == res["tasks"] and (tmp_path / "results-scripted.md").read_text().startswith(
        "| family"
    )
    logs = list((tmp_path / "runs" / "scripted").glob("*/provenance.jsonl"))
    assert len(logs) == res["tasks"]


def test_keyword_router_answers_claims(kb):
    from virtualcell.agent import Toolbox

    text, n = keyword_router(
        "Is the claim 'TP53 activates CDKN1A' supported, contradicted or unknown?", Toolbox(kb=kb)
    )
    assert text == "Verdict: supported." and n == 1


def test_keyword_router_routes_edge_questions_to_knockout_support(kb, tmp_path):
    """A data question quotes its handle ('data'): that is not a claim to verify."""
    from virtualcell.agent import Toolbox

    counts = {"data_edges": 2}
    tasks = [t for t in make_tasks(kb, folder=tmp_path, seed=0, counts=counts)]
    assert tasks
    calls = []
    tb = Toolbox(kb=kb)
    real = tb.call
    tb.call = lambda tool, args: calls.append(tool) or real(tool, args)
    keyword_router(tasks[0].question, tb)
    assert calls == ["knockout_support"]


def test_cli_bench_json(agent_kb_path, tmp_path, monkeypatch):
    import virtualcell.agent._tasks as tasks_mod
    from virtualcell.cli import main

    monkeypatch.setattr(tasks_mod, "DEFAULT_COUNTS", {"qa_targets": 1, "claims": 3})
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(
            [
                "agent",
                "bench",
                "--backend",
                "scripted",
                "--tasks",
                "3",
                "--seed",
                "1",
                "--kb",
                str(agent_kb_path),
                "--out",
                str(tmp_path),
                "--json",
            ]
        )
    assert code == 0
    out = json.loads(buf.getvalue())
    assert {"backend", "tasks", "success_rate", "by_family", "baselines"} <= set(out)
    assert out["backend"] == "scripted" and out["tasks"] == 3 and out["seed"] == 1


def test_evaluate_returns_one_row_per_task_and_metric(kb, tmp_path):
    counts = {"qa_process": 2, "qa_targets": 1, "claims": 3}
    res = vc.agent.evaluate("scripted", kb=kb, folder=tmp_path, seed=0, counts=counts)
    assert isinstance(res, vc.metrics.EvalResult) and res.task == "agent"
    t = res.table
    assert list(t.columns[:9]) == list(vc.metrics.EVAL_COLUMNS)
    solver = t[t["method"] == "reference_solver"]
    succ = solver[solver["metric"] == "success_rate"]
    assert len(succ) == res["tasks"] and set(succ["value"]) <= {0.0, 1.0}
    assert succ["unit"].is_unique and not solver["baseline"].any()
    assert res.value("reference_solver", "success_rate") == pytest.approx(res["success_rate"])
    rows = json.loads((tmp_path / "results-scripted.json").read_text())["rows"]
    assert dict(zip(succ["unit"], succ["value"], strict=True)) == {
        r["task"]: float(r["success"]) for r in rows
    }
    router = t[(t["method"] == "keyword_router") & (t["metric"] == "success_rate")]
    assert router["baseline"].all() and len(router) == res["tasks"]
    assert res.meta["kinds"] == {
        "reference_solver": "reference_solver",
        "keyword_router": "baseline",
        "majority": "baseline",
    }
    assert set(t.loc[t["method"] == "keyword_router", "metric"]) == {"success_rate"}


def test_run_benchmark_follows_the_output_rule(kb, tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(vc.ValidationError, match="not empty"):
        run_benchmark("scripted", kb=kb, folder=tmp_path, seed=0, n_tasks=1)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]  # refused before any work


def test_each_family_declares_the_baselines_that_answer_it():
    """The family registry is the one table: majority answers, top-enrichment families and
    the bench adapter's applicability all come from it."""
    from virtualcell.agent._baselines import majority_answers
    from virtualcell.bench._agent import applicable

    fams = vc.agent.TASK_FAMILIES
    naming = {f for f in fams.names() if "top_enrichment" in fams.get(f).baselines}
    assert naming == {"naming_go", "naming_hallmark"}
    tasks = [
        Task("a", "claims", "q", {"label": "unknown"}),
        Task("b", "claims", "q", {"label": "unknown"}),
        Task("c", "claims", "q", {"label": "supported"}),
        Task("d", "data_celltypes", "q", {"answer": 3}),
        Task("e", "qa_targets", "q", {"answer": "HBB"}),
    ]
    assert majority_answers(tasks) == {"claims": "Verdict: unknown.", "data_celltypes": "3"}
    assert applicable(None, "naming_go", "top_enrichment") is None
    assert "answers only naming_go, naming_hallmark" in applicable(None, "claims", "top_enrichment")
    assert applicable(None, "qa_targets", "majority") is not None
    assert applicable(None, "qa_targets", "keyword_router") is None


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], None),
        (["--small-model"], "small"),
        (["--small-model", "--no-guide"], "small-no-guide"),
    ],
)
def test_cli_small_model_rules_for_any_backend(monkeypatch, tmp_path, flags, expected):
    import virtualcell.agent._bench as bench_mod
    from virtualcell.agent._bench_rows import SMALL_MODEL_OPTIONS, default_agent_options
    from virtualcell.cli import main

    seen = {}

    def fake_run_benchmark(backend, **kwargs):
        seen["backend"], seen["agent_options"] = backend, kwargs["agent_options"]
        return {"backend": backend}

    monkeypatch.setattr(bench_mod, "run_benchmark", fake_run_benchmark)
    argv = ["agent", "bench", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
            "--model", "m", "--out", str(tmp_path / "o"), "--json", *flags]  # fmt: skip
    assert main(argv) == 0
    assert seen["backend"] == "openai"
    opts = default_agent_options("openai", seen["agent_options"])
    if expected is None:  # the openai default: constrained replies only
        assert seen["agent_options"] is None and opts == {"constrain": True}
    else:  # the local backend's rules, explicit flags on top
        assert {k: opts[k] for k in SMALL_MODEL_OPTIONS} == {
            **SMALL_MODEL_OPTIONS,
            **({"guide": False} if expected == "small-no-guide" else {}),
        }
        assert default_agent_options("local", None) == {"constrain": True, **SMALL_MODEL_OPTIONS}


def test_bench_json_carries_the_openai_schema_stats_and_memory_rounds(kb, chat_server, tmp_path):
    """An OpenAI-compatible server on 127.0.0.1 (scripted: its first reply ignores the
    schema): the bench JSON counts the requests per ``response_format`` form and the
    replies that violated the schema; memory rounds report each task off and on."""
    bodies = []

    def answer(body):
        bodies.append(body)
        first = "response_format" in body and all("response_format" not in b for b in bodies[:-1])
        return 200, ("plain words" if first else '{"answer": ["done"]}'), "stop"

    srv = chat_server(answer=answer)
    res = vc.agent.run_benchmark(
        "openai", kb=kb, folder=tmp_path / "b", seed=0, n_tasks=2, max_steps=1,
        counts={"qa_targets": 1, "claims": 1}, baselines=False, rounds=2, memory=True,
        base_url=srv.url, model="m",
    )  # fmt: skip
    st = res["schema_stats"]
    sent = [b.get("response_format", {}).get("type", "none") for b in bodies]
    assert sum(st["requests"].values()) == len(bodies) > 2
    assert st["requests"]["json_schema"] == sent.count("json_schema") == 1
    assert st["requests"]["json_object_schema"] == sent.count("json_object") > 0
    assert st["requests"]["none"] == sent.count("none") > 0  # the free-text plans
    assert st["violations"] >= 1 and st["first"].startswith("[json_schema] not JSON")
    assert st["level"] == "json_object_schema" and st["refused"] == 0
    assert res["tokens_per_task"] is not None and res["median_seconds_per_task"] is not None
    assert set(res["load_average"]) == {"start", "end"}
    assert [r["round"] for r in res["rounds"]] == [0, 1]
    for r in res["rounds"]:
        assert len(r["by_task"]) == r["tasks"] == 2
        assert {"task", "family", "off", "on", "tools_on", "memory_choices", "stored"} <= set(
            r["by_task"][0]
        )
        assert r["memory_on"] == sum(t["on"] for t in r["by_task"]) / 2
    # a backend that constrains its own decoding has no such counts
    assert vc.agent.run_benchmark("scripted", kb=kb, folder=tmp_path / "s", n_tasks=1,
                                  baselines=False)["schema_stats"] is None  # fmt: skip


def test_cli_bench_text_reports_each_memory_round(agent_kb_path, chat_server, tmp_path, capsys):
    import virtualcell.agent._tasks as tasks_mod
    from virtualcell.cli import main

    srv = chat_server(answer=lambda body: (200, '{"answer": ["done"]}', "stop"))
    counts = {"qa_targets": 1}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tasks_mod, "DEFAULT_COUNTS", counts)
        code = main(["agent", "bench", "--backend", "openai", "--base-url", srv.url, "--model",
                     "m", "--tasks", "1", "--kb", str(agent_kb_path), "--out",
                     str(tmp_path / "b"), "--no-baselines", "--rounds", "2", "--memory"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    lines = [x for x in out.splitlines() if x.startswith("round ")]
    assert len(lines) == 2 and lines[1].startswith("round 1 (seed 1, 1 tasks): memory off")
    assert "the memory acted on 0 choices and changed 0" in lines[1]
