"""Self-verification of a draft answer (GeneAgent-style), with citations.

The draft is split into sentences and **every sentence is marked** with one of three
verdicts: ``supported`` (citation marks ``[n]``), ``unsupported`` (or ``contradicted``:
removed, or kept with ``[unverified: unsupported]``) or ``not_a_claim`` (kept with
``[unverified: not a claim]``: nothing in it could be checked, so it never reads as
verified). A sentence is a **claim** when it names a gene (a symbol or alias of the
knowledge base, or a gene of a workspace data set) or a GO id; other sentences (numbers,
connecting text, or text a hijacked model was made to say) are not claims. Each claim is
checked in order:

1. **GO ids** in the claim must exist; with a gene in the same claim, the gene must be
   annotated to the id (propagated over is_a / part_of) -> ``supported`` (cites the id),
   else ``unsupported``.
2. **Knowledge base**: ``kb.verify(claim)`` -> ``supported`` (cites its evidence: GO ids
   with evidence codes, TRRUST / OmniPath with PMIDs) or ``contradicted``.
3. **Workspace**: every gene the claim names occurs in one stored tool result (its table
   or its call), and so do the numbers it quotes and its content words (words of 4+
   letters other than common relational words such as "changes", "targets", "most":
   a process named in the claim must be in the result) -> ``supported`` (cites the
   result handle and the call).
4. Otherwise ``unsupported``.

Contradicted and unsupported claims are removed from the answer (``on_unsupported=
"remove"``, the default) or kept with an ``[unverified]`` mark (``"flag"``); the checks
and what was done are returned with the answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ._workspace import Workspace

__all__ = ["ClaimCheck", "split_sentences", "verify_answer"]

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\.]*[A-Za-z0-9]|[A-Za-z0-9]")
_GO = re.compile(r"GO:\d{7}")
#: Relational and common words a data claim may use without the result containing them.
_RELATIONAL = frozenset(
    """about above activate activates activated active after also among annotated answer
    based because been below between both cell cells change changed changes changing
    cluster clusters common data does down each edge edges effect effects enriched expresses
    expressed expression from gene genes given handle have having highest into involved
    known knockout knockouts largest least level levels lower lowest main many more most
    none only other perturbation perturbations perturbed process regulate regulated
    regulates regulating regulation represses repressed result results same shows since
    some strongest such supported target targets than that their them then there these
    they this those through types under upregulated downregulated using value values very
    were what when where which while with within would""".split()
)
_QUOTED = re.compile(r"'[^']{3,}'|\"[^\"]{3,}\"|‘[^’]{3,}’|“[^”]{3,}”")
_NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_NOT_GENES = frozenset(
    "A AN AND OR NOT THE OF IN TO IS ARE BY FOR WITH DNA RNA MRNA GO TF TFS ATP GTP CELL CELLS "
    "GENE GENES PROTEIN I II III IV KB ID IDS PMID NCBI BP MF CC UMI PCA".split()
)


@dataclass
class ClaimCheck:
    """The check of one sentence of a draft answer."""

    sentence: str
    label: Literal["supported", "contradicted", "unsupported", "not_a_claim"]
    source: str = ""
    citations: list[str] = field(default_factory=list)
    genes: list[str] = field(default_factory=list)
    action: Literal["kept", "removed", "flagged"] = "kept"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentence": self.sentence,
            "label": self.label,
            "source": self.source,
            "citations": self.citations,
            "genes": self.genes,
            "action": self.action,
            "reason": self.reason,
        }


#: What the answer shows after a sentence that names no gene or GO id (it is unchecked).
_NOT_A_CLAIM_MARK = "[unverified: not a claim]"
_NOT_A_CLAIM = "names no gene or GO id: nothing a tool result or the knowledge base could check"


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (split at ``.``/``;``/newlines not inside ids or numbers)."""
    parts = re.split(r"(?<=[.;!?])\s+|\n+", text.strip())
    return [p.strip() for p in parts if p.strip()]


def _result_text(value: Any) -> str:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value.to_csv(float_format="%.6g")
    if hasattr(value, "obs_names") and hasattr(value, "var_names"):
        return " ".join(map(str, value.var_names)) + " " + " ".join(map(str, value.obs.columns))
    if hasattr(value, "to_dict"):
        return json.dumps(value.to_dict(), default=str)
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "to_dict"):
        return json.dumps([v.to_dict() for v in value], default=str)
    return json.dumps(value, default=str)


