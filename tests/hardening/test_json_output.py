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


def _tissue(folder: Path) -> str:
    """A small simulated section (obsm['spatial'], uns['lr_pairs'], the truth)."""
    from virtualcell.sim import simulate_tissue

    path = folder / "tissue.h5ad"
    simulate_tissue(60, n_cells=300, n_lr_pairs=6, n_signalling=3, seed=0).write_h5ad(path)
    return str(path)


def _multiome(folder: Path) -> str:
    """A small simulated RNA + protein + ATAC MuData (.h5mu)."""
    from virtualcell.data import write_h5mu
    from virtualcell.sim import simulate_multiome

    path = folder / "cells.h5mu"
    mdata = simulate_multiome(30, n_cells=200, n_cell_types=4, n_hidden_types=1,
                              n_proteins=8, n_peaks=80, method="fast", seed=0)  # fmt: skip
    write_h5mu(mdata, path)
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


def _typed(folder: Path) -> str:
    """60 cells of 3 types in 2 batches (counts), labels in obs['cell_type']."""
    rng = np.random.default_rng(0)
    types = np.repeat(["T", "B", "NK"], 20)
    mean = rng.gamma(2.0, 1.0, size=(3, 30))
    X = np.vstack([rng.poisson(mean[i] * 4, size=(20, 30)) for i in range(3)]).astype(np.float32)
    adata = ad.AnnData(X)
    adata.obs_names = [f"c{i}" for i in range(60)]
    adata.var_names = [f"G{j}" for j in range(30)]
    adata.obs["cell_type"] = types
    adata.obs["batch"] = np.tile(["b1", "b2"], 30)
    path = folder / "typed.h5ad"
    adata.write_h5ad(path)
    return str(path)


def _perturbed(folder: Path) -> str:
    from virtualcell.sim import simulate_perturbseq

    path = folder / "pert.h5ad"
    simulate_perturbseq(12, n_cell_types=1, cells_per_condition=8, singles=8, doubles=0,
                        method="fast", seed=0).write_h5ad(path)  # fmt: skip
    return str(path)


_REPLIES = ["plan: look up KLF1's targets", '{"tool": "tf_targets", "args": {"tf": "KLF1"}}',
            '{"answer": "KLF1 regulates HBB."}']  # fmt: skip


def _replies(folder: Path) -> str:
    path = folder / "replies.json"
    path.write_text(json.dumps(_REPLIES))
    return str(path)


def _agent_log(folder: Path, kb: str) -> str:
    from virtualcell.agent import ask, make_backend

    ans = ask("Which genes does KLF1 regulate?", backend=make_backend("scripted", replies=_REPLIES),
              kb=kb, workspace=folder / "ws")  # fmt: skip
    return str(ans.log_path)


def _text_typed(folder: Path) -> str:
    """80 count cells x 24 genes (gene-like names GN0..GN23), 4 types each over-expressing
    its own 6 genes, labels in obs['cell_type']."""
    rng = np.random.default_rng(0)
    label = np.arange(80) % 4
    rate = np.full((80, 24), 2.0)
    for g in range(4):
        rate[label == g, 6 * g : 6 * g + 6] *= 8
    adata = ad.AnnData(rng.poisson(rate).astype(np.float32))
    adata.obs_names = [f"c{i}" for i in range(80)]
    adata.var_names = [f"GN{j}" for j in range(24)]
    adata.obs["cell_type"] = [f"type{g}" for g in label]
    path = folder / "text.h5ad"
    adata.write_h5ad(path)
    return str(path)


def _bridge(folder: Path) -> tuple[str, str]:
    """(data, a cell-text model folder trained for 5 steps on it)."""
    from virtualcell.text import BRIDGE_TRAIN_CONFIG, train_bridge

    data = _text_typed(folder)
    train_bridge(ad.read_h5ad(data), label_key="cell_type", ontology=False, n_comps=4,
                 model_config={"embed_dim": 8, "hidden": 8}, out_dir=folder / "bridge",
                 train_config=BRIDGE_TRAIN_CONFIG.replace(max_steps=5, warmup_steps=1))  # fmt: skip
    return data, str(folder / "bridge")


def _c2s(folder: Path) -> str:
    """A C2S model folder trained for 3 steps on the text data."""
    from virtualcell.text import C2S_TRAIN_CONFIG, train_c2s

    train_c2s(ad.read_h5ad(_text_typed(folder)), label_key="cell_type", top_k=6,
              model_config={"d_model": 16, "n_layers": 1, "n_heads": 2}, out_dir=folder / "c2s",
              train_config=C2S_TRAIN_CONFIG.replace(max_steps=3, warmup_steps=1))  # fmt: skip
    return str(folder / "c2s")


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


