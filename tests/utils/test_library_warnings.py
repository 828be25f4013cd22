"""Library warnings a user cannot act on are fixed where they come from (issue 21): each
test runs the path that used to warn with every warning recorded and fails if the
warning comes back."""

from __future__ import annotations

import warnings

import numpy as np

_CACHE: list[np.ndarray] = []


def _hold_memory(item: int, *, mb: int) -> int:
    """A task that keeps data in its worker (as bench workers keep loaded datasets)."""
    import time

    _CACHE.append(np.ones(mb * 2**20 // 8))
    time.sleep(1.2)  # past loky's once-a-second memory check
    return item


def test_local_workers_keeping_data_are_not_restarted_with_a_warning():
    """loky restarted a worker whose memory grew by 300 MB ("a memory leak") and warned
    'A worker stopped while some jobs were given' on bench runs; workers that keep data
    on purpose are no longer restarted (and the warning is not filtered)."""
    from virtualcell._utils import imap_tasks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = sorted(
            i for i, _ in imap_tasks(_hold_memory, list(range(10)), shared={"mb": 200}, n_jobs=2)
        )
    assert got == list(range(10))
    stopped = [w for w in caught if "worker stopped" in str(w.message)]
    assert not stopped, [str(w.message) for w in stopped]


def _rare_genes_cells():
    """40 cells: 10 genes expressed everywhere, 30 never (as 18,680 of wu2020's 30,727
    genes; a tokenizer's vocabulary leaves them out)."""
    import anndata as ad

    rng = np.random.default_rng(0)
    X = np.zeros((40, 40), dtype=np.float32)
    X[:, :10] = rng.integers(1, 20, size=(40, 10))
    return ad.AnnData(X, var={"gene": [f"G{i}" for i in range(40)]}).copy()


def test_a_tokenizer_encoding_its_own_corpus_does_not_warn_about_coverage():
    """The README tour: a RankTokenizer fitted on wu2020 warned CoverageWarning (39% of
    the genes) when encoding wu2020 itself, and again when pretraining on it: the genes
    missing from the vocabulary are the ones (almost) never expressed there."""
    from virtualcell.tokenize import CoverageWarning, RankTokenizer

    adata = _rare_genes_cells()
    adata.var_names = adata.var["gene"].astype(str).to_numpy()
    tok = RankTokenizer(max_len=16).fit(adata)
    assert tok.coverage(adata.var_names).fraction < tok.min_coverage_warn  # the old trigger
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tok.encode(adata)
    assert not [w for w in caught if issubclass(w.category, CoverageWarning)]
    # genes that do carry the data and are missing still warn (other identifiers)
    other = adata.copy()
    other.var_names = [f"X{i}" if i < 6 else n for i, n in enumerate(adata.var_names)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tok.encode(other)
    assert [w for w in caught if issubclass(w.category, CoverageWarning)]


def _duplicate_names_file(folder):

    adata = _rare_genes_cells()
    adata.var_names = [f"G{i % 30}" for i in range(40)]  # G0..G9 twice
    path = folder / "dup.h5ad"
    adata.write_h5ad(path)
    return path


def test_reading_duplicate_gene_names_says_it_once_in_the_packages_words(tmp_path, capsys):
    """anndata's "Variable names are not unique" warning came with the package's own
    message naming the genes (five times on an annotate run); now the readers leave it
    out and the command's one error line names the genes."""
    import virtualcell as vc
    from virtualcell.cli import main

    path = _duplicate_names_file(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adata = vc.data.read(path)
        report = vc.data.validate(path)
        code = main(["annotate", str(path), "--label-key", "gene", "--query-fraction", "0.3"])
    assert not adata.var_names.is_unique  # the data is returned as it is
    assert any("occur more than once" in p.message for p in report.problems)
    assert code == 2 and "10 gene name(s) occur more than once" in capsys.readouterr().err
    assert not [w for w in caught if "names are not unique" in str(w.message)], [
        str(w.message) for w in caught
    ]


def test_variable_genes_of_data_with_constant_genes_without_scanpys_warning():
    """scanpy warned "`n_top_genes` > number of normalized dispersions" whenever fewer
    genes could be ranked than asked for (constant genes, or a gene alone in its mean
    bin): the count is capped by the rankable genes, and the same genes are chosen."""
    import anndata as ad
    import scipy.sparse as sp

    import virtualcell as vc

    rng = np.random.default_rng(0)
    X = rng.poisson(2, (60, 40)).astype(np.float32)
    X[:, 30:] = 0
    X[:, 25:30] = 3
    adata = ad.AnnData(sp.csr_matrix(X))
    adata.var_names = [f"G{i}" for i in range(40)]
    vc.pp.normalize(adata)
    vc.pp.log1p(adata)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vc.pp.highly_variable(adata, n_top_genes=2000)
        mask = vc.pp.variable_gene_mask(adata.X, 2000)
    assert not [w for w in caught if "n_top_genes" in str(w.message)]
    # every gene scanpy can rank is chosen (what scanpy returned with its warning)
    assert adata.var["highly_variable"].sum() == 30 and mask.sum() == 25
