"""How a constrained reply's branch is chosen: the opening rule (the model's probability
of each call's opening) and the channel rule of the first call (how well each offered
tool's card explains the question, plus BM25), with a scripted backend that scores."""

from __future__ import annotations

import pytest

import virtualcell as vc
from virtualcell.agent._choose import channel_scores, choose_branch, tool_card

Q = "Name a target gene regulated by the transcription factor KLF1."


class _Scorer(vc.agent.ScriptedBackend):
    """Prefers ``go_annotations`` by the opening of a call; explains the question best
    by the card of ``tf_targets`` (log p of the question given a card)."""

    def score(self, messages, continuations):
        self.scored = [*getattr(self, "scored", []), (messages, list(continuations))]
        if messages[-1]["content"].startswith("Tool "):
            return [-5.0 if messages[-1]["content"].startswith("Tool tf targets") else -50.0]
        return [2.0 if "go_annotations" in c else -1.0 for c in continuations]


def _agent(backend, tmp_path, choice, kb=None):
    return vc.agent.Agent(backend, kb=kb, workspace=vc.agent.Workspace(tmp_path / choice),
                          plan=False, max_tools=5, ground_arguments=True, choice=choice)  # fmt: skip


def _branch(const):
    return {"properties": {"tool": {"const": const}, "args": {}}}


def test_channel_scores_are_the_z_scored_sum_of_question_likelihood_and_bm25():
    b = _Scorer([])
    cards = {"tf_targets": tool_card("tf_targets", "Targets of a transcription factor. More."),
             "go_annotations": tool_card("go_annotations", "GO annotations of a gene."),
             "kb_search": tool_card("kb_search", "Search the knowledge base.")}  # fmt: skip
    assert cards["tf_targets"] == "tf targets: Targets of a transcription factor"
    got = channel_scores(b, Q, cards)
    assert [got[n]["channel"] for n in cards] == [-5.0, -50.0, -50.0]
    # every card prompt asks for the question as the reply
    assert all(conts == [Q] for _, conts in b.scored)
    assert "Tool tf targets: Targets of a transcription factor" in b.scored[0][0][0]["content"]

    def z(xs):
        m = sum(xs) / len(xs)
        sd = (sum((x - m) ** 2 for x in xs) / len(xs)) ** 0.5
        return [(x - m) / sd if sd else 0.0 for x in xs]

    ch = z([got[n]["channel"] for n in cards])
    bm = z([got[n]["bm25"] for n in cards])
    for i, n in enumerate(cards):
        assert got[n]["score"] == pytest.approx(ch[i] + bm[i], abs=2e-3)
    assert max(cards, key=lambda n: got[n]["score"]) == "tf_targets"


def test_backend_that_cannot_score_keeps_the_schema():
    b = vc.agent.ScriptedBackend([])
    schema = {"anyOf": [_branch("tf_targets"), _branch("kb_search")]}
    got, scores = choose_branch(b, [], schema, rule="channel", question=Q,
                                descriptions={"tf_targets": "x", "kb_search": "y"})  # fmt: skip
    assert got is schema and scores is None


def test_first_call_by_channel_later_calls_by_opening(kb, tmp_path):
    replies = ['{"tool": "tf_targets", "args": {"tf": "KLF1"}}', '{"answer": ["HBB"]}']
    opening = _Scorer(list(replies))
    _agent(opening, tmp_path, "opening", kb).run(Q)
    assert opening.schemas[0]["properties"]["tool"]["const"] == "go_annotations"

    b = _Scorer(list(replies))
    agent = _agent(b, tmp_path, "channel", kb)
    ans = agent.run(Q)
    first = b.schemas[0]
    assert first["properties"]["tool"]["const"] == "tf_targets"
    mc = agent.steps.actions()[0].model
    assert mc.choices["rule"] == "channel"
    assert mc.choices['{"tool":"tf_targets","args":']["channel"] == -5.0
    # the second reply (a result exists) is chosen by the openings, not by the cards
    later = agent.steps.model_calls()[1:]
    assert later and all(m.choices is None or "rule" not in m.choices for m in later)
    assert ans.calls[0]["tool"] == "tf_targets"


def test_unknown_choice_is_refused(tmp_path):
    with pytest.raises(vc.ValidationError, match="choice must be one of"):
        _agent(vc.agent.ScriptedBackend([]), tmp_path, "best")
