"""Tree-ensemble regression methods: GENIE3 (random forest / extra trees) and a
GRNBoost2-style gradient boosting with early stopping (lightgbm), one model per target,
parallel over targets in worker processes (:mod:`._parallel`).

Importance of regulator ``r`` for target ``t`` is the (normalised) impurity / gain
importance of ``r`` in the model predicting ``t`` from all candidate regulators except
``t`` itself. The sign column is the sign of the Pearson correlation.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._base import GRNInput, Scores
from ._correlation import correlation_matrix
from ._parallel import map_targets

__all__ = ["genie3_scores", "grnboost2_scores"]


def _standardize(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - X.mean(axis=0)) / sd


def _genie3_chunk(
    targets: np.ndarray,
    *,
    X: np.ndarray,
    regulators: np.ndarray,
    estimator: str,
    n_estimators: int,
    max_features: str | float,
    min_samples_leaf: int,
    max_samples: float | None,
    seed: int,
) -> np.ndarray:
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    cls = RandomForestRegressor if estimator == "rf" else ExtraTreesRegressor
    out = np.zeros((len(targets), len(regulators)))
    for row, t in enumerate(targets):
        mask = regulators != t
        y = X[:, t]
        if y.std() == 0 or not mask.any():
            continue
        extra = {"max_samples": max_samples} if estimator == "rf" and max_samples else {}
        model = cls(
            n_estimators=n_estimators,
            max_features=max_features,
            min_samples_leaf=min_samples_leaf,
            random_state=seed + int(t),
            n_jobs=1,
            **extra,
        )
        model.fit(X[:, regulators[mask]], y)
        out[row, mask] = model.feature_importances_
    return out


def genie3_scores(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    estimator: Literal["rf", "et"] = "rf",
    n_estimators: int = 100,
    max_features: str | float = "sqrt",
    min_samples_leaf: int = 1,
    max_samples: float | None = None,
    targets: np.ndarray | None = None,
) -> np.ndarray:
    """Importance matrix (regulators x targets) of GENIE3; ``targets`` restricts the
    columns that are computed (others stay 0; used by the scale benchmark)."""
    X = _standardize(data.X)
    tg = np.arange(data.n_genes) if targets is None else np.asarray(targets)
    imp = map_targets(
        _genie3_chunk,
        tg,
        n_jobs=n_jobs,
        description="GENIE3 targets",
        X=X,
        regulators=data.regulators,
        estimator=estimator,
        n_estimators=n_estimators,
        max_features=max_features,
        min_samples_leaf=min_samples_leaf,
        max_samples=max_samples,
        seed=seed,
    )
    S = np.zeros((len(data.regulators), data.n_genes))
    S[:, tg] = imp.T
    return S


def _boost_chunk(
    targets: np.ndarray,
    *,
    X: np.ndarray,
    regulators: np.ndarray,
    params: dict,
    max_rounds: int,
    early_stopping: int,
    valid_fraction: float,
    seed: int,
) -> np.ndarray:
    import lightgbm as lgb

    n = X.shape[0]
    rng = np.random.default_rng(seed)
    use_valid = n >= 50 and early_stopping > 0
    valid = rng.random(n) < valid_fraction if use_valid else np.zeros(n, dtype=bool)
    ds_params = {"max_bin": params.get("max_bin", 63), "feature_pre_filter": False, "verbose": -1}
    R = X[:, regulators]
    # one binned dataset (regulator columns) per worker chunk; only the label changes
    train = lgb.Dataset(R[~valid], label=X[~valid, 0], params=ds_params, free_raw_data=False)
    train.construct()
    dvalid = None
    if use_valid:
        dvalid = lgb.Dataset(
            R[valid], label=X[valid, 0], reference=train, params=ds_params, free_raw_data=False
        )
        dvalid.construct()
    out = np.zeros((len(targets), len(regulators)))
    for row, t in enumerate(targets):
        y = X[:, t]
        contri = (regulators != t).astype(float)  # the target never explains itself
        if y.std() == 0 or not contri.any():
            continue
        train.set_label(y[~valid])
        p = dict(params, seed=seed + int(t), feature_contri=contri.tolist())
        callbacks = []
        valid_sets = None
        if dvalid is not None:
            dvalid.set_label(y[valid])
            valid_sets = [dvalid]
            callbacks = [lgb.early_stopping(early_stopping, verbose=False)]
        booster = lgb.train(
            p, train, num_boost_round=max_rounds, valid_sets=valid_sets, callbacks=callbacks
        )
        gain = booster.feature_importance(importance_type="gain") * contri
        total = gain.sum()
        if total > 0:
            out[row] = gain / total
    return out


def grnboost2_scores(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    learning_rate: float = 0.05,
    max_depth: int = 3,
    max_rounds: int = 500,
    early_stopping: int = 25,
    feature_fraction: float = 0.1,
    subsample: float = 0.9,
    valid_fraction: float = 0.1,
    min_leaf: int = 20,
    targets: np.ndarray | None = None,
) -> np.ndarray:
    """Gain-importance matrix (regulators x targets) of the GRNBoost2-style method."""
    n = data.X.shape[0]
    params = {
        "objective": "regression",
        "learning_rate": learning_rate,
        "max_depth": max_depth,
        "num_leaves": 2**max_depth,
        "min_data_in_leaf": int(max(2, min(min_leaf, n // 20))),
        "feature_fraction": feature_fraction if len(data.regulators) > 20 else 1.0,
        "bagging_fraction": subsample,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "num_threads": 1,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    tg = np.arange(data.n_genes) if targets is None else np.asarray(targets)
    imp = map_targets(
        _boost_chunk,
        tg,
        n_jobs=n_jobs,
        description="GRNBoost2 targets",
        X=data.X,
        regulators=data.regulators,
        params=params,
        max_rounds=max_rounds if n >= 50 else min(max_rounds, 100),
        early_stopping=early_stopping,
        valid_fraction=valid_fraction,
        seed=seed,
    )
    S = np.zeros((len(data.regulators), data.n_genes))
    S[:, tg] = imp.T
    return S


def _with_sign(data: GRNInput, S: np.ndarray) -> Scores:
    return Scores(score=S, sign=np.sign(correlation_matrix(data.X)[data.regulators]))


def genie3(data: GRNInput, *, n_jobs: int = 1, seed: int = 0, **kw) -> Scores:
    """GENIE3 (random forest, ``max_features="sqrt"``); options of :func:`genie3_scores`
    (``estimator``, ``n_estimators``, ``max_features``, ``min_samples_leaf``,
    ``max_samples``)."""
    return _with_sign(data, genie3_scores(data, n_jobs=n_jobs, seed=seed, **kw))


def genie3_et(data: GRNInput, *, n_jobs: int = 1, seed: int = 0, **kw) -> Scores:
    """GENIE3 with extremely randomised trees."""
    kw.setdefault("estimator", "et")
    return _with_sign(data, genie3_scores(data, n_jobs=n_jobs, seed=seed, **kw))


def grnboost2(data: GRNInput, *, n_jobs: int = 1, seed: int = 0, **kw) -> Scores:
    """GRNBoost2-style boosting (lightgbm, shallow trees, 10% of regulators per tree, 90%
    row subsampling, early stopping on 10% held-out cells); options of
    :func:`grnboost2_scores` (``learning_rate``, ``max_depth``, ``max_rounds``,
    ``early_stopping``, ``feature_fraction``, ``subsample``, ``valid_fraction``,
    ``min_leaf``). On noisy data with many candidate regulators a larger
    ``feature_fraction`` (e.g. 0.5) ranks edges markedly better than the GRNBoost2-like
    0.1 (see docs/grn.md)."""
    return _with_sign(data, grnboost2_scores(data, n_jobs=n_jobs, seed=seed, **kw))


# infer() checks the options given to these wrappers against the functions they forward to
genie3.options_of = genie3_scores  # type: ignore[attr-defined]
genie3_et.options_of = genie3_scores  # type: ignore[attr-defined]
grnboost2.options_of = grnboost2_scores  # type: ignore[attr-defined]
