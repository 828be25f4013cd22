"""After a tool result (agent/_guide.py): the kinds a question asks for guide the
branches (chain while an asked kind is not covered, answer once all are), the answer
names one value of each result of an asked kind chosen by a scoring rule, and the tool
cards of the channel rule describe the required arguments (no output-column lists)."""

from __future__ import annotations

import pytest

import virtualcell as vc
from virtualcell.agent._choose import channel_scores, tool_card
from virtualcell.agent._evidence import asked_kind, asked_kinds
from virtualcell.agent._guide import (
    answer_candidates,
    answer_schema,
    choose_answer,
    guide_branches,
)

MULTI = (
    "In the data (handle 'data'), find the perturbation that changes G1 the most, list the "
    "known targets of that perturbed gene in the knowledge base, and name a biological "
    "process enriched among those targets."
)
TARGETS = "Name a target gene regulated by the transcription factor TP53."
CHAIN = (
    "List the known targets of the transcription factor TP53 and name a biological process "
    "they are annotated to."
)
KINDS = {
    "perturbation_effects": "perturbation",
    "tf_targets": "gene",
    "tf_regulators": "gene",
    "go_annotations": "process",
    "enrich": "process",
    "gene_info": None,
}


def _call(name):
    return {"properties": {"tool": {"const": name}, "args": {}}}


ANSWER = {"properties": {"answer": {"type": "array"}}}


def _names(branches):
    return [b["properties"].get("tool", {}).get("const") for b in branches]


def test_asked_kinds_lists_every_step_in_order():
    assert asked_kinds(MULTI) == ["perturbation", "gene", "process"]
    assert asked_kind(MULTI) == "process"  # the memory's evidence check is unchanged
    assert asked_kinds(TARGETS) == ["gene"]
    assert asked_kinds("How many distinct cell types are in the data?") == ["number"]
    assert asked_kinds("Tell me about TP53.") == []


def test_guide_keeps_calls_of_the_first_uncovered_kind_then_only_the_answer():
    br = [_call("gene_info"), _call("tf_targets"), _call("perturbation_effects"),
          _call("go_annotations"), ANSWER]  # fmt: skip
    kept, why = guide_branches(br, MULTI, [], KINDS)
    assert _names(kept) == ["perturbation_effects"] and "perturbation" in why
    kept, _ = guide_branches(br, MULTI, ["perturbation_effects"], KINDS)
    assert _names(kept) == ["tf_targets"]  # the answer branch is gone: chain
    kept, _ = guide_branches(br, MULTI, ["perturbation_effects", "tf_targets"], KINDS)
    assert _names(kept) == ["go_annotations"]
    done = ["perturbation_effects", "tf_targets", "go_annotations"]
    kept, why = guide_branches(br, MULTI, done, KINDS)
    assert _names(kept) == [None] and "all covered" in why
    # a tool without a kind covers nothing; unknown question kinds keep every branch
    kept, _ = guide_branches(br, TARGETS, ["gene_info"], KINDS)
    assert _names(kept) == ["tf_targets"]
    kept, why = guide_branches(br, "Tell me about TP53.", [], KINDS)
    assert kept == br and "unknown" in why
    # no offered tool gives the missing kind: every branch stays
    kept, _ = guide_branches([_call("gene_info"), ANSWER], TARGETS, [], KINDS)
    assert _names(kept) == ["gene_info", None]


def test_answer_candidates_keep_the_results_of_asked_kinds():
    groups = [["apoptotic process (GO:0006915)"], ["BAX", "CDKN1A", "MDM2"]]
    tools = ["go_annotations", "tf_targets"]
    assert answer_candidates(groups, tools, TARGETS, KINDS) == [["BAX", "CDKN1A", "MDM2"]]
    # no result of an asked kind: every group stays
    assert answer_candidates(groups[:1], tools[:1], TARGETS, KINDS) == groups[:1]
    s = answer_schema(["MDM2"])
    assert s["properties"]["answer"]["prefixItems"] == [{"enum": ["MDM2"]}]
    assert s["properties"]["answer"]["minItems"] == s["properties"]["answer"]["maxItems"] == 1


class _Scorer(vc.agent.ScriptedBackend):
    """Likes the answer branch, the value ``MDM2`` (a prior: it likes it just as much
    with the observations hidden) and ``CDKN1A`` only when it has seen the results."""

    def score(self, messages, continuations):
        if messages[-1]["content"].startswith("Tool "):
            return [-50.0]
        hidden = any(m["content"] == "(result hidden)" for m in messages)
        out = []
        for c in continuations:
            if c == '{"answer":[':
                out.append(5.0)
            elif c.startswith('{"answer":['):
                v = 0.0
                v += 3.0 if "MDM2" in c else 0.0
                v += 2.0 if "CDKN1A" in c and not hidden else 0.0
                out.append(v)
            else:
                out.append(-1.0)
        return out


