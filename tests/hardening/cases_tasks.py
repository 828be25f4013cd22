"""The task battery: bad files, option values and library calls of the task commands
(``vcell annotate``, ``integrate``, ``cluster``, ``perturb``, ``ask``, ``agent``) and their
``vc.tl`` / ``vc.perturb`` entry points.

Every input is built in the case's own folder (no reference data needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._battery import RAISES, Case, fifo

__all__ = ["CASES"]


# ----------------------------------------------------------------------------- inputs
def _typed(folder: Path) -> Path:
    """60 cells (counts) of 3 types in 2 batches: obs['cell_type'], obs['batch']."""
    import anndata as ad

    rng = np.random.default_rng(0)
    mean = rng.gamma(2.0, 1.0, size=(3, 30))
    X = np.vstack([rng.poisson(mean[i] * 4, size=(20, 30)) for i in range(3)]).astype(np.float32)
    adata = ad.AnnData(X)
    adata.obs_names = [f"c{i}" for i in range(60)]
    adata.var_names = [f"G{j}" for j in range(30)]
    adata.obs["cell_type"] = np.repeat(["T", "B", "NK"], 20)
    adata.obs["batch"] = np.tile(["b1", "b2"], 30)
    path = folder / "typed.h5ad"
    adata.write_h5ad(path)
    return path


def _one_batch(folder: Path) -> None:
    import anndata as ad

    adata = ad.read_h5ad(_typed(folder))
    adata.obs["batch"] = "b1"
    adata.write_h5ad(folder / "typed.h5ad")


def _perturbed(folder: Path) -> None:
    from virtualcell.sim import simulate_perturbseq

    simulate_perturbseq(
        12, n_cell_types=1, cells_per_condition=8, singles=6, doubles=0, method="fast", seed=0
    ).write_h5ad(folder / "pert.h5ad")


def _replies(folder: Path, text: str) -> None:
    (folder / "replies.json").write_text(text)


def _api_annotate_missing_label(folder: Path) -> None:
    import anndata as ad

    import virtualcell as vc

    vc.tl.annotate(ad.read_h5ad(folder / "typed.h5ad"), label_key="nope", query_fraction=0.3)


def _api_integrate_missing_batch(folder: Path) -> None:
    import anndata as ad

    import virtualcell as vc

    vc.tl.integrate(ad.read_h5ad(folder / "typed.h5ad"), batch_key="nope", method="center")


def _api_predict_unknown_method(folder: Path) -> None:
    import anndata as ad

    import virtualcell as vc

    vc.tl.predict_perturbation(
        ad.read_h5ad(folder / "pert.h5ad"), perturbations=["G1"], method="nope"
    )


T = "{tmp}/typed.h5ad"
P = "{tmp}/pert.h5ad"

CASES: list[Case] = [
    # annotate
    Case("annotate-label-missing", f"vcell annotate {T} --label-key nope --query-fraction 0.3",
         2, r"nope", setup=_typed),
    Case("annotate-method-unknown", f"vcell annotate {T} --label-key cell_type --method zzz "
         "--query-fraction 0.3", 2, r"unknown annotation method 'zzz'", setup=_typed),
    Case("annotate-no-query", f"vcell annotate {T} --label-key cell_type", 2,
         r"give QUERY, or --query-fraction", setup=_typed),
    Case("annotate-fraction-above-1", f"vcell annotate {T} --label-key cell_type "
         "--query-fraction 1.5", 2, r"query.fraction", setup=_typed),
    Case("annotate-out-bad-suffix", f"vcell annotate {T} --label-key cell_type "
         "--query-fraction 0.3 --out {tmp}/q.csv", 2, r"q\.csv", setup=_typed,
         outputs=("q.csv",)),
    Case("annotate-fifo", "vcell annotate {tmp}/p.h5ad --label-key cell_type "
         "--query-fraction 0.3", 2, r"p\.h5ad", setup=lambda f: fifo(f / "p.h5ad")),
    # integrate / cluster
    Case("integrate-batch-missing", f"vcell integrate {T} --batch-key nope --method center",
         2, r"nope", setup=_typed),
    Case("integrate-method-unknown", f"vcell integrate {T} --batch-key batch --method foo",
         2, r"unknown integration method 'foo'", setup=_typed),
    Case("integrate-one-batch", f"vcell integrate {T} --batch-key batch --method center",
         2, r"batch", setup=_one_batch),
    Case("cluster-resolutions-not-numbers", f"vcell cluster {T} --resolutions a,b", 2,
         r"'--resolutions'.*'a' is not a number", setup=_typed),
    Case("cluster-use-rep-missing", f"vcell cluster {T} --use-rep X_nope", 2, r"X_nope",
         setup=_typed),
    Case("cluster-out-missing-dir", f"vcell cluster {T} --out {{tmp}}/nodir/c.h5ad", 2,
         r"nodir", setup=_typed),
    # perturb
    Case("perturb-no-perturbation-column", f"vcell perturb evaluate {T}", 2, r"perturbation",
         setup=_typed),
    Case("perturb-method-unknown", f"vcell perturb evaluate {P} --methods nope", 2,
         r"unknown perturbation predictor 'nope'", setup=_perturbed),
    Case("perturb-task-unknown", f"vcell perturb evaluate {P} --task x", 2, r"--task",
         setup=_perturbed),
    Case("perturb-missing-path", "vcell perturb evaluate {tmp}/none.h5ad", 2,
         r"none\.h5ad does not exist"),
    Case("perturb-predict-unknown-gene", f"vcell perturb predict {P} -p NOPE1 -m additive "
         "-o {tmp}/pred.h5ad", 2, r"NOPE1", setup=_perturbed, outputs=("pred.h5ad",)),
    # agent
    Case("ask-backend-unknown", "vcell ask q --backend nope", 2,
         r"unknown LLM backend 'nope'"),
    Case("ask-scripted-without-replies", "vcell ask q --backend scripted", 2,
         r"--backend scripted needs --replies FILE"),
    Case("ask-replies-not-a-list", "vcell ask q --backend scripted --replies {tmp}/replies.json",
         2, r"expected a JSON list of strings", setup=lambda f: _replies(f, '{"a": 1}')),
    Case("ask-replies-not-json", "vcell ask q --backend scripted --replies {tmp}/replies.json",
         2, r"not a JSON file", setup=lambda f: _replies(f, "plan\n")),
    Case("ask-kb-missing", "vcell ask q --kb {tmp}/none.sqlite", 2,
         r"none\.sqlite does not exist .*vcell kb build"),
    Case("ask-max-steps-0", "vcell ask q --max-steps 0", 2, r"--max-steps"),
    Case("agent-bench-backend-unknown", "vcell agent bench --backend x", 2,
         r"unknown LLM backend 'x'"),
    Case("agent-bench-tasks-0", "vcell agent bench --tasks 0", 2, r"--tasks"),
    Case("agent-replay-missing-log", "vcell agent replay {tmp}/none.jsonl", 2, r"none\.jsonl"),
    # design
    Case("design-env-unknown", "vcell design --env nope --policy random", 2,
         r"unknown screen environment 'nope'"),
    Case("design-policy-unknown", "vcell design --env dream4 --policy nope", 2,
         r"unknown design policy 'nope'"),
    Case("design-rounds-0", "vcell design --env sim_knockout --policy random --rounds 0", 2,
         r"--rounds"),
    Case("design-env-option-unknown", "vcell design --env sim_knockout --policy random "
         "--env-option foo=1", 2, r"has no option\(s\) \['foo'\]"),
    Case("design-env-option-no-value", "vcell design --env sim_knockout --policy random "
         "--env-option n_genes", 2, r"--env-option must be KEY=VALUE"),
    # text
    Case("text-eval-label-missing", f"vcell text eval {T} --label-key nope", 2, r"nope",
         setup=_typed),
    Case("text-eval-too-many-holdout", f"vcell text eval {T} --label-key cell_type "
         "--holdout-types 9", 2, r"holdout_types=9", setup=_typed),
    Case("text-search-not-a-checkpoint", f"vcell text search {T} --model {{tmp}} --query x", 2,
         r"not a virtualcell checkpoint folder", setup=_typed),
    Case("text-generate-n-cells-0", "vcell text generate --model {tmp} --cell-type x "
         "--n-cells 0", 2, r"--n-cells"),
    # bench
    Case("bench-preset-unknown", "vcell bench --preset nope --out {tmp}/b", 2,
         r"unknown preset 'nope'", outputs=("b",)),
    Case("bench-task-unknown", "vcell bench --preset quick --task nope --out {tmp}/b", 2,
         r"unknown benchmark task 'nope'", outputs=("b",)),
    Case("bench-data-without-label-key", f"vcell bench --data {T} --task represent "
         "--out {tmp}/b", 2, r"needs --label-key", setup=_typed, outputs=("b",)),
    # library calls
    Case("api-annotate-label-missing", "vc.tl.annotate(adata, label_key='nope', ...)", RAISES,
         r"nope", setup=_typed, run=_api_annotate_missing_label),
    Case("api-integrate-batch-missing", "vc.tl.integrate(adata, batch_key='nope', ...)",
         RAISES, r"nope", setup=_typed, run=_api_integrate_missing_batch),
    Case("api-predict-method-unknown", "vc.tl.predict_perturbation(..., method='nope')",
         RAISES, r"nope", setup=_perturbed, run=_api_predict_unknown_method),
]  # fmt: skip
