"""Hardening 2: the output rule, option values checked before any work, failures that
are failures, and what the agent shows as an answer.

Each case below first failed on the code before the fix (data loss, an internal error, a
silent acceptance, exit 0 with nothing produced) and passes after it; ``docs/hardening.md``
lists them with the other batteries. Inputs are built in each case's own folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._battery import RAISES, Case
from .cases_tasks import _perturbed, _typed

__all__ = ["CASES"]

T = "{tmp}/typed.h5ad"
P = "{tmp}/pert.h5ad"
SIM = "vcell sim --genes 10 --cells-per-condition 5 --singles 2 --doubles 1"
ANNOTATE = f"vcell annotate {T} --label-key cell_type --query-fraction 0.3"
EXISTS = r"exists; pass --overwrite to replace it"
IS_INPUT = r"is also the input .*never replaced"


# ----------------------------------------------------------------------------- inputs
def _with(*builders):
    def setup(folder: Path) -> None:
        for build in builders:
            build(folder)

    return setup


def _old(name: str):
    """An existing output the user has (it must survive)."""

    def build(folder: Path) -> None:
        (folder / name).write_text("the user's file\n")

    return build


def _folder(name: str, *, with_file: bool = False):
    def build(folder: Path) -> None:
        (folder / name).mkdir(parents=True, exist_ok=True)
        if with_file:
            (folder / name / "keep.txt").write_text("the user's file\n")

    return build


def _zero(folder: Path) -> None:
    import anndata as ad

    adata = ad.read_h5ad(_typed(folder))
    adata.X = np.zeros(adata.shape, dtype=np.float32)
    adata.write_h5ad(folder / "zero.h5ad")


def _unmeasured(folder: Path) -> None:
    """Perturbation labels that name no measured gene (X03 where the genes are G*)."""
    import anndata as ad

    _perturbed(folder)
    adata = ad.read_h5ad(folder / "pert.h5ad")
    adata.obs["perturbation"] = adata.obs["perturbation"].astype(str).str.replace("G", "X")
    adata.write_h5ad(folder / "unmeasured.h5ad")


def _nan_pert(folder: Path) -> None:
    import anndata as ad

    _perturbed(folder)
    adata = ad.read_h5ad(folder / "pert.h5ad")
    adata.X = np.full(adata.shape, np.nan, dtype=np.float32)
    adata.write_h5ad(folder / "nan.h5ad")


def _one_cell(folder: Path) -> None:
    import anndata as ad

    ad.read_h5ad(_typed(folder))[:1].copy().write_h5ad(folder / "one.h5ad")


def _truncated(folder: Path) -> None:
    data = _typed(folder).read_bytes()
    (folder / "cut.h5ad").write_bytes(data[: len(data) // 3])


def _duplicates(folder: Path) -> None:
    import anndata as ad

    adata = ad.read_h5ad(_typed(folder))
    names = list(adata.var_names)
    names[1], names[3] = names[0], names[2]
    adata.var_names = names
    adata.write_h5ad(folder / "dup.h5ad")


def _genes_x_cells_ids(folder: Path) -> None:
    """A genes x cells table whose rows are Ensembl ids and columns barcodes."""
    (folder / "gxc.csv").write_text(
        ",AAACCTGAGAAACCAT-1,AAACCTGAGAAACCGC-1,AAACCTGAGAAACCTA-1\n"
        "ENSG00000141510,1,2,3\nENSG00000136997,0,1,0\n"
    )


def _replies(*replies: str):
    def build(folder: Path) -> None:
        (folder / "replies.json").write_text(json.dumps(list(replies)))

    return build


# ------------------------------------------------------------------------ library calls
def _api_integrate_zero(folder: Path) -> None:
    import anndata as ad

    import virtualcell as vc

    vc.tl.integrate(ad.read_h5ad(folder / "zero.h5ad"), batch_key="batch", method="center")


def _api_simulate_huge(folder: Path) -> None:
    import virtualcell as vc

    vc.sim.simulate_perturbseq(1_000_000_000)


def _api_check_output_exists(folder: Path) -> None:
    from virtualcell._utils import check_output

    check_output(folder / "old.h5ad")


def _api_check_output_is_input(folder: Path) -> None:
    from virtualcell._utils import check_output

    check_output(folder / "typed.h5ad", overwrite=True, inputs=[("data", folder / "typed.h5ad")])


def _api_perturb_unmeasured(folder: Path) -> None:
    from virtualcell.perturb import evaluate

    evaluate(str(folder / "unmeasured.h5ad"), task="unseen_singles")


# ------------------------------------------------------------------------------- cases
CASES: list[Case] = [
    # -- 1. the output rule: never replace what the user has; an input is never an output
    Case("annotate-out-is-input", f"{ANNOTATE} --out {T}", 2, IS_INPUT, setup=_typed, max_s=5),
    Case(
        "annotate-out-is-input-overwrite",
        f"{ANNOTATE} --out {T} --overwrite",
        2,
        IS_INPUT,
        setup=_typed,
        max_s=5,
    ),
    Case(
        "annotate-out-exists",
        f"{ANNOTATE} --out {{tmp}}/old.h5ad",
        2,
        EXISTS,
        setup=_with(_typed, _old("old.h5ad")),
        max_s=5,
    ),
    Case(
        "annotate-out-folder-missing",
        f"{ANNOTATE} --out {{tmp}}/no/q.h5ad",
        2,
        r"folder .*no does not exist",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "annotate-out-is-a-folder",
        f"{ANNOTATE} --out {{tmp}}/d.h5ad",
        2,
        r"d\.h5ad is a folder; give a file name",
        setup=_with(_typed, _folder("d.h5ad")),
        max_s=5,
    ),
    Case(
        "annotate-out-wrong-suffix",
        f"{ANNOTATE} --out {{tmp}}/q.csv",
        2,
        r"suffix \(\.csv\) must be one of \.h5ad",
        setup=_typed,
        max_s=5,
        outputs=("q.csv",),
    ),
    Case(
        "integrate-out-exists",
        f"vcell integrate {T} --batch-key batch --method center --out {{tmp}}/old.h5ad",
        2,
        EXISTS,
        setup=_with(_typed, _old("old.h5ad")),
        max_s=5,
    ),
    Case(
        "cluster-out-is-input", f"vcell cluster {T} --out {T}", 2, IS_INPUT, setup=_typed, max_s=5
    ),
    Case(
        "sim-out-exists",
        f"{SIM} --out {{tmp}}/old.h5ad",
        2,
        EXISTS,
        setup=_old("old.h5ad"),
        max_s=5,
    ),
    Case(
        "sim-plots-folder-not-empty",
        f"{SIM} --out {{tmp}}/s.h5ad --plots {{tmp}}/plots",
        2,
        r"plots is a folder that is not empty; pass --overwrite",
        setup=_folder("plots", with_file=True),
        outputs=("s.h5ad",),
        max_s=5,
    ),
    Case(
        "embed-out-exists",
        f"vcell embed {T} --model {{tmp}}/ckpt --out {{tmp}}/old.h5ad",
        2,
        EXISTS,
        setup=_with(_typed, _folder("ckpt"), _old("old.h5ad")),
        max_s=5,
    ),
    Case(
        "embed-out-is-input",
        f"vcell embed {T} --model {{tmp}}/ckpt --out {T} --overwrite",
        2,
        IS_INPUT,
        setup=_with(_typed, _folder("ckpt")),
        max_s=5,
    ),
    Case(
        "grn-out-exists",
        f"vcell grn {T} --method pearson --out {{tmp}}/old.csv",
        2,
        EXISTS,
        setup=_with(_typed, _old("old.csv")),
        max_s=5,
    ),
    Case(
        "design-out-exists",
        "vcell design --env sim_knockout --policy random --out {tmp}/old.json",
        2,
        EXISTS,
        setup=_old("old.json"),
        max_s=5,
    ),
    Case(
        "perturb-predict-out-is-input",
        f"vcell perturb predict {P} -p G1 --out {P} --overwrite",
        2,
        IS_INPUT,
        setup=_perturbed,
        max_s=5,
    ),
    Case(
        "perturb-method-option-no-method",
        f"vcell perturb evaluate {P} --task unseen_singles --method-option knowledge_size=0.25",
        2,
        r"--method-option must be METHOD\.KEY=VALUE, got 'knowledge_size'",
        setup=_perturbed,
        max_s=5,
    ),
    Case(
        "perturb-predict-option-unknown",
        f"vcell perturb predict {P} -p G1 -m train_mean --option bogus=1 --out {{tmp}}/p.h5ad",
        2,
        r"method 'train_mean' has no option\(s\) \['bogus'\]",
        setup=_perturbed,
        max_s=5,
    ),
    Case(
        "perturb-evaluate-out-folder-not-empty",
        f"vcell perturb evaluate {P} --task unseen_singles --out {{tmp}}/res",
        2,
        r"res is a folder that is not empty; pass --overwrite",
        setup=_with(_perturbed, _folder("res", with_file=True)),
        max_s=5,
    ),
    Case(
        "kb-build-out-exists",
        "vcell kb build --no-defaults --out {tmp}/old.sqlite",
        2,
        EXISTS,
        setup=_old("old.sqlite"),
        max_s=5,
    ),
    Case(
        "text-eval-out-exists",
        f"vcell text eval {T} --label-key cell_type --out {{tmp}}/old.csv",
        2,
        EXISTS,
        setup=_with(_typed, _old("old.csv")),
        max_s=5,
    ),
    Case(
        "agent-bench-out-not-empty",
        "vcell agent bench --tasks 1 --out {tmp}/res",
        2,
        r"res is a folder that is not empty; pass --overwrite",
        setup=_folder("res", with_file=True),
        max_s=5,
    ),
    # -- a file where a folder is expected (and the reverse)
    Case(
        "perturb-evaluate-out-is-a-file",
        f"vcell perturb evaluate {P} --task unseen_singles --out {{tmp}}/f.txt",
        2,
        r"f\.txt is a file; give a folder",
        setup=_with(_perturbed, _old("f.txt")),
        max_s=5,
    ),
    Case(
        "bench-out-is-a-file",
        "vcell bench --preset quick --out {tmp}/f.txt",
        2,
        r"f\.txt is a file; give a folder",
        setup=_old("f.txt"),
        max_s=5,
    ),
    Case(
        "bench-out-under-a-file",
        "vcell bench --preset quick --out {tmp}/f.txt/sub",
        2,
        r"f\.txt is a file",
        setup=_old("f.txt"),
        max_s=5,
    ),
    Case(
        "ask-workspace-is-a-file",
        "vcell ask q --backend scripted --replies {tmp}/replies.json --workspace {tmp}/f.txt",
        2,
        r"f\.txt is a file; give a folder",
        setup=_with(_old("f.txt"), _replies("1. answer", '{"answer": "ok"}')),
        max_s=5,
    ),
    Case(
        "grn-truth-is-a-folder",
        f"vcell grn {T} --method pearson --truth {{tmp}}/d",
        2,
        r"d is a folder, not a file",
        setup=_with(_typed, _folder("d")),
        max_s=5,
    ),
    # -- 2. option values, at parse time
    Case(
        "annotate-seed-negative",
        f"{ANNOTATE} --seed -5",
        2,
        r"'--seed': -5 is not in \[0, 4294967295\]",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "annotate-seed-huge",
        f"{ANNOTATE} --seed 99999999999999999999",
        2,
        r"'--seed': 99999999999999999999 is not in \[0, 4294967295\]",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "perturb-seed-negative",
        f"vcell perturb evaluate {P} --task unseen_singles --seed -3",
        2,
        r"'--seed': -3 is not in",
        setup=_perturbed,
        max_s=5,
    ),
    Case(
        "integrate-seed-negative",
        f"vcell integrate {T} --batch-key batch --seed -1",
        2,
        r"'--seed': -1 is not in",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "cluster-seed-2-32",
        f"vcell cluster {T} --seed 4294967296",
        2,
        r"'--seed': 4294967296 is not in",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "agent-bench-seed-negative",
        "vcell agent bench --seed -1",
        2,
        r"'--seed': -1 is not in",
        max_s=5,
    ),
    Case(
        "cluster-resolutions-negative",
        f"vcell cluster {T} --resolutions -1,0,nan",
        2,
        r"'--resolutions': -1 is not a finite number > 0",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "cluster-resolutions-nan",
        f"vcell cluster {T} --resolutions nan",
        2,
        r"'--resolutions': nan is not a finite number > 0",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "cluster-resolutions-zero",
        f"vcell cluster {T} --resolutions 0.5,0",
        2,
        r"'--resolutions': 0 is not a finite number > 0",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "annotate-query-fraction-one",
        f"vcell annotate {T} --label-key cell_type --query-fraction 1",
        2,
        r"'--query-fraction': 1\.0 is not in \(0, 1\)",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "annotate-method-unknown",
        f"{ANNOTATE} --method knnn",
        2,
        r"'--method'.*knnn",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "annotate-calibration-choice",
        f"{ANNOTATE} --calibration platt",
        2,
        r"'--calibration'.*'platt' is not one of",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "integrate-method-unknown",
        f"vcell integrate {T} --batch-key batch --method harmonie",
        2,
        r"'--method'.*harmonie",
        setup=_typed,
        max_s=5,
    ),
    Case(
        "perturb-test-fraction-one",
        f"vcell perturb evaluate {P} --task unseen_singles --test-fraction 1",
        2,
        r"'--test-fraction': 1\.0 is not in \(0, 1\)",
        setup=_perturbed,
        max_s=5,
    ),
    Case(
        "bench-jobs-zero",
        "vcell bench --preset quick -j 0 --out {tmp}/b",
        2,
        r"'--n-jobs' / '-j': 0 is not -1 \(all CPUs\) or in \[1, 1024\]",
        outputs=("b",),
        max_s=5,
    ),
    Case(
        "bench-jobs-minus-two",
        "vcell bench --preset quick -j -2 --out {tmp}/b",
        2,
        r"'--n-jobs' / '-j': -2 is not -1",
        outputs=("b",),
        max_s=5,
    ),
    Case(
        "bench-seeds-negative",
        "vcell bench --preset quick --seeds -1 --out {tmp}/b",
        2,
        r"'--seeds': seed -1 is not in \[0, 4294967295\]",
        outputs=("b",),
        max_s=5,
    ),
    Case(
        "bench-seeds-repeated",
        "vcell bench --preset quick --seeds 1,1 --out {tmp}/b",
        2,
        r"'--seeds': seeds repeat",
        outputs=("b",),
        max_s=5,
    ),
    Case(
        "design-rounds-huge",
        "vcell design --env sim_knockout --policy random --rounds 1000000000",
        2,
        r"'--rounds' / '-r': 1000000000 is not in \[1, 1000\]",
        max_s=5,
    ),
    Case(
        "design-batch-huge",
        "vcell design --env sim_knockout --policy random --batch 100000000",
        2,
        r"'--batch' / '-b': 100000000 is not in \[1, 10000\]",
        max_s=5,
    ),
    Case(
        "sim-genes-huge",
        "vcell sim --genes 1000000000 --out {tmp}/s.h5ad",
        2,
        r"'--genes': 1000000000 is not in \[2, 5000\]",
        outputs=("s.h5ad",),
        max_s=5,
    ),
    Case(
        "sim-cells-huge",
        "vcell sim --cells-per-condition 100000000 --out {tmp}/s.h5ad",
        2,
        r"'--cells-per-condition': 100000000 is not in",
        outputs=("s.h5ad",),
        max_s=5,
    ),
    Case(
        "ask-max-steps-huge",
        "vcell ask q --backend scripted --replies {tmp}/replies.json --max-steps 100000",
        2,
        r"'--max-steps': 100000 is not in \[1, 100\]",
        setup=_replies("1. answer", '{"answer": "ok"}'),
        max_s=5,
    ),
    # -- bench --data: read and checked once, before the grid
    Case(
        "bench-data-truncated",
        "vcell bench --preset quick --task represent "
        "--data {tmp}/cut.h5ad --label-key cell_type -j 1 --out {tmp}/b",
        2,
        r"--data cannot read .*cut\.h5ad as h5ad: the file is truncated",
        setup=_truncated,
        max_s=30,
    ),
    Case(
        "bench-data-no-perturbation-column",
        f"vcell bench --preset quick --task perturb --data {T} -j 1 --out {{tmp}}/b",
        2,
        r"--data .*typed\.h5ad: obs has no 'perturbation' column",
        setup=_typed,
        max_s=30,
    ),
    Case(
        "bench-data-one-cell",
        "vcell bench --preset quick --task represent "
        "--data {tmp}/one.h5ad --label-key cell_type -j 1 --out {tmp}/b",
        2,
        r"--data .*one\.h5ad: 1 cell\(s\) x 30 gene\(s\)",
        setup=_one_cell,
        max_s=30,
    ),
    Case(
        "bench-data-label-key-missing",
        "vcell bench --preset quick --task represent "
        f"--data {T} --label-key nope -j 1 --out {{tmp}}/b",
        2,
        r"--data --label-key 'nope' is not a column",
        setup=_typed,
        max_s=30,
    ),
    Case(
        "bench-data-missing",
        "vcell bench --preset quick --task represent "
        "--data {tmp}/none.h5ad --label-key cell_type --out {tmp}/b",
        2,
        r"'--data': .*none\.h5ad does not exist",
        max_s=5,
        outputs=("b",),
    ),
    # -- inputs that `vcell data validate` calls invalid are not used silently
    Case(
        "annotate-duplicate-genes",
        "vcell annotate {tmp}/dup.h5ad --label-key cell_type --query-fraction 0.3",
        2,
        r"2 gene name\(s\) occur more than once \(G0, G2\)",
        setup=_duplicates,
    ),
    Case(
        "integrate-duplicate-genes",
        "vcell integrate {tmp}/dup.h5ad --batch-key batch",
        2,
        r"2 gene name\(s\) occur more than once",
        setup=_duplicates,
    ),
    Case(
        "cluster-duplicate-genes",
        "vcell cluster {tmp}/dup.h5ad",
        2,
        r"2 gene name\(s\) occur more than once",
        setup=_duplicates,
    ),
    Case(
        "validate-orientation-contradicts-ids",
        "vcell data validate {tmp}/gxc.csv --orientation cells_x_genes",
        1,
        r"stated to be cells x genes, but its rows are Ensembl gene ids",
        setup=_genes_x_cells_ids,
    ),
    Case(
        "info-orientation-contradicts-ids",
        "vcell data info {tmp}/gxc.csv --orientation cells_x_genes",
        2,
        r"it is genes x cells; give --orientation genes_x_cells",
        setup=_genes_x_cells_ids,
    ),
    # -- library-side crashes
    Case(
        "integrate-all-zero",
        "vcell integrate {tmp}/zero.h5ad --batch-key batch --method center",
        2,
        r"no gene varies across the 60 cells",
        setup=_zero,
    ),
    Case(
        "cluster-all-zero",
        "vcell cluster {tmp}/zero.h5ad",
        2,
        r"no gene varies across the 60 cells",
        setup=_zero,
    ),
    Case(
        "api-integrate-all-zero",
        "vc.tl.integrate(zero, batch_key='batch', method='center')",
        RAISES,
        r"ValidationError: no gene varies",
        setup=_zero,
        run=_api_integrate_zero,
    ),
    Case(
        "perturb-genes-not-measured",
        "vcell perturb evaluate {tmp}/unmeasured.h5ad --task unseen_singles",
        2,
        r"none of the 6 perturbed genes is a measured gene .*X03",
        setup=_unmeasured,
    ),
    Case(
        "api-perturb-genes-not-measured",
        "vc.perturb.evaluate('unmeasured.h5ad', task='unseen_singles')",
        RAISES,
        r"none of the 6 perturbed genes",
        setup=_unmeasured,
        run=_api_perturb_unmeasured,
    ),
    Case(
        "api-simulate-genes-huge",
        "vc.sim.simulate_perturbseq(1_000_000_000)",
        RAISES,
        r"n_genes must be an integer >= 2 and <= 20000",
        run=_api_simulate_huge,
        max_s=5,
    ),
    Case(
        "api-check-output-exists",
        "check_output('old.h5ad')",
        RAISES,
        r"old\.h5ad exists; pass --overwrite",
        setup=_old("old.h5ad"),
        run=_api_check_output_exists,
    ),
    Case(
        "api-check-output-is-input",
        "check_output('typed.h5ad', overwrite=True, inputs=[('data', 'typed.h5ad')])",
        RAISES,
        r"is also the input data",
        setup=_typed,
        run=_api_check_output_is_input,
    ),
    # -- 3. failures are failures: non-zero exit and a summary line
    Case(
        "perturb-evaluate-nothing-produced",
        "vcell perturb evaluate {tmp}/nan.h5ad --task unseen_singles",
        1,
        r"no method produced a result",
        setup=_nan_pert,
    ),
    Case(
        "ask-no-answer",
        "vcell ask q --backend scripted --replies {tmp}/replies.json --max-steps 2",
        1,
        r"error: no answer \(the run stopped: max_steps",
        setup=_replies(
            "1. look", '{"tool": "nope", "args": {}}', '{"tool": "nope"}', '{"tool": "nope"}'
        ),
    ),
    # -- 5. what the agent shows: an unchecked sentence is never a verified answer
    Case(
        "ask-hijacked-answer-unverified",
        "vcell ask q --backend scripted --replies {tmp}/replies.json",
        0,
        r"",
        setup=_replies("1. answer", '{"answer": "HACKED."}'),
        output=r"answer \(UNVERIFIED: 0 of 1 sentences supported.*1 not a claim",
    ),
]
