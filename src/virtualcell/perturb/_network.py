"""``network``: a learned, signed, non-linear gene-gene influence model, propagated to a
new steady state.

Model
-----
Every gene ``j`` that has candidate regulators ``R_j`` gets a steady-state response

    link(x_j) = b_{j,group} + sum_{k in R_j} s_jk * sum_m w_jkm phi_m(x_k / c_k),   w >= 0

with ``phi`` a fixed dictionary of monotone shapes — the linear ramp ``u`` and Hill
functions ``u^2 / (h^2 + u^2)`` for ``h`` in 0.25, 0.5, 1, 2 — of the regulator level
scaled by its 90th percentile ``c_k`` (clipped to ``[0, 5]``), a sign ``s_jk`` per edge and
non-negative weights, so each edge is a monotone, saturating (activation or repression)
response, and the inputs of several regulators add up at the promoter (``link =
identity``, as in SERGIO) or multiply (``link = log``, as in thermodynamic models such as
GeneNetWeaver's). ``b`` is one intercept per group (cell type), fitted with the weights by
non-negative least squares with a ridge penalty.

Learning (training rows = pseudobulk profiles of control, perturbed and observational
conditions, per group when ``groupby`` is set)

1. **Candidate regulators** of ``j``: genes whose perturbation changes ``j`` (z-score
   ``|x_j(row) - control_j| / sigma > z_min`` in a row perturbing that gene alone; sigma =
   the standard error of the two means, or with one profile per condition a robust spread
   of ``j`` over rows, ``1.4826 MAD``), then the top ``n_observational`` regulators of a GRN
   method of :mod:`vc.grn` run on all rows (``grn_method``, default Pearson: it finds
   regulators that were never perturbed), then known TF -> target edges of the knowledge
   base (``prior``); at most ``max_regulators``, in that order of priority. The edge sign is
   that of the interventional change (or of the association).
2. **Fit** every ``j`` on the rows where ``j`` itself is not perturbed.
3. **Hyper-parameters** (``link`` and ridge strength) by K-fold cross-validation *inside
   the training data*: the perturbed genes are split into folds, every row perturbing a
   fold gene is held out, the model is refitted and the held-out single perturbations are
   predicted as unseen genes; the setting with the lowest mean squared error wins. When the
   training data hold combinations, the weight ``gamma`` of the predicted interaction
   (0, 0.5 or 1) is chosen the same way on held-out training combinations; otherwise 1.

Prediction
----------
A condition clamps its genes (to their level in the training profile where they were
perturbed alone, else to the median knock ratio of the training perturbations times their
control level) and iterates ``x <- f(x)`` from the control state (after 60 sweeps without
settling, as a cyclic network may, ``x <- (x + f(x)) / 2``) to a fixed point ``F(P)`` (per group,
averaged with the control's group proportions). The prediction keeps what was observed and
adds what the network implies::

    pred(P) = F(S) + gamma * I(S) + [F(P) - F(S)]
              + sum_{g in S} G(y_g - F({g})) + (1 - |S|) G(ctrl - F({}))

``S`` = genes of ``P`` perturbed alone in training, ``y_g`` their observed profiles, ``I(S) =
F(S) - F({}) - sum_g (F({g}) - F({}))`` the non-additive part among them (``F(S)`` above is
taken without it, i.e. ``F({}) + sum_g (F({g}) - F({}))``), ``F(P) - F(S)`` the effect of
the unseen genes in context, and ``G`` the non-negative garrote ``r max(0, 1 - sigma^2/r^2)``
per gene, which keeps clear residuals of the model and drops noise (sigma = the standard
error of the profile, or the robust spread of the fit residuals).

Code: the model math (basis, rows, the per-gene fit, the fixed-point propagation) is in
:mod:`._network_math`; this module holds the predictor: regulator candidates, the
cross-validation of the settings and the combination of fixed points into predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import log
from ..data import CONTROL, split_perturbation
from ._base import Predictor, Unsupported
from ._data import TrainingData
from ._network_math import (
    N_BASIS,
    Rows,
    fit_network,
    garrote,
    knock_clamps,
    robust_sd,
    steady_states,
)

__all__ = ["NetworkModel"]


class NetworkModel(Predictor):
    """Mechanistic: learned signed non-linear gene network, propagated to a new steady state."""

    name = "network"
    uses_features = True
    #: A perturbed gene is at its knock level in every condition that perturbs it
    #: (e.g. G1 in the double G1+G5 is G1's level when knocked out alone).
    clamp_targets = True

    def __init__(
        self,
        *,
        max_regulators: int = 5,
        z_min: float = 3.0,
        n_observational: int = 2,
        grn_method: str | None = "pearson",
        prior: Literal["auto", "none"] | pd.DataFrame = "auto",
        links: Sequence[str] = ("identity", "log"),
        ridges: Sequence[float] = (0.01, 0.1, 1.0),
        gammas: Sequence[float] = (0.0, 0.5, 1.0),
        cv_folds: int = 4,
        prune_indirect: bool = True,
        shrink_unseen: bool = False,
        min_group_cells: int = 3,
        groupby: str | None = "auto",
        **kw: Any,
    ) -> None:
        super().__init__(groupby=groupby, **kw)
        for name, value in (("links", links), ("ridges", ridges), ("gammas", gammas)):
            if not len(value):
                raise ValidationError(f"{name} must not be empty")
        bad = sorted(set(links) - {"identity", "log"})
        if bad:
            raise ValidationError(f"unknown link(s) {bad}; use 'identity' and/or 'log'")
        if max_regulators < 1:
            raise ValidationError(f"max_regulators must be >= 1, got {max_regulators}")
        self.max_regulators = int(max_regulators)
        self.z_min = float(z_min)
        self.n_observational = int(n_observational)
        self.grn_method = grn_method
        self.prior = prior
        self.links = tuple(links)
        self.ridges = tuple(float(r) for r in ridges)
        self.gammas = tuple(float(g) for g in gammas)
        self.cv_folds = int(cv_folds)
        self.prune_indirect = bool(prune_indirect)
        self.shrink_unseen = bool(shrink_unseen)
        self.min_group_cells = int(min_group_cells)

    # ------------------------------------------------------------------ rows
    def _rows(self, data: TrainingData) -> Rows:
        idx = data.gene_index
        if data.group_profiles is not None:
            keep = data.group_sizes.to_numpy() >= self.min_group_cells
            gp = data.group_profiles[keep]
            sem = data.group_sem[keep].to_numpy()
            labels = gp.index.get_level_values("perturbation").to_numpy().astype(str)
            types = gp.index.get_level_values("type").to_numpy().astype(str)
            groups = gp.index.get_level_values("group").to_numpy()
            x = gp.to_numpy()
            aux = types != ""
        else:
            n_aux = len(data.auxiliary)
            labels = np.r_[[CONTROL], data.profiles.index.to_numpy(),
                           data.auxiliary.index.get_level_values("perturbation").to_numpy()].astype(str)  # fmt: skip
            x = np.vstack([data.control[None, :], data.profiles.to_numpy(),
                           data.auxiliary.to_numpy().reshape(n_aux, len(data.genes))])  # fmt: skip
            sem = np.vstack([data.control_sem[None, :], data.sem.to_numpy(),
                             np.full((n_aux, len(data.genes)), np.nan)])  # fmt: skip
            groups = np.full(len(labels), "all", dtype=object)
            aux = np.r_[False, np.zeros(len(data.profiles), bool), np.ones(n_aux, bool)]
        is_control = (labels == CONTROL) & ~aux
        primary = (labels != CONTROL) & ~aux
        self.group_names_ = sorted(set(groups[is_control]))
        gcode = {g: i for i, g in enumerate(self.group_names_)}
        known = np.array([g in gcode for g in groups])
        if not known.all():  # rows of a group without control rows cannot be referenced
            labels, x, sem, groups = labels[known], x[known], sem[known], groups[known]
            is_control, primary = is_control[known], primary[known]
        group = np.array([gcode[g] for g in groups])
        perturbed = [
            frozenset(idx[g] for g in split_perturbation(lab) if g in idx) for lab in labels
        ]
        single = np.array([next(iter(p)) if len(p) == 1 else -1 for p in perturbed])
        ctrl_of = {int(group[i]): int(i) for i in np.flatnonzero(is_control)[::-1]}
        ctrl_row = np.array([ctrl_of[int(g)] for g in group])
        return Rows(x, perturbed, single, group, ctrl_row, sem, labels, primary)

    # ------------------------------------------------------------------ candidates
    def _candidates(
        self, rows: Rows, genes: list[str]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Candidate regulators and edge signs of every gene."""
        n_genes = len(genes)
        x = rows.x
        robust = robust_sd(x)
        ctrl = x[rows.ctrl_row]
        ctrl_sem = rows.sem[rows.ctrl_row]
        se = np.sqrt(rows.sem**2 + ctrl_sem**2)
        sigma = np.where(np.isfinite(se) & (se > 0), np.maximum(se, 0.05 * robust), robust)
        z = (x - ctrl) / sigma
        zmax = np.zeros((n_genes, n_genes))  # regulator x target
        zsign = np.zeros((n_genes, n_genes))
        for r in np.flatnonzero(rows.single >= 0):
            a = rows.single[r]
            own = x[r, a] - ctrl[r, a]
            direction = 1.0 if own > 0 else -1.0
            stronger = np.abs(z[r]) > zmax[a]
            zmax[a] = np.where(stronger, np.abs(z[r]), zmax[a])
            zsign[a] = np.where(stronger, direction * np.sign(z[r]), zsign[a])
        np.fill_diagonal(zmax, 0.0)
        obs_score, obs_sign = self._observational(rows, genes)
        prior = self._prior_edges(genes)
        regs, signs = [], []
        for j in range(n_genes):
            order: list[int] = []
            sign: dict[int, float] = {}
            hits = np.flatnonzero(zmax[:, j] > self.z_min)
            for k in hits[np.argsort(-zmax[hits, j], kind="stable")]:
                order.append(int(k))
                sign[int(k)] = zsign[k, j] or 1.0
            if obs_score is not None and self.n_observational > 0:
                cand = np.argsort(-obs_score[:, j], kind="stable")
                added = 0
                for k in cand:
                    if added >= self.n_observational or obs_score[k, j] <= 0:
                        break
                    if k != j and int(k) not in sign:
                        order.append(int(k))
                        sign[int(k)] = obs_sign[k, j] or 1.0
                        added += 1
            for k, s in prior.get(j, []):
                if k not in sign:
                    order.append(k)
                    sign[k] = s
            if self.prune_indirect and len(order) > 1:
                # a regulator whose perturbation changes another candidate (that does not
                # change it back) acts through that candidate: keep the closer one
                # (a mediator must not itself be downstream of the target j)
                arr = np.array(order)
                down = zmax[np.ix_(arr, arr)] > self.z_min
                mediator = zmax[j, arr] <= self.z_min
                indirect = (down & ~down.T & mediator[None, :]).any(axis=1)
                order = [k for k, drop in zip(order, indirect, strict=True) if not drop]
            order = order[: self.max_regulators]
            regs.append(np.array(order, dtype=int))
            signs.append(np.array([sign[k] for k in order]))
        return regs, signs

    def _observational(self, rows: Rows, genes: list[str]) -> tuple[Any, Any]:
        if not self.grn_method or self.n_observational <= 0 or rows.x.shape[0] < 4:
            return None, None
        from ..grn import infer

        try:
            edges = infer(
                pd.DataFrame(rows.x, columns=genes), method=self.grn_method, seed=self.seed
            )
        except ValidationError as err:
            log(f"network: GRN method {self.grn_method!r} skipped ({err})")
            return None, None
        idx = {g: i for i, g in enumerate(genes)}
        n = len(genes)
        score = np.zeros((n, n))
        sign = np.zeros((n, n))
        r = edges["regulator"].map(idx).to_numpy()
        t = edges["target"].map(idx).to_numpy()
        score[r, t] = edges["score"].to_numpy(dtype=float)
        if "sign" in edges:
            sign[r, t] = edges["sign"].to_numpy(dtype=float)
        # keep only associations well above the typical one of each target
        thr = np.quantile(score, 0.9, axis=0, keepdims=True)
        score = np.where(score > thr, score, 0.0)
        return score, sign

    def _prior_edges(self, genes: list[str]) -> dict[int, list[tuple[int, float]]]:
        if isinstance(self.prior, pd.DataFrame):
            table = self.prior
        elif self.prior == "auto":
            from ._knowledge import tf_target_edges

            table = tf_target_edges(genes)
        else:
            return {}
        if table is None or not len(table):
            return {}
        for col in ("regulator", "target"):
            if col not in table:
                raise ValidationError(f"prior edge table lacks column {col!r}")
        idx = {g: i for i, g in enumerate(genes)}
        out: dict[int, list[tuple[int, float]]] = {}
        signs = table["sign"] if "sign" in table else pd.Series(1.0, index=table.index)
        for reg, tgt, s in zip(table["regulator"], table["target"], signs, strict=True):
            if reg in idx and tgt in idx and reg != tgt:
                out.setdefault(idx[tgt], []).append((idx[reg], float(np.sign(s)) or 1.0))
        return out

    # ------------------------------------------------------------------ fitting
    # ------------------------------------------------------------------ model math
    def _fit_network(self, rows: Rows, regs, signs, *, link: str, ridge: float) -> Any:
        return fit_network(rows, regs, signs, link=link, ridge=ridge,
                           n_groups=len(self.group_names_))  # fmt: skip

    def _clamps(self, rows: Rows, data: TrainingData) -> tuple[dict, float]:
        return knock_clamps(rows)

    def _steady(
        self, fit: Any, conds: list[frozenset[int]], rows: Rows, clamps, ratio
    ) -> np.ndarray:
        return steady_states(fit, conds, rows, clamps, ratio, n_groups=len(self.group_names_))

    # ------------------------------------------------------------------ API
    def _fit(self, data: TrainingData, adata) -> None:
        rows = self._rows(data)
        genes = data.genes
        weights = self._group_weights(data, rows)
        settings = [(link, ridge) for link in self.links for ridge in self.ridges]
        cv = {}
        if len(settings) > 1 or len(self.gammas) > 1:
            cv = self._cross_validate(rows, data, settings, weights)
        if len(settings) > 1:
            best = min(settings, key=lambda s: cv[s])
        else:
            best = settings[0]
        regs, signs = self._candidates(rows, genes)
        self.fit_ = self._fit_network(rows, regs, signs, link=best[0], ridge=best[1])
        self.rows_, self.weights_ = rows, weights
        self.clamps_, self.ratio_ = self._clamps(rows, data)
        self.gamma_ = (
            self._choose_gamma(rows, data, best, weights)
            if len(self.gammas) > 1
            else self.gammas[0]
        )
        self.link_, self.ridge_ = best
        self.cv_ = {f"{k[0]}/{k[1]}": float(v) for k, v in cv.items()}
        empty = self._steady(self.fit_, [frozenset()], rows, self.clamps_, self.ratio_)
        self.f0_ = np.tensordot(weights, empty[0], axes=(0, 0))
        self._cache: dict[frozenset[int], np.ndarray] = {frozenset(): self.f0_}
        log(
            f"network: {self.fit_.n_edges} edges, link={best[0]}, ridge={best[1]}, "
            f"gamma={self.gamma_}"
        )

    def _group_weights(self, data: TrainingData, rows: Rows) -> np.ndarray:
        n_groups = len(self.group_names_)
        if data.group_sizes is None or n_groups == 1:
            return np.ones(n_groups) / n_groups
        sizes = data.group_sizes
        ctrl = sizes[sizes.index.get_level_values("perturbation") == CONTROL]
        ctrl = ctrl[ctrl.index.get_level_values("type") == ""]
        w = np.array([float(ctrl.xs(g, level="group").sum()) if g in ctrl.index.get_level_values("group") else 0.0
                      for g in self.group_names_])  # fmt: skip
        return w / w.sum()

    def _effect_table(self, fit, rows, conds, clamps, ratio, weights) -> np.ndarray:
        steady = self._steady(fit, conds, rows, clamps, ratio)
        return np.tensordot(steady, weights, axes=(1, 0))  # conds x genes

    def _cross_validate(self, rows: Rows, data: TrainingData, settings, weights) -> dict:
        """Mean squared error of held-out single perturbations for each setting."""
        genes = sorted({rows.single[r] for r in np.flatnonzero((rows.single >= 0) & rows.primary)})
        if len(genes) < 2 * max(self.cv_folds, 2):
            return {s: 0.0 for s in settings}
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(genes)
        folds = np.array_split(order, self.cv_folds)
        err = {s: [] for s in settings}
        for fold in folds:
            held = set(int(g) for g in fold)
            keep = np.array([not (p & held) for p in rows.perturbed])
            sub = rows.subset(keep)
            regs, signs = self._candidates(sub, data.genes)
            clamps, ratio = self._clamps(sub, data)
            conds = [frozenset([g]) for g in fold]
            truth = np.vstack([data.profiles.loc[data.genes[g]].to_numpy() for g in fold
                               if data.genes[g] in data.profiles.index])  # fmt: skip
            conds = [c for c in conds if data.genes[next(iter(c))] in data.profiles.index]
            for s in settings:
                fit = self._fit_network(sub, regs, signs, link=s[0], ridge=s[1])
                eff = self._effect_table(fit, sub, [frozenset(), *conds], clamps, ratio, weights)
                pred = data.control[None, :] + eff[1:] - eff[:1]
                mask = np.ones_like(pred, dtype=bool)
                for i, c in enumerate(conds):
                    mask[i, list(c)] = False  # the perturbed gene itself is clamped
                err[s].append(float(np.mean(((pred - truth) ** 2)[mask])))
        return {s: float(np.mean(v)) for s, v in err.items()}

    def _choose_gamma(self, rows: Rows, data: TrainingData, best, weights) -> float:
        singles = data.seen_singles
        combos = [c for c in data.profiles.index
                  if len(split_perturbation(c)) > 1 and set(split_perturbation(c)) <= singles]  # fmt: skip
        if len(combos) < 4:
            return 1.0
        rng = np.random.default_rng(self.seed + 1)
        order = [combos[i] for i in rng.permutation(len(combos))]
        folds = np.array_split(np.array(order, dtype=object), min(self.cv_folds, len(order)))
        idx = data.gene_index
        err = {g: [] for g in self.gammas}
        for fold in folds:
            held = set(fold.tolist())
            keep = np.array([lab not in held for lab in rows.label])
            sub = rows.subset(keep)
            regs, signs = self._candidates(sub, data.genes)
            fit = self._fit_network(sub, regs, signs, link=best[0], ridge=best[1])
            clamps, ratio = self._clamps(sub, data)
            for label in fold:
                genes = split_perturbation(label)
                conds = [frozenset(), *[frozenset([idx[g]]) for g in genes],
                         frozenset(idx[g] for g in genes)]  # fmt: skip
                eff = self._effect_table(fit, sub, conds, clamps, ratio, weights)
                base = data.control + sum(
                    data.profiles.loc[g].to_numpy() - data.control for g in genes
                )
                inter = eff[-1] - eff[0] - (eff[1:-1] - eff[0]).sum(axis=0)
                truth = data.profiles.loc[label].to_numpy()
                for gamma in self.gammas:
                    err[gamma].append(float(np.mean((base + gamma * inter - truth) ** 2)))
        return float(min(self.gammas, key=lambda g: (np.mean(err[g]), -g)))

    def _state(self, cond: frozenset[int]) -> np.ndarray:
        if cond not in self._cache:
            steady = self._steady(self.fit_, [cond], self.rows_, self.clamps_, self.ratio_)
            self._cache[cond] = np.tensordot(self.weights_, steady[0], axes=(0, 0))
        return self._cache[cond]

    def _sigma(self, sem: np.ndarray | None) -> np.ndarray:
        if sem is not None and np.all(np.isfinite(sem)):
            return sem
        return self.fit_.resid_sd

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        data = self._require_fit()
        idx = data.gene_index
        missing = [g for g in genes if g not in idx]
        if missing:
            raise Unsupported(missing, "not measured, so it cannot be clamped in the network")
        seen = [g for g in genes if g in data.profiles.index]
        f0 = self.f0_
        fs = {g: self._state(frozenset([idx[g]])) for g in seen}
        f_seen = self._state(frozenset(idx[g] for g in seen)) if seen else f0
        f_all = self._state(frozenset(idx[g] for g in genes))
        additive_model = f0 + sum((fs[g] - f0 for g in seen), np.zeros_like(f0))
        interaction = f_seen - additive_model
        unseen = f_all - f_seen
        if self.shrink_unseen:
            unseen = garrote(unseen, self.fit_.resid_sd)
        out = additive_model + self.gamma_ * interaction + unseen
        for g in seen:
            out += garrote(
                data.profiles.loc[g].to_numpy() - fs[g], self._sigma(data.sem.loc[g].to_numpy())
            )
        out += (1 - len(seen)) * garrote(data.control - f0, self._sigma(data.control_sem))
        return out

    def summary(self) -> dict[str, Any]:
        """What was learned: edges, chosen link / ridge / gamma and the CV errors."""
        self._require_fit()
        return {
            "n_edges": self.fit_.n_edges,
            "n_genes_modelled": int(self.fit_.has_model.sum()),
            "link": self.link_,
            "ridge": self.ridge_,
            "gamma": self.gamma_,
            "cv_mse": self.cv_,
            "groups": list(self.group_names_),
        }

    def edges(self) -> pd.DataFrame:
        """The learned signed edges: ``regulator, target, sign, weight`` (sum of basis
        weights), strongest first."""
        data = self._require_fit()
        w = self.fit_.weights.tocoo()
        reg = w.col // N_BASIS
        table = pd.DataFrame({"regulator": reg, "target": w.row, "w": w.data})
        table = table.groupby(["regulator", "target"], as_index=False)["w"].sum()
        return (
            pd.DataFrame(
                {
                    "regulator": [data.genes[i] for i in table["regulator"]],
                    "target": [data.genes[i] for i in table["target"]],
                    "sign": np.sign(table["w"]).astype(int),
                    "weight": np.abs(table["w"]),
                }
            )
            .sort_values("weight", ascending=False, kind="stable")
            .reset_index(drop=True)
        )
