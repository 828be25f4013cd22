"""Screens on the simulator (:mod:`virtualcell.sim`): single-gene knockout screens and
combinatorial (pair) screens with a known network.

Each samples a network with :func:`vc.sim.sample_grn` from the environment seed (3 cell
types) and simulates observational control cells. A batch is measured by simulating its
cells with :func:`vc.sim.simulate_preset` (``"epistasis"`` settings: knockouts,
``method="fast"``, UMI noise without outlier genes), ``cells`` per perturbation plus a control arm of
``control_cells`` in every batch; profiles are pseudobulk means of counts per 10,000.

The hidden truth is the *expected readout*: the same assay with ``truth_cells`` cells
per condition (default 1,000, ten times a measurement) and its own seed. It is not the
kinetic model's deterministic steady state: with cell-to-cell noise, switch-like Hill
responses and UMI dropout, the assay's expected readout departs from the mean-field
shift (for genetic interactions the two even anti-correlate, rank correlation about
-0.3 on the pair screen), and a screen can only be asked to find what its assay measures.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._utils import check_number
from ..data import CONTROL, PERTURBATION_KEY, join_perturbation, split_perturbation
from ._env import EnvSpec, Measurement, ScreenEnv
from ._phenotypes import Impact, Interaction, Program, readout_genes

__all__ = ["SimKnockoutScreen", "SimPairScreen", "SimProgramScreen"]

_TARGET_SUM = 1e4


def _noise() -> Any:
    from ..sim import TechnicalNoise

    # no outlier-gene factors: they are redrawn per simulation call, i.e. a per-batch
    # scaling of 1% of the genes that no control arm of another batch shares
    return TechnicalNoise(outlier_prob=0.0)


def _cp10k(adata: Any) -> np.ndarray:
    from scipy import sparse

    x = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
    x = np.asarray(x, dtype=np.float64)
    tot = x.sum(axis=1, keepdims=True)
    return np.divide(x * _TARGET_SUM, tot, out=np.zeros_like(x), where=tot > 0)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def _slim(adata: Any, prefix: str) -> Any:
    """Counts and the perturbation columns only (what the history keeps)."""
    import anndata as ad

    obs = adata.obs[[PERTURBATION_KEY, "perturbation_type", "cell_type"]].copy()
    for col in obs.columns:
        obs[col] = obs[col].astype(str)
    obs.index = [f"{prefix}{i}" for i in obs.index]
    return ad.AnnData(X=adata.X.copy(), obs=obs, var=pd.DataFrame(index=adata.var_names.copy()))


class _SimScreen(ScreenEnv):
    """Shared machinery of the simulated screens."""

    name = "sim"
    version = 1
    kind = "single"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        p = self._options(seed, params)
        for key in (
            "n_genes",
            "cells",
            "control_cells",
            "observational_cells",
            "truth_cells",
            *(["single_cells"] if "single_cells" in p else []),
        ):
            check_number(key, p[key], low=1, integer=True)
        self.spec = EnvSpec(self.name, self.version, self.kind, int(seed), int(p["rounds"]),
                            int(p["batch"]), {k: v for k, v in p.items()
                                              if k not in ("rounds", "batch")})  # fmt: skip
        from ..sim import sample_grn

        self.grn = sample_grn(
            int(p["n_genes"]), n_cell_types=3, seed=int(seed), hill_n=float(p["hill_n"])
        )
        self.genes = list(self.grn.genes)
        self.observational = self._simulate([], [], cells=1, control=int(p["observational_cells"]),
                                            seed=_seed(seed, 1), prefix="obs-")  # fmt: skip
        levels = pd.Series(_cp10k(self.observational).mean(axis=0), index=self.genes)
        self._readout = readout_genes(levels, fraction=float(p["readout_fraction"]))
        self._setup(p)

    # -- simulation ------------------------------------------------------------------------
    def _simulate(self, singles, doubles, *, cells: int, control: int, seed: int, prefix: str,
                  keep_true: bool = False):  # fmt: skip
        import warnings

        from ..sim import simulate_preset

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # sd of 1-cell groups
            adata = simulate_preset(
                "epistasis", grn=self.grn, singles=list(singles), doubles=list(doubles),
                cells_per_condition=cells, n_control_cells=control, seed=seed,
                keep_true_expression=keep_true, technical_noise=_noise(),
            )  # fmt: skip
        return adata if prefix is None else _slim(adata, prefix)

    def _true_profiles(self, singles, doubles) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The expected readout: ``{label: (profile, control)}``, pseudobulk profiles
        (counts per 10,000) of ``truth_cells`` cells per condition, simulated in chunks
        of 25 conditions, each chunk with its own control arm of ``5 * truth_cells``."""
        n = int(self.spec.params["truth_cells"])
        conds = [(g,) for g in singles] + [tuple(d) for d in doubles]
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for k, lo in enumerate(range(0, len(conds), 25)):
            chunk = conds[lo : lo + 25]
            adata = self._simulate(
                [c[0] for c in chunk if len(c) == 1], [c for c in chunk if len(c) > 1],
                cells=n, control=5 * n, seed=_seed(self.spec.seed, 2, k), prefix=None,
            )  # fmt: skip
            x = _cp10k(adata)
            lab = adata.obs[PERTURBATION_KEY].astype(str).to_numpy()
            control = x[lab == CONTROL].mean(axis=0)
            for c in chunk:
                label = join_perturbation(c)
                out[label] = (x[lab == label].mean(axis=0), control)
        return out

    def _true_scores(
        self, labels: list[str], truth: dict, singles: dict | None = None
    ) -> pd.Series:
        values = [
            float(self.phenotype.score(truth[lab][0][None, :], [lab], control=truth[lab][1],
                                       singles=singles)[0])
            for lab in labels
        ]  # fmt: skip
        return pd.Series(values, index=labels, name="phenotype")

    def _measure(self, labels, *, round, history):
        singles = [lab for lab in labels if len(split_perturbation(lab)) == 1]
        doubles = [split_perturbation(lab) for lab in labels if len(split_perturbation(lab)) > 1]
        p = self.spec.params
        n = int(p["single_cells"]) if round == 0 and "single_cells" in p else int(p["cells"])
        cells = self._simulate(singles, doubles, cells=n, control=int(p["control_cells"]),
                               seed=_seed(self.spec.seed, 3, round), prefix=f"r{round}-")  # fmt: skip
        x = _cp10k(cells)
        lab = cells.obs[PERTURBATION_KEY].to_numpy()
        control = x[lab == CONTROL].mean(axis=0)
        profiles = np.vstack([x[lab == label].mean(axis=0) for label in labels])
        n = [int((lab == label).sum()) for label in labels]
        singles_ = history.singles() if history is not None else {}
        values = self.phenotype.score(profiles, labels, control=control, singles=singles_)
        before = self._replicates_before(history)
        out = [
            Measurement(label, round, float(v), profiles[i], control, n[i], before.get(label, 0))
            for i, (label, v) in enumerate(zip(labels, values, strict=True))
        ]
        return out, cells

    def _setup(self, p: dict) -> None:
        raise NotImplementedError


