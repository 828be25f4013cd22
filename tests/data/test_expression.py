"""vc.data.expression: the one place that decides the matrix, counts or not, and the
normalisation (issue 25 item 1)."""

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import virtualcell as vc


def _counts(seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).poisson(3.0, (40, 12)).astype(np.float32)
    x[:, 0] += 1  # every cell has counts
    return x


def test_counts_become_log1p_per_10k_by_hand():
    x = _counts()
    e = vc.data.expression(ad.AnnData(sp.csr_matrix(x)))
    assert e.space == vc.data.SPACE_LOG == "log1p_cp10k"
    assert e.source == "counts" and e.counts and e.normalized
    assert sp.issparse(e.X) and e.X.dtype == np.float32
    lib = x.sum(axis=1, dtype=np.float64)
    np.testing.assert_allclose(e.library, lib)
    np.testing.assert_allclose(e.X.toarray(), np.log1p(x / lib[:, None] * 1e4), rtol=1e-6)


def test_median_scaling_is_declared_and_matches_the_formula():
    x = _counts(1)
    x[3] = 0  # an empty cell stays 0 and is not part of the median
    e = vc.data.expression(ad.AnnData(x), target_sum="median", sparse_output=False, dtype="float64")
    assert e.space == vc.data.SPACE_LOG_MEDIAN
    lib = x.sum(axis=1, dtype=np.float64)
    med = np.median(lib[lib > 0])
    assert e.target_sum == pytest.approx(med)
    want = np.log1p(
        np.divide(x * med, lib[:, None], out=np.zeros_like(x, float), where=lib[:, None] > 0)
    )
    np.testing.assert_allclose(e.X, want, rtol=1e-6)
    assert not np.any(e.X[3])


def test_logged_values_pass_linear_values_are_normalised():
    x = _counts(2)
    logged = np.log1p(x / x.sum(1, keepdims=True) * 1e4)
    e = vc.data.expression(ad.AnnData(logged))
    assert e.space == vc.data.SPACE_INPUT and e.source == "log" and not e.normalized
    np.testing.assert_array_equal(e.X, logged)
    linear = x / x.sum(1, keepdims=True) * 1e7 + 0.5  # normalised, not logged, not whole
    e = vc.data.expression(ad.AnnData(linear))
    assert e.source == "linear" and e.space == vc.data.SPACE_LOG
    np.testing.assert_allclose(
        np.asarray(e.X.todense()), np.log1p(linear / linear.sum(1, keepdims=True) * 1e4), rtol=1e-5
    )


def test_layer_raw_and_forced_normalisation():
    x = _counts(3)
    a = ad.AnnData(np.log1p(x))
    a.layers["counts"] = x
    a.raw = ad.AnnData(x * 2, var=a.var.copy())
    assert vc.data.expression(a, layer="counts").space == vc.data.SPACE_LOG
    raw = vc.data.expression(a, layer="raw", space="counts")
    assert raw.space == "counts"
    np.testing.assert_array_equal(raw.X, x * 2)
    forced = vc.data.expression(a, normalize=True)
    assert (
        forced.normalized
    )  # logged X normalised on request (e.g. a truth scored in its training space)
    kept = vc.data.expression(a, layer="counts", normalize=False)
    assert kept.space == vc.data.SPACE_INPUT


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda x: ad.AnnData(x - 1.5), "negative values"),
        (lambda x: ad.AnnData(np.where(x > 4, np.nan, x)), "NaN or infinite"),
    ],
)
def test_bad_values_are_refused(make, match):
    with pytest.raises(vc.ValidationError, match=match):
        vc.data.expression(make(_counts()))


def test_negative_values_name_a_usable_layer():
    x = _counts()
    a = ad.AnnData(x - 1.5)
    a.layers["counts"] = x
    with pytest.raises(vc.ValidationError, match="layer='counts'"):
        vc.data.expression(a)


def test_counts_space_refuses_non_counts():
    with pytest.raises(vc.ValidationError, match="does not look like counts"):
        vc.data.expression(ad.AnnData(np.log1p(_counts()) + 0.01), space="counts")
    with pytest.raises(vc.ValidationError, match="no layer 'nope'"):
        vc.data.expression(ad.AnnData(_counts()), layer="nope")


def test_half_precision_counts_are_read_like_float32():
    """A float16 h5ad (written to save space) is normalised like its float32 copy
    (scipy.sparse has no float16: this was an internal error)."""
    x = _counts(3)
    half = vc.data.expression(ad.AnnData(x.astype(np.float16)))
    full = vc.data.expression(ad.AnnData(x))
    assert half.space == full.space == vc.data.SPACE_LOG
    np.testing.assert_allclose(half.X.toarray(), full.X.toarray(), rtol=1e-6)
