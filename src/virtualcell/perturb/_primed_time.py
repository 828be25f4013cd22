"""The per-time-point path of ``primed_network`` (:mod:`._primed`): the day's anchor
plus the knowledge regressors fitted on the days' changes, and the knockout propagated
``k`` steps through the network with per-day gains (``time_depth``). A mixin of
:class:`._primed.PrimedNetworkModel`; the definitions are in that module's docstring."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ValidationError
from .._utils import log
from ._data import TrainingData
from ._gate import ANCHORS

__all__ = ["PrimedTime"]


class PrimedTime:
    """The time path of :class:`._primed.PrimedNetworkModel` (a mixin: the attributes it
    reads are set by that class)."""

    # ------------------------------------------------------------------ time points
    def _time_base(self, gene: str, train: list[str], changes: np.ndarray) -> np.ndarray:
        """Anchor plus knowledge average per time point (times x genes) for ``gene`` from
        the per-day changes of the training genes ``train`` (``changes``: n x times x
        genes): the anchor of each day's changes, and the forest / text ridge fitted on
        all days' changes side by side."""
        n, n_t, n_g = changes.shape
        anchor = np.stack([ANCHORS.get(self.anchor)(changes[:, t]) for t in range(n_t)])
        out = anchor
        flat = changes.reshape(n, n_t * n_g)
        parts = []
        for comp, w in self._know(gene, train).items():
            if comp == "neighbours":
                part = self._neighbours(gene, train, flat, cache="_time_forest_cache")
            else:
                part = self._text(gene, train, flat, cache="_time_text_cache")
            parts.append(w * part)
        # knowledge_size: sized over all days side by side, as the regressors are fitted
        factor = self._size_factor(sum(parts, np.zeros(n_t * n_g)), flat, out.reshape(-1))
        for part in parts:
            out = out + factor * part.reshape(n_t, n_g)
        if self.paralog:  # near-duplicates' changes of every day, as in the steady state
            near = self._paralog(gene, train, flat, anchor.reshape(-1))
            out = out + self.paralog * near.reshape(n_t, n_g)
        return out

    def _powers(self, data: TrainingData, net: Any, gene: str, depth: int) -> np.ndarray:
        """The knockout's change after 1..``depth`` steps through the network ``B``
        (``time_network``: the learned ``coef`` or the known signed ``prior``; without
        the column of ``gene``): row ``k-1`` = ``d_g e_g B^k`` scaled back by each gene's
        spread (``gene`` itself 0), depth x genes."""
        g = data.gene_index[gene]
        drop = self._drop(data, net, gene)
        v = self._row(net, self.time_network, g)
        v[g] = 0.0
        out = np.zeros((depth, len(data.genes)))
        for k in range(depth):
            w = v.copy()
            w[g] = 0.0
            out[k] = drop * w * net.scale
            v = self._through(net, self.time_network, v, g)
        return out

    def _fit_time(self) -> None:
        """Per-day gains of the propagation orders 1..``time_depth`` (non-negative least
        squares, per day, on the training genes held out one at a time: anchor, knowledge
        regressors and network refitted without the held gene; the held gene's own change
        never enters; every gene's rows scaled by the size of its change that day).
        Gains of every depth up to ``time_depth`` are kept (nested fits)."""
        from scipy.optimize import nnls

        data = self._require_fit()
        course = self._time_course()
        idx = data.gene_index
        genes = [g for g in self.train_genes_ if g in course.profiles
                 and np.isfinite(course.profiles[g]).all()]  # fmt: skip
        n_t, n_g = course.control.shape
        changes = (np.stack([course.change(g) for g in genes]) if genes
                   else np.zeros((0, n_t, n_g)))  # fmt: skip
        depth = self.time_depth
        blocks: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n_t)]
        if len(genes) >= 4 and depth > 0:
            cells = self._cells(self._train)
            for i, h in enumerate(genes):
                if h not in idx:  # not measured: no knockout to propagate, no rows
                    continue
                others = [j for j in range(len(genes)) if j != i]
                base = self._time_base(h, [genes[j] for j in others], changes[others])
                net = self._network_fit(cells, data.genes, {h}, self.prior_)
                v = self._powers(data, net, h, depth)
                keep = np.ones(n_g, dtype=bool)
                keep[idx[h]] = False
                for t in range(n_t):
                    size = float(np.linalg.norm(changes[i, t, keep])) or 1.0
                    blocks[t].append((v[:, keep].T / size, (changes[i, t] - base[t])[keep] / size))
        gains = {0: np.zeros((n_t, 0))}
        for d in range(1, depth + 1):
            gains[d] = np.zeros((n_t, d))
            for t in range(n_t):
                if blocks[t]:
                    a = np.vstack([blk[0][:, :d] for blk in blocks[t]])
                    y = np.concatenate([blk[1] for blk in blocks[t]])
                    gains[d][t] = nnls(a, y)[0]
        self.time_genes_, self.time_changes_, self.time_gains_ = genes, changes, gains
        self._time_memo: dict[tuple[str, int], np.ndarray] = {}
        if not depth:
            log(f"primed_network time: {n_t} days, each its own anchor and knowledge part "
                "(time_depth=0: no propagation through the network)")  # fmt: skip
            return
        log("primed_network time: per-day gains of propagation orders 1.."
            f"{depth}: " + "; ".join(f"{course.times[t]}: " + ", ".join(
                f"{x:.3g}" for x in gains[depth][t]) for t in range(n_t)))  # fmt: skip

    def time_change(self, gene: str) -> np.ndarray:
        """Predicted change of an unseen ``gene`` per time point (times x genes, each
        against its day's control, times ``change_scale``): the day's anchor + the
        knowledge average fitted on the days' changes + the propagation orders
        1..``time_depth`` with that day's gains (:meth:`_fit_time`)."""
        data = self._require_fit()
        measured = gene in data.gene_index  # else the day's anchor and knowledge only
        if not measured:
            self._require_known(gene)
        if "time_gains_" not in self.__dict__:
            self._fit_time()
        depth = self.time_depth
        if depth not in self.time_gains_:
            raise ValidationError(
                f"time_depth {depth} was not fitted (fitted up to {max(self.time_gains_)})"
            )
        key = (gene, depth)
        if key not in self._time_memo:
            out = self._time_base(gene, self.time_genes_, self.time_changes_)
            if depth and measured:
                out = out + self.time_gains_[depth] @ self._powers(data, self.net_, gene, depth)
            self._time_memo[key] = self.change_scale * out
        return self._time_memo[key]

    def _predict_time(self, genes: tuple[str, ...], k: int) -> np.ndarray:
        data = self._require_fit()
        course = self._time_course()
        out = course.control[k].copy()
        for g in genes:
            s = data.single(g)
            if s is not None:  # seen: its observed change of that day (else pooled)
                day = course.change(g)
                ok = day is not None and np.isfinite(day[k]).all()
                out += day[k] if ok else s - data.control  # type: ignore[index]
            else:
                out += self.time_change(g)[k]
        return out