_COMMON = {
    "n_genes": 200,
    "hill_n": 2.0,
    "cells": 100,
    "control_cells": 300,
    "observational_cells": 600,
    "readout_fraction": 0.5,
    "truth_cells": 1000,
    "hit_fraction": 0.05,
    "rounds": 6,
    "batch": 8,
}


class SimKnockoutScreen(_SimScreen):
    """Single-gene knockout screen on a simulated network; hits = largest transcriptional
    impact."""

    name = "sim_knockout"
    version = 1
    kind = "single"
    defaults: ClassVar[dict[str, Any]] = dict(_COMMON)

    def _setup(self, p: dict) -> None:
        self.phenotype = Impact(self.genes, self._readout)
        self.candidates = sorted(self.genes)
        self._truth = self._true_scores(self.candidates, self._true_profiles(self.candidates, []))
        self.description = (
            f"CRISPR knockout screen of all {len(self.candidates)} genes of a simulated "
            f"{len(self.genes)}-gene network (3 cell types, {p['cells']} cells per knockout). "
            f"Phenotype: {self.phenotype.describe()}. The {self.n_hits} knockouts with the "
            "largest true impact are the hits."
        )


class SimProgramScreen(_SimScreen):
    """Single-gene knockout screen on a simulated network; hits = largest change of a gene
    program's expression."""

    name = "sim_program"
    version = 1
    kind = "single"
    defaults: ClassVar[dict[str, Any]] = {**_COMMON, "program_size": 10, "cells": 200}

    def _setup(self, p: dict) -> None:
        check_number("program_size", p["program_size"], low=1, high=len(self.genes) - 1,
                     integer=True)  # fmt: skip
        import networkx as nx

        graph = nx.DiGraph(list(zip(self.grn.edges["regulator"], self.grn.edges["target"],
                                    strict=True)))  # fmt: skip
        graph.add_nodes_from(self.genes)
        n_anc = {g: len(nx.ancestors(graph, g)) for g in self.genes}
        order = sorted(self.genes, key=lambda g: (-n_anc[g], g))
        program = sorted(order[: int(p["program_size"])])
        self.phenotype = Program(self.genes, self._readout, program=program)
        self.candidates = sorted(g for g in self.genes if g not in set(program))
        self._truth = self._true_scores(self.candidates, self._true_profiles(self.candidates, []))
        self.description = (
            f"CRISPR knockout screen of the {len(self.candidates)} non-program genes of a "
            f"simulated {len(self.genes)}-gene network ({p['cells']} cells per knockout). "
            f"Phenotype: {self.phenotype.describe()} (the most regulated genes of the network)."
            f" The {self.n_hits} knockouts that move it most are the hits."
        )


