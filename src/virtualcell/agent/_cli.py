"""``vcell ask``, ``vcell agent ...`` and ``vcell mcp``."""

from __future__ import annotations

from pathlib import Path

import typer

from .._cli_types import (
    checked,
    input_argument,
    input_path,
    int_range,
    output_path,
    overwrite_option,
    registry_option,
    seed_option,
)

__all__ = ["register"]

agent_app = typer.Typer(help="LLM agent: benchmark, tool list, replay of a logged run.")

_KB = input_path(
    None,
    "--kb",
    help="Knowledge store file (default: the built store in the cache).",
    dir_okay=False,
    missing_hint=" (build one with: vcell kb build)",
)


def _echo_json(obj) -> None:
    from .._utils import emit_json

    emit_json(obj)


def _backends():
    from ._backends import backends

    return backends


def _backend_option(default: str, help: str):
    return registry_option(default, "--backend", registry=_backends, help=help)


def _read_replies(path: Path | None) -> list[str]:
    """The replies of ``--replies FILE`` (a JSON list of strings)."""
    import json

    from .._errors import ValidationError

    if path is None:
        raise ValidationError("--backend scripted needs --replies FILE (a JSON list of strings)")
    try:
        replies = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValidationError(f"--replies {path}: not a JSON file ({err})") from None
    if not isinstance(replies, list) or not all(isinstance(r, str) for r in replies):
        raise ValidationError(f"--replies {path}: expected a JSON list of strings")
    return replies


def _backend_options(base_url: str | None, model: str | None) -> dict:
    opts = {}
    if base_url:
        opts["base_url"] = base_url
    if model:
        opts["model"] = model
    return opts


def ask_cmd(
    question: str = typer.Argument(..., help="The question."),
    data: Path = input_path(None, "--data", help="Data file available to the tools as 'data'."),
    backend: str = _backend_option("local", "local (default, offline), openai or scripted."),
    replies: Path = input_path(
        None,
        "--replies",
        help="scripted backend: a JSON list of reply strings to replay (reproducible runs).",
        dir_okay=False,
    ),
    kb: Path = _KB,
    workspace: Path = output_path(
        None,
        "--workspace",
        kind="folder",
        existing="resume",
        help="Workspace folder the tools read and write (default: a new one in the cache).",
    ),
    max_steps: int = int_range(
        6, "--max-steps", low=1, high=100, help="Tool-call turns, 1 .. 100."
    ),
    flag: bool = typer.Option(
        False,
        "--flag-unsupported",
        help="Keep unsupported claims, marked, instead of removing them.",
    ),
    allow_code: bool = typer.Option(
        False, "--allow-code", help="Offer the sandboxed Python tool (off by default)."
    ),
    base_url: str = typer.Option(None, "--base-url", help="openai backend: server URL."),
    model: str = typer.Option(
        None,
        "--model",
        help="local backend: smollm2-135m (default) or gemma3-270m; openai: the model name.",
    ),
    memory: bool = typer.Option(
        False,
        "--memory",
        help="Show the most similar verified earlier run as a worked example and store "
        "this run if its answer passes verification.",
    ),
    memory_path: Path = typer.Option(
        None, "--memory-path", dir_okay=False, help="Memory store file (default: in the cache)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON."),
) -> None:
    """Answer a question with the agent: answer, citations, provenance log."""
    from . import ask, make_backend

    if backend == "scripted":
        llm = make_backend("scripted", replies=_read_replies(replies))
    else:
        llm = make_backend(backend, **_backend_options(base_url, model))
    ans = ask(
        question,
        data=data,
        backend=llm,
        kb=kb,
        workspace=workspace,
        on_unsupported="flag" if flag else "remove",
        max_steps=max_steps,
        allow_code=allow_code,
        **_memory_option(memory, memory_path),
    )
    if as_json:
        _echo_json(ans.to_dict())
        _no_answer_exit(ans)
        return
    if ans.answered:
        typer.echo(f"answer ({_verification_line(ans)}):")
    typer.echo(ans.answer)
    unchecked = [c for c in ans.claims if c.label == "not_a_claim"]
    if ans.answered and ans.verification != "verified" and unchecked:
        typer.echo("not checked (no claim a tool result or the knowledge base could support):")
        for c in unchecked:
            typer.echo(f"  - {c.sentence}")
    if ans.citations:
        typer.echo("citations:")
        for i, c in enumerate(ans.citations, 1):
            typer.echo(f"  [{i}] {c}")
    removed = ans.removed
    if removed:
        typer.echo("removed (unsupported):")
        for c in removed:
            typer.echo(f"  - {c.sentence} ({c.label}: {c.reason})")
    typer.echo(
        f"provenance log: {ans.log_path}  ({ans.llm_calls} LLM calls, "
        f"{ans.prompt_tokens}+{ans.completion_tokens} tokens, {ans.seconds:.1f} s)"
    )
    _no_answer_exit(ans)


