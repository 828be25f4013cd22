"""``--json`` output goes alone on stdout for every command that has the option: stdout
parses with ``json.loads`` (progress and logs go to stderr), even when a library layer
prints (``cli.main`` reserves stdout for ``emit_json``)."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import typer

from virtualcell.cli import app, main


def _json_commands() -> list[str]:
    """Every command path (``"data validate"``) that has a ``--json`` option."""
    root = typer.main.get_command(app)

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        elif any("--json" in p.opts for p in cmd.params):
            yield " ".join(path)

    return sorted(walk(root, []))


def _h5ad(folder: Path) -> str:
    X = np.random.default_rng(0).poisson(3.0, size=(20, 6)).astype(np.float32) + 1
    adata = ad.AnnData(X)
    adata.obs_names = [f"c{i}" for i in range(20)]
    adata.var_names = ["TP53", "KLF1", "GATA1", "CD3E", "MS4A1", "NOTAGENE"]
    path = folder / "x.h5ad"
    adata.write_h5ad(path)
    return str(path)


def _beeline(folder: Path) -> str:
    b = folder / "bee"
    b.mkdir()
    rng = np.random.default_rng(0)
    genes = ["A", "B", "C", "D"]
    cells = [f"E{i}" for i in range(30)]
    x = rng.gamma(2.0, 1.0, size=(4, 30))
    x[1] = x[0] * 2 + rng.normal(0, 0.1, 30)
    rows = [",".join(["", *cells])] + [
        ",".join([g, *(f"{v:.4f}" for v in row)]) for g, row in zip(genes, x, strict=True)
    ]
    (b / "ExpressionData.csv").write_text("\n".join(rows) + "\n")
    (b / "refNetwork.csv").write_text("Gene1,Gene2,Type\nA,B,+\nC,D,-\n")
    return str(b)


@pytest.fixture(scope="module")
def kb_store(tmp_path_factory) -> str:
    import importlib.util

    from virtualcell.knowledge import build

    spec = importlib.util.spec_from_file_location(
        "_kbdata", Path(__file__).resolve().parents[1] / "knowledge" / "_kbdata.py"
    )
    kbdata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kbdata)
    root = tmp_path_factory.mktemp("kbjson")
    out = root / "kb.sqlite"
    build(kbdata.write_sources(root / "src"), out=out, include_defaults=False)
    return str(out)


#: command -> (argv builder, check of the parsed JSON)
CASES = {
    "data validate": (lambda t, kb: ["data", "validate", _h5ad(t), "--json"],
                      lambda d: d["ok"] is True and d["summary"]["n_cells"] == 20),
    "data info": (lambda t, kb: ["data", "info", _h5ad(t), "--json"],
                  lambda d: d["n_obs"] == 20 and d["first_genes"][0] == "TP53"),
    "datasets list": (lambda t, kb: ["datasets", "list", "--json"],
                      lambda d: any(r["name"] == "wu2020" for r in d)),
    "datasets fetch": (lambda t, kb: ["datasets", "fetch", "wu2020", "--json"],
                       lambda d: d["kind"] == "bundled" and d["files"] == []),
    "genes": (lambda t, kb: ["genes", _h5ad(t), "--json"],
              lambda d: d["n_input"] == 6 and "NOTAGENE" in d["unmapped"]),
    "sim": (lambda t, kb: ["sim", "--genes", "8", "--cells-per-condition", "6", "--singles",
                           "2", "--doubles", "1", "--out", str(t / "s.h5ad"), "--json"],
            lambda d: d["n_genes"] == 8 and d["n_singles"] == 2),
    "grn": (lambda t, kb: ["grn", _beeline(t), "--method", "pearson", "--json"],
            lambda d: isinstance(d, dict) and d),
    "kb build": (lambda t, kb: ["kb", "build", "--source", str(Path(kb).parent / "src"),
                                "--out", str(t / "k.sqlite"), "--no-defaults", "--json"],
                 lambda d: d["counts"]["genes"] > 0),
    "kb search": (lambda t, kb: ["kb", "search", "insulin secretion", "--kb", kb, "--json"],
                  lambda d: d and d[0]["citations"]),
    "kb gene": (lambda t, kb: ["kb", "gene", "KLF1", "--kb", kb, "--json"],
                lambda d: d["symbol"] == "KLF1"),
    "kb verify": (lambda t, kb: ["kb", "verify", "TP53 represses MDM2", "--kb", kb,
                                 "--mode", "lexical", "--json"],
                  lambda d: d["label"] in ("supported", "contradicted", "unknown")),
    "design": (lambda t, kb: ["design", "--env", "sim_knockout", "--policy", "active_ucb",
                              "--rounds", "2", "--batch", "3", "--seed", "0", "--json",
                              *(f"--env-option={o}" for o in ("n_genes=30", "truth_cells=50",
                                "observational_cells=100", "control_cells=50", "cells=20"))],
               lambda d: d["env"] == "sim_knockout" and d["policy"] == "active_ucb"
               and len(d["curve"]) == 2 and d["hit_rate"] == d["curve"][-1]),
}  # fmt: skip


def test_every_json_command_is_covered():
    assert set(_json_commands()) <= set(CASES), set(_json_commands()) - set(CASES)


@pytest.mark.parametrize("command", sorted(CASES))
def test_json_alone_on_stdout(command, tmp_path, kb_store, capsys, monkeypatch):
    from virtualcell import settings

    if command not in _json_commands():
        pytest.skip(f"vcell {command} has no --json here")
    monkeypatch.setattr(settings, "verbosity", 1)  # progress on: it must go to stderr
    monkeypatch.setattr(settings, "progress_interval_s", 0.0)
    build, check = CASES[command]
    code = main(build(tmp_path, kb_store))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)  # the whole of stdout is one JSON document
    assert check(data), data
