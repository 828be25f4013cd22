"""``primed_network``: the knowledge-primed network of :mod:`vc.grn` as a perturbation
engine for genes never perturbed in training, combined with a robust anchor.

Components (each a predicted change from control, genes-vector, for a gene ``g``)
---------------------------------------------------------------------------------
* ``mean``: the anchor, a location of the changes of the training perturbations:
  their mean (``anchor="mean"``: ``train_mean - ctrl``), their coordinate-wise median
  (``"median"``, not pulled by the few large effects) or their 25% trimmed mean
  (``"trim25"``; :data:`ANCHORS`);
* ``data``: the knockout of ``g`` propagated through the learned network ``B`` of one
  :class:`vc.grn.PrimedNetwork` (fitted on the training cells — control and perturbed —
  standardised within ``obs["time"]`` or cell type, so time is not a confounder; known
  edges enter as its prior, as strong as cross-validation over cells allows):
  ``d_g (B[g] + 0.5 B[g] B)`` scaled back by each gene's spread, with
  ``d_g`` the drop of ``g`` in standardised units (its knock level minus its control
  level, over its spread; :meth:`TrainingData.knock_level`) and ``B`` without the
  column of ``g`` (a knocked-out gene stays at its knock level); ``d_g`` is clipped to
  +-3 (a linear model of observed variation would extrapolate beyond);
* ``prior``: the same propagation through the known signed edges alone (``B`` = the prior
  sign matrix): "a knockout lowers what it activates and raises what it represses", its
  gain learned like every other weight;
* ``association``: ``d_g`` times the marginal slope of every gene on ``g`` in the same
  standardised cells (:attr:`vc.grn.PrimedNetwork.association`: the observational
  co-variation within time points, direct and indirect paths together);
* ``neighbours``: what ``g``'s knowledge neighbours add to the mean: a random forest
  from gene features (GO terms and known targets from the knowledge store, or
  ``features=``; the ``go_forest`` regressor) to the training changes, minus their mean
  (0 without features); anchor ``mean`` + ``neighbours`` alone is ``go_forest``; a
  default component of the ``stack`` gate, named when wanted with ``average``;
* ``text`` (a default component of the ``average`` gate only): what the gene's text adds: a
  ridge regression (strength by leave-one-out) from the GenePT embedding of the gene
  (from the knowledge store, or ``text_features=``) to the training changes, minus their
  mean (the ``genept_ridge`` regressor; 0 for a gene without an embedding);
* ``network``: the unseen-gene prediction of the ``network`` engine (same prior).

Gates (how the components are weighed; :mod:`._gate`)
-----------------------------------------------------
``pred(g) = ctrl + sum_c a_c * component_c(g)``, nothing tuned on held-out test genes;
:meth:`PrimedNetworkModel.explain` says how much of each prediction comes from each
component (so from the prior vs the data).

``change_scale`` (default 1) multiplies the whole predicted change of an unseen gene
(anchor and components alike): Pearson-delta does not see it, PDS and L2 do
(``benchmarks/perturb_spread.py``: ``change_scale=1.5`` with the knowledge components was
the pick of a declared selection on unreported RENGE fold seeds and lost PDS on the
reported ones, 0.702 against 0.758 at 1; ``docs/perturb.md``).

``knowledge_size`` keeps the direction of the averaged knowledge part (``neighbours`` /
``text``) and sets its size from the training genes instead of the regressors' shrunken
output: ``knowledge_size`` times the median, over the training genes, of the norm of their
change minus the anchor (every gene counted); ``None``: the regressors' own size; the
default ``"auto"`` is 0.25 with the ``average`` gate, ``None`` with ``stack``. On RENGE
design fold seeds ``median + 0.25 unit(text)`` had the highest Pearson-delta of the
recombinations tried (``benchmarks/renge_pds_recombine.py``); the default since the
declared checks on fresh fold seeds 80-89 and 90-99 (``docs/perturb.md``).

``paralog=a`` (default ``"auto"``: 0.5 with the ``average`` gate, the pick of the declared
check on RENGE fold seeds 120-139 in ``docs/perturb.md``; 0, off, with ``stack``) adds,
for an unseen gene with a near-duplicate among the training genes, ``a`` times that
gene's change minus the anchor: near-duplicates are the
training genes whose GenePT embedding has a cosine with the gene's above ``tau``, the
99th percentile (:data:`._gate.PARALOG_QUANTILE`) of the cosines between the measured
genes' embeddings (paralogs such as ZIC2 / ZIC3), each weighted by ``(cos - tau) / (1 -
tau)``. It is not sized with the knowledge part and not seen by the gate (the network's
weights are learned as without it), so a gene without a near-duplicate is predicted
exactly as without the option; the time path adds it per day. Needs the text embeddings
(the knowledge store's embedder, or ``text_features=``), also when ``text`` is not a
component.

Without a component that reads the network (``data``, ``prior``, ``association``) and
with ``time_depth=0`` no network is fitted and the training cells are never made dense
(``uses_network``). With one, a panel of at most 200 measured genes
(:data:`._primed_components.DENSE_NETWORK_GENES`) fits the network in memory
(:func:`vc.grn.fit_primed_network`, every gene a candidate regulator). A larger panel
keeps the cells sparse and fits the same network from streamed sufficient statistics
(:func:`vc.grn.primed_statistics`, :func:`vc.grn.solve_primed`: one pass over the cells,
one shared inverse for the targets nobody perturbed; equal to the in-memory fit to
1e-8), with every gene a candidate regulator up to ``max_regulators`` (default 1,000)
measured genes. Above that (a screen's 5,000-8,000 genes) the candidates are
``max_regulators`` genes: the measured genes perturbed in training first, then the genes
with known targets in the prior, then the most variable ones; an unseen gene outside them
gets its row as if it had been a candidate (:func:`vc.grn.add_regulator_rows`, the block
formula of the ridge system, exact for targets without known edges or perturbed cells).
The stack's held-out refits subtract the held-out genes' cells from the statistics
(:func:`vc.grn.statistics_without`) instead of reading the cells again
(``docs/perturb.md``, "Scale").

``support="nested"`` keeps the learned part (the components whose weights the gate
learns: the network components of ``average``, everything but the anchor for ``stack``)
only where the training genes support it: the weights are refitted with each group of
training genes of the stack held out (nested in the held-out design, nothing refitted but
the weights) and the held-out genes are predicted with and without the learned part; it is
kept when neither the mean Pearson-delta over the training genes nor their
``pds_targets_out`` (the L1 discrimination score among the training genes, every training
gene's own column left out of every row) is lower with it, else its weights are set to 0
and the anchor's to 1 (with ``learn_mean`` the learned anchor weight counts as part of the
learned part; ``support_`` records both scores; default ``"none"``: always kept).

Conditions whose genes were all perturbed alone in training are predicted by the
``network`` engine (observed singles plus the learned interaction, as ``network``; their
observed changes added up where one of them is not measured); unseen genes in a
combination add their stacked change. Every measured perturbed gene is set to its knock
level (``clamp_targets``).

Perturbed genes the data does not measure (no column, e.g. after selecting highly
variable genes): a training knockout of one still enters the anchor and the knowledge
regressors (the network stack learns from the measured ones, each knocked out in turn);
an unseen one has no network part (0) and is predicted from the anchor and its knowledge
rows (looked up for it at prediction time), or is :class:`Unsupported` without any.

Per time point (``predict(..., time=...)``, training cells with ``obs["time"]``)
------------------------------------------------------------------------------
The change of an unseen gene ``g`` on day ``t`` (against day ``t``'s control) is

``anchor_t + knowledge_t(g) + sum_{k=1..time_depth} w_{t,k} d_g e_g B^k`` (times
``change_scale``): ``anchor_t`` the anchor of the training genes' changes of day ``t``;
``knowledge_t`` the ``neighbours`` / ``text`` regressors (those in ``components``, averaged
as in the ``average`` gate) fitted on the training genes' changes of every day side by
side; ``d_g e_g B^k`` the knockout after ``k`` steps through the network ``B``
(``time_network``: the learned ``coef`` or the known signed ``prior``; ``g``'s own column
and entry zeroed): RENGE's picture, direct targets first, indirect ones later. The gains
``w_{t,k} >= 0`` are fitted per day by non-negative least squares on the training genes
held out one at a time (anchor, regressors and network refitted without the held gene;
each gene's rows scaled by the size of its change that day; the perturbed gene left out),
when first asked for; never on a test gene. ``time_depth=0`` (the default: the pick of a
declared selection on unreported RENGE fold seeds, where no depth helped; ``docs/perturb.md``)
leaves the network out of the time path. A seen gene predicts its observed change of that
day. The steady-state path (``time=None``) is unchanged by all of this.

Code: the inputs and components are :mod:`._primed_components`, the time path
:mod:`._primed_time` (mixins of :class:`PrimedNetworkModel`); fitting, stacking and
prediction are here.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._errors import ValidationError
from .._utils import check_number, log
from ..data import CONTROL, split_perturbation
from ._base import Predictor
from ._data import TrainingData, parse_conditions
from ._gate import (
    ANCHORS,
    AVERAGE_COMPONENTS,
    AVERAGE_KNOWLEDGE_SIZE,
    AVERAGE_PARALOG,
    COMPONENTS,
    DEFAULT_COMPONENTS,
    GATES,
    KNOWLEDGE,
    NETWORK_PARTS,
    gate_weights,
    knowledge_weights,
    stack_groups,
)
from ._primed_components import PrimedComponents
from ._primed_time import PrimedTime

__all__ = ["PrimedNetworkModel"]


class PrimedNetworkModel(PrimedComponents, PrimedTime, Predictor):
    """Training changes' median + the gene's text knowledge and near-duplicates + the network."""

    name = "primed_network"
    uses_features = True
    clamp_targets = True

    def __init__(
        self,
        *,
        prior: str | pd.DataFrame = "auto",
        features: pd.DataFrame | None = None,
        text_features: pd.DataFrame | None = None,
        time_key: str | None = "auto",
        components: tuple[str, ...] | None = None,
        second_order: float = 0.5,
        n_estimators: int = 200,
        learn_mean: bool = False,
        anchor: str = "median",
        gate: str = "average",
        stack_groups: int = 10,
        change_scale: float = 1.0,
        time_depth: int = 0,
        time_network: str = "coef",
        support: str = "none",
        knowledge_size: float | str | None = "auto",
        paralog: float | str = "auto",
        max_regulators: int = 1000,
        kb: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        if isinstance(prior, str) and prior not in ("auto", "none"):
            raise ValidationError(f"prior must be 'auto', 'none' or an edge table, got {prior!r}")
        if anchor not in ANCHORS:
            raise ValidationError(f"anchor must be one of {ANCHORS.names()}, got {anchor!r}")
        if gate not in GATES:
            raise ValidationError(f"gate must be one of {GATES}, got {gate!r}")
        if int(stack_groups) < 2:
            raise ValidationError(f"stack_groups must be >= 2, got {stack_groups!r}")
        check_number("change_scale", change_scale, low=0, low_open=True)
        check_number("time_depth", time_depth, low=0, integer=True)
        if isinstance(knowledge_size, str) and knowledge_size == "auto":
            knowledge_size = AVERAGE_KNOWLEDGE_SIZE if gate == "average" else None
        if knowledge_size is not None:
            check_number("knowledge_size", knowledge_size, low=0, low_open=True)
        if isinstance(paralog, str) and paralog == "auto":
            paralog = AVERAGE_PARALOG if gate == "average" else 0.0
        check_number("paralog", paralog, low=0)
        check_number("max_regulators", max_regulators, low=1, integer=True)
        if support not in ("none", "nested"):
            raise ValidationError(f"support must be 'none' or 'nested', got {support!r}")
        if time_network not in ("coef", "prior"):
            raise ValidationError(f"time_network must be 'coef' or 'prior', got {time_network!r}")
        if components is None:
            components = AVERAGE_COMPONENTS if gate == "average" else DEFAULT_COMPONENTS
        bad = sorted(set(components) - set(COMPONENTS))
        if bad or "mean" not in components:
            raise ValidationError(
                f"components must include 'mean' and be among {COMPONENTS}, got {components}"
            )
        self.prior = prior
        self.features = features
        self.text_features = text_features
        self.time_key = time_key
        self.components = tuple(components)
        self.second_order = float(second_order)
        self.n_estimators = int(n_estimators)
        self.learn_mean = bool(learn_mean)
        self.anchor = anchor
        self.gate = gate
        self.stack_groups = int(stack_groups)
        self.change_scale = float(change_scale)
        self.time_depth = int(time_depth)
        self.time_network = time_network
        self.support = support
        self.knowledge_size = None if knowledge_size is None else float(knowledge_size)
        self.paralog = float(paralog)
        self.max_regulators = int(max_regulators)
        self.kb = kb

    @property
    def uses_network(self) -> bool:
        """Whether a component (``data``, ``prior``, ``association``) or the time path
        (``time_depth`` > 0) needs the fitted network; without, none is fitted."""
        return bool(set(self.components) & set(NETWORK_PARTS)) or self.time_depth > 0

    # ------------------------------------------------------------------ fit
    def _fit(self, data: TrainingData, adata) -> None:
        genes = data.genes
        idx = data.gene_index
        self.prior_ = self._prior_table(genes)
        # perturbed training genes that are not measured still teach the anchor and the
        # knowledge regressors (not the network, which has no column to knock out)
        unmeasured = sorted(g for g in data.seen_singles if g not in idx)
        self.features_ = self._features(genes, unmeasured)
        self.text_features_ = self._text_features(genes, unmeasured)
        self.paralog_tau_ = self._paralog_threshold(genes) if self.paralog else None
        # the training cells: dense for the in-memory fit, sparse for the streamed one
        self.regulators_ = None
        self._stats = None
        cells = self._cells(adata) if self.uses_network else None
        if cells is not None and sp.issparse(cells["x"]):
            self.regulators_ = (
                self._candidates(cells, genes, self.prior_)
                if len(genes) > self.max_regulators
                else np.arange(len(genes))
            )
        self._net_cells = cells if self.regulators_ is not None else None
        for name in ("time_gains_", "_time_forest_cache", "_time_text_cache", "_time_memo",
                     "_features_asked"):  # fmt: skip
            self.__dict__.pop(name, None)  # the time path is fitted when first asked for
        self.net_settings_ = None
        self.engine_settings_ = None
        self.net_ = None
        if self.uses_network:
            self.net_ = self._network_fit(cells, genes, set(), self.prior_)
            self.net_settings_ = (self.net_.ridge, self.net_.strength, self.net_.prior_mean)
        self.engine_ = None
        self._train = adata  # the engine of seen combinations is fitted when first needed
        if "network" in self.components:
            self._fit_engine()
        singles = sorted(data.seen_singles)
        self.train_genes_ = singles
        self.deltas_ = (
            np.vstack([data.profiles.loc[g].to_numpy() - data.control for g in singles])
            if singles
            else np.zeros((0, len(genes)))
        )
        names = [c for c in COMPONENTS if c in self.components]
        self.support_ = None
        self.weights_ = dict.fromkeys(names, 0.0)
        self.weights_["mean"] = 1.0
        measured = [g for g in singles if g in idx]  # the stack knocks each one out
        if len(measured) >= 3:
            self.weights_ = self._stack(data, adata, cells, measured, names)
        elif self.gate == "average":  # the knowledge weights, nominal as _stack gives them
            self.weights_.update(self._know(None, singles))
        if self.time_depth == 0:  # only the time path refits after this: free the statistics
            self._stats = None
        sized = (
            "" if self.knowledge_size is None else f", knowledge part sized {self.knowledge_size:g}"
        )
        if self.paralog:
            tau = self.paralog_tau_
            sized += f", paralog {self.paralog:g} (" + (
                "no text embeddings)" if tau is None else f"cosine above {tau:.3f})"
            )
        net = self.net_
        log("primed_network: " + ", ".join(f"{k}={v:.3g}" for k, v in self.weights_.items())
            + sized + (" (no network fitted: no component uses it)" if net is None else
            f" (network: {net.n_prior_edges} prior edges, strength {net.strength:g}, prior "
            f"mean {net.prior_mean:g}, ridge {net.ridge:g})"))  # fmt: skip

    def _fit_engine(self) -> Any:
        if self.engine_ is None:
            self.engine_ = self._engine(self._train, set())
            self.engine_settings_ = (self.engine_.link_, self.engine_.ridge_, self.engine_.gamma_)
        return self.engine_

    def _stack(self, data, adata, cells, singles, names) -> dict[str, float]:
        """Non-negative stacking weights from leave-one-gene-out over training genes
        (``average`` gate: the anchor and the averaged knowledge regressors are a fixed
        offset; only the network components are learned). ``singles``: the measured
        training genes (each is knocked out of the network in turn); the anchor and the
        knowledge regressors of a held-out gene learn from the others of them."""
        idx = data.gene_index
        row = {g: i for i, g in enumerate(self.train_genes_)}
        deltas = self.deltas_[[row[g] for g in singles]]
        if self.gate == "average" and not any(c not in ("mean", *KNOWLEDGE) for c in names):
            # nothing to learn: the anchor and the knowledge average are fixed
            out = dict.fromkeys(names, 0.0)
            out["mean"] = 1.0
            out.update(self._know(None, singles))
            return out
        group_of = stack_groups(len(singles), self.stack_groups, self.seed)
        fits: dict[int, tuple[Any, Any]] = {}
        rows: dict[int, tuple[float, np.ndarray, np.ndarray, np.ndarray]] = {}
        # group by group, so that one refit is alive at a time (at screen scale each holds
        # ~250 MB of weights); the rows are put back in the genes' order below
        for k in sorted(range(len(singles)), key=lambda i: (group_of[i], i)):
            h = singles[k]
            held = [i for i in range(len(singles)) if group_of[i] == group_of[k]]
            others = [i for i in range(len(singles)) if group_of[i] != group_of[k]]
            if group_of[k] not in fits:  # the network refitted without the held genes
                out_genes = {singles[i] for i in held}
                fits[group_of[k]] = (
                    self._network_fit(cells, data.genes, out_genes, self.prior_)
                    if self.net_ is not None
                    else None,
                    self._engine(adata, out_genes) if "network" in names else None,
                )
            # a group's refit is dropped after its last held-out gene
            last = k == max(held)
            net, engine = fits.pop(group_of[k]) if last else fits[group_of[k]]
            comps = self._component_table(
                h, data, net, [singles[i] for i in others], deltas[others], engine
            )
            keep = np.ones(len(data.genes), dtype=bool)
            keep[idx[h]] = False  # never learn from the perturbed gene itself
            # every training gene weighs the same (as in the per-gene metrics): its rows
            # are scaled by the size of its change, so one strong regulator cannot set
            # the weights alone
            size = float(np.linalg.norm(deltas[k][keep])) or 1.0
            kw = self._know(h, [singles[i] for i in others])
            know = sum((w * comps[c] for c, w in kw.items()), np.zeros(len(keep)))
            know = know * self._size_factor(know, deltas[others], comps["mean"])
            rows[k] = (size, np.column_stack([comps[c][keep] for c in names]) / size,
                       deltas[k][keep] / size, (comps["mean"] + know)[keep] / size)  # fmt: skip
        sizes, blocks, targets, fixed = (
            list(x) for x in zip(*(rows[k] for k in range(len(singles))), strict=True)
        )
        a, y = np.vstack(blocks), np.concatenate(targets)
        self.stack_rows_ = len(y)
        self.stack_design_ = (names, blocks, targets)  # per training gene, for diagnostics
        out = gate_weights(names, a, y, np.concatenate(fixed), gate=self.gate,
                           learn_mean=self.learn_mean)  # fmt: skip
        if self.support == "nested":
            design = (blocks, targets, fixed, np.asarray(sizes))
            self.support_ = self._nested_support(names, design, group_of, singles, idx)
            if not self.support_["kept"]:  # the anchor alone (plus the fixed knowledge)
                out.update({c: 0.0 for c in self._learned(names)})
                out["mean"] = 1.0
        if self.gate == "average":
            out.update(self._know(None, singles))  # nominal, for the summary
        return out

    def _learned(self, names: list[str]) -> list[str]:
        """The components whose weights the gate learns, the anchor aside (the
        gene-specific part; with ``learn_mean`` the anchor's weight is learned too)."""
        if self.gate == "average":
            return [c for c in names if c not in ("mean", *KNOWLEDGE)]
        return [c for c in names if c != "mean"]

    def _nested_support(self, names, design, group_of, singles, idx) -> dict[str, Any]:
        """``support="nested"``: the training genes' held-out scores with and without the
        learned part, its weights refitted without each group (module docstring)."""
        from ..metrics import discrimination_score, pearson

        blocks, targets, fixed, sizes = design
        learned = [names.index(c) for c in self._learned(names)]
        m = names.index("mean")
        n, n_genes = len(singles), self.deltas_.shape[1]
        full = {k: np.full((n, n_genes), np.nan) for k in ("true", "with", "without")}
        for group in np.unique(group_of):
            held = np.flatnonzero(group_of == group)
            rest = np.flatnonzero(group_of != group)
            w = gate_weights(names, np.vstack([blocks[k] for k in rest]),
                             np.concatenate([targets[k] for k in rest]),
                             np.concatenate([fixed[k] for k in rest]), gate=self.gate,
                             learn_mean=self.learn_mean)  # fmt: skip
            wv = np.array([w[c] for c in names])
            for k in held:
                keep = np.arange(n_genes) != idx[singles[k]]
                base = fixed[k] if self.gate == "average" else blocks[k][:, m]
                part = blocks[k][:, learned] @ wv[learned]
                if self.gate != "average" and self.learn_mean:  # the anchor's weight too
                    part = part + (wv[m] - 1.0) * blocks[k][:, m]
                full["true"][k, keep] = targets[k] * sizes[k]
                full["without"][k, keep] = base * sizes[k]
                full["with"][k, keep] = (base + part) * sizes[k]
        free = np.ones(n_genes, dtype=bool)
        free[[idx[g] for g in singles]] = False
        out: dict[str, Any] = {}
        for k in ("with", "without"):
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # constant rows: NaN
                pd_ = [pearson(full["true"][i][~np.isnan(full["true"][i])],
                               full[k][i][~np.isnan(full[k][i])]) for i in range(n)]  # fmt: skip
                out[f"pearson_delta_{k}"] = float(np.nanmean(pd_))
            out[f"pds_targets_out_{k}"] = (
                float(discrimination_score(full["true"][:, free], full[k][:, free],
                                           exclude_target=False).mean())
                if free.any() else float("nan")
            )  # fmt: skip
        # dropped only on evidence: a score that cannot be computed (NaN) does not count
        out["kept"] = bool(
            not out["pearson_delta_with"] < out["pearson_delta_without"]
            and not out["pds_targets_out_with"] < out["pds_targets_out_without"]
        )
        return out

    def _know(self, gene: str | None, train: list[str]) -> dict[str, float]:
        tables = {"neighbours": self.features_, "text": self.text_features_}
        return knowledge_weights(gene, train, tables, self.components)

    # ------------------------------------------------------------------ predict
    def contributions(self, gene: str) -> dict[str, np.ndarray]:
        """Weighted change from control of each component for an unseen ``gene`` (each
        times ``change_scale``)."""
        data = self._require_fit()
        measured = gene in data.gene_index  # else the network components are 0
        if not measured:
            self._require_known(gene)  # its knowledge rows, or Unsupported
        engine = self._fit_engine() if measured and "network" in self.components else None
        comps = self._component_table(gene, data, self.net_, self.train_genes_, self.deltas_,
                                      engine)  # fmt: skip
        weights = dict(self.weights_)
        if self.gate == "average":
            weights.update(dict.fromkeys(set(KNOWLEDGE) & set(weights), 0.0))
            weights.update(self._know(gene, self.train_genes_))
        k = self.change_scale
        out = {c: k * weights[c] * comps[c] for c in weights}
        know = [c for c in KNOWLEDGE if c in out]
        if know:  # each regressor keeps its share of the (sized) knowledge part
            total = sum(weights[c] * comps[c] for c in know)
            factor = self._size_factor(total, self.deltas_, comps["mean"])
            out.update({c: out[c] * factor for c in know})
        if self.paralog:
            part = self._paralog(gene, self.train_genes_, self.deltas_, comps["mean"])
            out["paralog"] = k * self.paralog * part
        return out

    def _size_factor(self, part: np.ndarray, changes: np.ndarray, anchor: np.ndarray) -> float:
        """``knowledge_size``: what the knowledge ``part`` is multiplied by so that its norm
        is ``knowledge_size`` times the median norm of the training ``changes`` minus their
        ``anchor`` (1 without the option or for a zero part)."""
        norm = float(np.linalg.norm(part))
        if self.knowledge_size is None or norm == 0.0 or not len(changes):
            return 1.0
        typical = float(np.median(np.linalg.norm(changes - anchor, axis=1)))
        return self.knowledge_size * typical / norm

    def predict(
        self, perturbations: Any, *, on_unsupported: Any = "raise", time: Any = None
    ) -> Any:
        """:meth:`Predictor.predict`, with the knowledge features of every unseen gene the
        data does not measure looked up first, in one query per table."""
        data = self._require_fit()
        labels = parse_conditions(perturbations)
        unseen = {g for lab in labels for g in split_perturbation(lab) if data.single(g) is None}
        need = sorted(g for g in unseen if g not in data.gene_index)
        if need:
            self._add_features(need)
        # a large panel's network rows of the measured unseen genes, in one product
        self._add_rows(sorted(data.gene_index[g] for g in unseen if g in data.gene_index))
        return super().predict(labels, on_unsupported=on_unsupported, time=time)

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        data = self._require_fit()
        seen = tuple(g for g in genes if data.single(g) is not None)
        if len(seen) > 1 and all(g in data.gene_index for g in seen):
            # observed singles plus the network's interaction (the network needs them
            # measured; else their observed changes add up)
            out = self._fit_engine()._predict_one(seen)
        else:
            out = data.control + sum((data.single(g) - data.control for g in seen),
                                     np.zeros(len(data.genes)))  # fmt: skip
        for g in genes:
            if g not in seen:
                out = out + sum(self.contributions(g).values())
        return out

    def explain(self, perturbations: list[str] | str) -> pd.DataFrame:
        """How much of each unseen gene's predicted change comes from each component:
        one row per gene, columns = components, values = share of the sum of squared
        weighted changes (rows sum to 1), plus ``prior_vs_data`` = prior / (prior + data +
        network + neighbours) of that sum."""
        genes = [perturbations] if isinstance(perturbations, str) else list(perturbations)
        rows = {}
        for g in genes:
            if g == CONTROL:
                continue
            parts = {c: float(np.sum(v**2)) for c, v in self.contributions(g).items()}
            total = sum(parts.values()) or 1.0
            row = {c: v / total for c, v in parts.items()}
            learned = sum(v for c, v in parts.items() if c != "mean") or 1.0
            row["prior_vs_data"] = parts.get("prior", 0.0) / learned
            rows[g] = row
        return pd.DataFrame.from_dict(rows, orient="index")

    def _network_summary(self) -> dict[str, Any]:
        """The fitted network's prior settings (None each where no network is fitted)."""
        net = self.net_
        if net is None:
            keys = ("n_prior_edges", "prior_strength", "prior_mean", "ridge", "network_cv_mse")
            return dict.fromkeys(keys)
        return {"n_prior_edges": net.n_prior_edges, "prior_strength": net.strength,
                "prior_mean": net.prior_mean, "ridge": net.ridge,
                "network_cv_mse": dict(net.cv_mse)}  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """Stacking weights and the network's chosen prior settings."""
        self._require_fit()
        return {
            "gate": self.gate,
            "anchor": self.anchor,
            "change_scale": self.change_scale,
            "knowledge_size": self.knowledge_size,
            "paralog": self.paralog,
            "paralog_tau": self.paralog_tau_,
            "weights": dict(self.weights_),
            "support": self.support_,
            **self._network_summary(),
            "train_genes": list(self.train_genes_),
        }