def test_choose_answer_rules():
    b = _Scorer([])
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": TARGETS},
            {"role": "assistant", "content": "{}"}, {"role": "user", "content": "table"}]  # fmt: skip
    g = [["BAX", "CDKN1A", "MDM2"]]
    assert choose_answer(b, msgs, g, rule="model")[0] == ["MDM2"]
    assert choose_answer(b, msgs, g, rule="rank")[0] == ["BAX"]
    vals, rec = choose_answer(b, msgs, g, rule="contrastive")
    assert vals == ["CDKN1A"]  # the prior for MDM2 cancels; the result raised CDKN1A
    assert rec["groups"][0]["CDKN1A"]["contrastive"] == 2.0
    # a backend that cannot score: no choice is made (the caller keeps free decoding)
    assert choose_answer(vc.agent.ScriptedBackend([]), msgs, g, rule="model") == ([], None)


def _agent(backend, tmp_path, name, kb, **kw):
    return vc.agent.Agent(backend, kb=kb, workspace=vc.agent.Workspace(tmp_path / name),
                          plan=False, max_tools=5, ground_arguments=True, choice="channel",
                          **kw)  # fmt: skip


def test_the_answer_value_is_chosen_by_the_rule_not_decoded(kb, tmp_path):
    replies = ['{"tool": "tf_targets", "args": {"tf": "TP53"}}', '{"answer": ["BAX"]}']
    free = _Scorer(list(replies))
    _agent(free, tmp_path, "free", kb).run(TARGETS)
    items = free.schemas[-1]["properties"]["answer"]["prefixItems"]
    assert items == [{"enum": ["BAX", "CDKN1A", "MDM2"]}]  # before: any of the top rows

    b = _Scorer(list(replies))
    agent = _agent(b, tmp_path, "model", kb, answer_choice="model")
    agent.run(TARGETS)
    assert b.schemas[-1] == answer_schema(["MDM2"])
    assert agent.steps.model_calls()[-1].choices["answer_values"]["answer"] == ["MDM2"]

    r = _Scorer(list(replies))
    _agent(r, tmp_path, "rank", kb, answer_choice="rank").run(TARGETS)
    assert r.schemas[-1] == answer_schema(["BAX"])


def test_guide_chains_where_the_model_would_answer(kb, tmp_path):
    replies = [
        '{"tool": "tf_targets", "args": {"tf": "TP53"}}',
        '{"tool": "go_annotations", "args": {"gene": "BAX"}}',
        '{"answer": ["BAX", "apoptotic process (GO:0006915)"]}',
    ]
    old = _Scorer(list(replies))
    _agent(old, tmp_path, "old", kb).run(CHAIN)
    assert "answer" in old.schemas[1]["properties"]  # the openings chose the answer

    b = _Scorer(list(replies))
    agent = _agent(b, tmp_path, "guide", kb, guide=True, answer_choice="rank")
    ans = agent.run(CHAIN)
    second = b.schemas[1].get("anyOf", [b.schemas[1]])
    assert all("tool" in s["properties"] for s in second)  # a call: the answer is not offered
    assert {s["properties"]["tool"]["const"] for s in second} <= {"go_annotations", "enrich"}
    mcs = agent.steps.model_calls()
    assert mcs[1].choices["guide"].startswith("asked process")
    assert [c["tool"] for c in ans.calls] == ["tf_targets", "go_annotations"]
    # both kinds covered: only the answer, one value of each result in call order
    assert b.schemas[2] == answer_schema(["BAX", "apoptotic process (GO:0006915)"])


def test_unknown_answer_choice_is_refused(tmp_path):
    with pytest.raises(vc.ValidationError, match="answer_choice must be one of"):
        _agent(vc.agent.ScriptedBackend([]), tmp_path, "x", None, answer_choice="best")


def test_tool_cards_describe_required_arguments_not_output_columns():
    tb = vc.agent.Toolbox(None)
    t = tb.tools["tf_targets"]
    # the trailing list of output columns is dropped (``name`` matched "Name a ...")
    assert tool_card("tf_targets", t.description) == "tf targets: TF -> target edges of tf"
    card = tool_card("tf_targets", t.description, t.schema)
    assert card == "tf targets: TF -> target edges of tf (tf: Transcription factor symbol or alias)"
    go = tb.tools["go_annotations"]
    assert "namespace" not in tool_card("go_annotations", go.description, go.schema)
    # a handle (the data) is not described: every data tool takes one
    eg = tb.tools["expression_by_group"]
    assert "adata" not in tool_card("expression_by_group", eg.description, eg.schema)


def test_a_card_describes_an_argument_that_is_a_value_or_a_handle():
    """``enrich(genes=)`` takes a list of symbols or a handle: it is described (it was
    left out as a handle, so the card of the one tool that takes a gene list did not say
    so and a question listing 20 genes went to ``go_annotations``), by the first phrase
    that is not a condition on a hidden argument (``method="hypergeometric": ...``)."""
    tb = vc.agent.Toolbox(None)
    en = tb.tools["enrich"]
    assert tool_card("enrich", en.description, en.schema).endswith("(genes: gene symbols)")
    # a description that opens with an aside still gives no phrase (no example list)
    vc_ = tb.tools["verify_claim"]
    assert "(claim:" not in tool_card("verify_claim", vc_.description, vc_.schema)


