"""The ``openai`` backend: any OpenAI-compatible chat-completions server (vLLM, llama.cpp,
Ollama, ``transformers serve``, hosted), with the reply schema sent as structured output
where the server takes it.

Structured output is asked for in the strongest form the server accepts, stepping down
when it refuses one (400 or 422, or a 5xx naming ``response_format``):

1. ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` (the OpenAI
   form: vLLM, llama.cpp's C++ ``llama-server``, Ollama, hosted);
2. ``{"type": "json_object", "schema": SCHEMA}`` (llama-cpp-python's server, which
   compiles the schema to a grammar but refuses the ``json_schema`` type: HTTP 500
   with its validation error, "Input should be 'text' or 'json_object'");
3. ``{"type": "json_object"}`` (any JSON object);
4. nothing (the tolerant parser and the loop's repair turns).

Some servers answer 200 and *ignore* the field (``transformers serve``). Each reply to a
request that carried a schema is checked against it (an invalid reply cut by the token
limit is counted apart): the counts are in :attr:`OpenAIBackend.schema_stats`, the first
violation is logged, and a reply that is not even JSON under the ``json_schema`` form
moves the backend to the llama-cpp-python form for the next requests.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from .._errors import ValidationError, VirtualCellError
from .._utils import log
from ._backends import Backend, Message, Reply, _words

__all__ = ["OpenAIBackend"]

#: the forms of structured output, strongest first (module docstring)
LEVELS = ("json_schema", "json_object_schema", "json_object", "none")


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def response_format(
    level: str, schema: dict[str, Any] | None, json_object: bool = False
) -> dict[str, Any] | None:
    """The ``response_format`` of a request at ``level`` (one of :data:`LEVELS`);
    ``None``: the field is not sent."""
    if level not in LEVELS:
        raise ValidationError(f"unknown structured-output level {level!r}; one of {LEVELS}")
    if schema is not None and level == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema, "strict": True},
        }
    if schema is not None and level == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    if (schema is not None or json_object) and level == "json_object":
        return {"type": "json_object"}
    return None


def schema_violation(text: str, schema: dict[str, Any]) -> str | None:
    """Why ``text`` is not one JSON value valid against ``schema`` (``None``: it is). With
    no ``jsonschema`` package, or a schema it cannot read, only JSON-ness is checked."""
    try:
        value = json.loads(text)
    except ValueError as err:
        return f"not JSON ({err.msg} at character {err.pos})"
    try:
        import jsonschema
    except ImportError:
        return None if isinstance(value, dict) else "not a JSON object"
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        error = jsonschema.exceptions.best_match(cls(schema).iter_errors(value))
    except jsonschema.exceptions.SchemaError:
        return None if isinstance(value, dict) else "not a JSON object"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the reply"
    return f"{where}: {error.message[:160]}"


def _refused(err: Any) -> bool:
    """Whether an HTTP error answers the ``response_format`` of the request: 400 or 422,
    or a 5xx that names the field (llama-cpp-python's server answers its validation
    error on ``"type": "json_schema"`` with 500)."""
    status = getattr(err, "status_code", None)
    if status in (400, 422):
        return True
    said = f"{err} {getattr(err, 'body', '')}"
    return isinstance(status, int) and status >= 500 and "response_format" in said


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
        #: the form of structured output in use (one of :data:`LEVELS`): the strongest
        #: until the server refuses it or ignores it (module docstring)
        self.structured = LEVELS[0]
        #: replies to requests that carried a schema: ``checked`` (all but ``truncated``:
        #: invalid replies cut by the token limit), ``violations`` (checked replies that
        #: did not validate: the server ignored the schema or its grammar differs),
        #: ``refused`` (forms the server refused), ``first`` (the first violation),
        #: ``requests`` (requests sent, by form of structured output: :data:`LEVELS`,
        #: refused ones included)
        self.schema_stats: dict[str, Any] = {
            "requests": {level: 0 for level in LEVELS},
            "checked": 0,
            "violations": 0,
            "truncated": 0,
            "refused": 0,
            "first": None,
        }

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

    def _step_down(self, why: str) -> None:
        self.structured = LEVELS[LEVELS.index(self.structured) + 1]
        log(f"openai backend: {why}; now asking with response_format={self.structured}")

    def _check(self, text: str, schema: dict[str, Any], finish: str | None) -> None:
        """Count (and log the first) reply that does not follow the requested schema."""
        st = self.schema_stats
        why = schema_violation(text, schema)
        if why is not None and finish == "length":
            st["truncated"] += 1  # cut by the token limit: not the server's fault
            return
        st["checked"] += 1
        if why is None:
            return
        st["violations"] += 1
        if st["first"] is None:
            st["first"] = f"[{self.structured}] {why}"
            log(
                f"openai backend: the server did not follow the schema (response_format="
                f"{self.structured}): {why}; the server may ignore response_format"
            )
        if self.structured == "json_schema" and why.startswith("not JSON"):
            self._step_down("the reply ignored the json_schema form")

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
            rf = response_format(self.structured, schema, json_object)
            if rf is not None:
                kwargs["response_format"] = rf
            self.schema_stats["requests"][self.structured if rf is not None else "none"] += 1
            try:
                resp = client.chat.completions.create(**kwargs)
                break
            except openai.APIStatusError as err:
                # a server without this form of structured output: step down and retry
                if rf is None or not _refused(err):
                    raise VirtualCellError(f"openai backend ({self.base_url}): {err}") from err
                self.schema_stats["refused"] += 1
                self._step_down(f"the server refused response_format={self.structured}")
            except openai.OpenAIError as err:
                raise VirtualCellError(f"openai backend ({self.base_url}): {err}") from err
        dt = time.perf_counter() - t0
        choice = resp.choices[0]
        text = choice.message.content or ""
        if schema is not None and rf is not None and self._sends_schema(rf):
            self._check(text, schema, getattr(choice, "finish_reason", None))
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0) if usage else _words(messages)
        ct = int(getattr(usage, "completion_tokens", 0) or 0) if usage else len(text.split())
        return Reply(text, pt, ct, dt, f"openai:{resp.model or self.model}")

    @staticmethod
    def _sends_schema(rf: dict[str, Any]) -> bool:
        return rf.get("type") == "json_schema" or "schema" in rf