def _bands(folder: Path) -> str:
    """A section of 240 cells in 3 vertical bands (the true niches), 2 types mixed in
    band-specific shares; coordinates in obsm['spatial']."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, size=(240, 2))
    niche = np.minimum((xy[:, 0] // 100).astype(int), 2)
    ctype = (rng.random(240) < np.array([0.2, 0.5, 0.8])[niche]).astype(int)
    means = np.where(ctype[:, None] == 1, [8.0, 1.0, 3.0, 3.0], [1.0, 8.0, 3.0, 3.0])
    adata = ad.AnnData(rng.poisson(means).astype(np.float32))
    adata.var_names = ["G0", "G1", "G2", "G3"]
    adata.obs["niche"] = [f"n{k}" for k in niche]
    adata.obsm["spatial"] = xy
    path = folder / "bands.h5ad"
    adata.write_h5ad(path)
    return str(path)


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
            lambda d: d["method"] == "pearson" and d["n_edges"] == 12
            and d["n_true_edges"] == 2 and 0 <= d["auprc"] <= 1
            and abs(d["auprc_ratio"] - d["auprc"] / d["density"]) < 1e-9),
    "kb build": (lambda t, kb: ["kb", "build", "--source", str(Path(kb).parent / "src"),
                                "--out", str(t / "k.sqlite"), "--no-defaults", "--json"],
                 lambda d: d["counts"]["genes"] > 0),
    "kb search": (lambda t, kb: ["kb", "search", "insulin secretion", "--kb", kb, "--json"],
                  lambda d: d and d[0]["citations"]),
    "kb gene": (lambda t, kb: ["kb", "gene", "KLF1", "--kb", kb, "--json"],
                lambda d: d["symbol"] == "KLF1"),
    "kb verify": (lambda t, kb: ["kb", "verify", "TP53 represses MDM2", "--kb", kb,
                                 "--mode", "lexical", "--json"],
                  lambda d: d["label"] == "contradicted"  # the tiny KB: TP53 activates MDM2
                  and any("TRRUST" in c for e in d["evidence"] for c in e["citations"])),
    "annotate": (lambda t, kb: ["annotate", _typed(t), "--label-key", "cell_type", "--method",
                                "centroid", "--query-fraction", "0.3", "--json"],
                 lambda d: d["method"] == "centroid" and d["n_query"] == 18
                 and d["n_reference_fit"] + d["n_calibration"] == 42
                 and d["accuracy"] == 1.0 > d["majority_macro_f1"]),
    "cluster": (lambda t, kb: ["cluster", _typed(t), "--resolutions", "0.5,1.0", "--label-key",
                               "cell_type", "--json"],
                lambda d: [r["resolution"] for r in d["sweep"]] == [0.5, 1.0]
                and {k: d[k] for k in ("resolution", "n_clusters", "nmi", "ari")}
                in [{k: r[k] for k in ("resolution", "n_clusters", "nmi", "ari")}
                    for r in d["sweep"]]
                and d["n_clusters"] == 3),
    "integrate": (lambda t, kb: ["integrate", _typed(t), "--batch-key", "batch", "--method",
                                 "center", "--label-key", "cell_type", "--json"],
                  lambda d: d["method"] == "center"),
    "perturb evaluate": (lambda t, kb: ["perturb", "evaluate", _perturbed(t), "--task",
                                        "unseen_singles", "--json"],
                         lambda d: d["task"] == "unseen_singles" and d["results"]),
    "perturb score": (lambda t, kb: ["perturb", "score", _perturbed(t), _perturbed(t),
                                     "--perturbation-key", "perturbation", "--control",
                                     "control", "--json"],
                      lambda d: list(d) == ["summary", "per_perturbation"]
                      and d["summary"]["l2"] == 0.0),
    "ask": (lambda t, kb: ["ask", "Which genes does KLF1 regulate?", "--backend", "scripted",
                           "--replies", _replies(t), "--kb", kb, "--workspace", str(t / "ws"),
                           "--json"],
            lambda d: "HBB" in d["answer"] and d["citations"]),
    "agent tools": (lambda t, kb: ["agent", "tools", "--json"],
                    lambda d: len(d) >= 10),
    "agent bench": (lambda t, kb: ["agent", "bench", "--backend", "scripted", "--tasks", "2",
                                   "--kb", kb, "--out", str(t / "ab"), "--no-baselines",
                                   "--json"],
                    lambda d: d["tasks"] == 2),
    "agent memory list": (lambda t, kb: ["agent", "memory", "list", "--path",
                                         str(t / "memory.json"), "--json"],
                          lambda d: d["runs"] == [] and d["path"].endswith("memory.json")),
    "agent replay": (lambda t, kb: ["agent", "replay", _agent_log(t, kb), "--kb", kb, "--json"],
                     lambda d: d["ok"] is True and d["answer"] == d["recorded_answer"]
                     and d["calls"] == 1 and d["mismatches"] == []),
    "text train": (lambda t, kb: ["text", "train", _text_typed(t), "--label-key", "cell_type",
                                  "--out", str(t / "tm"), "--steps", "5", "--kb", kb,
                                  "--no-ontology", "--json"],
                   lambda d: d["labels"] == 4 and d["steps"] == 5),
    "text eval": (lambda t, kb: ["text", "eval", _text_typed(t), "--label-key", "cell_type",
                                 "--holdout-types", "2", "--seed", "0", "--steps", "5",
                                 "--no-kb", "--no-ontology", "--json"],
                  lambda d: 0 <= d["zero_shot_macro_f1"] <= 1
                  # 4 label texts: every cell's text is within its 5 best
                  and d["recall_at_5_cell_to_text"] == 1.0
                  and all(d[f"recall_at_1_{w}"] <= d[f"recall_at_5_{w}"]
                          <= d[f"recall_at_10_{w}"] for w in ("cell_to_text", "text_to_cell"))
                  and {"marker_score", "random"} <= set(d["baselines"])
                  and 0 <= d["baselines"]["marker_score"]["zero_shot_macro_f1"] <= 1),
    "text annotate": (lambda t, kb: ["text", "annotate", *_bridge(t)[:1], "--model",
                                     str(t / "bridge"), "--no-ontology", "--json"],
                      lambda d: d["n_cells"] == 80 and sum(d["counts"].values()) == 80),
    "text search": (lambda t, kb: ["text", "search", *_bridge(t)[:1], "--model",
                                   str(t / "bridge"), "--query", "cells expressing GN0",
                                   "-k", "3", "--json"],
                    lambda d: len(d) == 3 and d[0]["rank"] == 1),
    "text describe": (lambda t, kb: ["text", "describe", _text_typed(t), "--groupby",
                                     "cell_type", "--group", "type1", "--kb", kb,
                                     "--no-ontology", "--json"],
                      lambda d: d["group"] == "type1" and d["text"] and d["citations"]),
    "text c2s-train": (lambda t, kb: ["text", "c2s-train", _text_typed(t), "--label-key",
                                      "cell_type", "--out", str(t / "c2"), "--top-k", "6",
                                      "--steps", "3", "--json"],
                       lambda d: d["labels"] == 4 and d["steps"] == 3),
    "text c2s-eval": (lambda t, kb: ["text", "c2s-eval", _text_typed(t), "--label-key",
                                     "cell_type", "--top-k", "6", "--steps", "3", "--json"],
                      lambda d: {r["method"] for r in d["prediction"]} == {"c2s", "l1_logreg"}),
    "text generate": (lambda t, kb: ["text", "generate", "--model", _c2s(t), "--cell-type",
                                     "type1", "--n-cells", "4", "--out", str(t / "g.h5ad"),
                                     "--json"],
                      lambda d: d["n_cells"] == 4),
    "spatial niches": (lambda t, kb: ["spatial", "niches", _bands(t), "--methods",
                                      "composition", "--json"],
                       lambda d: list(d) == ["metric", "higher_is_better", "results"]
                       and d["metric"] == "ari" and d["higher_is_better"] is True
                       and [(r["method"], r["baseline"]) for r in d["results"]]
                       == [("expression", True), ("neighbor_pca", True),
                           ("composition", False)]
                       and all(-1 <= r["score"] <= 1 for r in d["results"])),
    "design": (lambda t, kb: ["design", "--env", "sim_knockout", "--policy", "active_ucb",
                              "--rounds", "2", "--batch", "3", "--seed", "0", "--json",
                              *(f"--env-option={o}" for o in ("n_genes=30", "truth_cells=50",
                                "observational_cells=100", "control_cells=50", "cells=20"))],
               lambda d: d["env"] == "sim_knockout" and d["policy"] == "active_ucb"
               and len(d["curve"]) == 2 and d["hit_rate"] == d["curve"][-1]),
    "spatial communication": (lambda t, kb: ["spatial", "communication", _tissue(t),
                                             "--methods", "neighbor_product", "--json"],
                              lambda d: d["metric"] == "auprc"
                              and [r["method"] for r in d["results"]]
                              == ["neighbor_product", "coexpression", "permutation"]),
    "multiomic embed": (lambda t, kb: ["multiomic", "embed", _multiome(t), "--modalities",
                                       "rna,protein", "--methods", "concat_pca", "--json"],
                        lambda d: list(d) == ["metric", "higher_is_better", "results"]
                        and d["metric"] == "avg_bio" and d["higher_is_better"] is True
                        and "concat_pca" in {r["method"] for r in d["results"]}
                        and all(0 <= r["score"] <= 1 for r in d["results"])),
    "multiomic impute": (lambda t, kb: ["multiomic", "impute", _multiome(t), "--methods",
                                        "ridge", "--json"],
                         lambda d: d["metric"] == "protein_pearson"
                         and "ridge" in {r["method"] for r in d["results"]}),
}  # fmt: skip


def test_every_json_command_is_covered():
    assert set(_json_commands()) <= set(CASES), set(_json_commands()) - set(CASES)


@pytest.mark.parametrize("command", sorted(CASES))
def test_json_alone_on_stdout(command, tmp_path, kb_store, capsys, monkeypatch):
    from virtualcell import settings

    assert command in _json_commands(), f"vcell {command} lost its --json option"
    monkeypatch.setattr(settings, "verbosity", 1)  # progress on: it must go to stderr
    monkeypatch.setattr(settings, "progress_interval_s", 0.0)
    build, check = CASES[command]
    code = main(build(tmp_path, kb_store))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)  # the whole of stdout is one JSON document
    assert check(data), data
