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
    MIN_SIMILARITY,
    Memory,
    entity_coverage,
    mask_entities,
    memory_kinds,
    question_entities,
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


NAMING_GO = "Which biological process (GO term) best describes this gene set: {}?"
HALLMARK = "What biological process or pathway do these genes share: {}?"


def test_question_similarity_is_high_for_one_template_low_across():
    assert question_similarity(Q, Q) == 1.0
    assert question_similarity(Q, Q2) == 1.0  # only the TF differs: masked
    assert question_similarity(Q, "How many cell types does the data hold?") < 0.1
    assert question_similarity("", "") == 0.0


def test_masked_similarity_matches_instances_of_a_template_not_other_templates():
    go_a = NAMING_GO.format("BID, CRADD, DAB2IP, HLA-DRA, AC139530.1, DEFB103B")
    go_b = NAMING_GO.format("ABL1, BNC2, EHMT2, FGF8, GATA4, HEY2")
    hm = HALLMARK.format("ARHGEF9, ATRX, CAP2, CDC42BPA, COL1A1, ERBB2, IGFBP5")
    # two instances of one template share their words but not their genes: the raw
    # word sets overlapped by ~0.3 (below the prior's floor); masked they are equal
    assert mask_entities(go_a) == mask_entities(go_b)
    assert mask_entities(go_a).endswith("gene set: ent_gene, ent_gene, ent_gene, "
                                         "ent_gene, ent_gene, ent_gene?")  # fmt: skip
    assert question_similarity(go_a, go_b) == 1.0
    # different templates stay below the floor, even with the same genes
    assert question_similarity(go_a, HALLMARK.format("BID, CRADD, DAB2IP")) < MIN_SIMILARITY
    assert question_similarity(go_a, hm) < MIN_SIMILARITY
    assert question_similarity(Q, go_a) < MIN_SIMILARITY
    claim = "According to the knowledge base, is the claim '{}' supported, contradicted or unknown?"
    assert question_similarity(claim.format("KLF1 activates HBB"),
                               claim.format("SOX2 represses NANOG")) >= MIN_SIMILARITY  # fmt: skip
    # every entity kind has its own placeholder; the question's own words stay
    masked = mask_entities("Is HALLMARK_MYOGENESIS like GO:0046854 with 12 genes, edge "
                           "GATA1->KLF1, cluster c3 of type_2 and Sox2 in the GO term (TF)?")  # fmt: skip
    assert masked == ("Is ent_hallmark like ent_go with ent_num genes, edge ent_edge, cluster "
                      "ent_label of ent_label and ent_gene in the GO term (TF)?")  # fmt: skip
    assert question_entities("Edge GATA1->KLF1 and SOX2, GO:0046854, SOX2?") == [
        "GATA1->KLF1", "GO:0046854", "SOX2"
    ]  # fmt: skip


def test_entity_coverage_is_the_share_of_the_question_the_calls_used():
    q = NAMING_GO.format("BID, CRADD, DAB2IP, HLA-DRA")
    whole = _run(q, ["enrich"])
    whole["calls"][0]["arguments"] = {"genes": ["BID", "CRADD", "DAB2IP", "HLA-DRA"]}
    one = _run(q, ["go_annotations"])
    one["calls"][0]["arguments"] = {"gene": "BID"}
    assert entity_coverage(whole) == 1.0 and entity_coverage(one) == 0.25
    # a symbol that is a prefix of another is not counted as named (HLA in HLA-DRA)
    part = _run(NAMING_GO.format("HLA, HLA-DRA"), ["go_annotations"])
    part["calls"][0]["arguments"] = {"gene": "HLA-DRA"}
    assert entity_coverage(part) == 0.5
    assert entity_coverage(_run("How many cell types are there?", ["count_cell_types"])) == 1.0