def _genes_in(sentence: str, kb: Any, data_genes: set[str]) -> list[str]:
    out: list[str] = []
    for tok in _TOKEN.findall(sentence):
        if tok.upper() in _NOT_GENES:
            continue
        if tok in data_genes:
            out.append(tok)
            continue
        if kb is None or not (tok.isupper() or any(c.isdigit() for c in tok)):
            continue
        if re.fullmatch(r"-?\d+(\.\d+)?", tok) or tok.startswith("GO:"):
            continue
        sym = kb.resolve(tok)
        if sym:
            out.append(tok)
    return list(dict.fromkeys(out))


def _numbers(sentence: str) -> list[str]:
    text = _GO.sub(" ", sentence)
    text = re.sub(r"\br\d+\b", " ", text)  # result handles
    return [n for n in _NUM.findall(text) if not re.fullmatch(r"[0-9]", n)]


def _go_check(kb: Any, ids: list[str], genes: list[str]) -> tuple[str, list[str], str]:
    cites = []
    for go_id in ids:
        try:
            term = kb.go_term(go_id)
        except Exception:
            return "unsupported", [], f"{go_id} is not a GO term of the knowledge base"
        for g in genes:
            try:
                ann = kb.go_annotations(g, propagate=True)
            except Exception:
                continue
            hit = ann[ann["go_id"] == go_id]
            if hit.empty:
                return "unsupported", [], f"{g} is not annotated to {go_id}"
            row = hit.iloc[0]
            ev = f" [{row['evidence']}]" if row["evidence"] else ""
            via = f", via {row['via']}" if row["via"] else ""
            cites.append(f"{go_id} {term['name']}{ev} ({g}{via}; {kb.source_of('annotations')})")
        if not genes:
            cites.append(f"{go_id} {term['name']} ({kb.source_of('go_terms')})")
    return "supported", cites, "GO annotation"


def _content_words(sentence: str, genes: list[str]) -> list[str]:
    gene_set = {g.lower() for g in genes}
    words = re.findall(r"[A-Za-z][A-Za-z\-]{3,}", _GO.sub(" ", sentence))
    return [
        w.lower()
        for w in words
        if w.lower() not in _RELATIONAL and w.lower() not in gene_set and not w.isupper()
    ]


def _is_evidence(tool: str) -> bool:
    """Whether results of ``tool`` may support a claim (``ToolSpec.evidence``)."""
    from ._tools import tools

    return tool not in tools or tools.get(tool).evidence


def _workspace_check(
    ws: Workspace,
    genes: list[str],
    numbers: list[str],
    texts: dict[str, str],
    ids: list[str] = (),
    content: list[str] = (),
) -> tuple[str, list[str]] | None:
    if not genes and not ids:
        return None
    for handle, res in ws.results.items():
        if not _is_evidence(res.tool):
            continue
        text = texts[handle]
        lower = text.lower()
        words = set(_TOKEN.findall(text)) | set(_GO.findall(text))
        if (
            all(g in words for g in genes)
            and all(i in words for i in ids)
            and all(_number_in(n, text) for n in numbers)
            and all(w in lower for w in content)
        ):
            args = ", ".join(f"{k}={v!r}" for k, v in res.arguments.items())
            return handle, [f"workspace {handle} = {res.tool}({args}) [sha256 {res.digest}]"]
    return None


def _number_in(n: str, text: str) -> bool:
    if n in text:
        return True
    try:
        x = float(n)
    except ValueError:
        return False
    for m in _NUM.findall(text):
        try:
            y = float(m)
        except ValueError:
            continue
        if abs(y - x) <= 0.005 * max(1.0, abs(x)) or (abs(x) < 10 and round(y, 2) == round(x, 2)):
            return True
    return False