class SimPairScreen(_SimScreen):
    """Combinatorial screen among hub regulators of a simulated network with strong
    epistasis; hits = the most synergistic or buffering pairs."""

    name = "sim_pairs"
    version = 1
    kind = "pair"
    defaults: ClassVar[dict[str, Any]] = {
        **_COMMON,
        "n_genes": 100,
        "hill_n": 6.0,
        "pool_size": 20,
        "cells": 200,
        "single_cells": 1000,
    }

    def _setup(self, p: dict) -> None:
        import networkx as nx

        check_number("pool_size", p["pool_size"], low=2, high=len(self.genes), integer=True)
        graph = nx.DiGraph(list(zip(self.grn.edges["regulator"], self.grn.edges["target"],
                                    strict=True)))  # fmt: skip
        graph.add_nodes_from(self.genes)
        n_desc = {g: len(nx.descendants(graph, g)) for g in self.genes}
        pool = sorted(sorted(self.genes, key=lambda g: (-n_desc[g], g))[: int(p["pool_size"])])
        self.pool = pool
        self.phenotype = Interaction(self.genes, self._readout)
        pairs = [(a, b) for i, a in enumerate(pool) for b in pool[i + 1 :]]
        self.candidates = [join_perturbation(pr) for pr in pairs]
        truth = self._true_profiles(pool, pairs)
        self._truth = self._true_scores(self.candidates, truth, {g: truth[g] for g in pool})
        self.description = (
            f"Combinatorial knockout screen of the {len(self.candidates)} pairs of {len(pool)} "
            f"hub regulators of a simulated {len(self.genes)}-gene network with switch-like "
            f"regulation (the 'epistasis' preset, Hill n = {p['hill_n']:g}); every single "
            f"knockout is measured before the screen. Phenotype: {self.phenotype.describe()}. "
            f"The {self.n_hits} pairs with the strongest true interaction are the hits."
        )

    def initial(self) -> tuple[list[Measurement], Any]:
        return self._measure(list(self.pool), round=0, history=None)
