"""Model-based active learning: a surrogate of the phenotype over the candidates, fitted
on what the screen has measured, with the virtual cell's prediction as one of its inputs.

Each round:

1. **Virtual cell.** A perturbation predictor of :mod:`virtualcell.perturb`
   (``predictor``, default the mechanistic ``network`` model, with the prior network as
   its prior edges) is fitted on the observational data plus every measured cell, and
   predicts the profile of every unmeasured candidate; the screen's readout turns each
   predicted profile into a predicted phenotype (for pairs: the predicted double against
   the predicted singles). Rounds before anything is measured skip this step.
2. **Features** of every candidate (z-scored over the candidates): the prior score
   (:class:`~._policies.PriorPolicy`), the predicted phenotype of step 1, and features of
   the observational data — mean and spread of each gene's log expression, the share of
   its variance between cell types (when there are cell types), its summed absolute
   correlation, and its coordinates on the 8 leading eigenvectors of the gene-gene
   correlation matrix (for a pair: the sums over its genes, the product of their
   coordinates, their correlation, and the measured single effects' hit scores).
3. **Surrogate.** An ensemble of ``n_models`` ridge regressions (``model="ridge"``,
   alpha = 1 on z-scored features), each fitted on a bootstrap resample of the measured
   candidates (target: the measured hit score, z-scored), or a random forest
   (``model="forest"``: ``n_models`` trees, leaves of at least 2); ``mu`` and ``sigma``
   are the members' mean and standard deviation.
4. **Acquisition** over the unmeasured candidates: ``ucb`` = ``mu + kappa sigma``;
   ``thompson`` = for each slot a random member's best remaining candidate; ``ei`` =
   expected improvement over the best measured value, ``(mu - y*) Phi(z) + sigma phi(z)``,
   ``z = (mu - y*) / sigma``; the batch is the top ``budget``.

With fewer than 3 measured candidates the policy ranks by the prior (a cold start).
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import check_number, log
from ..data import split_perturbation
from ._env import History, ScreenView
from ._policies import Policy, PriorPolicy, log_expression, network_prior

__all__ = ["ActivePolicy", "candidate_features", "predict_candidates", "virtual_cell_scores"]

Acquisition = Literal["ucb", "thompson", "ei"]
_N_EIGEN = 8


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return np.where(sd > 0, (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0), 0.0)


def _gene_table(screen: ScreenView) -> pd.DataFrame:
    """Per-gene features of the observational data (cached on the view)."""
    if "gene_features" in screen.cache:
        return screen.cache["gene_features"]
    obs = screen.observational
    x = log_expression(obs)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(x.T))
    np.fill_diagonal(corr, 0.0)
    vals, vecs = np.linalg.eigh(corr)
    order = np.argsort(-np.abs(vals))[:_N_EIGEN]
    emb = vecs[:, order] * np.sqrt(np.abs(vals[order]))[None, :]
    table = pd.DataFrame(
        {"mean": x.mean(axis=0), "sd": x.std(axis=0), "strength": np.abs(corr).sum(axis=1)},
        index=screen.genes,
    )
    if "cell_type" in obs.obs:
        groups = obs.obs["cell_type"].astype(str).to_numpy()
        total = x.var(axis=0)
        between = sum(
            (groups == g).mean() * (x[groups == g].mean(axis=0) - x.mean(axis=0)) ** 2
            for g in np.unique(groups)
        )
        table["between_types"] = np.divide(between, total, out=np.zeros_like(total),
                                           where=total > 0)  # fmt: skip
    for k in range(emb.shape[1]):
        table[f"eig{k}"] = emb[:, k]
    screen.cache["gene_features"] = (table, corr)
    return screen.cache["gene_features"]


def candidate_features(
    history: History, *, prior: pd.Series | None = None, embedding: bool = False
) -> pd.DataFrame:
    """Observational features of every candidate (module docstring, step 2; without the
    virtual cell's prediction). Rows: candidates; columns: features (not z-scored).

    Parameters
    ----------
    history
        The screen so far.
    prior
        Prior scores of the candidates (default: :class:`PriorPolicy`'s).
    embedding
        Add the coordinates on the leading eigenvectors of the gene-gene correlation
        matrix (summed over a combination's genes, plus their product for pairs).
    """
    screen = history.screen
    table, corr = _gene_table(screen)
    if prior is None:
        prior = PriorPolicy().scores(screen)
    idx = {g: i for i, g in enumerate(screen.genes)}
    single = history.scores(candidates_only=False)
    eig = [c for c in table.columns if c.startswith("eig")]
    base = [c for c in table.columns if not c.startswith("eig")]
    values = table.to_numpy(dtype=float)
    col = {c: j for j, c in enumerate(table.columns)}
    rows = []
    for lab in screen.candidates:
        genes = [g for g in split_perturbation(lab) if g in idx]
        gi = [idx[g] for g in genes]
        row = {"prior": float(prior.get(lab, 0.0)), "n_genes": float(len(genes))}
        row.update({c: float(values[gi, col[c]].sum()) for c in base})
        if embedding:
            row.update({c: float(values[gi, col[c]].sum()) for c in eig})
            if screen.kind == "pair":
                row.update({f"prod_{c}": float(values[gi, col[c]].prod()) for c in eig})
        multi = len(genes) > 1
        s = [float(single.get(g, 0.0)) for g in genes] if multi else [0.0]
        pairs = [(a, b) for i, a in enumerate(gi) for b in gi[i + 1 :]]
        row["corr"] = float(np.mean([corr[a, b] for a, b in pairs])) if pairs else 0.0
        row["abs_corr"] = abs(row["corr"])
        row["single_max"], row["single_sum"] = max(s), float(sum(s))
        rows.append(row)
    feats = pd.DataFrame(rows, index=screen.candidates)
    return feats.loc[:, feats.std(axis=0) > 0]


def virtual_cell_scores(
    history: History,
    *,
    predictor: str = "network",
    candidates: list[str] | None = None,
    **options: Any,
) -> pd.Series:
    """Predicted phenotype of each candidate from a perturbation predictor fitted on the
    history (module docstring, step 1). Empty when nothing perturbed was measured yet.

    ``options`` go to :func:`vc.perturb.make_predictor` (for ``network`` the prior
    network is passed as ``prior=`` unless given).

    Parameters
    ----------
    history
        What the screen measured so far (:class:`History`).
    predictor
        Name of the ``vc.perturb`` predictor fitted on the history (``make_predictor``).
    candidates
        Candidates to score (default: every unmeasured one).
    """
    from ..perturb import SPACE_LOG, make_predictor

    screen = history.screen
    cands = list(history.remaining() if candidates is None else candidates)
    measured_perturbed = [m for m in history.measurements if split_perturbation(m.perturbation)]
    if not measured_perturbed or not cands:
        return pd.Series(dtype=float, name="virtual_cell")
    # the key names every measurement (label and round): policies that share an
    # environment share its cache, and two histories of one length differ
    done = tuple((m.perturbation, m.round) for m in history.measurements)
    key = ("vc", predictor, done, repr(sorted(options.items())))
    if key in screen.cache and candidates is None:
        return screen.cache[key]
    opts = dict(options)
    if predictor == "network" and "prior" not in opts:
        edges, _ = network_prior(screen)
        opts["prior"] = edges[["regulator", "target", "sign"]] if "sign" in edges else edges
    opts.setdefault("perturbation_type", "knockout")
    t0 = time.perf_counter()
    model = make_predictor(predictor, **opts).fit(history.adata())
    singles = (
        sorted({g for c in cands for g in split_perturbation(c)}) if screen.kind == "pair" else []
    )
    labels = list(dict.fromkeys(cands + singles))
    pred = model.predict(labels, on_unsupported="flag")
    x = np.asarray(pred.X, dtype=float)
    ctrl = np.asarray(model.data_.control, dtype=float)
    if model.data_.space == SPACE_LOG:
        x, ctrl = np.expm1(x), np.expm1(ctrl)
    rows = {lab: x[i] for i, lab in enumerate(labels)}
    values = screen.phenotype.score(
        np.vstack([rows[c] for c in cands]), cands, control=ctrl,
        singles={g: (rows[g], ctrl) for g in singles},
    )  # fmt: skip
    out = pd.Series(screen.phenotype.hit_score(values), index=cands, name="virtual_cell")
    log(f"design: {predictor} fitted and predicted {len(labels)} conditions in "
        f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    if candidates is None:
        screen.cache[key] = out
    return out


def _ridge_members(x, y, x_new, n_models, rng, alpha, w0) -> np.ndarray:
    """Bootstrap ridge regressions shrunk towards the weights ``w0`` (not towards 0):
    ``argmin |y - b - X w|^2 + alpha |w - w0|^2``."""
    n, p = x.shape
    out = np.empty((n_models, x_new.shape[0]))
    eye = alpha * np.eye(p)
    for m in range(n_models):
        pick = rng.integers(0, n, size=n)
        xb, yb = x[pick], y[pick]
        mx, my = xb.mean(axis=0), yb.mean()
        xc = xb - mx
        w = np.linalg.solve(xc.T @ xc + eye, xc.T @ (yb - my) + alpha * w0)
        out[m] = my + (x_new - mx) @ w
    return out


def _forest_members(x, y, x_new, n_models, seed) -> np.ndarray:
    from sklearn.ensemble import RandomForestRegressor

    rf = RandomForestRegressor(
        n_estimators=n_models, min_samples_leaf=2, max_features=0.5, random_state=seed, n_jobs=1
    ).fit(x, y)
    return np.vstack([t.predict(x_new) for t in rf.estimators_])


class ActivePolicy(Policy):
    """Model-based active learning with a perturbation predictor in the loop (UCB,
    Thompson sampling or expected improvement over a bootstrap surrogate)."""

    name = "active"

    def __init__(
        self,
        *,
        acquisition: Acquisition = "ucb",
        predictor: str | None = "network",
        predictor_options: dict[str, Any] | None = None,
        model: Literal["ridge", "forest"] = "ridge",
        n_models: int = 30,
        alpha: float = 5.0,
        anchor: float = 0.5,
        anchor_vc: float = 0.0,
        embedding: bool = False,
        kappa: float = 1.0,
        seed: int = 0,
    ) -> None:
        if acquisition not in ("ucb", "thompson", "ei"):
            raise ValidationError(f"acquisition must be ucb, thompson or ei, got {acquisition!r}")
        if model not in ("ridge", "forest"):
            raise ValidationError(f"model must be ridge or forest, got {model!r}")
        check_number("n_models", n_models, low=2, integer=True)
        check_number("alpha", alpha, low=0, low_open=True)
        check_number("anchor", anchor, low=0)
        check_number("anchor_vc", anchor_vc, low=0)
        check_number("kappa", kappa, low=0)
        check_number("seed", seed, low=0, integer=True)
        if predictor is not None:
            from ..perturb import METHODS

            METHODS.entry(predictor)  # unknown names fail here, with the list
        self.acquisition = acquisition
        self.predictor = predictor
        self.predictor_options = dict(predictor_options or {})
        self.model = model
        self.n_models = int(n_models)
        self.alpha = float(alpha)
        self.anchor = float(anchor)
        self.anchor_vc = float(anchor_vc)
        self.embedding = bool(embedding)
        self.kappa = float(kappa)
        self.seed = int(seed)
        self.name = f"active_{acquisition}"
        self.usage: dict[str, Any] = {}
        self._prior = PriorPolicy(seed=seed)
        self._vc_before: dict[str, float] = {}  # each candidate's last prediction before measuring
        self._members: np.ndarray | None = None

    def surrogate(self, history: History) -> pd.DataFrame:
        """The surrogate over the unmeasured candidates: columns ``mu``, ``sigma``
        (z-scored hit score; ``sigma`` 0 on a cold start), ``virtual_cell`` (when a
        predictor is used) and ``prior``."""
        screen = history.screen
        if history.round == 0:
            self._vc_before = {}  # a new screen
        prior = self._prior.scores(screen)
        feats = candidate_features(history, prior=prior, embedding=self.embedding)
        remaining = history.remaining()
        out = pd.DataFrame(index=pd.Index(remaining, name="perturbation"))
        out["prior"] = prior.reindex(remaining).to_numpy()
        if self.predictor is not None:
            now = virtual_cell_scores(history, predictor=self.predictor, **self.predictor_options)
            self._vc_before.update({k: float(v) for k, v in now.items()})
            # measured candidates keep the prediction made before they were measured
            vc_col = pd.Series(self._vc_before, dtype=float).reindex(feats.index)
            feats["virtual_cell"] = vc_col.fillna(vc_col.mean()).fillna(0.0).to_numpy()
            out["virtual_cell"] = now.reindex(remaining).to_numpy()
        measured = history.scores()
        train = [c for c in measured.index if c in feats.index]
        self._members = None
        if len(train) < 3 or not remaining:
            out["mu"] = _zscore(out[["prior"]].to_numpy(dtype=float))[:, 0] if remaining else []
            out["sigma"] = 0.0
            return out
        names = list(feats.columns)
        x_all = _zscore(feats.to_numpy(dtype=float))
        pos = {c: i for i, c in enumerate(feats.index)}
        x = x_all[[pos[c] for c in train]]
        x_new = x_all[[pos[c] for c in remaining]]
        y = measured.loc[train].to_numpy(dtype=float)
        yz = (y - y.mean()) / (y.std() or 1.0)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 41, history.round]))
        if self.model == "ridge":
            w0 = np.array([{"prior": self.anchor, "virtual_cell": self.anchor_vc}.get(n, 0.0)
                           for n in names])  # fmt: skip
            members = _ridge_members(x, yz, x_new, self.n_models, rng, self.alpha, w0)
        else:
            members = _forest_members(x, yz, x_new, self.n_models, self.seed + history.round)
        out["mu"] = members.mean(axis=0)
        out["sigma"] = members.std(axis=0)
        self._members = members
        self._best = float(yz.max())
        return out

    def propose(self, history: History, budget: int) -> list[str]:
        table = self.surrogate(history)
        if not len(table):
            return []
        k = min(int(budget), len(table))
        cold = self._members is None
        if cold or self.acquisition == "ucb":
            score = table["mu"] + (0.0 if cold else self.kappa) * table["sigma"]
            return list(score.sort_values(ascending=False, kind="stable").index[:k])
        if self.acquisition == "ei":
            from scipy.stats import norm

            mu, sd = table["mu"].to_numpy(), np.maximum(table["sigma"].to_numpy(), 1e-9)
            z = (mu - self._best) / sd
            ei = (mu - self._best) * norm.cdf(z) + sd * norm.pdf(z)
            order = np.argsort(-ei, kind="stable")[:k]
            return [table.index[i] for i in order]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 43, history.round]))
        chosen: list[str] = []
        members = self._members
        taken = np.zeros(len(table), dtype=bool)
        for _ in range(k):
            m = members[rng.integers(0, len(members))]
            i = int(np.argmax(np.where(taken, -np.inf, m)))
            taken[i] = True
            chosen.append(table.index[i])
        return chosen


def predict_candidates(
    history: History,
    *,
    top: int = 8,
    predictor: str | None = "network",
) -> pd.DataFrame:
    """The most promising unmeasured candidates by the virtual-cell surrogate.

    Parameters
    ----------
    history
        The screen so far.
    top
        Number of candidates to return.
    predictor
        The perturbation predictor of the virtual cell (``None``: observational features
        and the prior only).

    Returns
    -------
    DataFrame indexed by perturbation, best first: ``predicted`` (surrogate mean, z-scored
    hit score), ``uncertainty`` (ensemble sd), ``virtual_cell`` (the predictor's predicted
    phenotype, when fitted), ``prior``.
    """
    check_number("top", top, low=1, integer=True)
    policy = history.cache.setdefault(("surrogate", predictor), ActivePolicy(predictor=predictor))
    table = policy.surrogate(history)
    table = table.rename(columns={"mu": "predicted", "sigma": "uncertainty"})
    cols = ["predicted", "uncertainty", *[c for c in ("virtual_cell", "prior") if c in table]]
    table = table[cols].sort_values("predicted", ascending=False, kind="stable")
    return table.head(int(top)).round(4)
