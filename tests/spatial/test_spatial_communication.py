"""Cell-cell communication (``vc.spatial.communication``) on small sections built here."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from virtualcell import ValidationError
from virtualcell.cli import main
from virtualcell.metrics import EVAL_COLUMNS, EvalResult, auprc
from virtualcell.spatial import (
    COMMUNICATION_METHODS,
    communication,
    evaluate_communication,
)
from virtualcell.spatial._comm_data import prepare
from virtualcell.spatial._comm_methods import contact_strength, specificity

SPATIAL = ("colocalization", "neighbor_product", "response", "contact_response")


def planted_section(seed: int = 0, side: int = 24) -> ad.AnnData:
    """A grid section: types A and B mixed on the left half, type C alone on the right.

    Pair LA -> R1 is planted: LA is expressed by A, R1 by B, and B cells respond (gene T)
    to the number of A cells among their 6 nearest neighbours. The decoy LC -> R2 is its
    mirror image for the non-spatial statistics: LC is expressed by C exactly as LA by A
    (same counts, same number of cells), R2 by B exactly as R1, but C never touches B.
    """
    rng = np.random.default_rng(seed)
    xy = np.array([(x, y) for x in range(side) for y in range(side)], dtype=float) * 10.0
    left = xy[:, 0] < side * 10.0 / 2
    xy[~left, 0] += 200.0  # a gap: no C cell is among a B cell's nearest neighbours
    n_left = int(left.sum())
    kinds = np.empty(len(xy), dtype=object)
    kinds[~left] = "C"
    ab = np.array(["A"] * (n_left // 2) + ["B"] * (n_left - n_left // 2), dtype=object)
    kinds[left] = ab[rng.permutation(n_left)]
    # C as many cells as A: trim the right half
    n_a = int((kinds == "A").sum())
    right = np.flatnonzero(~left)
    keep = np.ones(len(xy), dtype=bool)
    keep[right[n_a:]] = False
    xy, kinds = xy[keep], kinds[keep]
    genes = ["LA", "LC", "R1", "R2", "T", "N1", "N2", "FILL"]
    counts = np.zeros((len(xy), len(genes)), dtype=np.int64)
    g = {name: i for i, name in enumerate(genes)}
    counts[kinds == "A", g["LA"]] = 6
    counts[kinds == "C", g["LC"]] = 6
    counts[kinds == "B", g["R1"]] = 5
    counts[kinds == "B", g["R2"]] = 5
    # B's response: T rises with the number of A cells among the 6 nearest neighbours
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=7).fit(xy).kneighbors(xy, return_distance=False)[:, 1:]
    n_a_near = (kinds[idx] == "A").sum(axis=1)
    counts[kinds == "B", g["T"]] = 1 + 3 * n_a_near[kinds == "B"]
    counts[:, g["N1"]] = rng.poisson(3, len(xy))
    counts[:, g["N2"]] = rng.poisson(3, len(xy))
    counts[:, g["FILL"]] = 60 - counts.sum(axis=1)  # same library size in every cell
    adata = ad.AnnData(
        X=sp.csr_matrix(counts.astype(np.float32)),
        obs=pd.DataFrame(
            {"cell_type": pd.Categorical(kinds.astype(str))},
            index=[f"c{i}" for i in range(len(xy))],
        ),
        var=pd.DataFrame(index=genes),
    )
    adata.obsm["spatial"] = xy
    adata.uns["lr_pairs"] = pd.DataFrame({"ligand": ["LA", "LC"], "receptor": ["R1", "R2"]})
    types = ["A", "B", "C"]
    rows = [
        {"ligand": lig, "receptor": rec, "sender": s, "receiver": r,
         "active": (lig, s, r) == ("LA", "A", "B")}
        for lig, rec in (("LA", "R1"), ("LC", "R2")) for s in types for r in types
    ]  # fmt: skip
    adata.uns["true_communication"] = pd.DataFrame(rows)
    return adata


def _row(table: pd.DataFrame, lig: str, s: str, r: str) -> pd.Series:
    hit = table[(table["ligand"] == lig) & (table["sender"] == s) & (table["receiver"] == r)]
    assert len(hit) == 1
    return hit.iloc[0]


@pytest.fixture(scope="module")
def section() -> ad.AnnData:
    return planted_section()


def test_non_spatial_baselines_cannot_tell_the_planted_pair_from_its_decoy(section):
    for method, opts in (("coexpression", {}), ("permutation", {"n_perm": 200})):
        out = communication(section, method=method, **opts)
        planted, decoy = _row(out, "LA", "A", "B"), _row(out, "LC", "C", "B")
        assert planted["score"] == pytest.approx(decoy["score"]), method
        if method == "permutation":
            assert planted["pvalue"] == decoy["pvalue"] == pytest.approx(1 / 201)


@pytest.mark.parametrize("method", SPATIAL)
def test_spatial_methods_rank_the_planted_pair_above_its_decoy(section, method):
    out = (
        communication(section, method=method, n_perm=200)
        if method == "response"
        else (communication(section, method=method))
    )
    planted, decoy = _row(out, "LA", "A", "B"), _row(out, "LC", "C", "B")
    assert planted["score"] > 0
    assert planted["score"] > 5 * decoy["score"], (method, planted["score"], decoy["score"])
    # the table: one row per (pair, sender, receiver), highest score first
    assert len(out) == 2 * 3 * 3
    assert out["score"].is_monotonic_decreasing
    assert list(out.columns[:5]) == ["ligand", "receptor", "sender", "receiver", "score"]


def test_response_sees_the_receivers_response(section):
    out = communication(section, method="response", n_perm=100)
    # B cells respond to LA (gene T follows the A neighbours; the strength is the mean of
    # the top-3 |r| over genes, T's is 1); C -> B has no exposure at all
    assert _row(out, "LA", "A", "B")["response"] > 0.5
    assert _row(out, "LC", "C", "B")["response"] == 0.0


def test_permutation_baseline_matches_a_direct_computation():
    rng = np.random.default_rng(3)
    n = 14
    labels = np.array(["s", "r"] * (n // 2))
    x = rng.gamma(2.0, 1.0, size=(n, 3)) * (rng.random((n, 3)) > 0.3)  # normalised, not counts
    x[:, 0] += 0.37  # no integer values anywhere: used as given
    adata = ad.AnnData(
        X=x.astype(np.float64),
        obs=pd.DataFrame({"ct": pd.Categorical(labels)}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=["L", "R", "Z"]),
    )
    pairs = pd.DataFrame({"ligand": ["L"], "receptor": ["R"]})
    n_perm, seed = 60, 5
    out = communication(adata, method="permutation", lr_pairs=pairs, groupby="ct",
                        n_perm=n_perm, seed=seed, min_fraction=0.0)  # fmt: skip
    draw = np.random.default_rng(seed)
    perms = [draw.permutation(np.arange(n)) for _ in range(n_perm)]
    types = ["r", "s"]  # category order
    codes = np.array([types.index(v) for v in labels])
    for s in range(2):
        for r in range(2):
            stat = (x[codes == s, 0].mean() + x[codes == r, 1].mean()) / 2
            hits = 0
            for perm in perms:
                c = codes[perm]
                hits += (x[c == s, 0].mean() + x[c == r, 1].mean()) / 2 >= stat
            row = _row(out, "L", types[s], types[r])
            assert row["mean"] == pytest.approx(stat, rel=1e-12)
            assert row["pvalue"] == pytest.approx((1 + hits) / (1 + n_perm), rel=1e-12)


def test_evaluate_returns_the_contract(section):
    res = evaluate_communication(section, methods=["response", "neighbor_product"], seeds=(0, 1))
    assert isinstance(res, EvalResult)
    assert tuple(res.table.columns) == EVAL_COLUMNS
    assert set(res.table["metric"]) == {"auprc", "auroc"}
    assert set(res.table["seed"]) == {0, 1}
    methods = dict(zip(res.table["method"], res.table["baseline"], strict=False))
    assert methods == {
        "response": False, "neighbor_product": False, "permutation": True, "coexpression": True,
    }  # fmt: skip
    assert res.table["higher_is_better"].all()
    # the scorer's AUPRC is vc.metrics.auprc over the truth rows
    pred = communication(section, method="neighbor_product")
    truth = section.uns["true_communication"]
    merged = truth.merge(pred, on=["ligand", "receptor", "sender", "receiver"])
    direct = auprc(merged["active"].to_numpy(), merged["score"].to_numpy())
    assert res.value("neighbor_product", "auprc") == pytest.approx(direct)
    report = res.report
    assert report["metric"] == "auprc" and report["higher_is_better"] is True
    assert report["density"] == pytest.approx(1 / 18)
    by = {r["method"]: r["score"] for r in report["results"]}
    assert by["neighbor_product"] == pytest.approx(direct)
    assert by["response"] == pytest.approx(1.0)  # the planted row alone on top
    assert by["permutation"] < 1.0  # tied with its decoy


def test_missing_coordinates_fail_before_any_method_runs(section):
    calls = []

    @COMMUNICATION_METHODS.register("_counting_baseline", baseline=True)
    def _counting(data, *, seed=0):
        calls.append(seed)
        return COMMUNICATION_METHODS.get("coexpression")(data, seed=seed)

    try:
        flat = section.copy()
        del flat.obsm["spatial"]
        with pytest.raises(ValidationError, match=r"obsm\['spatial'\]"):
            evaluate_communication(flat, methods=["_counting_baseline", "contact_response"])
        assert calls == []  # the baseline was not run before the spatial method failed
    finally:
        COMMUNICATION_METHODS.remove("_counting_baseline")


def test_truth_never_reaches_a_method(section):
    blind = section.copy()
    del blind.uns["true_communication"]
    a = communication(section, method="response", n_perm=50)
    b = communication(blind, method="response", n_perm=50)
    pd.testing.assert_frame_equal(a, b)


def test_cli_json_shape(section, tmp_path, capsys):
    path = tmp_path / "tissue.h5ad"
    section.write_h5ad(path)
    code = main(["spatial", "communication", str(path), "--json", "--methods", "response"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert list(out) == ["metric", "higher_is_better", "results"]
    assert out["metric"] == "auprc" and out["higher_is_better"] is True
    assert [r["method"] for r in out["results"]] == ["response", "coexpression", "permutation"]
    for r in out["results"]:
        assert set(r) == {"method", "baseline", "score"}
        assert isinstance(r["baseline"], bool) and 0.0 <= r["score"] <= 1.0


def test_cli_error_is_one_line(section, tmp_path, capsys):
    path = tmp_path / "tissue.h5ad"
    section.write_h5ad(path)
    code = main(["spatial", "communication", str(path), "--json", "--groupby", "nope"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "no column 'nope'" in err


def test_one_line_errors(section):
    bad = pd.DataFrame({"ligand": ["LA", "XX1"], "receptor": ["R1", "YY2"]})
    with pytest.raises(ValidationError, match="2 gene\\(s\\) not in var_names: XX1, YY2"):
        communication(section, method="coexpression", lr_pairs=bad)
    with pytest.raises(ValidationError, match="needs columns 'ligand' and 'receptor'"):
        communication(section, lr_pairs=pd.DataFrame({"a": ["LA"], "b": ["R1"]}))
    with pytest.raises(ValidationError, match="no column 'celltype'"):
        communication(section, groupby="celltype")
    flat = section.copy()
    del flat.obsm["spatial"]
    assert len(communication(flat, method="coexpression")) == 18  # no space needed
    for method in SPATIAL:
        opts = {"n_perm": 10} if method == "response" else {}
        with pytest.raises(ValidationError, match="obsm\\['spatial'\\]"):
            communication(flat, method=method, **opts)
    with pytest.raises(ValidationError, match="'coexpression' takes no option 'n_perm'"):
        communication(section, method="coexpression", n_perm=10)
    with pytest.raises(ValidationError, match="unknown communication method 'nope'"):
        communication(section, method="nope")
    blind = section.copy()
    del blind.uns["true_communication"]
    with pytest.raises(ValidationError, match="true_communication"):
        evaluate_communication(blind)


def test_default_pairs_come_from_the_knowledge_base(section, tmp_path):
    from virtualcell.knowledge import build, default_path

    src = tmp_path / "kb-src"
    src.mkdir()
    (src / "my_ligand_receptor.csv").write_text("ligand,receptor\nLA,R1\nLC,R2\nMISSING,R1\n")
    build(src, out=default_path(), include_defaults=False)  # the test's own cache dir
    no_pairs = section.copy()
    del no_pairs.uns["lr_pairs"]
    out = communication(no_pairs, method="coexpression")
    assert set(zip(out["ligand"], out["receptor"], strict=True)) == {("LA", "R1"), ("LC", "R2")}


def test_registry_lists_baselines():
    assert COMMUNICATION_METHODS.names(baseline=True) == ["coexpression", "permutation"]
    assert set(SPATIAL) <= set(COMMUNICATION_METHODS.names(baseline=False))


def test_contact_response_puts_the_planted_row_alone_on_top(section):
    out = communication(section)  # the default method
    assert (out.iloc[0]["ligand"], out.iloc[0]["sender"], out.iloc[0]["receiver"]) == (
        "LA",
        "A",
        "B",
    )
    assert out.iloc[0]["score"] > out.iloc[1]["score"]
    res = evaluate_communication(section, methods=["contact_response"], seeds=(0,))
    assert res.value("contact_response", "auprc") == pytest.approx(1.0)
    assert res.value("permutation", "auprc") < 1.0  # tied with the decoy
    # deterministic: the seed changes nothing
    pd.testing.assert_frame_equal(out, communication(section, seed=5))


def test_contact_strength_reads_who_touches_whom(section):
    data = prepare(section)
    strength = contact_strength(data)
    a, b, c = (data.types.index(t) for t in "ABC")
    # B cells' T follows their A neighbours; A cells respond to nothing (noise only); C
    # never touches B, so no B cell varies in its C contact; C cells touch only C
    assert strength[a, b] > 100
    assert strength[a, b] > 10 * strength[b, a] > 0
    assert strength[c, b] == 0.0
    assert strength[a, c] == strength[b, c] == 0.0
    # the pair's evidence: LA -> R1 (A -> B) carries the response, its decoy does not
    out = communication(section, method="contact_response")
    planted, decoy = _row(out, "LA", "A", "B"), _row(out, "LC", "C", "B")
    assert planted["contact_response"] == pytest.approx(strength[a, b])
    assert decoy["contact_response"] == 0.0
    assert planted["pair_response"] > 5 * decoy["pair_response"]


def test_specificity_matches_a_direct_computation(section):
    data = prepare(section)
    spec = specificity(data, slope=4.0)
    x = section.X.toarray().astype(float)
    cp10k = x / x.sum(axis=1, keepdims=True) * 1e4
    types = list(data.types)
    labels = section.obs["cell_type"].astype(str).to_numpy()
    genes = list(section.var_names)

    def soft(gene: str) -> np.ndarray:
        m = np.array([cp10k[labels == t, genes.index(gene)].mean() for t in types])
        return 1 / (1 + np.exp(-4 * (m - m.mean()) / m.std()))

    for p, (lig, rec) in enumerate(zip(data.pairs["ligand"], data.pairs["receptor"], strict=True)):
        want = soft(lig)[:, None] * soft(rec)[None, :]
        np.testing.assert_allclose(spec[p], want, rtol=1e-9)
    # a gene equal in every type is at its average everywhere: 0.5
    flat = section.copy()
    flat.X = sp.csr_matrix(np.full(flat.shape, 7.0, dtype=np.float32))
    np.testing.assert_allclose(specificity(prepare(flat)), 0.25)


def _spill_section() -> ad.AnnData:
    """The planted grid, log-normalised, where B cells do NOT respond (T constant) but
    pick up A's marker SPILL in proportion to their A neighbours (segmentation spill-over)."""
    base = planted_section()
    x = np.log1p(base.X.toarray().astype(float)) + 0.01  # not counts: used as given
    kinds = base.obs["cell_type"].astype(str).to_numpy()
    genes = list(base.var_names)
    x[kinds == "B", genes.index("T")] = 1.37
    x[:, genes.index("FILL")] = 3.4  # FILL = 60 - the rest carried T's response too
    from sklearn.neighbors import NearestNeighbors

    xy = base.obsm["spatial"]
    idx = NearestNeighbors(n_neighbors=7).fit(xy).kneighbors(xy, return_distance=False)[:, 1:]
    n_a = (kinds[idx] == "A").sum(axis=1)
    spill = np.where(kinds == "A", 3.0, np.where(kinds == "B", 0.1 * n_a, 0.0)) + 0.01
    adata = ad.AnnData(
        X=np.column_stack([x, spill]),
        obs=base.obs.copy(),
        var=pd.DataFrame(index=[*genes, "SPILL"]),
    )
    adata.obsm["spatial"] = xy
    adata.uns["lr_pairs"] = base.uns["lr_pairs"]
    return adata


def test_marker_guard_ignores_a_senders_markers_in_its_neighbours():
    data = prepare(_spill_section())
    a, b = data.types.index("A"), data.types.index("B")
    unguarded = contact_strength(data, marker_fold=None)[a, b]
    guarded = contact_strength(data, marker_fold=2.0)[a, b]
    assert unguarded > 1e3  # SPILL follows the A contact exactly
    assert guarded < unguarded / 100  # left out: only noise genes remain


def test_contact_response_bad_options(section):
    with pytest.raises(ValidationError, match="top must be >= 1, got 0"):
        communication(section, method="contact_response", top=0)
    with pytest.raises(ValidationError, match="slope must be a positive number, got -1"):
        communication(section, method="contact_response", slope=-1.0)
    with pytest.raises(ValidationError, match="marker_fold must be > 0 or None, got 0"):
        communication(section, method="contact_response", marker_fold=0.0)
    with pytest.raises(
        ValidationError, match="'contact_response' takes no option 'n_perm'; its options: top"
    ):
        communication(section, method="contact_response", n_perm=10)
