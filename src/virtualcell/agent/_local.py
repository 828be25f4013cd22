"""The ``local`` backend: a small GGUF chat model on CPU via transformers (loaded once per
process), with schema-constrained decoding and key/value-cache reuse of the shared prompt
prefix (see :class:`LocalBackend`)."""

from __future__ import annotations

import inspect
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ValidationError, VirtualCellError
from .._utils import log
from ._backends import Backend, Message, Reply
from ._local_models import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, local_model_file

__all__ = ["LocalBackend"]


_CACHE: dict[str, tuple[Any, Any, float]] = {}
_LOCK = threading.Lock()


def randomise_weights(model: Any, *, seed: int = 0) -> None:
    """Replace every weight of a torch model in place by a random one: matrices and
    embeddings ``N(0, 0.02^2)`` (the usual initialisation of these models), normalisation
    scales 1, biases 0; seeded, so the control is the same in every run."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype) * 0.02)
            elif "norm" in name.lower():
                p.fill_(1.0)
            else:
                p.zero_()


class _JSONStop:
    """Stopping criterion: stop strings, or the first balanced ``{...}`` object."""

    def __init__(self, tokenizer: Any, prefill: str, stop: Sequence[str], json_object: bool):
        self.tok, self.prefill = tokenizer, prefill
        self.stop, self.json_object = list(stop), json_object

    def __call__(self, tokens: list[int]) -> bool:
        text = self.prefill + self.tok.decode(tokens, skip_special_tokens=True)
        if any(s in text for s in self.stop):
            return True
        if self.json_object and "{" in text:
            from ._parse import object_end

            return object_end(text, text.index("{"))[0] is not None
        return False


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class LocalBackend(Backend):
    """A small local chat model (GGUF) on CPU via transformers; loaded once per process.

    Decoding is greedy (or seeded sampling with a temperature) in a loop of our own so
    that (1) a ``schema`` constrains every token (:class:`~._constrain.SchemaConstraint`:
    the reply can only be a schema-valid object) and (2) the key/value cache of the
    longest prompt prefix shared with the previous call (system prompt, tools, earlier
    turns) is reused instead of recomputed.

    Parameters
    ----------
    model
        A name of :data:`LOCAL_MODELS` (default ``smollm2-135m``).
    model_file
        A ``.gguf`` file instead (overrides ``model``).
    threads
        Torch CPU threads (default: 1 on a busy machine, else torch's setting).
    reuse_prefix
        Reuse the key/value cache of the shared prompt prefix across calls.
    random_weights
        A control, not an agent: the same architecture and tokenizer with every weight
        drawn at random (:func:`randomise_weights`, seed 0), so a benchmark shows what the
        decoding rules, tool choice and answer ranking achieve without what the model
        learned (``vcell agent bench --random-weights``).
    """

    name = "local"

    def __init__(
        self,
        model: str = DEFAULT_LOCAL_MODEL,
        *,
        model_file: str | Path | None = None,
        threads: int | None = None,
        reuse_prefix: bool = True,
        random_weights: bool = False,
    ):
        if model not in LOCAL_MODELS and model_file is None:
            raise ValidationError(
                f"unknown local model {model!r}; choose one of {', '.join(LOCAL_MODELS)}"
            )
        self.model_name = model
        self.model_file = Path(model_file) if model_file else None
        self.threads = threads
        self.reuse_prefix = reuse_prefix
        self.random_weights = bool(random_weights)
        self.load_seconds: float | None = None
        self.generated_tokens = 0
        self.generation_seconds = 0.0
        self.prompt_tokens = 0
        self.reused_tokens = 0
        self._kv: tuple[list[int], Any] | None = None

    def _threads(self) -> int:
        """``threads``, else 1 when the machine is busy (1-minute load >= cores: several
        OpenMP threads then wait on each other; measured 5.6x faster with 1 thread at load
        9 on 2 cores), else torch's default."""
        import torch

        if self.threads:
            return int(self.threads)
        if not hasattr(self, "_default_threads"):
            self._default_threads = torch.get_num_threads()
        try:
            busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
        except (AttributeError, OSError):
            busy = False
        return 1 if busy else self._default_threads

    def _path(self) -> Path:
        return self.model_file or local_model_file(self.model_name)

    def load(self) -> tuple[Any, Any]:
        """Load (or reuse) the model and tokenizer; sets ``load_seconds`` (0 when cached)."""
        path = self._path()
        key = str(path) + (" (random weights)" if self.random_weights else "")
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
            transformers.logging.disable_progress_bar()
            try:
                tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
                model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
            except (ValueError, KeyError, OSError, RuntimeError) as err:
                raise VirtualCellError(
                    f"could not load {path.name} with transformers + gguf: "
                    f"{str(err).splitlines()[0][:200]}"
                ) from err
            spec = LOCAL_MODELS.get(self.model_name)
            if getattr(tok, "chat_template", None) is None and spec and spec.chat_template:
                tok.chat_template = spec.chat_template
            model.eval()
            if self.random_weights:
                randomise_weights(model, seed=0)
                log(f"{path.name}: every weight replaced by a random one (a control)")
            self.load_seconds = time.perf_counter() - t0
            _CACHE[key] = (model, tok, self.load_seconds)
            log(f"loaded {path.name} in {self.load_seconds:.1f} s")
            return model, tok

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second over this backend's calls so far."""
        return self.generated_tokens / self.generation_seconds if self.generation_seconds else 0.0

    def _reusable_cache(self, ids: Sequence[int]) -> tuple[Any, int]:
        """The kept key/value cache cropped to the prefix ``ids`` shares with the last
        prompt, and where feeding resumes; ``(None, 0)`` when nothing can be reused."""
        if not self.reuse_prefix or self._kv is None:
            return None, 0
        prev, cache = self._kv
        start = min(_common_prefix(prev, ids), len(ids) - 1)
        try:
            extra = int(cache.get_seq_length()) - start
            if extra > 0:
                cache.crop(-extra)  # a negative count removes that many tokens
        except (AttributeError, ValueError, RuntimeError, TypeError):
            return None, 0
        if cache is None or start <= 0:
            return None, 0
        return cache, start

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
        import torch

        model, tok = self.load()
        torch.set_num_threads(self._threads())
        prompt = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        if schema is not None:
            prefill = ""  # the grammar starts the object itself
        prompt += prefill
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        constraint = None
        if schema is not None:
            from ._constrain import SchemaConstraint

            constraint = SchemaConstraint(tok, schema, vocab_size=model.config.vocab_size)
        stopper = _JSONStop(tok, prefill, stop, json_object and constraint is None)
        t0 = time.perf_counter()
        new = self.generate(
            model, tok, ids, max_tokens=max_tokens, temperature=temperature, seed=seed,
            constraint=constraint, stopper=stopper,
        )  # fmt: skip
        dt = time.perf_counter() - t0
        text = tok.decode(new, skip_special_tokens=True)
        for s in stop:
            if s in text:
                text = text[: text.index(s)]
        self.generated_tokens += len(new)
        self.generation_seconds += dt
        self.prompt_tokens += len(ids)
        return Reply(text, len(ids), len(new), dt, f"local:{self._path().name}")

    def score(self, messages: Sequence[Message], continuations: Sequence[str]) -> list[float]:
        """Log-probability of each of ``continuations`` as the start of the reply: the
        exact probability of each branch of a choice (``{"tool":"NAME","args":`` for each
        offered tool, ``{"answer":[``), where token-by-token greedy decoding would favour
        branches that share a first token. The prompt is processed once (its key/value
        cache is kept for the reply that follows)."""
        import torch

        model, tok = self.load()
        torch.set_num_threads(self._threads())
        prompt = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        key = (
            "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        )
        t0 = time.perf_counter()
        cache, start = self._reusable_cache(ids)
        self._kv = None
        self.reused_tokens += start
        out: list[float] = []
        with torch.no_grad():
            res = model(torch.tensor([ids[start:]]), use_cache=True, **{key: cache})
            cache = res[key] if key in res else res.past_key_values
            last = torch.log_softmax(res.logits[0, -1, :].float(), dim=-1)
            n = len(ids)
            for text in continuations:
                full = tok(prompt + text, add_special_tokens=False)["input_ids"]
                cont = (
                    full[n:]
                    if full[:n] == ids
                    else tok(text, add_special_tokens=False)["input_ids"]
                )
                lp = float(last[cont[0]])
                if len(cont) > 1:
                    r = model(torch.tensor([cont[:-1]]), use_cache=True, **{key: cache})
                    cache = r[key] if key in r else r.past_key_values
                    logp = torch.log_softmax(r.logits[0].float(), dim=-1)
                    lp += float(sum(logp[i, t] for i, t in enumerate(cont[1:])))
                    cache.crop(-(len(cont) - 1))  # back to the prompt for the next option
                out.append(lp)
        self.prompt_tokens += len(ids) - start
        self.generation_seconds += time.perf_counter() - t0
        if self.reuse_prefix:
            self._kv = (list(ids), cache)
        return out

    def generate(
        self,
        model: Any,
        tok: Any,
        ids: list[int],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        seed: int = 0,
        constraint: Any = None,
        stopper: Any = None,
    ) -> list[int]:
        """Decode up to ``max_tokens`` tokens after ``ids`` (see the class docstring)."""
        import torch

        from ._constrain import CLOSING_TOKENS as closing_budget

        gen = torch.Generator().manual_seed(int(seed)) if temperature > 0 else None
        eos = {
            int(e) for e in np.atleast_1d(tok.eos_token_id if tok.eos_token_id is not None else [])
        }
        cache, start = self._reusable_cache(ids)
        self._kv = None
        self.reused_tokens += start
        # transformers 5.25 renamed past_key_values to cache (argument and output)
        key = (
            "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        )
        fed = list(ids[:start])
        pending = list(ids[start:])
        out: list[int] = []
        # the budget counts the tokens the model chose; tokens the grammar forces (a
        # filled call's const list of 25 edges) are bounded by the schema, not by it
        chosen = 0
        hard_cap = max_tokens + closing_budget + 4096
        with torch.no_grad():
            while True:
                res = model(torch.tensor([pending]), use_cache=True, **{key: cache})
                cache = res[key] if key in res else res.past_key_values
                fed += pending
                n = chosen if constraint is not None else len(out)
                closing = n >= max_tokens
                if closing and (constraint is None or n >= max_tokens + closing_budget):
                    break
                if len(out) >= hard_cap:
                    break
                scores = res.logits[0, -1, :].float()
                if constraint is not None:
                    from ._constrain import allowed_or_eos

                    if constraint.done:
                        break
                    scores = allowed_or_eos(constraint, scores)
                    if closing:  # budget spent: close what is open where the grammar allows
                        closers = scores.masked_fill(
                            ~constraint.closing(tok)[: scores.shape[0]], float("-inf")
                        )
                        if torch.isfinite(closers).any():
                            scores = closers
                if len(out) >= 3 and out[-1] == out[-2] == out[-3]:
                    # a small model stuck on one token ("0000...") tries anything else
                    alt = scores.clone()
                    alt[out[-1]] = float("-inf")
                    if torch.isfinite(alt).any():
                        scores = alt
                if temperature > 0:
                    probs = torch.softmax(scores / float(temperature), dim=-1)
                    nxt = int(torch.multinomial(probs, 1, generator=gen)[0])
                else:
                    nxt = int(torch.argmax(scores))
                if nxt in eos and (constraint is None or constraint.accepting):
                    break
                out.append(nxt)
                chosen += 1
                pending = [nxt]
                if constraint is not None:
                    constraint.consume(nxt)
                    if constraint.done:
                        break
                    forced = constraint.forced()
                    room = hard_cap - len(out)
                    if forced and room > 0:
                        forced = forced[:room]
                        for t in forced:
                            constraint.consume(t)
                        out += forced
                        pending = [nxt, *forced]
                        if constraint.done:
                            break
                elif stopper is not None and stopper(out):
                    break
                if len(out) >= max_tokens and constraint is None:
                    break
        if self.reuse_prefix and cache is not None:
            self._kv = (fed, cache)
        return out
