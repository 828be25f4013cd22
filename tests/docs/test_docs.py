"""Docs are tests: every ``python`` block and every command of a ``bash`` block of the
README and of the checked ``docs/*.md`` pages runs, in order, in a fresh folder.

- ``python`` blocks of one page run in one namespace (later blocks use earlier names);
- ``bash`` blocks run line by line with ``bash`` (``\\`` continuations joined, comments
  dropped), ``vcell`` on the ``PATH``; every command must exit 0 and print no traceback;
  with ``VIRTUALCELL_DOCS_FAST=1`` a plain ``vcell ...`` line (no shell syntax) runs in
  this process through the console script's entry point ``virtualcell.cli.main`` (same
  parsing, library calls and exit code, without a fresh interpreter's ~4 s of imports per
  command); lines with shell syntax still go through ``bash`` (so the README's ``vcell``
  script runs in fresh processes too), and tests/hardening runs the CLI in subprocesses;
- other fences (``text``, none) are output or synopsis and are not run;
- the folder has ``../shared/data`` beside it (the reference data, like a checkout), an
  offline private cache, and nothing else.

``VIRTUALCELL_DOCS_FAST=1`` (the default here) applies the substitutions listed in
``FAST`` before running: fewer training steps, smaller simulations, a tiny knowledge
source, lexical claim checks; each substitution must match, so the table follows the
docs. ``VIRTUALCELL_DOCS_FAST=0`` runs everything exactly as written, every command with
``bash`` (minutes).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = os.environ.get("VIRTUALCELL_DOCS_FAST", "1").strip() != "0"
_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.M | re.S)

#: Pages whose examples run. Every page of docs/ is listed here or in PENDING_PAGES.
CHECKED_PAGES = (
    "README.md",
    "docs/agent.md",
    "docs/architecture.md",
    "docs/bench.md",
    "docs/data.md",
    "docs/grn.md",
    "docs/models.md",
    "docs/perturb.md",
    "docs/represent.md",
    "docs/train.md",
    "docs/datasets.md",
    "docs/design.md",
    "docs/hardening.md",
    "docs/index.md",
    "docs/knowledge.md",
    "docs/metrics.md",
    "docs/multiomic.md",
    "docs/pp.md",
    "docs/sim.md",
    "docs/spatial.md",
    "docs/splits.md",
    "docs/tokenize.md",
    "docs/text.md",
)
#: Pages whose examples are not runnable yet -> owner (remove once they run).
PENDING_PAGES: dict[str, str] = {}
#: README commands that need an interface another branch adds -> owner. Each runs as an
#: xfail(strict=True) case: delete the entry once the command works.
PENDING_COMMANDS: dict[str, str] = {}

#: Commands that are not re-run here: the set-up targets (`make demo` runs the main job,
#: covered by tests/bench; `make test` is this suite).
SKIP_PREFIXES = ("make ",)

#: VIRTUALCELL_DOCS_FAST=1: (page, text, replacement); each text must occur in the page.
FAST_SUBSTITUTIONS = [
    ("README.md", 'use_rep="X_vc"))', 'use_rep="X_vc", resolutions=(1.0,)))'),
    ("README.md", "TrainConfig(max_steps=50, batch_size=16)", "TrainConfig(max_steps=3, batch_size=16)"),
    ("README.md", "simulate_perturbseq(100, singles=20, doubles=10, seed=0)",
     "simulate_perturbseq(20, cells_per_condition=20, singles=5, doubles=3, seed=0)"),
    ("README.md", 'vc.knowledge.build(source="../shared/data/knowledge")',
     'vc.knowledge.build(source="kb-src", include_defaults=False)'),
    ("README.md", 'kb.verify("KLF1 regulates erythroid differentiation")',
     'kb.verify("KLF1 regulates erythroid differentiation", mode="lexical")'),
    ("README.md", "--genes 100 --cells-per-condition 200 --doubles 50",
     "--genes 20 --cells-per-condition 10 --singles 4 --doubles 2"),
    ("README.md", "--out ckpt --max-steps 200",
     "--out ckpt --max-steps 2 --d-model 16 --n-layers 1 --n-heads 2 --max-len 32"),
    ("README.md", "vcell kb build --overwrite &&",
     "vcell kb build --source kb-src --no-defaults --overwrite &&"),
    ("README.md", "vcell bench --preset quick --task grn --out results/quick",
     "vcell bench --preset quick --task grn --seeds 0 -j 1 --out results/quick"),
    ("docs/sim.md", "sample_grn(100, n_cell_types=3, seed=0)", "sample_grn(20, n_cell_types=3, seed=0)"),
    ("docs/sim.md", "cells_per_condition=130, singles=100, doubles=50",
     "cells_per_condition=20, singles=6, doubles=3"),
    ("docs/sim.md", "--genes 100 --cell-types 3 --cells-per-condition 200 --singles 100 --doubles 50",
     "--genes 20 --cell-types 3 --cells-per-condition 10 --singles 4 --doubles 2"),
    ("docs/sim.md", "--out sim.h5ad --plots figures", "--out sim.h5ad"),
    ("docs/knowledge.md", "vcell kb build                        # offline",
     "vcell kb build --source kb-src --no-defaults # offline"),
    ("docs/knowledge.md", "--source ../shared/data/knowledge --out kb.sqlite",
     "--source kb-src --no-defaults --out kb.sqlite"),
    ("docs/knowledge.md", "vc.knowledge.build(overwrite=True)",
     'vc.knowledge.build(source="kb-src", include_defaults=False, overwrite=True)'),
    ("docs/knowledge.md", 'mode="hybrid")', 'mode="lexical")'),
    ("docs/knowledge.md", 'vcell kb verify "TP53 activates CDKN1A" --json',
     'vcell kb verify "TP53 activates CDKN1A" --json --mode lexical'),
    ("docs/spatial.md", "simulate_tissue(100, n_cells=2000, n_niches=4,",
     "simulate_tissue(100, n_cells=600, n_niches=4,"),
    ("docs/spatial.md", "--cells 2000 --seed 0 --out", "--cells 600 --seed 0 --out"),
    ("docs/tokenize.md", "RankTokenizer(max_len=2048)", "RankTokenizer(max_len=64)"),
    ("docs/text.md", "BRIDGE_TRAIN_CONFIG.replace(max_steps=300)",
     "BRIDGE_TRAIN_CONFIG.replace(max_steps=5)"),
    ("docs/text.md", "--seed 0 --steps 300 --no-kb --json", "--seed 0 --steps 5 --no-kb --no-ontology --json"),
    # the agent pages: a scripted reply file instead of the local LLM (which takes minutes
    # on a loaded CPU; tests/agent/test_agent_backends.py runs it with --runslow)
    ("docs/agent.md", "--source ../shared/data/knowledge --out kb.sqlite",
     "--source kb-src --no-defaults --out kb.sqlite"),
    ("docs/agent.md", "transcription factor KLF1.\" --kb kb.sqlite",
     "transcription factor KLF1.\" --kb kb.sqlite --backend scripted --replies replies.json"),
    ("docs/agent.md", "--data perturb.h5ad --kb kb.sqlite --json",
     "--data perturb.h5ad --kb kb.sqlite --json --backend scripted --replies replies.json"),
    ("docs/agent.md", "--backend scripted --seed 0 --kb kb.sqlite --json",
     "--backend scripted --seed 0 --kb kb.sqlite --json --tasks 3 --no-baselines"),
    ("README.md", "vcell kb build --source ../shared/data/knowledge --overwrite",
     "vcell kb build --source kb-src --no-defaults --overwrite"),
    ("README.md", "the transcription factor KLF1.\"\n",
     "the transcription factor KLF1.\" --backend scripted --replies replies.json\n"),
    ("README.md", "vcell agent bench --backend scripted --seed 0 --json",
     "vcell agent bench --backend scripted --seed 0 --json --tasks 3 --no-baselines"),
    ("README.md", "vcell mcp                               #", "vcell mcp < /dev/null  #"),
    ("docs/design.md", '"active_thompson", seed=0)', '"active_thompson", seed=0, rounds=2)'),
    ("docs/spatial.md", "simulate_tissue(100, n_cells=2000, seed=0)",
     "simulate_tissue(60, n_cells=600, n_lr_pairs=6, n_signalling=3, seed=0)"),
    ("docs/design.md", "seeds=[0, 1])", "seeds=[0], rounds=2)"),
    ("docs/design.md", "--env-option truth_cells=100",
     "--env-option truth_cells=50 --env-option observational_cells=100 --env-option cells=20"),
]  # fmt: skip

#: A command line with any of these characters needs bash (operators, redirection,
#: expansion, globs); a ``vcell`` line without them may run in-process (FAST mode).
_SHELL_SYNTAX = re.compile(r"[|&;<>$`(){}\[\]*?~!\\]")

#: Replies of the scripted backend in the FAST runs of `vcell ask`.
SCRIPTED_REPLIES = [
    "plan: look up the transcription factor's targets",
    '{"tool": "tf_targets", "args": {"tf": "KLF1"}}',
    '{"answer": "KLF1 regulates HBB."}',
]


def _page_text(page: str) -> str:
    text = (ROOT / page).read_text()
    if FAST:
        for name, old, new in FAST_SUBSTITUTIONS:
            if name == page:
                assert old in text, f"FAST substitution for {page} no longer matches: {old!r}"
                text = text.replace(old, new)
    return text


def _blocks(text: str) -> list[tuple[str, str]]:
    return [(lang.lower(), body) for lang, body in _FENCE.findall(text)]


def _commands(body: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", body)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        elif line.startswith("$"):
            continue
        if not line or line.startswith("#"):
            continue
        out.append(line)
    return out


@pytest.fixture
def workdir(tmp_path, shared_data, monkeypatch, warm_jit):
    """A checkout-like folder: ``../shared/data`` beside it, tiny knowledge sources in
    ``kb-src`` (used by the FAST substitutions), a private cache; numba/scanpy JIT warm."""
    import importlib.util

    work = tmp_path / "checkout"
    work.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data)
    spec = importlib.util.spec_from_file_location(
        "_kbdata", ROOT / "tests" / "knowledge" / "_kbdata.py"
    )
    kbdata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kbdata)
    kbdata.write_sources(work / "kb-src")
    (work / "replies.json").write_text(json.dumps(SCRIPTED_REPLIES))
    monkeypatch.chdir(work)
    return work


def _env(work: Path) -> dict[str, str]:
    from virtualcell import settings

    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        VIRTUALCELL_OFFLINE="1",
        VIRTUALCELL_CACHE=str(settings.cache_dir),
        VIRTUALCELL_DATA=str(settings.data_dir),
        MPLBACKEND="Agg",
    )
    return env


def _without_comment(command: str) -> str:
    """``command`` up to a ``#`` that starts a word outside quotes (a shell comment)."""
    quote = None
    for i, ch in enumerate(command):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i]
    return command


