"""The components of ``primed_network`` (:mod:`._primed`): its inputs (the prior, the
gene features, the training cells) and each component's predicted change for an unseen
gene (the network fit and its propagation, the knockout's drop, the knowledge
regressors, the ``network`` engine). A mixin of :class:`._primed.PrimedNetworkModel`;
the definitions are in that module's docstring."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import log, unit_rows
from ..data import PERTURBATION_KEY, split_perturbation
from ._base import Unsupported
from ._data import TrainingData, expression_matrix, row_roles
from ._gate import ANCHORS, PARALOG_QUANTILE

__all__ = ["DENSE_NETWORK_GENES", "PrimedComponents"]

#: panels of at most this many measured genes fit the network in memory on dense cells;
#: larger ones from streamed statistics of the sparse cells (the same network to 1e-8):
#: :meth:`PrimedComponents._cells` decides, and the fit follows the cells it made
DENSE_NETWORK_GENES = 200


class PrimedComponents:
    """Inputs and components of :class:`._primed.PrimedNetworkModel` (a mixin: the
    attributes it reads are set by that class)."""

    # ------------------------------------------------------------------ inputs
    def _prior_table(self, genes: list[str]) -> pd.DataFrame | None:
        if isinstance(self.prior, pd.DataFrame):
            return self.prior
        if self.prior == "none":
            return None
        from ..grn import knowledge_prior_or_none

        path = getattr(self.kb, "path", self.kb)  # a KnowledgeBase or its path
        return knowledge_prior_or_none(genes, "primed_network", path=path)

    def _features(self, genes: list[str], extra: list[str] = ()) -> pd.DataFrame | None:
        """GO / TF-target features (the ``go_forest`` features) of the measured ``genes``
        and of ``extra`` perturbed genes that are not measured, or None."""
        if self.features is not None:
            return self.features.astype(np.float64)
        if "neighbours" not in self.components:
            return None
        from ._knowledge import go_tf_features

        table = go_tf_features([*genes, *extra], genes, kb=self.kb)
        if table is None or len(table) < 0.2 * len(genes):  # e.g. synthetic names (G12)
            return None
        return table

    def _text_features(self, genes: list[str], extra: list[str] = ()) -> pd.DataFrame | None:
        """GenePT text embeddings (the ``genept_ridge`` features) of the measured
        ``genes`` and of ``extra`` perturbed genes that are not measured, or None (also
        read by the ``paralog`` part)."""
        if "text" not in self.components and not self.paralog:
            return None
        if self.text_features is not None:
            return self.text_features.astype(np.float64)
        from ._knowledge import genept_features

        table = genept_features([*genes, *extra], kb=self.kb, measured=genes)
        if table is None or len(table) < 0.2 * len(genes):
            return None
        return table.astype(np.float64)

    def _add_features(self, genes: list[str]) -> None:
        """Feature rows of unseen, unmeasured ``genes`` the tables lack, looked up at
        prediction time for those genes alone, one query per table, each gene asked once
        per fit (a gene the store does not know is not asked again); a row is reindexed
        to its table's columns (a GO term no training gene has adds nothing the forest
        knows)."""
        from ._knowledge import genept_features, go_tf_features

        asked = self.__dict__.setdefault("_features_asked", set())
        need = [g for g in genes if g not in asked]
        if not need:
            return
        asked.update(need)
        measured = list(self._require_fit().genes)
        lookups = (
            ("features_", self.features, lambda m: go_tf_features(m, measured, kb=self.kb)),
            ("text_features_", self.text_features,
             lambda m: genept_features(m, kb=self.kb, measured=measured)),
        )  # fmt: skip
        for attr, given, lookup in lookups:
            table = getattr(self, attr)
            if table is None or given is not None:
                continue  # no knowledge of this kind, or the user's own table
            missing = [g for g in need if g not in table.index]
            new = lookup(missing) if missing else None
            if new is None:
                continue
            rows = new.loc[[g for g in missing if g in new.index]]
            rows = rows.reindex(columns=table.columns, fill_value=0.0).astype(np.float64)
            setattr(self, attr, pd.concat([table, rows]))

    def _require_known(self, gene: str) -> None:
        """An unseen gene the data does not measure is predicted from its knowledge rows
        alone: without any, the method knows nothing of it (:class:`Unsupported`)."""
        self._add_features([gene])
        tables = [t for c, t in (("neighbours", self.features_), ("text", self.text_features_))
                  if c in self.components and t is not None]  # fmt: skip
        if not any(gene in t.index for t in tables):
            raise Unsupported(
                [gene], "not measured (no network column) and without knowledge features"
            )

    def _cells(self, adata) -> dict[str, Any]:
        """Cells (or profiles) in the training space with their roles, labels and groups."""
        labels, role, _ = row_roles(adata, perturbation_type=self.perturbation_type)
        x, _ = expression_matrix(adata)
        if x.shape[1] <= DENSE_NETWORK_GENES:  # the in-memory fit (module docstring)
            x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)
        elif not sp.issparse(x):
            x = sp.csr_matrix(np.asarray(x, dtype=np.float64))
        key = self.time_key
        if key == "auto":
            key = next((k for k in ("time", "cell_type") if k in adata.obs), None)
        groups = None
        if key is not None:
            if key not in adata.obs:
                raise ValidationError(f"time_key column {key!r} not in adata.obs")
            groups = adata.obs[key].astype(str).to_numpy()
        if "experiment" in adata.obs:  # time series are not steady states
            keep = (adata.obs["experiment"].astype(str) != "timeseries").to_numpy()
            x, labels, role = x[keep], labels[keep], role[keep]
            groups = None if groups is None else groups[keep]
        return {"x": x, "labels": labels, "role": role, "groups": groups}

    # ------------------------------------------------------------------ components
    def _candidates(self, cells: dict, genes: list[str], prior: Any) -> np.ndarray:
        """``max_regulators`` candidate regulator columns of a large panel: the measured
        genes perturbed in these cells, then those with known targets in ``prior``, then
        the most variable (each group in that order by variance), logged."""
        idx = {g: i for i, g in enumerate(genes)}
        hit = {idx[g] for lab in dict.fromkeys(cells["labels"].tolist())
               for g in split_perturbation(str(lab)) if g in idx}  # fmt: skip
        upper = {g.upper(): i for g, i in idx.items()}
        known = set()
        if prior is not None and len(prior):
            col = next(c for c in ("regulator", "tf", "Gene1") if c in prior.columns)
            known = {upper[r] for r in prior[col].astype(str).str.upper() if r in upper}
        x = cells["x"]
        mean = np.asarray(x.mean(axis=0)).ravel()
        var = np.asarray(x.multiply(x).mean(axis=0)).ravel() - mean**2
        rank = sorted(range(len(genes)),
                      key=lambda i: (i not in hit, i not in known, -var[i], i))  # fmt: skip
        out = np.sort(np.asarray(rank[: self.max_regulators], dtype=int))
        n_hit, n_known = len(hit & set(out.tolist())), len(known & set(out.tolist()) - hit)
        log(f"primed_network: {len(genes):,} measured genes, so the network's candidate "
            f"regulators are {out.size:,} of them ({n_hit:,} perturbed in training, "
            f"{n_known:,} more with known targets, the rest the most variable; "
            f"max_regulators={self.max_regulators:,}); an unseen gene outside them gets "
            "its row as if it were one")  # fmt: skip
        return out

    def _network_fit(self, cells: dict, genes: list[str], held: set[str], prior) -> Any:
        idx = {g: i for i, g in enumerate(genes)}
        keep = np.array([not (set(split_perturbation(lab)) & held) for lab in cells["labels"]])
        labels = cells["labels"][keep]
        perturbed = [[idx[g] for g in split_perturbation(lab) if g in idx] for lab in labels]
        grid = {} if self.net_settings_ is None else {
            "ridges": (self.net_settings_[0],), "strengths": (self.net_settings_[1],),
            "prior_means": (self.net_settings_[2],)}  # fmt: skip
        if self.regulators_ is not None:
            return self._network_fit_stats(cells, genes, held, prior, keep, grid)
        from ..grn import fit_primed_network

        return fit_primed_network(
            cells["x"][keep], genes, prior=prior,
            groups=None if cells["groups"] is None else cells["groups"][keep],
            reference=cells["role"][keep] == "control", perturbed=perturbed, seed=self.seed,
            **grid,
        )  # fmt: skip

    def _network_fit_stats(self, cells, genes, held, prior, keep, grid) -> Any:
        """The network of a large panel from sufficient statistics (module docstring):
        one pass over the sparse cells for the full fit (kept for the refits), and a
        refit without ``held`` genes' cells by subtracting their sets' cells; the held
        genes that are not candidate regulators get their rows from the refit's cells."""
        import anndata as ad

        from ..grn import add_regulator_rows, primed_statistics, solve_primed, statistics_without

        idx = {g: i for i, g in enumerate(genes)}
        groups = cells["groups"]
        if self._stats is None or not held:  # the full fit (first): one pass, kept
            perturbed = [[idx[g] for g in split_perturbation(lab) if g in idx]
                         for lab in cells["labels"]]  # fmt: skip
            source = ad.AnnData(cells["x"])
            source.var_names = list(genes)
            stats = primed_statistics(
                source, regulators=[genes[i] for i in self.regulators_], groupby=groups,
                reference=cells["role"] == "control", perturbed=perturbed,
                folds=1 if grid else 3, seed=self.seed,
            )  # fmt: skip
            self._stats = stats
            if not held:
                return solve_primed(stats, prior=prior, **grid)
        cols = {idx[g] for g in held if g in idx}
        drop = [i for i, ps in enumerate(self._stats.perturbed) if cols & set(ps.genes.tolist())]
        gone = np.flatnonzero(~keep)
        stats = statistics_without(self._stats, cells["x"][gone], drop,
                                   groups=None if groups is None else groups[gone])  # fmt: skip
        net = solve_primed(stats, prior=prior, **grid)
        add_regulator_rows(net, cells["x"], sorted(cols), groups=groups, prior=prior, cells=keep)
        return net

    def _row(self, net: Any, part: str, g: int) -> np.ndarray:
        """Gene column ``g``'s row of ``part`` in ``net`` (added first, from the training
        cells, when ``g`` is not a candidate regulator of the fitted network)."""
        if net is self.net_:
            self._add_rows([g])
        return net.row(g, part)

    def _add_rows(self, cols: list[int]) -> None:
        """Rows of the fitted network for gene columns outside its candidate regulators."""
        cells = getattr(self, "_net_cells", None)
        if cells is None or self.net_ is None:
            return
        from ..grn import add_regulator_rows

        add_regulator_rows(self.net_, cells["x"], cols, groups=cells["groups"],
                           prior=self.prior_)  # fmt: skip

    def _through(self, net: Any, part: str, v: np.ndarray, g: int) -> np.ndarray:
        """``v B`` over the candidate regulators, ``B`` the network's ``part`` (``coef``
        or the ``prior`` signs) without the column of ``g``."""
        out = v[net.regulators] @ getattr(net, part)
        out[g] = 0.0
        return out

    def _propagate(self, net: Any, part: str, g: int, drop: float) -> np.ndarray:
        first = self._row(net, part, g)
        first[g] = 0.0
        out = first + self.second_order * self._through(net, part, first, g)
        out[g] = 0.0
        return drop * out * net.scale

    def _drop(self, data: TrainingData, net: Any, gene: str) -> float:
        i = data.gene_index[gene]
        level = data.knock_level(gene)
        d = (float(level) - float(data.control[i])) / float(net.scale[i])
        # beyond 3 spreads a linear model of observed variation extrapolates
        return float(np.clip(d, -3.0, 3.0)) if abs(d) > 1e-12 else -1.0

    def _neighbours(
        self, gene: str, train: list[str], deltas: np.ndarray, cache: str = "_forest_cache"
    ) -> np.ndarray:
        """Random forest from gene features to the training changes (the ``go_forest``
        regressor), minus their mean: what the gene's knowledge neighbours add."""
        from sklearn.ensemble import RandomForestRegressor

        def forest() -> Any:
            return RandomForestRegressor(
                n_estimators=self.n_estimators, max_features="sqrt", random_state=self.seed,
                n_jobs=1,
            )  # fmt: skip

        return self._regress(self.features_, cache, forest, gene, train, deltas)

    def _text(
        self, gene: str, train: list[str], deltas: np.ndarray, cache: str = "_text_cache"
    ) -> np.ndarray:
        """Ridge regression from the GenePT text embedding to the training changes (the
        ``genept_ridge`` regressor, ridge strength by leave-one-out), minus their mean."""
        from sklearn.linear_model import RidgeCV

        def ridge() -> Any:
            return RidgeCV(alphas=np.logspace(-2, 3, 11))

        return self._regress(self.text_features_, cache, ridge, gene, train, deltas)

    def _paralog_threshold(self, genes: list[str]) -> float | None:
        """The cosine above which two GenePT embeddings are near-duplicates: the
        :data:`PARALOG_QUANTILE` quantile of the cosines between the measured ``genes``'
        embeddings (at most 2,000 of them, seeded); None without embeddings of at least
        20 measured genes, or when that quantile is 1."""
        feats = self.text_features_
        if feats is None:
            return None
        rows = [g for g in genes if g in feats.index]
        if len(rows) < 20:
            return None
        if len(rows) > 2000:
            pick = np.random.default_rng(self.seed).choice(len(rows), 2000, replace=False)
            rows = [rows[i] for i in sorted(pick)]
        v = unit_rows(feats.loc[rows].to_numpy())
        cos = (v @ v.T)[np.triu_indices(len(rows), 1)]
        tau = float(np.quantile(cos, PARALOG_QUANTILE))
        return tau if tau < 1.0 - 1e-9 else None  # every pair a duplicate: no signal

    def _paralog(
        self, gene: str, train: list[str], deltas: np.ndarray, anchor: np.ndarray
    ) -> np.ndarray:
        """What ``gene``'s near-duplicates among the training genes add to the anchor:
        the mean of their changes minus ``anchor``, each weighted by ``(cos - tau) / (1 -
        tau)`` (``cos`` the cosine of the two GenePT embeddings, ``tau`` =
        ``paralog_tau_``); zero without an embedding or a training gene above ``tau``."""
        feats, tau = self.text_features_, getattr(self, "paralog_tau_", None)
        zero = np.zeros(deltas.shape[1])
        if feats is None or tau is None or gene not in feats.index:
            return zero
        have = [i for i, h in enumerate(train) if h in feats.index and h != gene]
        if not have:
            return zero
        v = unit_rows(feats.loc[[gene, *(train[i] for i in have)]].to_numpy())
        w = np.clip((v[1:] @ v[0] - tau) / (1.0 - tau), 0.0, None)
        if not w.sum() > 0:
            return zero
        return w @ (deltas[have] - anchor) / w.sum()

    def _regress(
        self,
        feats: Any,
        cache_name: str,
        make: Any,
        gene: str,
        train: list[str],
        deltas: np.ndarray,
    ) -> np.ndarray:
        """A regressor from gene features to the training changes (fitted once per set of
        training genes and kept in ``cache_name``), its prediction for ``gene`` minus the
        training mean; zero where the gene has no features or fewer than 3 training genes do."""
        n = deltas.shape[1]
        if feats is None or gene not in feats.index:
            return np.zeros(n)
        have = [i for i, h in enumerate(train) if h in feats.index]
        if len(have) < 3:
            return np.zeros(n)
        names = tuple(train[i] for i in have)
        cache = self.__dict__.setdefault(cache_name, {})
        if names not in cache:
            cache[names] = make().fit(feats.loc[list(names)].to_numpy(), deltas[have])
        pred = cache[names].predict(feats.loc[[gene]].to_numpy())[0]
        return pred - deltas[have].mean(axis=0)

    def _engine(self, adata, held: set[str]) -> Any:
        from ._network import NetworkModel

        keep = np.array([not (set(split_perturbation(str(lab))) & held)
                         for lab in adata.obs[PERTURBATION_KEY]])  # fmt: skip
        prior = self.prior_ if self.prior_ is not None else "none"
        opts = {} if self.engine_settings_ is None else {
            "links": (self.engine_settings_[0],), "ridges": (self.engine_settings_[1],),
            "gammas": (self.engine_settings_[2],)}  # fmt: skip
        model = NetworkModel(prior=prior, seed=self.seed, perturbation_type=self.perturbation_type,
                             **opts)  # fmt: skip
        return model.fit(adata[keep] if not keep.all() else adata)

    def _component_table(
        self, gene: str, data: TrainingData, net: Any, train: list[str], deltas: np.ndarray,
        engine: Any,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        out = {"mean": ANCHORS.get(self.anchor)(deltas)}
        if gene not in data.gene_index:  # not measured: nothing to propagate from it
            for c in ("data", "prior", "association", "network"):
                if c in self.components:
                    out[c] = np.zeros(len(data.genes))
            if "neighbours" in self.components:
                out["neighbours"] = self._neighbours(gene, train, deltas)
            if "text" in self.components:
                out["text"] = self._text(gene, train, deltas)
            return out
        g = data.gene_index[gene]
        drop = self._drop(data, net, gene) if net is not None else 0.0
        if "data" in self.components:
            out["data"] = self._propagate(net, "coef", g, drop)
        if "prior" in self.components:
            out["prior"] = self._propagate(net, "prior", g, drop)
        if "association" in self.components:
            assoc = self._row(net, "association", g)
            assoc[g] = 0.0
            out["association"] = drop * assoc * net.scale
        if "neighbours" in self.components:
            out["neighbours"] = self._neighbours(gene, train, deltas)
        if "text" in self.components:
            out["text"] = self._text(gene, train, deltas)
        if "network" in self.components and engine is not None:
            out["network"] = engine.predict([gene]).X[0] - engine.data_.control
        return out
