from __future__ import annotations

import pytest

from virtualcell._errors import ValidationError
from virtualcell.knowledge._verify import parse_genes


def test_parse_genes(tiny_kb):
    found = parse_genes(tiny_kb, "p53 and EKLF regulate a cell in the nucleus; INS is not ACTB")
    assert [s for _, s in found] == ["TP53", "KLF1", "INS", "ACTB"]
    assert parse_genes(tiny_kb, "insulin regulates glucose") == []


@pytest.mark.parametrize(
    ("claim", "label"),
    [
        ("KLF1 regulates erythrocyte differentiation", "supported"),
        ("GATA1 regulates erythrocyte differentiation", "supported"),  # via regulation term
        ("KLF1 is involved in cell differentiation", "supported"),  # propagated
        ("KLF1 is involved in insulin secretion", "unknown"),
        ("MDM2 is involved in apoptotic process", "contradicted"),  # NOT annotation
        ("TP53 activates CDKN1A", "supported"),
        ("TP53 represses MDM2", "contradicted"),  # TRRUST says activation
        ("TP53 regulates BAX", "supported"),
        ("TP53 activates BAX", "unknown"),  # only an unsigned edge
        ("KLF1 activates INS", "unknown"),  # no edge: absence is not evidence
        ("INS and GCG share function hormone secretion", "supported"),
        ("the sky is blue", "unknown"),
    ],
)
def test_verify_labels(tiny_kb, claim, label):
    v = tiny_kb.verify(claim, mode="lexical")
    assert v.label == label, (claim, v)
    if label != "unknown":
        assert v.evidence and all(e.citations for e in v.evidence)
        assert v.score > 0


def test_verify_evidence_citations(tiny_kb):
    v = tiny_kb.verify("TP53 activates CDKN1A", mode="lexical")
    assert "PMID:10101800" in v.evidence[0].citations and "TRRUST v2" in v.evidence[0].citations
    v = tiny_kb.verify("KLF1 is involved in cell differentiation", mode="lexical")
    assert v.terms[0] == ("GO:0030154", "cell differentiation")
    assert "inherited from GO:0030218" in v.evidence[0].text
    assert v.to_dict()["label"] == "supported"
    with pytest.raises(ValidationError):
        tiny_kb.verify(" ")
