"""The agent loop: plan -> act (JSON tool calls) -> observe -> verify -> answer.

1. **Plan**: the model writes at most three numbered steps (one short completion).
2. **Act / observe**: each turn the model replies with one JSON object, a tool call
   ``{"tool": ..., "args": {...}}`` or the answer ``{"answer": ...}``. Replies are parsed
   tolerantly (:mod:`._parse`); a reply that cannot be read, names an unknown tool or
   has invalid arguments is answered with a one-line error and the model retries (with
   constrained replies, a tool once called is not offered again in the run), at
   most ``max_repairs`` times in a row. A valid call runs through the :class:`Toolbox`
   and its summary comes back as an observation that is explicitly marked as data: text
   inside tool results (gene names, file contents) is never treated as an instruction,
   and only the model's own replies can cause a tool call.
3. **Verify**: every gene/process claim of the draft is checked against the knowledge
   base and the workspace results (:mod:`._verify`); unsupported claims are removed (or
   flagged) and the answer carries numbered citations.

Budgets: ``max_steps`` tool-call turns, ``max_tokens`` (prompt + completion, summed over
calls) and ``max_seconds``; when one runs out the model is asked once for an answer
from what it has. Everything goes to the provenance log (:mod:`._provenance`).

Valid-tool-call rate of a run: calls that passed validation and ran without error,
divided by all non-answer replies (unparseable replies and failed calls included).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from .._errors import ValidationError
from ._answer import Answer
from ._backends import Backend
from ._choose import CHOICES, MEMORY_WEIGHT
from ._evidence import check_evidence
from ._fill import fill_context
from ._guide import ANSWER_RULES, choose_reply
from ._memory import Memory
from ._parse import Action, parse_action
from ._prompt import reply_schema, shown_tools, source_of, system_prompt
from ._provenance import ProvenanceLog
from ._run_memory import RunMemory
from ._steps import (
    FINAL,
    PLAN,
    ActionStep,
    AnswerStep,
    ExampleStep,
    FinalStep,
    ModelCall,
    PlanStep,
    TaskStep,
    VerifyStep,
)
from ._tools import Toolbox
from ._verify import verify_answer
from ._workspace import Workspace, digest

__all__ = ["Agent", "Answer"]

#: retrieved verified runs whose tool sequences are the branch prior
_PRIOR_RUNS = 3


class Agent:
    """A plan-act-verify agent over the derived tools.

    Parameters
    ----------
    backend
        An LLM backend (:func:`~virtualcell.agent.make_backend`).
    kb
        An opened knowledge base (knowledge tools and verification need it).
    workspace
        Where objects and results live (default a new temporary one).
    tools
        Tool names to offer (default all enabled tools).
    allow_code
        Offer the sandboxed ``run_python`` tool (off by default).
    max_steps, max_tokens, max_seconds
        Budgets (tool-call turns; prompt + completion tokens; wall seconds).
    max_repairs
        Consecutive unreadable/invalid replies tolerated before the loop stops.
    max_tools
        Show only the ``max_tools`` tools that best match the question (small models);
        ``None`` shows all.
    plan
        Ask for a plan first.
    on_unsupported
        ``"remove"`` unsupported claims from the answer or ``"flag"`` them.
    verify_mode
        Retrieval mode of claim verification (``"lexical"`` needs no embedder).
    constrain
        Pass the JSON schema of a valid reply (a call of an offered tool with valid
        arguments, or an answer; :func:`~virtualcell.agent.action_schema`) to the backend,
        which enforces it where it can (local: constrained decoding; openai: the server's
        structured output; scripted: recorded, not enforced).
    ground_arguments
        With ``constrain``: fill calls from what exists (:mod:`._fill`): only tools whose
        required arguments can be filled are offered (and shown), with only those
        arguments, each an enum of the existing values of its kind (genes of the question
        and results, quoted phrases, edges, obs columns, handles of the right kind); the
        answer is 1 to 4 answer values of the results so far. A schema-valid call is then
        an executable one (off by default; the local benchmark turns it on).
    choice
        With ``ground_arguments``, how the branch of a reply (a tool or the answer) is
        chosen where the backend can score: ``"opening"`` (the model's probability of each
        branch's opening) or ``"channel"`` (the first call by how well each offered tool
        explains the question plus BM25; :mod:`._choose`).
    guide
        With ``ground_arguments``: the kinds of answer the question asks for guide each
        turn (:func:`~._guide.guide_branches`): only calls of tools that give the first
        asked kind no result covers yet, only the answer once all are covered; calls
        (first or chained) are then chosen by ``choice`` among the kept tools.
    answer_choice
        With ``ground_arguments``: how the answer's values are chosen
        (:data:`~._guide.ANSWER_RULES`): ``"free"`` (decoded inside the schema) or one
        value of each result of an asked kind, scored by the model and/or the result's
        order (:func:`~._guide.choose_answer`).
    memory, examples
        A :class:`~virtualcell.agent.Memory` of verified runs: the ``examples`` most
        similar ones are shown as worked examples before the question, and this run is
        stored there if its answer passes verification (:meth:`Memory.add`).
    memory_weight
        With ``ground_arguments`` and a ``memory``: the 3 most similar verified runs'
        tool sequences are a prior of every branch choice, times this weight
        (:func:`~._memory.tool_prior`; :data:`~._choose.MEMORY_WEIGHT`), and where the
        question names no answer kind the most similar run's kinds guide; 0: the
        memory only shows worked examples.
    seed, temperature
        Decoding (temperature 0 = greedy, deterministic).
    log_path
        Provenance log file (``None``: kept in memory, ``agent.log.records``).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        kb: Any = None,
        workspace: Workspace | None = None,
        tools: list[str] | None = None,
        allow_code: bool = False,
        max_steps: int = 6,
        max_tokens: int = 12_000,
        max_seconds: float = 600.0,
        max_repairs: int = 2,
        max_tools: int | None = None,
        plan: bool = True,
        on_unsupported: Literal["remove", "flag"] = "remove",
        verify_mode: Literal["lexical", "hybrid", "dense"] = "lexical",
        constrain: bool = True,
        ground_arguments: bool = False,
        choice: Literal["opening", "channel"] = "opening",
        guide: bool = False,
        answer_choice: str = "free",
        memory: Memory | None = None,
        examples: int = 1,
        memory_weight: float = MEMORY_WEIGHT,
        seed: int = 0,
        temperature: float = 0.0,
        log_path: str | Path | None = None,
    ) -> None:
        if choice not in CHOICES:
            raise ValidationError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
        if not memory_weight >= 0:
            raise ValidationError(f"memory_weight must be >= 0, got {memory_weight!r}")
        if answer_choice not in ANSWER_RULES:
            raise ValidationError(
                f"answer_choice must be one of {', '.join(ANSWER_RULES)}, got {answer_choice!r}"
            )
        self.backend = backend
        self.kb = kb
        self.toolbox = Toolbox(workspace, kb=kb, names=tools, allow_code=allow_code)
        self.workspace = self.toolbox.workspace
        self.options = {
            "tools": tools,
            "allow_code": allow_code,
            "max_steps": max_steps,
            "max_tokens": max_tokens,
            "max_seconds": max_seconds,
            "max_repairs": max_repairs,
            "max_tools": max_tools,
            "plan": plan,
            "on_unsupported": on_unsupported,
            "verify_mode": verify_mode,
            "constrain": constrain,
            "ground_arguments": ground_arguments,
            "choice": choice,
            "guide": guide,
            "answer_choice": answer_choice,
            "memory": str(memory.path) if memory is not None else None,
            "examples": examples,
            "memory_weight": float(memory_weight),
            "seed": seed,
            "temperature": temperature,
        }
        self.memory = memory
        self._remembered: list[tuple[dict[str, Any], float]] = []
        self._question = ""
        self._fill: Any = None
        self._log_path = log_path
        self.log = ProvenanceLog(log_path)
        #: the typed steps of the last run (:class:`~._run_memory.RunMemory`)
        self.steps = RunMemory(self.log)

    # -- LLM ---------------------------------------------------------------------------------
    def _chat(
        self,
        *,
        max_tokens: int,
        prefill: str,
        json_object: bool,
        stop: tuple[str, ...] = (),
        schema: dict[str, Any] | None = None,
        pending: str = "",
        final: str = "",
    ) -> ModelCall:
        """One LLM call on the prompt the steps make (plus a ``pending`` user turn not
        yet in a step, or the ``final`` request appended to the last turn)."""
        messages = self.steps.messages(final=final)
        if pending:
            messages.append({"role": "user", "content": pending})
        if schema is not None:
            prefill = ""  # the constrained reply starts the object itself
        choices = None
        if schema is not None and self.options["ground_arguments"]:
            schema, choices = self._choose(messages, schema)
        kwargs: dict[str, Any] = {
            "max_tokens": max_tokens,
            "temperature": self.options["temperature"],
            "seed": self.options["seed"],
            "prefill": prefill,
            "json_object": json_object,
            "stop": stop,
        }
        if schema is not None:
            kwargs["schema"] = schema
        reply = self.backend.chat(messages, **kwargs)
        return ModelCall(
            messages,
            prefill,
            reply.text,
            reply.prompt_tokens,
            reply.completion_tokens,
            reply.seconds,
            reply.model,
            choices,
        )

    def _choose(
        self, messages: list[dict[str, str]], schema: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The schema left to decode and the scores it was chosen by
        (:func:`~._guide.choose_reply`)."""
        return choose_reply(
            self.backend,
            messages,
            schema,
            question=self._question,
            tools=self.toolbox.tools,
            results=[r.tool for r in self.workspace.results.values()],
            fill=self._fill,
            options=self.options,
            remembered=self._remembered,
        )

    def _schema(self, tools: list[Any], *, final: bool = False) -> dict[str, Any] | None:
        """The schema of the next reply (:func:`~._prompt.reply_schema`)."""
        self._fill = None
        if self.options["constrain"] and self.options["ground_arguments"]:
            self._fill = fill_context(self._question, self.workspace, self.kb, self.toolbox.tools)
        return reply_schema(
            tools,
            question=self._question,
            toolbox=self.toolbox,
            kb=self.kb,
            options=self.options,
            final=final,
            fill=self._fill,
        )

    def _prefill(self) -> str:
        # a small local model follows the format far better when its reply is started
        return '{"' if getattr(self.backend, "name", "") == "local" else ""

    # -- run ---------------------------------------------------------------------------------
    def run(self, question: str) -> Answer:
        """Answer ``question``; see the module docstring for the steps."""
        t0 = time.perf_counter()
        opts = self.options
        ws = self.workspace
        self._question = question
        self.log = ProvenanceLog(self._log_path)
        self.steps = steps = RunMemory(self.log)
        shown = shown_tools(self.toolbox, question, self.kb, opts)
        system = system_prompt(shown, ws, opts)
        steps.add(
            TaskStep(
                question,
                system,
                backend=getattr(self.backend, "name", type(self.backend).__name__),
                kb=str(self.kb.path) if self.kb is not None else None,
                options=opts,
                tools=[t.name for t in shown],
                objects=[
                    {"handle": h, "source": source_of(v), "digest": digest(v)}
                    for h, v in ws.objects.items()
                ],
            )
        )
        examples = self.memory.similar(question, opts["examples"]) if self.memory else []
        self._remembered = (
            self.memory.similar_scored(question, _PRIOR_RUNS)
            if self.memory is not None and opts["memory_weight"] > 0
            else []
        )
        steps.add(ExampleStep(examples))
        if opts["plan"]:
            mc = self._chat(
                max_tokens=48,
                prefill="",
                json_object=False,
                stop=("\n\n", "\n4"),
                pending=PLAN.format(question=question),
            )
            steps.add(PlanStep(question, mc))
        else:
            steps.add(PlanStep(question))

        draft, stopped = "", ""
        last: ModelCall | None = None
        seen: dict[str, str] = {}
        used: set[str] = set()
        bad_in_row = 0
        while True:
            budget = self._over_budget(t0, steps.n_actions)
            if budget:
                stopped = budget
                break
            mc = self._chat(
                max_tokens=160,
                prefill=self._prefill(),
                json_object=True,
                schema=self._schema([t for t in shown if t.name not in used]),
            )
            last = mc
            action = parse_action(mc.reply)
            if action.kind == "answer":
                steps.add(AnswerStep(mc, action.answer))
                draft, stopped = action.answer, "answer"
                break
            if action.kind == "error":
                step = ActionStep(mc, None, None, False, f"error: {action.error}", action.error)
            else:
                step = self._act(mc, action, seen)
                if opts["constrain"]:
                    used.add(action.tool)  # each tool at most once per run
            steps.add(step)
            bad_in_row = 0 if step.ok else bad_in_row + 1
            if bad_in_row > opts["max_repairs"]:
                stopped = "invalid_replies"
                break
        if stopped != "answer":
            if not self._out_of_time_or_tokens(t0):
                mc = self._chat(
                    max_tokens=200,
                    prefill=self._prefill(),
                    json_object=True,
                    schema=self._schema([], final=True),
                    final=FINAL,
                )
                action = parse_action(mc.reply)
                if action.kind == "answer":
                    draft = action.answer
                steps.add(AnswerStep(mc, draft))
                last = mc
            if not draft and last is not None and "{" not in last.reply:
                draft = last.reply.strip()  # prose reply: verify it like an answer
        answer_text, checks, citations = verify_answer(
            draft,
            kb=self.kb,
            workspace=ws,
            on_unsupported=opts["on_unsupported"],
            mode=opts["verify_mode"],
        )
        if not draft:
            why = {
                "invalid_replies": "the model's replies were not valid tool calls or answers",
                "max_steps": "the step budget was used up",
                "max_tokens": "the token budget was used up",
                "max_seconds": "the time budget was used up",
            }.get(stopped, f"stopped: {stopped}")
            answer_text = f"No answer: {why}."
        steps.add(VerifyStep([c.to_dict() for c in checks]))
        prompt_tokens, completion_tokens = steps.tokens
        answer = Answer(
            question=question,
            answer=answer_text,
            draft=draft,
            citations=citations,
            claims=checks,
            plan=steps.plan,
            calls=steps.calls(),
            n_actions=steps.n_actions,
            n_valid_calls=steps.n_valid_calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            llm_calls=len(steps.model_calls()),
            seconds=time.perf_counter() - t0,
            stopped=stopped,
            backend=getattr(self.backend, "name", ""),
            log_path=str(self.log.path) if self.log.path else None,
        )
        kinds = {n: t.spec.answer_kind for n, t in self.toolbox.tools.items()}
        answer.evidence = check_evidence(question, draft, answer.calls, kinds)
        if self.memory is not None:
            answer.remembered = self.memory.add(answer)
        steps.add(
            FinalStep(
                answer.answer,
                draft,
                citations,
                stopped,
                prompt_tokens,
                completion_tokens,
                answer.n_actions,
                answer.n_valid_calls,
                answer.remembered,
                answer.seconds,
            )
        )
        return answer

    def _act(self, mc: ModelCall, action: Action, seen: dict[str, str]) -> ActionStep:
        key = json.dumps([action.tool.lower(), action.arguments], sort_keys=True, default=str)
        if key in seen:
            observation = f"already done: {seen[key]} (use that result, or answer)"
            return ActionStep(
                mc, action.tool, action.arguments, False, observation, "repeated call"
            )
        result = self.toolbox.call(action.tool, action.arguments)
        res = result.result
        if result.ok:
            seen[key] = result.observation[:200]
        return ActionStep(
            mc,
            result.tool,
            result.arguments,
            result.ok,
            result.observation,
            result.error,
            res.handle if res else None,
            res.digest if res else None,
            result.seconds,
        )

    def _out_of_time_or_tokens(self, t0: float) -> bool:
        return (
            sum(self.steps.tokens) >= self.options["max_tokens"]
            or time.perf_counter() - t0 >= self.options["max_seconds"]
        )

    def _over_budget(self, t0: float, steps: int) -> str:
        if steps >= self.options["max_steps"]:
            return "max_steps"
        if sum(self.steps.tokens) >= self.options["max_tokens"]:
            return "max_tokens"
        if time.perf_counter() - t0 >= self.options["max_seconds"]:
            return "max_seconds"
        return ""
