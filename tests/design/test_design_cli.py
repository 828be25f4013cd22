"""``vcell design``: one screen as JSON, the listings, one-line errors."""

from __future__ import annotations

import json

import pytest

from virtualcell.cli import main

TINY_ARGS = [
    f"--env-option={k}={v}"
    for k, v in {
        "n_genes": 30,
        "truth_cells": 50,
        "observational_cells": 100,
        "control_cells": 50,
        "cells": 20,
    }.items()
]


def test_design_json(capsys, tmp_path):
    out = tmp_path / "res.json"
    code = main(["design", "--env", "sim_knockout", "--policy", "prior", "--rounds", "2",
                 "--batch", "3", "--seed", "1", "--json", "--out", str(out), *TINY_ARGS])  # fmt: skip
    cap = capsys.readouterr()
    assert code == 0, cap.err
    d = json.loads(cap.out)
    assert d["env"] == "sim_knockout" and d["policy"] == "prior" and d["seed"] == 1
    assert len(d["curve"]) == 2 and d["hit_rate"] == d["curve"][-1]
    assert isinstance(d["hits"], int) and d["hits"] == round(d["hit_rate"] * d["n_true_hits"])
    assert json.loads(out.read_text())["proposals"] == d["proposals"]


def test_design_text(capsys):
    """The text summary reports the run's own numbers (the same run as --json)."""
    import re

    args = ["design", "-e", "sim_knockout", "-p", "random", "-r", "2", "-b", "3", *TINY_ARGS]
    code = main(args)
    text = capsys.readouterr()
    assert code == 0, text.err
    assert main([*args, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    m = re.search(
        r"seed 0: (\d+) of (\d+) hits in 2 x 3 \(hit rate ([\d.]+), AUC ([\d.]+)\)", text.out
    )
    assert m, text.out
    assert (int(m[1]), int(m[2])) == (d["hits"], d["n_true_hits"])
    assert float(m[3]) == pytest.approx(d["hit_rate"], abs=5e-4)
    assert float(m[4]) == pytest.approx(d["auc"], abs=5e-4)
    curve = re.search(r"curve: ([\d. ]+)", text.out)[1].split()
    assert [float(v) for v in curve] == pytest.approx(d["curve"], abs=5e-3)


def test_design_agent_expert(capsys):
    """The expert backend proposes every gene itself (nothing filled at random), through
    the candidate tool, and the hits counted are the proposals found."""
    code = main(["design", "--env", "sim_knockout", "--policy", "agent", "--backend", "expert",
                 "--rounds", "1", "--batch", "2", "--json", *TINY_ARGS])  # fmt: skip
    cap = capsys.readouterr()
    assert code == 0, cap.err
    d = json.loads(cap.out)
    assert d["policy"] == "agent" and d["notes"]["backend"] == "expert"
    (round_1,) = d["notes"]["rounds"]
    assert (round_1["from_model"], round_1["filled"]) == (2, 0), round_1
    assert "predict_candidates" in round_1["tool_calls"] and round_1["valid_calls"] >= 1
    (proposed,) = d["proposals"]
    assert len(set(proposed)) == 2 and set(d["found"]) <= set(proposed)
    assert d["hits"] == len(d["found"]) and d["hit_rate"] == d["hits"] / d["n_true_hits"]


@pytest.mark.parametrize(("flag", "names"), [("--list-envs", {"sim_knockout", "sim_pairs",
                         "sim_program", "dream4"}), ("--list-policies", {"random", "prior",
                         "active_ucb", "active_thompson", "active_ei", "agent"})])  # fmt: skip
def test_listings(capsys, flag, names):
    assert main(["design", flag]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert listed == names
    assert main(["design", flag, "--json"]) == 0
    assert {d["name"] for d in json.loads(capsys.readouterr().out)} == names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "nope", "--policy", "random"], "unknown screen environment 'nope'"),
        (["--env", "sim_knockout", "--policy", "rand"], "Did you mean: random"),
        (["--env", "sim_knockout"], "give --env and --policy"),
        (["--env", "sim_knockout", "--policy", "random", "--rounds", "0"], "--rounds"),
        (["--env", "sim_knockout", "--policy", "random", "--seed", "-1"], "--seed"),
        (["--env", "sim_knockout", "--policy", "random", "--env-option", "n_genes"], "KEY=VALUE"),
        (["--env", "sim_knockout", "--policy", "random", "--env-option", "foo=1"], "no option"),
        (["--env", "sim_knockout", "--policy", "random", "--backend", "expert"], "--backend"),
        (["--env", "sim_knockout", "--policy", "random", "--out", "x.txt"], ".json"),
        (["--list-envs", "--list-policies"], "not both"),
    ],
)
def test_bad_options_one_line(capsys, args, message):
    code = main(["design", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
