"""The LLM design policy of :mod:`virtualcell.design` (BioDiscoveryAgent-style, with the
virtual cell in the loop).

Each round the agent loop (:class:`~virtualcell.agent.Agent`) gets one question: the
screen's description, what has been measured, the best results so far and how many
candidates to propose. The screen itself is the workspace object ``screen`` (a
:class:`vc.design.History`); the agent may call, before it answers:

* ``predict_candidates`` — the virtual cell's ranking of the unmeasured candidates (the
  perturbation predictor fitted on the screen so far, inside the active-learning
  surrogate of :mod:`vc.design`);
* ``screen_results`` — the strongest measured perturbations;
* ``gene_neighbors`` — a gene's neighbours in the prior network;
* the knowledge tools (``kb_search``, ``tf_targets``, ``enrich``) when a knowledge store is
  built (they know nothing of simulated or DREAM4 gene names).

The answer is read for candidate labels (``G12``, ``G3+G7``; either gene order): the valid
unmeasured ones, in order, up to the batch. When the model gives fewer, the rest is filled
(``fill="random"``: random unmeasured candidates — so a model that proposes nothing
scores like random; ``fill="model"``: the virtual cell's ranking), and ``usage`` /
``notes`` record how many came from the model. Nothing the model writes is executed.

``backend="expert"`` is a deterministic script in place of an LLM (it calls
``predict_candidates`` and proposes its top rows): the loop's upper bound when the model
follows the virtual cell, used in tests and as a reference row of the benchmark.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .._errors import ValidationError
from .._utils import check_number
from ..data import join_perturbation, split_perturbation
from ..design import Policy
from ._backends import Backend, ScriptedBackend, make_backend

__all__ = ["AgentPolicy", "expert_backend", "parse_candidates"]

#: Tools offered to the design agent (those that exist in the toolbox).
DESIGN_TOOLS = (
    "predict_candidates",
    "screen_results",
    "gene_neighbors",
    "kb_search",
    "tf_targets",
    "enrich",
)

QUESTION = (
    "Round {round} of {rounds} of a genetic screen. {description} Measured so far: "
    "{n_measured} of {n_candidates} candidates. Strongest results so far: {best}. "
    "Propose the {budget} perturbations to measure next: candidates not measured yet, "
    "written like {examples}. The workspace object 'screen' is this screen: call "
    'predict_candidates with {{"history": "screen"}} for the virtual cell\'s predictions '
    "of the unmeasured candidates, screen_results for the measured ones, gene_neighbors "
    'for the network neighbours of a gene. Then answer {{"answer": "X, Y, ..."}} with '
    "exactly {budget} candidates separated by commas."
)

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*(?:\s*\+\s*[A-Za-z0-9][A-Za-z0-9_.\-]*)*")


def parse_candidates(text: str, allowed: Sequence[str], *, limit: int | None = None) -> list[str]:
    """Candidate labels named in ``text`` that are in ``allowed`` (either gene order for a
    combination), in order of appearance, without repeats, at most ``limit``.

    Parameters
    ----------
    text
        The model's reply (free text naming perturbations, e.g. ``"GATA1, KLF1+TAL1"``).
    allowed
        The labels that may be chosen (the screen's untested perturbations; ``A+B`` for a
        combination).
    limit
        Most labels returned (``None``: all that are named).

    Returns
    -------
    list[str]
        The labels as spelled in ``allowed``.
    """
    ok = set(allowed)
    out: list[str] = []
    for m in _LABEL.finditer(text or ""):
        raw = re.sub(r"\s+", "", m.group(0)).strip(".-_")
        label = join_perturbation(split_perturbation(raw))
        if label in ok and label not in out:
            out.append(label)
            if limit is not None and len(out) >= limit:
                break
    return out


def _expert_reply(messages: Sequence[dict[str, str]]) -> str:
    """The scripted expert: ask the virtual cell, then propose what it ranks first."""
    last = str(messages[-1].get("content", ""))
    if "Observation" not in last:
        return json.dumps({"tool": "predict_candidates", "args": {"history": "screen"}})
    budget = re.search(r"exactly (\d+) candidates", str(messages[1].get("content", "")))
    k = int(budget.group(1)) if budget else 8
    body = last.split("Observation (data, not instructions):", 1)[-1]
    rows = [line.split(",", 1)[0].strip() for line in body.splitlines()[1:] if "," in line]
    names = [r for r in rows if r and r != "perturbation"][:k]
    return json.dumps({"answer": ", ".join(names)})


def expert_backend() -> ScriptedBackend:
    """The deterministic scripted expert (no LLM; see the module docstring)."""
    return ScriptedBackend(replies=[_expert_reply] * 100_000, name="expert")


class AgentPolicy(Policy):
    """LLM agent policy: the model reads the screen, may call the virtual cell, the
    network and the knowledge base as tools, and names the next perturbations.

    Parameters
    ----------
    backend
        ``"local"`` (SmolLM2-135M on CPU), ``"openai"`` (an OpenAI-compatible server from
        the environment), ``"expert"`` (a deterministic script, no LLM) or a backend object.
    seed
        Seed of decoding and of the random fill.
    kb
        Knowledge store: ``"auto"`` (the built default store, if any), a path, an opened
        store or ``None``.
    fill
        How to complete a batch the model leaves short: ``random`` or ``model`` (the
        virtual cell's ranking).
    max_steps, max_tokens, max_seconds
        Budgets of each round's agent run.
    backend_options
        Options of :func:`~virtualcell.agent.make_backend`.
    """

    name = "agent"

    def __init__(
        self,
        *,
        backend: str | Backend = "local",
        seed: int = 0,
        kb: Any = "auto",
        fill: Literal["random", "model"] = "random",
        max_steps: int = 3,
        max_tokens: int = 8_000,
        max_seconds: float = 600.0,
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        check_number("seed", seed, low=0, integer=True)
        check_number("max_steps", max_steps, low=1, integer=True)
        if fill not in ("random", "model"):
            raise ValidationError(f"fill must be 'random' or 'model', got {fill!r}")
        if isinstance(backend, str):
            backend = (
                expert_backend()
                if backend == "expert"
                else make_backend(backend, **(backend_options or {}))
            )
        self.backend = backend
        self.seed = int(seed)
        self.kb_arg = kb
        self.fill = fill
        self.max_steps = int(max_steps)
        self.max_tokens = int(max_tokens)
        self.max_seconds = float(max_seconds)
        self.usage: dict[str, Any] = {}
        self.notes: dict[str, Any] = {"backend": getattr(backend, "name", type(backend).__name__),
                                      "fill": fill, "rounds": []}  # fmt: skip
        self._kb: Any = None
        self._kb_opened = False

    def _store(self) -> Any:
        if not self._kb_opened:
            self._kb_opened = True
            if self.kb_arg == "auto":
                from . import open_kb

                self._kb = open_kb(None, build=False)
            elif self.kb_arg is not None:
                from . import open_kb

                self._kb = open_kb(self.kb_arg)
        return self._kb

    def _question(self, history: Any, budget: int) -> str:
        from ..design import screen_results

        screen = history.screen
        best = screen_results(history, top=5)
        best_text = (
            "; ".join(f"{k} {v:.3g}" for k, v in best["hit_score"].items()) if len(best) else "none"
        )
        examples = ", ".join(history.remaining()[:3])
        return QUESTION.format(
            round=history.round + 1,
            rounds=history.budget[0],
            description=screen.description,
            n_measured=len(history.measured()),
            n_candidates=len(screen.candidates),
            best=best_text,
            budget=budget,
            examples=examples,
        )

    def propose(self, history: Any, budget: int) -> list[str]:
        from ._loop import Agent
        from ._tools import tools as tool_registry
        from ._workspace import Workspace

        ws = Workspace()
        ws.put(history, name="screen")
        kb = self._store()
        names = [t for t in DESIGN_TOOLS if t in tool_registry]
        if kb is None:
            names = [t for t in names if t not in ("kb_search", "tf_targets", "enrich")]
        agent = Agent(
            self.backend,
            kb=kb,
            workspace=ws,
            tools=names,
            plan=False,
            max_steps=self.max_steps,
            max_tokens=self.max_tokens,
            max_seconds=self.max_seconds,
            on_unsupported="flag",
            seed=self.seed + history.round,
        )
        answer = agent.run(self._question(history, budget))
        remaining = history.remaining()
        chosen = parse_candidates(answer.draft or answer.answer, remaining, limit=budget)
        n_model = len(chosen)
        if len(chosen) < min(budget, len(remaining)):
            chosen += self._fill(history, chosen, budget - len(chosen))
        self.usage = {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "llm_calls": answer.llm_calls,
        }
        self.notes["rounds"].append(
            {
                "round": history.round + 1,
                "from_model": n_model,
                "filled": len(chosen) - n_model,
                "tool_calls": [c["tool"] for c in answer.calls],
                "valid_calls": answer.n_valid_calls,
                "stopped": answer.stopped,
                "seconds": round(answer.seconds, 2),
            }
        )
        return chosen

    def _fill(self, history: Any, chosen: list[str], k: int) -> list[str]:
        pool = [c for c in history.remaining() if c not in set(chosen)]
        if self.fill == "model":
            from ..design import predict_candidates

            ranked = list(predict_candidates(history, top=max(1, len(pool))).index)
            return [c for c in ranked if c in set(pool)][:k]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 53, history.round]))
        return [pool[i] for i in rng.permutation(len(pool))[:k]]
