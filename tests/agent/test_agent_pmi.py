"""The answer rule ``pmi`` (agent/_pmi.py): a value is scored by how much the question's
genes raise its log-probability over the same question with the genes masked, so a name
the model likes whatever the genes (its prior) does not win."""

from __future__ import annotations

import virtualcell as vc
from virtualcell.agent._guide import answer_schema, choose_answer
from virtualcell.agent._pmi import MASK, masked_question, pmi_scores

NAMING = "Which biological process (GO term) best describes this gene set: BRCA1, RAD51, TP53?"
GROUP = ["cell cycle", "DNA repair", "apoptotic process"]


class _Namer(vc.agent.ScriptedBackend):
    """Likes ``cell cycle`` whatever the context (a prior: +4), ``DNA repair`` only when
    BRCA1 is in the context (+2), and ``apoptotic process`` a little (+0.5) with any gene
    list; records the contexts it scored."""

    def score(self, messages, continuations):
        text = messages[-1]["content"]
        self.seen = [*getattr(self, "seen", []), text]
        out = []
        for c in continuations:
            v = 4.0 if c == "cell cycle" else 0.0
            v += 2.0 if c == "DNA repair" and "BRCA1" in text else 0.0
            v += 0.5 if c == "apoptotic process" and "TP53" in text else 0.0
            out.append(v)
        return out


def test_masked_question_masks_whole_entities_and_runs_of_them():
    assert masked_question(NAMING, ["BRCA1", "RAD51", "TP53"]) == (
        f"Which biological process (GO term) best describes this gene set: {MASK}?"
    )
    q = "Name a target gene regulated by the transcription factor TP53 (not TP53BP1)."
    assert masked_question(q, ["TP53"]) == (
        f"Name a target gene regulated by the transcription factor {MASK} (not TP53BP1)."
    )
    assert masked_question("genes A1 and B2", ["A1", "B2"]) == f"genes {MASK}"
    assert masked_question(NAMING, []) == NAMING


def test_pmi_scores_subtract_the_prior_of_the_masked_question():
    b = _Namer([])
    s = pmi_scores(b, NAMING, GROUP, ["BRCA1", "RAD51", "TP53"])
    assert s["cond"] == [4.0, 2.0, 0.5]
    assert s["prior"] == [4.0, 0.0, 0.0]  # the genes are masked in the prior's context
    assert s["pmi"] == [0.0, 2.0, 0.5]
    assert b.seen == [NAMING, masked_question(NAMING, ["BRCA1", "RAD51", "TP53"])]
    assert pmi_scores(vc.agent.ScriptedBackend([]), NAMING, GROUP, ["BRCA1"]) is None


def test_pmi_rule_picks_what_the_genes_raise_not_the_prior():
    b = _Namer([])
    genes = ["BRCA1", "RAD51", "TP53"]
    msgs = [{"role": "user", "content": NAMING}]
    vals, rec = choose_answer(b, msgs, [GROUP], rule="pmi", question=NAMING, entities=genes)
    assert vals == ["DNA repair"]  # without the prior's subtraction: cell cycle (4 > 2)
    assert rec["groups"][0]["DNA repair"]["pmi"] == 2.0
    # the genes unmasked (no entities given): the prior equals the conditional, no signal,
    # and ties go to the first value
    assert choose_answer(b, msgs, [GROUP], rule="pmi", question=NAMING)[0] == ["cell cycle"]
    # pmi+rank: z(pmi) + z(rank): DNA repair (z 1.2 + 0) beats cell cycle (-1.1 + 1.2)
    assert choose_answer(b, msgs, [GROUP], rule="pmi+rank", question=NAMING, entities=genes)[0] == [
        "DNA repair"
    ]
    assert choose_answer(vc.agent.ScriptedBackend([]), msgs, [GROUP], rule="pmi",
                         question=NAMING, entities=genes) == ([], None)  # fmt: skip


class _TargetNamer(vc.agent.ScriptedBackend):
    """For the tf_targets question: MDM2 is liked whatever the context, CDKN1A only with
    TP53 in it."""

    def score(self, messages, continuations):
        text = messages[-1]["content"]
        self.seen = [*getattr(self, "seen", []), text]
        if text.startswith("Tool "):
            return [0.0] * len(continuations)
        return [
            (3.0 if c == "MDM2" else 0.0) + (1.0 if c == "CDKN1A" and "TP53" in text else 0.0)
            for c in continuations
        ]


def test_agent_answer_choice_pmi_masks_the_question_genes(kb, tmp_path):
    q = "Name a target gene regulated by the transcription factor TP53."
    replies = ['{"tool": "tf_targets", "args": {"tf": "TP53"}}', '{"answer": ["BAX"]}']
    b = _TargetNamer(list(replies))
    agent = vc.agent.Agent(b, kb=kb, workspace=vc.agent.Workspace(tmp_path / "w"), plan=False,
                           max_tools=5, ground_arguments=True, choice="channel", guide=True,
                           answer_choice="pmi")  # fmt: skip
    agent.run(q)
    assert b.schemas[-1] == answer_schema(["CDKN1A"])  # rank: BAX; the prior alone: MDM2
    assert masked_question(q, ["TP53"]) in b.seen  # the prior's context: TP53 masked
    assert agent.steps.model_calls()[-1].choices["answer_values"]["rule"] == "pmi"


def test_agent_refuses_an_unknown_answer_rule(tmp_path):
    import pytest

    with pytest.raises(vc.ValidationError, match="pmi"):
        vc.agent.Agent(vc.agent.ScriptedBackend([]), answer_choice="pmi+model")


def test_pmi_scores_the_words_of_a_value_not_its_identifier():
    from virtualcell.agent._pmi import spoken

    assert spoken("apoptotic process (GO:0006915)") == "apoptotic process"
    assert spoken("c1") == "c1"
    assert spoken("HALLMARK_HYPOXIA") == "HALLMARK_HYPOXIA"

    class Seen(vc.agent.ScriptedBackend):
        def score(self, messages, continuations):
            self.conts = [*getattr(self, "conts", []), *continuations]
            return [0.0] * len(continuations)

    b = Seen([])
    pmi_scores(b, NAMING, ["DNA repair (GO:0006281)", "cell cycle (GO:0007049)"], ["BRCA1"])
    assert b.conts == ["DNA repair", "cell cycle"] * 2