def _in_process_argv(command: str) -> list[str] | None:
    """The arguments after ``vcell`` when ``command`` can run in-process, else ``None``."""
    code = _without_comment(command)
    if not FAST or _SHELL_SYNTAX.search(code):
        return None
    words = shlex.split(code)
    return words[1:] if words and words[0] == "vcell" else None


def _run_in_process(argv: list[str]) -> subprocess.CompletedProcess:
    """``vcell *argv`` through :func:`virtualcell.cli.main` in the page's folder (the
    fixture's working directory), with the settings a fresh process would read from the
    environment of :func:`_env` (same cache, data folder, offline) and default verbosity."""
    from virtualcell import settings
    from virtualcell.cli import main

    out, err = io.StringIO(), io.StringIO()
    verbosity = settings.verbosity
    settings.verbosity = next(f.default for f in fields(settings) if f.name == "verbosity")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # a command that exits on its own
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        settings.verbosity = verbosity
    return subprocess.CompletedProcess(["vcell", *argv], code, out.getvalue(), err.getvalue())


def _run_page(page: str, work: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    waiting: list[str] = []  # pending commands that do not work yet
    for lang, body in _blocks(_page_text(page)):
        if lang == "python":
            exec(compile(body, f"{page}:python", "exec"), namespace)
        elif lang in ("bash", "console", "shell", "sh"):
            for command in _commands(body):
                if command.startswith(SKIP_PREFIXES):
                    continue
                pending = next(
                    (v for k, v in PENDING_COMMANDS.items() if command.startswith(k)), None
                )
                argv = _in_process_argv(command)
                done = _run_in_process(argv) if argv is not None else subprocess.run(
                    ["bash", "-c", command], cwd=work, env=_env(work),
                    capture_output=True, text=True, timeout=900,
                )  # fmt: skip
                if pending:
                    if done.returncode == 0:
                        pytest.fail(f"{command!r} works now: remove it from PENDING_COMMANDS")
                    waiting.append(f"{command!r}: {pending}")
                    continue
                assert done.returncode == 0, (
                    f"{page}: `{command}` exited {done.returncode}\n{done.stdout[-2000:]}"
                    f"\n{done.stderr[-3000:]}"
                )
                assert "Traceback" not in done.stderr, done.stderr[-3000:]
    if waiting:  # everything else ran; these wait for another branch
        pytest.xfail("; ".join(waiting))


def test_every_docs_page_is_checked_or_pending():
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    unknown = sorted(pages - set(CHECKED_PAGES) - set(PENDING_PAGES))
    assert not unknown, f"docs pages neither checked nor pending: {unknown}"


def test_only_python_and_shell_fences_are_code():
    """Blocks in other languages are not run: they must say what they are (``text``)."""
    for page in CHECKED_PAGES:
        for lang, _ in _blocks((ROOT / page).read_text()):
            assert lang in ("python", "bash", "console", "shell", "sh", "text"), (
                f"{page}: a ```{lang} block (use python, bash or text)"
            )


@pytest.mark.shared_data
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("page", [p for p in CHECKED_PAGES if p != "README.md"])
def test_docs_page_examples_run(page, workdir):
    _run_page(page, workdir)


@pytest.mark.shared_data
@pytest.mark.timeout(1800)
def test_readme_examples_run(workdir):
    _run_page("README.md", workdir)
    assert (workdir / "sim.h5ad").is_file() and (workdir / "sim_heatmap.png").is_file()
