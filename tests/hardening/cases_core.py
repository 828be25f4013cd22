"""The core battery: bad files, option values and library calls of the lower layers
(data, datasets, pp, metrics, sim, knowledge, tokenize) and their commands
(``vcell data``, ``datasets``, ``genes``, ``sim``, ``kb``, the root app).

Every input is built in the case's own folder (no reference data needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._battery import RAISES, Case, fifo

__all__ = ["CASES"]

OUT = "{tmp}/out.h5ad"


# ----------------------------------------------------------------------------- inputs
def _counts_h5ad(path: Path, *, X: np.ndarray | None = None) -> Path:
    import anndata as ad

    if X is None:
        X = np.random.default_rng(0).poisson(3.0, size=(12, 6)).astype(np.float32) + 1
    adata = ad.AnnData(X)
    adata.obs_names = [f"cell{i}" for i in range(X.shape[0])]
    adata.var_names = [f"GENE{j}" for j in range(X.shape[1])]
    adata.write_h5ad(path)
    return path


def _truncated(folder: Path) -> None:
    path = _counts_h5ad(folder / "cut.h5ad")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(folder: Path) -> None:
    (folder / "garbage.h5ad").write_bytes(b"this is not an HDF5 file\n" * 40)


def _huge_count(folder: Path) -> None:
    X = np.random.default_rng(0).poisson(3.0, size=(12, 6)).astype(np.float64) + 1
    X[4, 2] = 1e30
    _counts_h5ad(folder / "huge.h5ad", X=X)


def _dream4(
    folder: Path,
    *,
    cell: tuple[int, int, str] | None = None,
    pair: tuple[int, int, str] | None = None,
) -> None:
    """A 10-gene DREAM4 network folder; ``cell`` / ``pair`` = (row, column, text) to
    corrupt the knockouts table / the dual-knockout index file."""
    net = folder / "insilico_size10_1"
    net.mkdir()
    genes = [f"G{i}" for i in range(1, 11)]
    rng = np.random.default_rng(1)
    header = "\t".join(f'"{g}"' for g in genes)
    wild = "\t".join(f"{v:.6f}" for v in rng.random(10))
    (net / "insilico_size10_1_wildtype.tsv").write_text(f"{header}\n{wild}\n")
    rows = [[f"{v:.6f}" for v in rng.random(10)] for _ in range(10)]
    if cell is not None:
        rows[cell[0]][cell[1]] = cell[2]
    body = "\n".join("\t".join(r) for r in rows)
    (net / "insilico_size10_1_knockouts.tsv").write_text(f"{header}\n{body}\n")
    pairs = [["7", "10"], ["1", "10"], ["2", "5"]]
    if pair is not None:
        pairs[pair[0]][pair[1]] = pair[2]
    text = '"G_i"\t"G_j"\n' + "\n".join("\t".join(p) for p in pairs) + "\n"
    (net / "inSilico_size10_1_dualknockouts_indexes.tsv").write_text(text)


def _tcell_table(folder: Path) -> None:
    """Genes x cells; the cell names have no pattern the orientation rules can see."""
    (folder / "expr.csv").write_text(",TcellA,BcellB,NKcellC\nGATA1,1,2,0\nKLF1,3,4,1\n")


def _beeline_without_truth(folder: Path) -> None:
    b = folder / "beeline"
    b.mkdir()
    (b / "ExpressionData.csv").write_text(",E0_1,E0_2,E0_3\nGata1,1.0,2.0,0.5\nPu1,0.1,0.4,2.0\n")


def _make_fifo(name: str):
    def setup(folder: Path) -> None:
        fifo(folder / name)

    return setup


def _file(name: str, text: str = "x"):
    def setup(folder: Path) -> None:
        (folder / name).write_text(text)

    return setup


def _dir(name: str):
    def setup(folder: Path) -> None:
        (folder / name).mkdir()

    return setup


def _scaled(folder: Path):
    import anndata as ad

    adata = ad.AnnData(np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32))
    return adata


# ------------------------------------------------------------------------------ cases
SIM = "vcell sim --genes 10 --cells-per-condition 5 --singles 2 --doubles 1"

CASES: list[Case] = [
    # --- root app and usage errors
    Case("cli-unknown-command", "vcell frobnicate", 2, r"No such command 'frobnicate'"),
    Case(
        "cli-unknown-option-typo",
        f"{SIM} --max-step 3 --out {OUT}",
        2,
        r"No such option: --max-step",
        outputs=("out.h5ad",),
    ),
    Case(
        "cli-root-option-after-command",
        f"{SIM} -q --out {OUT}",
        2,
        r"No such option: -q",
        outputs=("out.h5ad",),
    ),
    Case("sim-missing-out", SIM, 2, r"Missing option '--out'"),
    # --- vcell sim option values
    Case(
        "sim-genes-not-a-number",
        f"vcell sim --genes abc --out {OUT}",
        2,
        r"'--genes'",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-genes-too-few",
        f"vcell sim --genes 1 --out {OUT}",
        2,
        r"'--genes'.*in \[2, 5000\]",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-hill-n-negative",
        f"{SIM} --hill-n -2 --out {OUT}",
        2,
        r"'--hill-n'.*> 0",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-hill-n-nan", f"{SIM} --hill-n nan --out {OUT}", 2, r"'--hill-n'", outputs=("out.h5ad",)
    ),
    Case(
        "sim-cell-types-zero",
        f"{SIM} --cell-types 0 --out {OUT}",
        2,
        r"'--cell-types'.*in \[1, 50\]",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-seed-negative",
        f"{SIM} --seed -1 --out {OUT}",
        2,
        r"'--seed'.*in \[0, 4294967295\]",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-doubles-negative",
        f"vcell sim --doubles -1 --out {OUT}",
        2,
        r"'--doubles'",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-cells-zero",
        f"vcell sim --cells-per-condition 0 --out {OUT}",
        2,
        r"'--cells-per-condition'",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-perturbation-type-choice",
        f"{SIM} --perturbation-type foo --out {OUT}",
        2,
        r"'--perturbation-type'.*'foo'",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-method-choice",
        f"{SIM} --method rk4 --out {OUT}",
        2,
        r"'--method'",
        outputs=("out.h5ad",),
    ),
    Case(
        "sim-singles-more-than-genes",
        "vcell sim --genes 10 --singles 50 --out {tmp}/o.h5ad",
        2,
        r"singles must be in \[0, 10\]",
        outputs=("o.h5ad",),
    ),
    Case(
        "sim-out-folder-missing",
        f"{SIM} --out {{tmp}}/missing/x.h5ad",
        2,
        r"folder .*missing does not exist",
    ),
    Case(
        "sim-out-wrong-suffix",
        f"{SIM} --out {{tmp}}/x.csv",
        2,
        r"suffix \(\.csv\)",
        outputs=("x.csv",),
    ),
    Case(
        "sim-out-is-a-folder",
        f"{SIM} --out {{tmp}}/d.h5ad",
        2,
        r"is a folder",
        setup=_dir("d.h5ad"),
    ),
    Case(
        "sim-plots-is-a-file",
        f"{SIM} --plots {{tmp}}/p --out {OUT}",
        2,
        r"'--plots'.*is a file",
        setup=_file("p"),
        outputs=("out.h5ad",),
    ),
    # --- vcell data validate / info: files
    Case(
        "data-missing-file",
        "vcell data validate {tmp}/absent.h5ad",
        2,
        r"absent.h5ad does not exist",
    ),
    Case(
        "data-unknown-dataset-name",
        "vcell data validate pbmc68k_reducd",
        2,
        r"'pbmc68k_reducd' is neither.*Did you mean: pbmc68k_reduced",
    ),
    Case(
        "data-fifo",
        "vcell data validate {tmp}/pipe.h5ad",
        2,
        r"FIFO",
        setup=_make_fifo("pipe.h5ad"),
    ),
    Case(
        "data-truncated-h5ad",
        "vcell data validate {tmp}/cut.h5ad",
        1,
        r"truncated",
        setup=_truncated,
    ),
    Case(
        "data-garbage-h5ad",
        "vcell data validate {tmp}/garbage.h5ad",
        1,
        r"not an HDF5 file",
        setup=_garbage,
    ),
    Case(
        "data-empty-csv",
        "vcell data info {tmp}/empty.csv",
        2,
        r"empty\.csv",
        setup=_file("empty.csv", ""),
    ),
    Case(
        "data-count-1e30",
        "vcell data validate {tmp}/huge.h5ad",
        1,
        r"above 2,147,483,647 \(max 1e\+30\).*cell4",
        setup=_huge_count,
    ),
    Case(
        "data-dream4-abc",
        "vcell data validate {tmp}/insilico_size10_1",
        1,
        r"non-numeric value 'abc' at line 4, column 'G3'",
        setup=lambda f: _dream4(f, cell=(2, 2, "abc")),
    ),
    Case(
        "data-dream4-decimal-comma",
        "vcell data validate {tmp}/insilico_size10_1",
        1,
        r"non-numeric value '0,878' at line 3, column 'G5'",
        setup=lambda f: _dream4(f, cell=(1, 4, "0,878")),
    ),
    Case(
        "data-dream4-index-99",
        "vcell data validate {tmp}/insilico_size10_1",
        1,
        r"gene index '99' at line 3, column 'G_j' is outside 1\.\.10",
        setup=lambda f: _dream4(f, pair=(1, 1, "99")),
    ),
    Case(
        "data-ambiguous-orientation",
        "vcell data validate {tmp}/expr.csv",
        1,
        r"cannot tell whether .*expr\.csv.*--orientation",
        setup=_tcell_table,
    ),
    Case(
        "data-orientation-choice",
        "vcell data validate {tmp}/expr.csv --orientation sideways",
        2,
        r"'--orientation'",
        setup=_tcell_table,
    ),
    Case(
        "data-format-choice",
        "vcell data info {tmp}/expr.csv --format excel",
        2,
        r"'--format'",
        setup=_tcell_table,
    ),
    Case(
        "data-format-mismatch",
        "vcell data validate {tmp}/expr.csv --format h5ad",
        1,
        r"not an HDF5 file",
        setup=_tcell_table,
    ),
    Case(
        "data-vocab-fraction-range",
        "vcell data validate {tmp}/expr.csv --orientation genes_x_cells --min-vocab-fraction 1.5",
        2,
        r"'--min-vocab-fraction'.*in \[0, 1\]",
        setup=_tcell_table,
    ),
    Case(
        "data-vocabulary-missing",
        "vcell data validate {tmp}/expr.csv --vocabulary {tmp}/v.txt",
        2,
        r"v\.txt does not exist",
        setup=_tcell_table,
    ),
    Case(
        "data-layer-missing",
        "vcell data validate {tmp}/expr.csv --orientation genes_x_cells --layer counts",
        2,
        r"no layer 'counts'",
        setup=_tcell_table,
    ),
    Case(
        "data-beeline-folder-without-expression",
        "vcell data info {tmp}/d",
        2,
        r"cannot tell the format of folder",
        setup=_dir("d"),
    ),
    # --- datasets / genes
    Case("datasets-info-unknown", "vcell datasets info nope", 2, r"unknown dataset 'nope'"),
    Case("datasets-fetch-offline", "vcell datasets fetch adamson2016", 2, r"offline"),
    Case(
        "genes-target-choice",
        "vcell genes {tmp}/expr.csv --to gene_name",
        2,
        r"'--to'",
        setup=_tcell_table,
    ),
    Case(
        "genes-show-negative",
        "vcell genes {tmp}/expr.csv --show -1",
        2,
        r"'--show'",
        setup=_tcell_table,
    ),
    # --- vcell kb
    Case(
        "kb-store-missing",
        "vcell kb search insulin --kb {tmp}/none.sqlite",
        2,
        r"none\.sqlite does not exist; build one with `vcell kb build",
    ),
    Case("kb-default-store-missing", "vcell kb gene TP53", 2, r"no knowledge store at"),
    Case("kb-k-zero", "vcell kb search insulin -k 0", 2, r"'-k'.*>= 1"),
    Case(
        "kb-mode-choice",
        "vcell kb verify 'KLF1 regulates erythropoiesis' --mode fuzzy",
        2,
        r"'--mode'",
    ),
    Case("kb-kind-choice", "vcell kb search insulin --kind protein", 2, r"'protein' not one of"),
    Case(
        "kb-build-source-missing",
        "vcell kb build --source {tmp}/nope --out {tmp}/kb.sqlite",
        2,
        r"nope does not exist",
        outputs=("kb.sqlite",),
    ),
    Case(
        "kb-build-out-suffix",
        "vcell kb build --out {tmp}/kb.txt",
        2,
        r"suffix \(\.txt\)",
        outputs=("kb.txt",),
    ),
    # --- library calls with wrong types / values
    Case(
        "api-validate-int",
        "vc.data.validate(123)",
        RAISES,
        r"ValidationError: validate\(\) takes an AnnData or a path to a data file, got int",
        run=lambda f: _vc().data.validate(123),
    ),
    Case(
        "api-read-int",
        "vc.data.read(123)",
        RAISES,
        r"expected a file or folder path",
        run=lambda f: _vc().data.read(123),
    ),
    Case(
        "api-read-dataset-name",
        "vc.data.read('wu2020')",
        RAISES,
        r"vc\.datasets\.read\('wu2020'\)",
        run=lambda f: _vc().data.read("wu2020"),
    ),
    Case(
        "api-read-fifo",
        "vc.data.read('pipe.csv')",
        RAISES,
        r"FIFO",
        setup=_make_fifo("pipe.csv"),
        run=lambda f: _vc().data.read(f / "pipe.csv"),
    ),
    Case(
        "api-read-table-orientation",
        "vc.data.read_table('expr.csv', orientation='sideways')",
        RAISES,
        r"orientation must be",
        setup=_tcell_table,
        run=lambda f: _vc().data.read_table(f / "expr.csv", orientation="sideways"),
    ),
    Case(
        "api-datasets-read-typo",
        "vc.datasets.read('pbmc68k_reducd')",
        RAISES,
        r"Did you mean: pbmc68k_reduced",
        run=lambda f: _vc().datasets.read("pbmc68k_reducd"),
    ),
    Case(
        "api-true-network-missing",
        "vc.data.true_network(vc.data.read('beeline'))",
        RAISES,
        r"no ground-truth network.*no refNetwork\.csv",
        setup=_beeline_without_truth,
        run=lambda f: _vc().data.true_network(_vc().data.read(f / "beeline")),
    ),
    Case(
        "api-sim-cell-types-zero",
        "vc.sim.simulate_perturbseq(10, n_cell_types=0)",
        RAISES,
        r"n_cell_types must be an integer >= 1, got 0",
        run=lambda f: _vc().sim.simulate_perturbseq(10, n_cell_types=0),
    ),
    Case(
        "api-sim-hill-nan",
        "vc.sim.sample_grn(10, hill_n=float('nan'))",
        RAISES,
        r"hill_n must be a finite number > 0, got nan",
        run=lambda f: _vc().sim.sample_grn(10, hill_n=float("nan")),
    ),
    Case(
        "api-sim-genes-string",
        "vc.sim.sample_grn('10')",
        RAISES,
        r"n_genes must be an integer >= 2 and <= 20000, got str",
        run=lambda f: _vc().sim.sample_grn("10"),
    ),
    Case(
        "api-metrics-swapped",
        "vc.metrics.leiden_nmi_ari(np.ones((4, 2)), ['a']*4)",
        RAISES,
        r"takes the truth first",
        run=lambda f: _vc().metrics.leiden_nmi_ari(np.ones((4, 2)), ["a"] * 4),
    ),
    Case(
        "api-metrics-edge-table-columns",
        "vc.metrics.auprc(DataFrame(a=, b=), DataFrame(...), genes=...)",
        RAISES,
        r"truth lacks column\(s\) \['regulator', 'target'\]",
        run=lambda f: _bad_edges(),
    ),
    Case(
        "api-metrics-sign-word",
        "vc.metrics.signed_accuracy(['+', 'sideways'], ['+', '-'])",
        RAISES,
        r"unknown sign value\(s\) \['sideways'\]",
        run=lambda f: _vc().metrics.signed_accuracy(["+", "sideways"], ["+", "-"]),
    ),
    Case(
        "api-tokenizer-max-len",
        "vc.tokenize.RankTokenizer(max_len=0)",
        RAISES,
        r"max_len must be >= 1",
        run=lambda f: _vc().tokenize.RankTokenizer(max_len=0),
    ),
    Case(
        "api-normalize-scaled",
        "vc.pp.normalize(scaled adata)",
        RAISES,
        r"negative values",
        run=lambda f: _vc().pp.normalize(_scaled(f)),
    ),
    Case(
        "api-kb-load-missing",
        "vc.knowledge.load('none.sqlite')",
        RAISES,
        r"no knowledge store at",
        run=lambda f: _vc().knowledge.load(f / "none.sqlite"),
    ),
    Case(
        "api-check-expression-scaled",
        "vc.data.check_expression(scaled adata, need='counts')",
        RAISES,
        r"needs raw counts but X has negative values",
        run=lambda f: _vc().data.check_expression(_scaled(f), need="counts"),
    ),
]


def _vc():
    import virtualcell as vc

    return vc


def _bad_edges():
    import pandas as pd

    vc = _vc()
    truth = pd.DataFrame({"a": ["A"], "b": ["B"]})
    scores = pd.DataFrame({"regulator": ["A"], "target": ["B"], "score": [1.0]})
    return vc.metrics.auprc(truth, scores, genes=["A", "B"])