def test_new_cards_raise_the_transcription_factor_tool_for_a_targets_question():
    """With a model that cannot tell the cards apart, BM25 over the cards decides: the
    argument description (``Transcription factor symbol``) widens tf_targets' lead."""

    class Flat(vc.agent.ScriptedBackend):
        def score(self, messages, continuations):
            return [-10.0 for _ in continuations]

    tb = vc.agent.Toolbox(None)
    names = ["tf_targets", "go_annotations", "tf_regulators", "gene_info", "kb_search"]
    old = {n: tool_card(n, tb.tools[n].description) for n in names}
    new = {n: tool_card(n, tb.tools[n].description, tb.tools[n].schema) for n in names}
    so = channel_scores(Flat([]), TARGETS, old)
    sn = channel_scores(Flat([]), TARGETS, new)

    def lead(s):
        return s["tf_targets"]["bm25"] - max(s[n]["bm25"] for n in names if n != "tf_targets")

    assert lead(sn) > lead(so) > 0


def test_a_question_name_with_regulatory_edges_fills_gene_arguments(tmp_path):
    """A TF the gene table does not list (a complex) but the store has edges of is a
    gene value of the question (before: no tool could be filled, no call was made)."""
    import pandas as pd

    from virtualcell.agent._fill import fill_context

    class Store:
        def resolve(self, name):
            return {"TP53": "TP53"}.get(name)

        def targets(self, tf):
            rows = [("HIF1A_T1",)] if tf == "COMPLEX:ARNT_HIF1A" else []
            return pd.DataFrame(rows, columns=["target"])

        def regulators(self, gene):
            return pd.DataFrame([], columns=["tf"])

    q = "Name a target gene regulated by the transcription factor COMPLEX:ARNT_HIF1A."
    fill = fill_context(q, vc.agent.Workspace(tmp_path / "w"), Store())
    assert fill.of("gene") == ["COMPLEX:ARNT_HIF1A"]
    assert (
        fill_context("Is NOTAGENE a TF?", vc.agent.Workspace(tmp_path / "v"), Store()).of("gene")
        == []
    )


def test_answer_items_from_different_results_are_verified_one_by_one(kb, tmp_path):
    """A target of TP53 and a process of another gene: joined with ", " the verifier read
    one claim (MDM2 in apoptotic process: a NOT annotation, contradicted) and removed the
    whole answer; joined with "; " each item is supported by its own result."""
    replies = [
        '{"tool": "tf_targets", "args": {"tf": "TP53"}}',
        '{"tool": "go_annotations", "args": {"gene": "BAX"}}',
        '{"answer": ["MDM2", "apoptotic process (GO:0006915)"]}',
    ]
    agent = _agent(vc.agent.ScriptedBackend(replies), tmp_path, "join", kb)
    ans = agent.run(CHAIN)
    assert ans.draft == "MDM2; apoptotic process (GO:0006915)"
    assert "MDM2" in ans.answer and "GO:0006915" in ans.answer
    assert not ans.removed


def test_a_chained_argument_takes_the_value_the_answer_would_name(kb, tmp_path):
    """After tf_targets(TP53) the next call's gene is the result value the answer rule
    picks (rank: the first row, BAX), not any of the three the schema allowed."""
    replies = [
        '{"tool": "tf_targets", "args": {"tf": "TP53"}}',
        '{"tool": "go_annotations", "args": {"gene": "BAX"}}',
        '{"answer": ["BAX", "apoptotic process (GO:0006915)"]}',
    ]

    class GoCard(_Scorer):  # the card of go_annotations explains the question best
        def score(self, messages, continuations):
            if messages[-1]["content"].startswith("Tool go annotations"):
                return [-5.0]
            return super().score(messages, continuations)

    free = GoCard(list(replies))
    _agent(free, tmp_path, "free-args", kb, guide=True).run(CHAIN)
    go = free.schemas[1]
    assert go["properties"]["tool"]["const"] == "go_annotations"
    assert go["properties"]["args"]["properties"]["gene"]["enum"] == ["BAX", "CDKN1A", "MDM2"]

    for rule, want in (("rank", "BAX"), ("model", "MDM2")):
        b = GoCard(list(replies))
        agent = _agent(b, tmp_path, f"args-{rule}", kb, guide=True, answer_choice=rule)
        agent.run(CHAIN)
        branch = b.schemas[1]
        assert branch["properties"]["tool"]["const"] == "go_annotations"
        assert branch["properties"]["args"]["properties"]["gene"]["enum"] == [want]
        assert "gene" in agent.steps.model_calls()[1].choices["argument_values"]