def test_tool_prior_is_the_similarity_weighted_vote_of_same_template_runs():
    runs = [(_run("a", ["enrich", "go_term"]), 0.8), (_run("b", ["go_annotations"]), 0.6),
            (_run("c", ["enrich"]), 1.0)]  # fmt: skip
    first = tool_prior(runs, 0, ["enrich", "go_annotations", "tf_targets", None])
    assert first == pytest.approx(
        {"enrich": 1.8 / 2.4, "go_annotations": 0.6 / 2.4, "tf_targets": 0.0, None: 0.0}
    )
    # after one call: run a called go_term next, runs b and c answered
    assert tool_prior(runs, 1, ["go_term", None]) == pytest.approx(
        {"go_term": 0.8 / 2.4, None: 1.6 / 2.4}
    )
    assert tool_prior([], 0, ["enrich"]) == {"enrich": 0.0}
    # unanimous runs of the same template: the prior is their similarity
    assert tool_prior([(_run("a", ["enrich"]), 0.9)] * 2, 0, ["enrich"]) == {
        "enrich": pytest.approx(0.9)
    }
    # a run of another question template (similarity below 0.5) gives no prior
    assert tool_prior([(_run("c", ["go_annotations"]), 0.16)], 0, ["go_annotations"]) == {
        "go_annotations": 0.0
    }
    # a run whose calls used one of its question's 4 genes votes a quarter
    q = NAMING_GO.format("BID, CRADD, DAB2IP, HLA-DRA")
    one = _run(q, ["go_annotations"])
    one["calls"][0]["arguments"] = {"gene": "BID"}
    assert tool_prior([(one, 1.0)], 0, ["go_annotations"]) == {"go_annotations": 0.25}


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
    stored = _run(Q2, ["go_annotations"])
    stored["calls"][0]["arguments"] = {"gene": "GATA1"}  # the question's one entity
    mem = _memory(tmp_path / "m.json", [stored])
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


def test_a_same_template_run_turns_the_agents_wrong_first_tool(kb, tmp_path):
    """The agent alone takes the tool the model's scores prefer (``go_annotations``, one
    gene's annotations for a gene-set question); a verified run of another instance of
    the same template that enriched its whole gene list turns the choice to ``enrich``
    (only among the branches the reply schema offers); a run of another template or one
    that used one gene of its list does not."""
    q = NAMING_GO.format("KLF1, GATA1, HBB")
    past = _run(NAMING_GO.format("SOX2, NANOG, POU5F1"), ["enrich"])
    past["calls"][0]["arguments"] = {"genes": ["SOX2", "NANOG", "POU5F1"]}
    lazy = _run(NAMING_GO.format("SOX2, NANOG, POU5F1"), ["go_annotations"])
    lazy["calls"][0]["arguments"] = {"gene": "SOX2"}
    other = _run("Name a target gene regulated by the transcription factor SOX2.", ["enrich"])
    other["calls"][0]["arguments"] = {"genes": ["SOX2"]}

    def first_tool(runs, name):
        mem = _memory(tmp_path / f"{name}.json", runs)
        b = _Scorer(['{"answer": ["x"]}'] * 8)
        agent = vc.agent.Agent(
            b, kb=kb, workspace=vc.agent.Workspace(tmp_path / name), plan=False, max_tools=5,
            ground_arguments=True, choice="channel", memory=mem, max_steps=1,
        )  # fmt: skip
        agent.run(q)
        choices = agent.steps.model_calls()[0].choices
        assert {'{"tool":"enrich","args":', '{"tool":"go_annotations","args":'} <= set(choices)
        mem_part = {k[9:-9]: v.get("memory", 0.0) for k, v in choices.items() if "{" in k}
        return b.schemas[0]["properties"]["tool"]["const"], mem_part

    assert first_tool([], "none")[0] == "go_annotations"  # the model's scores alone
    tool, prior = first_tool([past], "past")
    assert tool == "enrich" and prior == {"enrich": MEMORY_WEIGHT, "go_annotations": 0.0,
                                          "kb_search": 0.0}  # fmt: skip
    assert first_tool([other], "other")[0] == "go_annotations"  # another template: no prior
    # a split vote: the run that enriched its whole list outweighs the one that read one
    # of its three genes, but not by enough to overturn the scores' 1.6 margin here
    tool, prior = first_tool([lazy, past], "both")
    assert prior["enrich"] == pytest.approx(MEMORY_WEIGHT / 2)
    assert prior["go_annotations"] == pytest.approx(MEMORY_WEIGHT / 6)
    assert tool == "go_annotations"


def test_memory_effect_reads_whether_the_prior_acted_and_flipped_a_choice():
    from virtualcell.agent._choose import memory_effect

    e, g = '{"tool":"enrich","args":', '{"tool":"go_annotations","args":'
    channel = {
        "rule": "channel",
        e: {"score": 3.2, "memory": 3.0},
        g: {"score": 1.8, "memory": 0.0},
    }
    assert memory_effect(channel) == (True, True)  # 0.2 < 1.8 without the memory
    same = {"rule": "channel", e: {"score": 5.0, "memory": 3.0}, g: {"score": 1.8, "memory": 0.0}}
    assert memory_effect(same) == (True, False)
    opening = {e: -1.0, g: 0.5, "memory": {e: 0.0, g: 3.0}}  # opening rule: scores include it
    assert memory_effect(opening) == (True, True)
    assert memory_effect({e: -1.0, g: -2.5}) == (False, False)
    assert memory_effect({"rule": "channel", e: {"score": 1.0, "memory": 0.0}}) == (False, False)
    assert memory_effect(None) == (False, False)
