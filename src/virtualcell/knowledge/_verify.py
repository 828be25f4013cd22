"""Claim verification against the knowledge store (GeneAgent-style self-verification).

A claim is checked in three steps:

1. **Genes**: tokens that are official symbols or aliases in the gene table (upper-case or
   containing a digit, so English words are not mistaken for aliases).
2. **Regulation of a target** (``"X activates Y"``, ``"X represses Y"``, ``"X regulates
   Y"`` with two genes): TF->target edges X->Y. An edge whose sign matches (or an
   unsigned claim with any edge) supports the claim; edges that all carry the opposite
   sign contradict it; no edge -> unknown (absence of evidence is not evidence).
3. **Function** (``"X regulates erythroid differentiation"``, ``"A, B and C share
   function F"``): the phrase left after removing genes and verbs is matched to GO terms
   by retrieval (top ``n_terms``); for ``regulate`` claims the GO terms that regulate a
   matched term are added. A gene supports the claim when its annotations, propagated to
   ancestors over is_a/part_of, include a matched term. A NOT-qualified annotation to a
   matched term contradicts it. Several genes: supported when all (<= 2 genes) or at
   least half (>= 3 genes, "share function") are supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .._errors import ValidationError
from ._passages import Passage

__all__ = ["Verdict", "parse_genes", "verify_claim"]

Label = Literal["supported", "contradicted", "unknown"]

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")
_NOT_GENES = frozenset(
    "A AN AND OR NOT THE OF IN TO IS ARE BY FOR WITH DNA RNA MRNA GO TF TFS ATP GTP CELL CELLS "
    "GENE GENES PROTEIN I II III IV".split()
)
_POS = r"activat\w*|induc\w*|upregulat\w*|up-regulat\w*|enhanc\w*|promot\w*|stimulat\w*|increas\w*"
_NEG = r"repress\w*|inhibit\w*|downregulat\w*|down-regulat\w*|suppress\w*|decreas\w*|silenc\w*"
_REG = r"regulat\w*|control\w*|target\w*|bind\w*"
_FILLER = re.compile(
    r"\b(?:is|are|was|were|be|been|involved|participates?|plays?|role|roles|in|of|a|an|the|"
    r"these|those|genes?|share|shares|common|function|functions|functional|process|"
    r"processes|annotated|to|and|both|all|has|have|known|required|for|contributes?|"
    r"directly|key|important)\b",
    re.IGNORECASE,
)


@dataclass
class Verdict:
    """Outcome of :func:`verify`.

    Attributes
    ----------
    label
        ``"supported"``, ``"contradicted"`` or ``"unknown"``.
    evidence
        Passages (GO terms, TF->target edges) with citations that led to the label.
    score
        Fraction of the claim's genes with supporting evidence (for contradicted claims,
        the fraction with contradicting evidence); 0 for unknown.
    genes
        Official symbols found in the claim.
    terms
        GO terms the function phrase was matched to (id and name).
    """

    label: Label
    evidence: list[Passage] = field(default_factory=list)
    score: float = 0.0
    genes: list[str] = field(default_factory=list)
    terms: list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "genes": self.genes,
            "terms": [list(t) for t in self.terms],
            "reason": self.reason,
            "evidence": [p.to_dict() for p in self.evidence],
        }


def parse_genes(kb, text: str) -> list[tuple[str, str]]:
    """(token, official symbol) for every gene mentioned in ``text``, in order, unique."""
    out, seen = [], set()
    for tok in _WORD.findall(text):
        if tok.upper() in _NOT_GENES:
            continue
        if not (tok.isupper() or any(c.isdigit() for c in tok)):
            continue
        sym = kb.resolve(tok)
        if sym and sym not in seen:
            seen.add(sym)
            out.append((tok, sym))
    return out


def _sign_of(verb_text: str) -> int | None:
    if re.search(rf"\b(?:{_NEG})", verb_text, re.IGNORECASE):
        return -1
    if re.search(rf"\b(?:{_POS})", verb_text, re.IGNORECASE):
        return 1
    if re.search(rf"\b(?:{_REG})", verb_text, re.IGNORECASE):
        return 0
    return None


def _edge_verdict(kb, tf: str, target: str, sign: int) -> Verdict:
    edges = kb.targets(tf)
    edges = edges[edges["target"] == target]
    name = {1: "activates", -1: "represses", 0: "regulates"}
    ev = [
        Passage(
            id=f"edge:{tf}->{target}:{e.source}",
            kind="tf_target",
            title=f"{tf} -> {target} ({name.get(int(e.sign), 'regulates')})",
            text=f"{tf} {name.get(int(e.sign), 'regulates')} {target} according to {e.source}",
            citations=[f"{e.source}", *[f"PMID:{p}" for p in str(e.pmids).split(";") if p][:5]],
        )
        for e in edges.itertuples()
    ]
    genes = [tf, target]
    if edges.empty:
        return Verdict("unknown", [], 0.0, genes, reason=f"no {tf}->{target} edge in the store")
    signs = set(edges["sign"].astype(int))
    if sign == 0 or sign in signs:
        keep = [p for p, s in zip(ev, edges["sign"], strict=True) if sign == 0 or s == sign]
        return Verdict("supported", keep, 1.0, genes, reason="TF->target edge with this sign")
    if -sign in signs:
        keep = [p for p, s in zip(ev, edges["sign"], strict=True) if s == -sign]
        return Verdict("contradicted", keep, 1.0, genes, reason="edges have the opposite sign")
    return Verdict("unknown", ev, 0.0, genes, reason="edges exist but none is signed")


def _match_terms(kb, phrase: str, n_terms: int, regulate: bool, mode: str):
    terms = kb._index.match_terms(phrase, n_terms, mode=_mode(mode))
    if regulate and terms:
        # GO terms "regulation of X" point to X by regulates-type edges
        q = ",".join("?" * len(terms))
        reg = kb._q(
            f"SELECT child FROM go_edges WHERE parent IN ({q}) AND relation LIKE '%regulates'",
            tuple(terms),
        )["child"].tolist()
        terms = list(dict.fromkeys(terms + reg))
    return terms


def _mode(mode: str) -> str:
    from ._dense import embedder_available

    return "lexical" if mode == "hybrid" and not embedder_available() else mode


def verify_claim(kb, claim: str, *, n_terms: int = 3, mode: str = "hybrid") -> Verdict:
    """Label a claim about genes as supported / contradicted / unknown, with evidence."""
    if not claim or not claim.strip():
        raise ValidationError("empty claim")
    found = parse_genes(kb, claim)
    genes = [s for _, s in found]
    if not genes:
        return Verdict("unknown", reason="no gene symbol of the knowledge base in the claim")
    # "X activates Y": regulation of a specific target gene
    if len(found) == 2:
        a, b = found
        between = claim[claim.find(a[0]) + len(a[0]) : claim.rfind(b[0])]
        sign = _sign_of(between)
        rest = claim[claim.rfind(b[0]) + len(b[0]) :].strip(" .")
        if sign is not None and not re.search(r"[A-Za-z]{4,}", rest):
            return _edge_verdict(kb, a[1], b[1], sign)
    phrase = claim
    for tok, _ in found:
        phrase = re.sub(rf"(?<![\w-]){re.escape(tok)}(?![\w-])", " ", phrase)
    regulate = bool(re.search(rf"\b(?:{_REG}|{_POS}|{_NEG})", phrase, re.IGNORECASE))
    phrase = re.sub(rf"\b(?:{_REG}|{_POS}|{_NEG})", " ", phrase, flags=re.IGNORECASE)
    phrase = " ".join(_FILLER.sub(" ", phrase).replace(",", " ").split())
    if not re.search(r"[A-Za-z]{3,}", phrase):
        return Verdict("unknown", genes=genes, reason="no function phrase in the claim")
    terms = _match_terms(kb, phrase, n_terms, regulate, mode)
    if not terms:
        return Verdict("unknown", genes=genes, reason=f"no GO term matches {phrase!r}")
    names = kb._terms["name"].reindex(terms).fillna("")
    term_set = set(terms)
    support, against, evidence = [], [], []
    for g in genes:
        ann = kb.go_annotations(g, propagate=True)
        hit = ann[ann["go_id"].isin(term_set)]
        hit = hit.iloc[np.argsort([terms.index(t) for t in hit["go_id"]], kind="stable")]
        neg = hit["qualifier"].fillna("").str.upper().str.contains("NOT")
        if neg.any():
            against.append(g)
            hit = hit[neg]
        elif not hit.empty:
            support.append(g)
        for a in hit.head(2).itertuples():
            via = f" (inherited from {a.via})" if a.via else ""
            ev = f" [{a.evidence}]" if a.evidence else ""
            evidence.append(
                Passage(
                    id=f"{g}:{a.go_id}",
                    kind="annotation",
                    title=f"{g} {'NOT ' if 'NOT' in str(a.qualifier).upper() else ''}{a.name}",
                    text=f"{g} is annotated to {a.go_id} {a.name}{via}{ev}",
                    citations=[
                        f"{a.go_id}{ev}",
                        a.source
                        if a.source != "propagated"
                        else f"{kb.source_of('annotations')} (propagated)",
                    ],
                )
            )
    n = len(genes)
    matched = list(zip(terms, names.tolist(), strict=True))
    if against and len(against) >= len(support):
        return Verdict("contradicted", evidence, len(against) / n, genes, matched, "NOT annotation")
    need = n if n <= 2 else (n + 1) // 2
    if len(support) >= need:
        return Verdict("supported", evidence, len(support) / n, genes, matched, "GO annotation")
    missing = sorted(set(genes) - set(support))
    return Verdict(
        "unknown",
        evidence,
        0.0,
        genes,
        matched,
        f"no annotation of {', '.join(missing)} to the matched terms",
    )
