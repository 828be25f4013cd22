"""Help pages: every command ends its help with an example whose options exist, every
option is described, required options are marked, flags are shown as flags, help text is
shown as written (no markup swallowing ``[text]``); the README's claims about which
commands take which options are true."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer.main

from virtualcell.cli import EXAMPLES, app

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group) or hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        else:
            out[" ".join(path)] = cmd

    walk(typer.main.get_command(app), ())
    return out


COMMANDS = _commands()


def _help(path: str) -> str:
    cmd = COMMANDS[path]
    with click.Context(cmd, info_name=f"vcell {path}") as ctx:
        return cmd.get_help(ctx)


def _options(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


def test_every_command_is_listed():
    assert len(COMMANDS) >= 30
    assert set(COMMANDS) <= set(EXAMPLES) | set(), sorted(set(COMMANDS) - set(EXAMPLES))


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_page(path):
    cmd, text = COMMANDS[path], _help(path)
    # an example, last, whose command and options exist
    example = EXAMPLES[path]
    assert text.rstrip().splitlines()[-1].strip() == f"Example: {example}"
    words = shlex.split(example)
    assert words[: 1 + len(path.split())] == ["vcell", *path.split()]
    unknown = [w for w in words if w.startswith("-") and w.split("=")[0] not in _options(cmd)]
    assert not unknown, f"the example of `vcell {path}` uses unknown options {unknown}"
    for param in cmd.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        name = param.opts[0]
        assert (param.help or "").strip(), f"`vcell {path}` {name} has no description"
        if param.is_flag:
            assert not param.metavar or param.metavar == "", f"{name} is a flag"
        if param.required:
            with click.Context(cmd, info_name=f"vcell {path}") as ctx:
                record = param.get_help_record(ctx)
            assert record and "[required]" in record[1], f"`vcell {path}` {name} is not marked"
    assert "<bool>" not in text, f"`vcell {path}` shows a flag with a value type"
    assert "  extra" not in text  # markup would swallow "[text]"


def test_kb_build_help_shows_the_extra():
    assert "needs the [text] extra" in " ".join(_help("kb build").split())


def test_readme_claims_about_options_are_true():
    text = " ".join((ROOT / "README.md").read_text().split())
    claims = []
    for clause in re.split(r"; |\. ", text):
        if " take `--" in clause:
            before, after = clause.split(" take ", 1)
            claims.append((before, after))
    assert len(claims) >= 2, "the README's sentences on command options were not found"
    checked = 0
    for commands, options in claims:
        for command in re.findall(r"`vcell ([a-z0-9 -]+)`", commands):
            cmd = COMMANDS[command.strip()]
            for option in re.findall(r"`(--[a-z-]+)`", options):
                assert option in _options(cmd), f"README: `vcell {command}` has no {option}"
                checked += 1
    assert checked >= 15