def _verification_line(ans) -> str:
    """``verified``/``partly verified``/``unverified`` with the sentence counts."""
    shown = [c for c in ans.claims if c.action != "removed"]
    n_sup = sum(c.label == "supported" for c in shown)
    n_none = sum(c.label == "not_a_claim" for c in shown)
    n_flag = sum(c.action == "flagged" for c in shown)
    parts = [f"{n_sup} of {len(shown)} sentences supported by a tool result or the KB"]
    if n_none:
        parts.append(f"{n_none} not a claim (unchecked)")
    if n_flag:
        parts.append(f"{n_flag} unsupported (flagged)")
    return f"{ans.verification.upper()}: " + "; ".join(parts)


def _no_answer_exit(ans) -> None:
    """Exit 1, with a summary line on stderr, when the agent gave no answer."""
    if not ans.answered:
        typer.secho(
            f"error: no answer (the run stopped: {ans.stopped}; see {ans.log_path})",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(1)


def _check_choice(value: str) -> str:
    from ._choose import CHOICES

    if value not in CHOICES:
        from .._errors import ValidationError

        raise ValidationError(f"choose one of {', '.join(CHOICES)}, not {value!r}")
    return value


def _check_answer_choice(value: str) -> str:
    from ._guide import ANSWER_RULES

    if value not in ANSWER_RULES:
        from .._errors import ValidationError

        raise ValidationError(f"choose one of {', '.join(ANSWER_RULES)}, not {value!r}")
    return value


@agent_app.command("bench")
def bench_cmd(
    backend: str = _backend_option("scripted", "scripted (expert plan), local or openai."),
    tasks: int = typer.Option(
        None, "--tasks", min=1, help="Run only N tasks (round-robin over families)."
    ),
    seed: int = seed_option(help="Seed of task generation and decoding, 0 .. 2**32-1."),
    kb: Path = _KB,
    out: Path = output_path(
        None, "--out", kind="folder", help="Output folder (default: in the cache)."
    ),
    overwrite: bool = overwrite_option(),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Skip the non-LLM baselines."),
    base_url: str = typer.Option(None, "--base-url", help="openai backend: server URL."),
    model: str = typer.Option(
        None,
        "--model",
        help="local backend: smollm2-135m (default) or gemma3-270m; openai: the model name.",
    ),
    rounds: int = int_range(
        1,
        "--rounds",
        low=1,
        high=20,
        help="Rounds of fresh task instances (seeds S, S+1, ...), memory off vs on.",
    ),
    memory: bool = typer.Option(
        False, "--memory", help="Report memory of verified runs off vs on over --rounds."
    ),
    memory_path: Path = typer.Option(
        None,
        "--memory-path",
        dir_okay=False,
        help="Memory store to use and grow (default: a new empty one in the output folder).",
    ),
    choice: str = typer.Option(
        None,
        "--choice",
        callback=checked(_check_choice),
        help="local: how the first tool is chosen (default channel; opening: the model's "
        "probability of each call's opening).",
    ),
    guide: bool = typer.Option(
        None,
        "--guide/--no-guide",
        help="local: the kinds of answer the question asks for guide chaining and answering "
        "(default on).",
    ),
    answer_choice: str = typer.Option(
        None,
        "--answer-choice",
        callback=checked(_check_answer_choice),
        help="local: how the answer's values are chosen (free: decoded; model, contrastive, "
        "rank, model+rank, contrastive+rank, pmi, pmi+rank: scored; pmi: log p(value | "
        "question) - log p(value | question with its genes masked)).",
    ),
    small_model: bool = typer.Option(
        False,
        "--small-model",
        help="openai: use the local backend's small-model rules (5 tools, no plan, grounded "
        "arguments, channel choice, guide, ranked answers), e.g. for a small model behind "
        "llama.cpp's server; local: always on.",
    ),
    random_weights: bool = typer.Option(
        False,
        "--random-weights",
        help="local: a control, the same model with every weight random (what the decoding "
        "rules, tool choice and answer ranking achieve without what the model learned).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run the agent benchmark (>= 80 tasks with programmatic checkers)."""
    from ._bench import results_table, run_benchmark
    from ._bench_rows import SMALL_MODEL_OPTIONS

    given = {
        k: v
        for k, v in (("choice", choice), ("guide", guide), ("answer_choice", answer_choice))
        if v is not None
    }
    if random_weights and backend != "local":
        from .._errors import ValidationError

        raise ValidationError(
            f"--random-weights is a control of the local backend's model, not of {backend!r}"
        )
    options = _backend_options(base_url, model)
    if random_weights:
        options["random_weights"] = True

    result = run_benchmark(
        backend,
        n_tasks=tasks,
        seed=seed,
        kb=kb,
        folder=out,
        overwrite=True,  # --out was checked by the output rule at parsing
        baselines=not no_baselines,
        rounds=rounds,
        memory=memory_path if memory_path is not None else memory,
        agent_options=({**SMALL_MODEL_OPTIONS, **given} if small_model else given) or None,
        **options,
    )
    if as_json:
        _echo_json(result)
        return
    typer.echo(results_table(result))
    extra = []
    if result.get("load_s") is not None:
        extra.append(f"model load {result['load_s']:.1f} s")
    if result.get("tokens_per_s"):
        extra.append(f"{result['tokens_per_s']:.1f} generated tokens/s")
    typer.echo(
        f"{result['note']}; wall {result['wall_s']:.1f} s"
        + (f"; {', '.join(extra)}" if extra else "")
    )
    for r in result.get("rounds") or []:
        typer.echo(
            f"round {r['round']} (seed {r['seed']}, {r['tasks']} tasks): memory off "
            f"{r['memory_off']:.3f}, on {r['memory_on']:.3f} "
            f"({r['memory_size_before']} runs in memory before the round; the memory "
            f"acted on {r.get('memory_choices', 0)} choices and changed "
            f"{r.get('memory_flips', 0)})"
        )
    typer.echo(f"results: {result['folder']}")


@agent_app.command("tools")
def tools_cmd(
    kb: Path = _KB,
    allow_code: bool = typer.Option(
        False, "--allow-code", help="Include the sandboxed Python tool."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print names, descriptions and JSON schemas."
    ),
) -> None:
    """List the agent's tools (derived from the public API)."""
    from . import Toolbox, open_kb

    store = open_kb(kb)
    tb = Toolbox(kb=store, allow_code=allow_code)
    if as_json:
        _echo_json(tb.describe())
    else:
        for name in tb.names():
            t = tb.get(name)
            typer.echo(f"{t.signature()}\n    {t.description}")
        for name, why in sorted(tb.disabled.items()):
            typer.echo(f"(not offered: {name}: {why})", err=True)
    if store is not None:
        store.close()


@agent_app.command("replay")
def replay_cmd(
    log: Path = input_argument(
        ..., help="A provenance log (provenance.jsonl).", dir_okay=False, what="a log file"
    ),
    kb: Path = _KB,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Re-run a logged agent run without the LLM and compare every result."""
    from ..knowledge import load as open_store
    from ._provenance import replay

    store = open_store(kb) if kb is not None else None
    try:
        report = replay(log, kb=store)
    finally:
        if store is not None:
            store.close()
    if as_json:
        _echo_json(report.to_dict())
    else:
        typer.echo(f"replay {'identical' if report.ok else 'DIFFERS'}: {report.calls} calls")
        for m in report.mismatches:
            typer.echo(f"  - {m}")
    if not report.ok:
        raise typer.Exit(1)


def mcp_cmd(
    http: int = typer.Option(
        None,
        "--http",
        min=1,
        max=65535,
        help="Serve streamable HTTP on 127.0.0.1:PORT (default: stdio).",
    ),
    kb: Path = _KB,
    workspace: Path = output_path(
        None,
        "--workspace",
        kind="folder",
        existing="resume",
        help="Folder the tools may read/write (default: a new temporary one).",
    ),
    allow_code: bool = typer.Option(
        False, "--allow-code", help="Offer the sandboxed Python tool (off by default)."
    ),
) -> None:
    """Serve the agent tools over MCP (stdio, or HTTP on 127.0.0.1)."""
    from . import Toolbox, Workspace, open_kb
    from ._mcp import serve

    store = open_kb(kb)
    tb = Toolbox(Workspace(workspace), kb=store, allow_code=allow_code)
    if http is not None:
        typer.echo(f"MCP server on http://127.0.0.1:{http}/mcp ({len(tb)} tools)", err=True)
    serve(tb, http_port=http)


def _memory_option(memory: bool, path: Path | None) -> dict:
    if not memory and path is None:
        return {}
    from ._memory import Memory

    return {"memory": Memory(path)}


memory_app = typer.Typer(help="Memory of verified runs: list, clear, export.")
_MEMORY_PATH = typer.Option(
    None, "--path", dir_okay=False, help="Memory store file (default: in the cache)."
)


@memory_app.command("list")
def memory_list_cmd(
    path: Path = _MEMORY_PATH,
    as_json: bool = typer.Option(False, "--json", help="Print the stored runs as JSON."),
) -> None:
    """List the stored verified runs (question, tools, answer)."""
    from ._memory import Memory

    mem = Memory(path)
    if as_json:
        _echo_json({"path": str(mem.path), "runs": mem.runs})
        return
    typer.echo(f"{len(mem)} verified runs in {mem.path}")
    for i, r in enumerate(mem.runs, 1):
        tools = " -> ".join(c["tool"] for c in r["calls"])
        typer.echo(f"{i}. {r['question']}\n   {tools}: {r['answer'][:120]}")


@memory_app.command("clear")
def memory_clear_cmd(path: Path = _MEMORY_PATH) -> None:
    """Remove every stored run."""
    from ._memory import Memory

    mem = Memory(path)
    typer.echo(f"removed {mem.clear()} runs from {mem.path}")


@memory_app.command("export")
def memory_export_cmd(
    out: Path = output_path(..., "--out", kind="file", help="JSON file to write."),
    overwrite: bool = overwrite_option(),
    path: Path = _MEMORY_PATH,
) -> None:
    """Write the stored runs to a JSON file (the store's versioned format)."""
    from ._memory import Memory

    mem = Memory(path)
    typer.echo(f"exported {len(mem)} runs to {mem.export(out)}")


agent_app.add_typer(memory_app, name="memory")


def register(app: typer.Typer) -> None:
    """Add ``vcell ask``, ``vcell agent ...`` and ``vcell mcp``."""
    app.command("ask")(ask_cmd)
    app.command("mcp")(mcp_cmd)
    app.add_typer(agent_app, name="agent")
