"""The record of one agent run: :class:`RunMemory`, the list of typed steps
(:mod:`._steps`) from which the prompts, the answer's totals, the provenance log,
transcripts and replay are all built."""

from __future__ import annotations

import json
from typing import Any

from ._provenance import ProvenanceLog
from ._steps import (
    ActionStep,
    AnswerStep,
    ExampleStep,
    FinalStep,
    Message,
    ModelCall,
    PlanStep,
    Step,
    TaskStep,
    VerifyStep,
)

__all__ = ["RunMemory"]


class RunMemory:
    """The typed steps of one run; adding a step writes its records to ``log``."""

    def __init__(self, log: ProvenanceLog | None = None) -> None:
        self.steps: list[Step] = []
        self.log = log if log is not None else ProvenanceLog(None)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        for rec in step.records():
            fields = {k: v for k, v in rec.items() if k != "event"}
            self.log.add(rec["event"], **fields)
        return step

    # -- built from the steps ----------------------------------------------------------------
    def messages(self, *, final: str = "") -> list[Message]:
        """The prompt: every step's turns in order; ``final`` is appended to the last
        user turn (the "answer now" request)."""
        out = [dict(m) for s in self.steps for m in s.turns()]
        if final and out and out[-1]["role"] == "user":
            out[-1]["content"] = out[-1]["content"] + "\n" + final
        elif final:
            out.append({"role": "user", "content": final})
        return out

    def of(self, kind: type) -> list[Any]:
        return [s for s in self.steps if isinstance(s, kind)]

    @property
    def task(self) -> TaskStep | None:
        found = self.of(TaskStep)
        return found[0] if found else None

    @property
    def plan(self) -> str:
        plans = self.of(PlanStep)
        return plans[0].plan if plans else ""

    def actions(self) -> list[ActionStep]:
        return self.of(ActionStep)

    def calls(self) -> list[dict[str, Any]]:
        """Every tool call (unreadable replies left out): tool, arguments, ok,
        observation, handle."""
        return [a.to_call() for a in self.actions() if a.tool is not None]

    @property
    def n_actions(self) -> int:
        return len(self.actions())

    @property
    def n_valid_calls(self) -> int:
        return sum(a.ok for a in self.actions())

    def model_calls(self) -> list[ModelCall]:
        return [s.model_call for s in self.steps if s.model_call is not None]

    @property
    def tokens(self) -> tuple[int, int]:
        """Prompt and completion tokens of every LLM call so far."""
        mc = self.model_calls()
        return sum(m.prompt_tokens for m in mc), sum(m.completion_tokens for m in mc)

    def replies(self) -> list[str]:
        """The model's replies in order (what a replay feeds a scripted backend)."""
        return [m.text for m in self.model_calls()]

    def transcript(self) -> str:
        """A readable account: question, plan, every model reply with the call it made
        and the observation, the claim checks, the answer with citations, totals."""
        task = self.task
        lines = [
            f"QUESTION: {task.question if task else ''}  [backend: {task.backend if task else ''}]"
        ]
        checks: list[str] = []
        for s in self.steps:
            mc = s.model_call
            if mc is not None:
                text = " ".join(mc.reply.split())[:300]
                lines.append(
                    f"PLAN: {text or '-'}" if isinstance(s, PlanStep) else f"MODEL: {text}"
                )
            if isinstance(s, ActionStep):
                shown = json.dumps(s.arguments) if s.tool else ""
                obs = " ".join(s.observation.split())[:300]
                lines.append(f"  CALL {s.tool or '(none)'}{shown and ' ' + shown} -> {obs}")
            elif isinstance(s, VerifyStep):
                checks += [
                    f"VERIFY [{c['label']}, {c['action']}] {c['sentence']} ({c['reason']})"
                    for c in s.claims
                    if c["label"] != "not_a_claim"
                ]
            elif isinstance(s, FinalStep):
                lines += [f"DRAFT: {s.draft}", *checks, f"ANSWER: {s.answer}"]
                lines += [f"  [{i}] {cite}" for i, cite in enumerate(s.citations, 1)]
                pt, ct = self.tokens
                lines.append(
                    f"({len(self.model_calls())} LLM calls, {pt}+{ct} tokens, "
                    f"{s.seconds:.1f} s, stopped: {s.stopped})"
                )
        return "\n".join(lines)

    # -- from a log ----------------------------------------------------------------------------
    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> RunMemory:
        """The steps of a provenance log (:func:`~._provenance.read_log`)."""
        mem = cls()
        pending: ModelCall | None = None
        start = records[0]
        plan_first = bool(start.get("options", {}).get("plan", True))
        mem.steps.append(
            TaskStep(
                start["question"],
                str(start.get("system", "")),
                str(start.get("backend", "")),
                start.get("kb"),
                dict(start.get("options", {})),
                list(start.get("tools", [])),
                list(start.get("objects", [])),
            )
        )
        plan_done = False
        for r in records[1:]:
            ev = r["event"]
            if ev == "examples":
                mem.steps.append(ExampleStep(list(r.get("runs", []))))
            elif ev == "prompt":
                pending = ModelCall(list(r.get("messages", [])), str(r.get("prefill") or ""))
            elif ev == "reply":
                mc = pending or ModelCall([])
                mc.text = str(r.get("text", ""))
                mc.prompt_tokens = int(r.get("prompt_tokens", 0))
                mc.completion_tokens = int(r.get("completion_tokens", 0))
                mc.seconds = float(r.get("seconds", 0.0))
                mc.model = str(r.get("model", ""))
                mc.choices = r.get("choices")
                pending = mc
                if plan_first and not plan_done:
                    mem.steps.append(PlanStep(start["question"], mc))
                    plan_done, pending = True, None
            elif ev == "call":
                mem.steps.append(
                    ActionStep(
                        pending or ModelCall([]),
                        r.get("tool"),
                        r.get("arguments"),
                        bool(r.get("ok")),
                        str(r.get("observation", "")),
                        r.get("error"),
                        r.get("handle"),
                        r.get("digest"),
                        r.get("seconds"),
                    )
                )
                pending = None
            elif ev == "verify":
                if pending is not None:
                    mem.steps.append(AnswerStep(pending))
                    pending = None
                mem.steps.append(VerifyStep(list(r.get("claims", []))))
            elif ev == "answer":
                mem.steps.append(
                    FinalStep(
                        str(r.get("answer", "")),
                        str(r.get("draft", "")),
                        list(r.get("citations", [])),
                        str(r.get("stopped", "")),
                        int(r.get("prompt_tokens", 0)),
                        int(r.get("completion_tokens", 0)),
                        int(r.get("n_actions", 0)),
                        int(r.get("n_valid_calls", 0)),
                        bool(r.get("remembered", False)),
                        float(r.get("seconds", r.get("t", 0.0))),
                    )
                )
        if not plan_first and not mem.of(PlanStep):
            mem.steps.insert(1 + len(mem.of(ExampleStep)), PlanStep(start["question"]))
        return mem
