"""What the agent returns: :class:`Answer` (the verified answer, its citations, claim
checks, calls, token and time totals, and the provenance log)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ._verify import ClaimCheck

__all__ = ["Answer"]


@dataclass
class Answer:
    """What :meth:`Agent.run` returns.

    Attributes
    ----------
    question, answer, draft
        The question, the verified answer (with ``[n]`` citation marks) and the model's
        draft before verification.
    citations
        Numbered sources: GO ids with evidence codes, TF-target sources with PMIDs,
        workspace results (handle, call, digest).
    claims
        Every claim check (:class:`~virtualcell.agent._verify.ClaimCheck`).
    plan
        The plan the model wrote.
    calls
        Every tool call: tool, arguments, ok, observation, error, handle.
    n_actions, n_valid_calls
        Non-answer replies and the calls among them that ran without error.
    prompt_tokens, completion_tokens, llm_calls, seconds
        Totals of the run.
    stopped
        ``"answer"`` or the budget that ended the loop (``max_steps``, ``max_tokens``,
        ``max_seconds``, ``invalid_replies``).
    log_path
        The provenance log (``None`` when kept in memory).
    remembered
        Whether the run was stored in the agent's memory of verified runs.
    evidence
        ``"checked"`` when a tool result the run obtained gives the kind of answer the
        question asks for and holds the answer (:func:`~._evidence.check_evidence`), else
        why not; only checked runs are remembered.
    """

    question: str
    answer: str
    draft: str
    citations: list[str] = field(default_factory=list)
    claims: list[ClaimCheck] = field(default_factory=list)
    plan: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    n_actions: int = 0
    n_valid_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_calls: int = 0
    seconds: float = 0.0
    stopped: str = "answer"
    backend: str = ""
    log_path: str | None = None
    remembered: bool = False
    evidence: str = ""

    @property
    def answered(self) -> bool:
        """Whether the model gave an answer at all (a draft to verify)."""
        return bool(self.draft.strip())

    @property
    def verification(self) -> str:
        """``verified`` (every sentence shown is supported by a tool result or the
        knowledge base), ``partly verified`` (some are; the rest are not claims, or
        flagged), ``unverified`` (none is) or ``no answer``. A sentence that is not a
        claim is unchecked: it never makes an answer verified."""
        if not self.answered:
            return "no answer"
        shown = [c for c in self.claims if c.action != "removed"]
        supported = sum(c.label == "supported" for c in shown)
        if shown and supported == len(shown):
            return "verified"
        return "partly verified" if supported else "unverified"

    @property
    def removed(self) -> list[ClaimCheck]:
        """Claims taken out of the draft."""
        return [c for c in self.claims if c.action == "removed"]

    @property
    def valid_call_rate(self) -> float:
        return self.n_valid_calls / self.n_actions if self.n_actions else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "draft": self.draft,
            "citations": self.citations,
            "claims": [c.to_dict() for c in self.claims],
            "plan": self.plan,
            "calls": self.calls,
            "n_actions": self.n_actions,
            "n_valid_calls": self.n_valid_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "llm_calls": self.llm_calls,
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
            "answered": self.answered,
            "verification": self.verification,
            "backend": self.backend,
            "log_path": self.log_path,
            "remembered": self.remembered,
            "evidence": self.evidence,
        }

    def transcript(self) -> str:
        """A readable account: question, plan, calls, verification, answer, citations."""
        lines = [f"QUESTION: {self.question}", f"PLAN: {self.plan.strip() or '-'}"]
        for c in self.calls:
            args = json.dumps(c["arguments"])
            lines.append(f"CALL {c['tool']}({args}) -> {c['observation'][:400]}")
        lines.append(f"DRAFT: {self.draft}")
        for c in self.claims:
            if c.label == "not_a_claim":
                continue
            lines.append(f"VERIFY [{c.label}, {c.action}] {c.sentence} ({c.reason})")
        lines.append(f"ANSWER: {self.answer}")
        for i, cite in enumerate(self.citations, 1):
            lines.append(f"  [{i}] {cite}")
        lines.append(
            f"({self.llm_calls} LLM calls, {self.prompt_tokens}+{self.completion_tokens} tokens, "
            f"{self.seconds:.1f} s, stopped: {self.stopped}; log: {self.log_path})"
        )
        return "\n".join(lines)
