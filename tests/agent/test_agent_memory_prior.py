"""Memory that can change a decision: the retrieved verified runs' tool sequences are a
prior of the branch choice (``_memory.tool_prior``, ``_choose.choose_branch(prior=)``)
and, where the question names no answer kind, the most similar run's kinds guide."""

from __future__ import annotations

import pytest

import virtualcell as vc
from virtualcell._utils import write_json
from virtualcell.agent._choose import MEMORY_WEIGHT, choose_branch
from virtualcell.agent._guide import guide_branches
from virtualcell.agent._memory import (
    MEMORY_VERSION,
    Memory,
    memory_kinds,
    question_similarity,
    tool_prior,
)

Q = "Name a target gene regulated by the transcription factor KLF1."
Q2 = "Name a target gene regulated by the transcription factor GATA1."


def _run(question, tools):
    return {"question": question, "plan": "", "answer": "x", "citations": [],
            "calls": [{"tool": t, "arguments": {}, "observation": ""} for t in tools]}  # fmt: skip


def _branch(const):
    return {"properties": {"tool": {"const": const}, "args": {}}}


_ANSWER = {"properties": {"answer": {"type": "array"}}}


def test_question_similarity_is_high_for_one_template_low_across():
    assert question_similarity(Q, Q) == 1.0
    assert question_similarity(Q, Q2) > 0.75
    assert question_similarity(Q, "How many cell types does the data hold?") < 0.1
    assert question_similarity("", "") == 0.0


def test_tool_prior_is_the_similarity_of_the_best_run_that_took_each_branch():
    runs = [(_run("a", ["enrich", "go_term"]), 0.8), (_run("b", ["go_annotations"]), 0.6)]
    first = tool_prior(runs, 0, ["enrich", "go_annotations", "tf_targets", None])
    assert first == {"enrich": 0.8, "go_annotations": 0.6, "tf_targets": 0.0, None: 0.0}
    # after one call: run a called go_term next, run b answered
    assert tool_prior(runs, 1, ["go_term", None]) == {"go_term": 0.8, None: 0.6}
    assert tool_prior(runs, 2, ["go_term", None]) == {"go_term": 0.0, None: 0.8}
    assert tool_prior([], 0, ["enrich"]) == {"enrich": 0.0}
    # a run of another question template (similarity below 0.5) gives no prior
    assert tool_prior([(_run("c", ["go_annotations"]), 0.16)], 0, ["go_annotations"]) == {
        "go_annotations": 0.0
    }


class _Scorer(vc.agent.ScriptedBackend):
    """Scores every card alike and prefers ``go_annotations`` by 1 nat at an opening."""

    def score(self, messages, continuations):
        if messages[-1]["content"].startswith("Tool "):
            return [-10.0 if "go annotations" in messages[-1]["content"] else -10.5]
        return [0.0 if "go_annotations" in c else -1.0 for c in continuations]


@pytest.mark.parametrize("rule", ["channel", "opening"])
def test_a_remembered_run_outweighs_a_small_score_difference(rule):
    schema = {"anyOf": [_branch("enrich"), _branch("go_annotations")]}
    desc = {"enrich": "Gene-set enrichment.", "go_annotations": "GO annotations."}
    kw = {"rule": rule, "question": "What do these genes share?", "descriptions": desc}
    b = _Scorer([])
    without, _ = choose_branch(b, [{"role": "user", "content": "q"}], schema, **kw)
    assert without["properties"]["tool"]["const"] == "go_annotations"
    prior = {"enrich": 0.9, "go_annotations": 0.0}
    got, scores = choose_branch(b, [{"role": "user", "content": "q"}], schema, prior=prior, **kw)
    assert got["properties"]["tool"]["const"] == "enrich"
    key = '{"tool":"enrich","args":'
    mem = scores[key]["memory"] if rule == "channel" else scores["memory"][key]
    assert mem == pytest.approx(MEMORY_WEIGHT * 0.9)
    # a weak prior (a dissimilar run) does not outweigh the model
    weak, _ = choose_branch(b, [{"role": "user", "content": "q"}], schema,
                            prior={"enrich": 0.05}, **kw)  # fmt: skip
    assert weak["properties"]["tool"]["const"] == "go_annotations"


def test_remembered_kinds_guide_only_where_the_question_names_none():
    kinds = {"enrich": "process", "tf_targets": "gene"}
    branches = [_branch("enrich"), _branch("tf_targets"), _ANSWER]
    runs = [(_run("q", ["tf_targets"]), 0.9)]
    recalled = memory_kinds(runs, kinds)
    assert recalled == ["gene"]
    assert memory_kinds([(_run("q", ["tf_targets"]), 0.2)], kinds) == []  # not similar
    q = "Tell me about SOX2."  # no which/what/name ... noun: the kinds are unknown
    kept, _ = guide_branches(branches, q, [], kinds)
    assert len(kept) == 3
    kept, _ = guide_branches(branches, q, [], kinds, recalled)
    assert [b["properties"]["tool"]["const"] for b in kept] == ["tf_targets"]
    # the question's own kinds win over the memory's
    kept, _ = guide_branches(branches, "Which process is it?", [], kinds, recalled)
    assert [b["properties"]["tool"]["const"] for b in kept] == ["enrich"]


def _memory(path, runs):
    write_json(path, {"version": MEMORY_VERSION, "runs": runs})
    return Memory(path)


def test_the_agent_scores_with_the_retrieved_runs(kb, tmp_path):
    mem = _memory(tmp_path / "m.json", [_run(Q2, ["go_annotations"])])
    replies = ['{"tool": "tf_targets", "args": {"tf": "KLF1"}}', '{"answer": ["HBB"]}']

    def first_choices(weight):
        agent = vc.agent.Agent(
            _Scorer(list(replies)), kb=kb, workspace=vc.agent.Workspace(tmp_path / f"w{weight}"),
            plan=False, max_tools=5, ground_arguments=True, choice="channel", memory=mem,
            memory_weight=weight,
        )  # fmt: skip
        agent.run(Q)
        return agent.steps.actions()[0].model.choices

    on = first_choices(MEMORY_WEIGHT)
    sim = question_similarity(Q, Q2)
    assert on['{"tool":"go_annotations","args":']["memory"] == pytest.approx(MEMORY_WEIGHT * sim)
    assert on['{"tool":"tf_targets","args":']["memory"] == 0.0
    off = first_choices(0.0)
    assert all("memory" not in v for v in off.values() if isinstance(v, dict))
    with pytest.raises(vc.ValidationError, match="memory_weight"):
        vc.agent.Agent(_Scorer([]), memory_weight=-1.0)