def verify_answer(
    draft: str,
    *,
    kb: Any = None,
    workspace: Workspace | None = None,
    on_unsupported: Literal["remove", "flag"] = "remove",
    mode: Literal["lexical", "hybrid", "dense"] = "lexical",
) -> tuple[str, list[ClaimCheck], list[str]]:
    """Check every sentence of ``draft``; return ``(answer, checks, citations)``.

    Parameters
    ----------
    draft
        The model's answer.
    kb
        An opened knowledge base (claims about genes and GO ids are checked there).
    workspace
        The run's workspace (claims about tool results are checked there).
    on_unsupported
        ``"remove"`` takes unsupported and contradicted claims out of the answer;
        ``"flag"`` keeps them marked ``[unverified: unsupported]``.
    mode
        Retrieval mode of the knowledge-base check.

    Returns
    -------
    (answer, checks, citations)
        ``answer`` marks every sentence it keeps: supported ones with citation marks
        ``[n]`` into ``citations``, unchecked ones (not a claim) with
        ``[unverified: not a claim]``, flagged ones with ``[unverified: <label>]``;
        ``checks`` has one :class:`ClaimCheck` per sentence of the draft. See the module
        docstring for the rules.
    """
    ws = workspace
    data_genes: set[str] = set()
    texts: dict[str, str] = {}
    if ws is not None:
        for obj in ws.objects.values():
            if hasattr(obj, "var_names"):
                data_genes |= set(map(str, obj.var_names))
        texts = {
            h: _result_text(r.value) + " " + json.dumps(r.arguments, default=str)
            for h, r in ws.results.items()
        }
    checks: list[ClaimCheck] = []
    citations: list[str] = []
    kept: list[str] = []
    for sentence in split_sentences(draft):
        asserted = _QUOTED.sub(" ", sentence)  # a quoted claim is mentioned, not asserted
        ids = _GO.findall(asserted)
        genes = _genes_in(asserted, kb, data_genes)
        if not ids and not genes:
            checks.append(ClaimCheck(sentence, "not_a_claim", reason=_NOT_A_CLAIM))
            kept.append(f"{sentence} {_NOT_A_CLAIM_MARK}")
            continue
        check = _check(asserted, ids, genes, kb, ws, texts, mode)
        check.sentence = sentence
        if check.label == "supported":
            marks = []
            for c in check.citations:
                if c not in citations:
                    citations.append(c)
                marks.append(citations.index(c) + 1)
            mark = "".join(f"[{m}]" for m in dict.fromkeys(marks))
            body = sentence.rstrip()
            end = body[-1] if body and body[-1] in ".;!?" else ""
            kept.append(f"{body[: len(body) - len(end)]} {mark}{end}" if mark else sentence)
        elif on_unsupported == "flag":
            check.action = "flagged"
            kept.append(f"{sentence} [unverified: {check.label}]")
        else:
            check.action = "removed"
        checks.append(check)
    answer = " ".join(kept).strip()
    if not answer and checks:
        answer = "No claim of the draft answer could be verified."
    return answer, checks, citations


def _check(sentence, ids, genes, kb, ws, texts, mode) -> ClaimCheck:
    kb_genes = [g for g in genes if kb is not None and kb.resolve(g)]
    if ids and kb is not None:
        label, cites, reason = _go_check(kb, ids, kb_genes)
        if label == "supported":
            return ClaimCheck(sentence, label, "kb", cites, genes, reason=reason)
        found = (
            _workspace_check(
                ws, genes, _numbers(sentence), texts, ids, _content_words(sentence, genes)
            )
            if ws
            else None
        )
        if found is not None:
            return ClaimCheck(
                sentence,
                "supported",
                f"workspace:{found[0]}",
                found[1],
                genes,
                reason="found in a tool result",
            )
        return ClaimCheck(sentence, label, "", [], genes, reason=reason)
    if kb is not None and kb_genes:
        v = kb.verify(sentence, mode=mode)
        if v.label in ("supported", "contradicted"):
            cites = []
            for e in v.evidence[:3]:
                cites.append(f"{e.text} [{' | '.join(e.citations[:3])}]")
            return ClaimCheck(sentence, v.label, "kb", cites, genes, reason=v.reason)
    if ws is not None and ws.results:
        found = _workspace_check(
            ws, genes, _numbers(sentence), texts, (), _content_words(sentence, genes)
        )
        if found is not None:
            handle, cites = found
            return ClaimCheck(
                sentence,
                "supported",
                f"workspace:{handle}",
                cites,
                genes,
                reason="found in a tool result",
            )
    return ClaimCheck(
        sentence, "unsupported", "", [], genes, reason="no knowledge-base or workspace evidence"
    )
