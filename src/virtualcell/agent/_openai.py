"""The ``openai`` backend: any OpenAI-compatible chat-completions server (vLLM, llama.cpp,
Ollama, ``transformers serve``, hosted), with the reply schema sent as structured output
where the server takes it."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from .._errors import ValidationError, VirtualCellError
from .._utils import log
from ._backends import Backend, Message, Reply, _words

__all__ = ["OpenAIBackend"]


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


class OpenAIBackend(Backend):
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
        #: how replies are constrained: ``json_schema`` until the server refuses it, then
        #: ``json_object``, then ``none`` (the tolerant parser and the loop's repair turns)
        self.structured = "json_schema"

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
        schema: dict[str, Any] | None = None,
    ) -> Reply:
        import openai

        client = self._get_client()
        base = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "seed": int(seed),
            "stop": list(stop) or None,
        }
        t0 = time.perf_counter()
        while True:
            kwargs = dict(base)
            if schema is not None and self.structured == "json_schema":
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "reply", "schema": schema, "strict": True},
                }
            elif (schema is not None or json_object) and self.structured == "json_object":
                kwargs["response_format"] = {"type": "json_object"}
            try:
                resp = client.chat.completions.create(**kwargs)
                break
            except openai.BadRequestError as err:
                # a server without structured output: fall back one level and retry
                if "response_format" not in kwargs:
                    raise VirtualCellError(f"openai backend ({self.base_url}): {err}") from err
                self.structured = "json_object" if self.structured == "json_schema" else "none"
                log(f"openai backend: server refused response_format; using {self.structured}")
            except openai.OpenAIError as err:
                raise VirtualCellError(f"openai backend ({self.base_url}): {err}") from err
        dt = time.perf_counter() - t0
        text = resp.choices[0].message.content or ""
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else _words(messages)
        ct = int(getattr(usage, "completion_tokens", 0) or 0) if usage else len(text.split())
        return Reply(text, pt, ct, dt, f"openai:{resp.model or self.model}")
