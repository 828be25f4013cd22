"""Screen readouts: how a measured (or predicted) profile becomes one phenotype value.

Profiles are mean expression vectors in a linear space (the simulator's normalised counts,
counts per 10,000; DREAM4's levels); every readout is relative to the control profile of
the same batch, so it does not depend on that space's units. The *readout genes* ``R`` are
fixed per screen and public (for the built-in screens: the half of the genes with the
highest mean level in the observational data).

* :class:`Impact` (single-gene screens) — the transcriptional impact of a perturbation,
  ``sqrt(mean_{g in R \\ P} L_g^2)`` with ``L_g = log2((x_g + eps) / (c_g + eps))``, ``P``
  the perturbed genes, ``c`` the control profile and ``eps = 0.1 * median_{g in R} c_g``
  (a pseudocount that bounds a silenced gene's log fold change);
* :class:`Program` — the log2 fold change of a gene program's summed expression,
  ``log2((sum_{g in S} x_g + eps) / (sum_{g in S} c_g + eps))``, ``eps = 0.01 * sum c``;
  the hit score is its absolute value (both directions);
* :class:`Interaction` (pair screens) — the size of the non-additive part of a double:
  with ``d = log1p(x) - log1p(c)`` (each profile against the control of its own batch),
  ``r = d_AB - d_A - d_B`` and the score ``sqrt(mean_{g in R'} r_g^2)`` over ``R' = R``
  without ``A, B`` (0 = additive in log space; synergy and buffering both score high).
  For a single (measured before a pair screen) the value is its effect size,
  ``sqrt(mean_{g in R'} d_g^2)``.

Each readout also ranks candidates from a network alone (:meth:`Phenotype.prior`), for the
``prior`` policy: out-strength for :class:`Impact`, direct plus two-step strength into the
program for :class:`Program` (both summed over the genes of a combination), shared
targets for :class:`Interaction`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data import split_perturbation

__all__ = ["Impact", "Interaction", "Phenotype", "Program", "readout_genes"]


def readout_genes(levels: pd.Series, *, fraction: float = 0.5) -> list[str]:
    """The ``fraction`` of genes with the highest mean level (ties by name), sorted by name.

    Parameters
    ----------
    levels
        Mean level of each gene (indexed by gene name).
    fraction
        Share of the genes read out, in (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValidationError(f"readout fraction must be in (0, 1], got {fraction}")
    order = levels.sort_index().sort_values(ascending=False, kind="stable")
    k = max(1, round(fraction * len(order)))
    return sorted(map(str, order.index[:k]))


def _adjacency(edges: pd.DataFrame, genes: Sequence[str]) -> np.ndarray:
    """Non-negative ``regulator x target`` weights of an edge table (``score`` or 1),
    scaled to a maximum of 1."""
    idx = {g: i for i, g in enumerate(genes)}
    a = np.zeros((len(genes), len(genes)))
    if edges is None or not len(edges):
        return a
    w = np.abs(edges["score"].to_numpy(dtype=float)) if "score" in edges else np.ones(len(edges))
    for r, t, s in zip(edges["regulator"], edges["target"], w, strict=True):
        if r in idx and t in idx and r != t:
            a[idx[r], idx[t]] = max(a[idx[r], idx[t]], s)
    top = a.max()
    return a / top if top > 0 else a


@dataclass
class Phenotype:
    """Base of the screen readouts (module docstring).

    Attributes
    ----------
    genes
        All measured genes (the order of every profile).
    readout
        The readout genes ``R``.
    """

    name: ClassVar[str] = "phenotype"
    kind: ClassVar[Literal["single", "pair"]] = "single"
    genes: list[str]
    readout: list[str]
    _ridx: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        idx = {g: i for i, g in enumerate(self.genes)}
        missing = [g for g in self.readout if g not in idx]
        if missing:
            raise ValidationError(f"readout genes not among the measured genes: {missing[:5]}")
        self._ridx = np.array([idx[g] for g in self.readout], dtype=int)
        self._gidx = idx

    def describe(self) -> str:
        """One sentence for people and agents."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "readout": list(self.readout)}

    def _mask(self, label: str) -> np.ndarray:
        keep = np.zeros(len(self.genes), dtype=bool)
        keep[self._ridx] = True
        for g in split_perturbation(label):
            if g in self._gidx:
                keep[self._gidx[g]] = False
        return keep

    @staticmethod
    def _rows(profiles: np.ndarray, labels: Sequence[str], n_genes: int) -> np.ndarray:
        x = np.atleast_2d(np.asarray(profiles, dtype=float))
        if x.shape != (len(labels), n_genes):
            raise ValidationError(
                f"profiles must be {len(labels)} x {n_genes} (labels x genes), got {x.shape}"
            )
        return x

    def score(
        self,
        profiles: np.ndarray,
        labels: Sequence[str],
        *,
        control: np.ndarray,
        singles: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """The phenotype of each profile (rows of ``profiles``, one per label).

        ``control`` is the control profile of the same batch; ``singles`` maps a gene to
        ``(profile, control)`` of its single perturbation (pair readouts only).
        """
        raise NotImplementedError

    def hit_score(self, values: np.ndarray) -> np.ndarray:
        """How strongly each phenotype value counts as a hit (larger = stronger)."""
        return np.asarray(values, dtype=float)

    def prior(self, edges: pd.DataFrame, candidates: Sequence[str]) -> np.ndarray:
        """A network-only ranking score of each candidate (larger = more promising)."""
        raise NotImplementedError

    def _sum_over_genes(self, per_gene: np.ndarray, candidates: Sequence[str]) -> np.ndarray:
        """A per-gene score summed over each candidate's genes (0 for unknown genes)."""
        return np.array(
            [
                float(
                    sum(per_gene[self._gidx[g]] for g in split_perturbation(c) if g in self._gidx)
                )
                for c in candidates
            ]
        )


@dataclass
class Impact(Phenotype):
    """Transcriptional impact: RMS log2 fold change over the readout genes."""

    name: ClassVar[str] = "impact"
    kind: ClassVar[Literal["single", "pair"]] = "single"

    def describe(self) -> str:
        return (
            "transcriptional impact: root-mean-square log2 fold change vs control over "
            f"{len(self.readout)} readout genes (the perturbed genes left out); larger = "
            "stronger phenotype"
        )

    def score(self, profiles, labels, *, control, singles=None) -> np.ndarray:
        x = self._rows(profiles, labels, len(self.genes))
        c = np.asarray(control, dtype=float)
        eps = 0.1 * float(np.median(c[self._ridx]))
        eps = eps if eps > 0 else 1e-6
        lfc = np.log2((np.maximum(x, 0) + eps) / (np.maximum(c, 0) + eps))
        out = np.empty(len(labels))
        for i, lab in enumerate(labels):
            m = self._mask(lab)
            out[i] = float(np.sqrt(np.mean(lfc[i, m] ** 2))) if m.any() else 0.0
        return out

    def prior(self, edges, candidates) -> np.ndarray:
        strength = _adjacency(edges, self.genes).sum(axis=1)
        return self._sum_over_genes(strength, candidates)


@dataclass
class Program(Phenotype):
    """Log2 fold change of a gene program's summed expression (hits: both directions)."""

    name: ClassVar[str] = "program"
    kind: ClassVar[Literal["single", "pair"]] = "single"
    program: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        missing = [g for g in self.program if g not in self._gidx]
        if not self.program or missing:
            raise ValidationError(f"program genes must be measured genes; missing: {missing[:5]}")
        self._pidx = np.array([self._gidx[g] for g in self.program], dtype=int)

    def describe(self) -> str:
        return (
            f"program score: log2 fold change vs control of the summed expression of the "
            f"{len(self.program)} program genes {', '.join(self.program[:10])}; hits move it "
            "most in either direction"
        )

    def to_dict(self) -> dict:
        return {**super().to_dict(), "program": list(self.program)}

    def score(self, profiles, labels, *, control, singles=None) -> np.ndarray:
        x = self._rows(profiles, labels, len(self.genes))
        c = np.asarray(control, dtype=float)
        base = float(np.maximum(c[self._pidx], 0).sum())
        eps = 0.01 * base if base > 0 else 1e-6
        return np.log2((np.maximum(x[:, self._pidx], 0).sum(axis=1) + eps) / (base + eps))

    def hit_score(self, values) -> np.ndarray:
        return np.abs(np.asarray(values, dtype=float))

    def prior(self, edges, candidates) -> np.ndarray:
        a = _adjacency(edges, self.genes)
        reach = a[:, self._pidx].sum(axis=1) + 0.5 * (a @ a)[:, self._pidx].sum(axis=1)
        return self._sum_over_genes(reach, candidates)


@dataclass
class Interaction(Phenotype):
    """Genetic interaction of a pair: how far the double departs from additive singles."""

    name: ClassVar[str] = "interaction"
    kind: ClassVar[Literal["single", "pair"]] = "pair"

    def describe(self) -> str:
        return (
            "genetic interaction: root-mean-square departure of the double's log1p change "
            f"from the sum of its single changes over {len(self.readout)} readout genes; "
            "0 = additive, larger = more synergistic or buffering"
        )

    def score(self, profiles, labels, *, control, singles=None) -> np.ndarray:
        x = np.log1p(np.maximum(self._rows(profiles, labels, len(self.genes)), 0))
        c = np.log1p(np.maximum(np.asarray(control, dtype=float), 0))
        singles = singles or {}
        out = np.empty(len(labels))
        for i, lab in enumerate(labels):
            genes = split_perturbation(lab)
            m = self._mask(lab)
            d = x[i] - c
            if len(genes) >= 2:
                missing = [g for g in genes if g not in singles]
                if missing:
                    raise ValidationError(
                        f"{lab!r}: an interaction needs the singles measured "
                        f"(missing: {', '.join(missing)})"
                    )
                for g in genes:
                    prof, ctrl = singles[g]
                    d = d - (np.log1p(np.maximum(np.asarray(prof, dtype=float), 0))
                             - np.log1p(np.maximum(np.asarray(ctrl, dtype=float), 0)))  # fmt: skip
            out[i] = float(np.sqrt(np.mean(d[m] ** 2))) if m.any() else 0.0
        return out

    def prior(self, edges, candidates) -> np.ndarray:
        adj = _adjacency(edges, self.genes)
        a = adj > 0
        strength = adj.sum(axis=1)
        out = np.zeros(len(candidates))
        for i, lab in enumerate(candidates):
            genes = [g for g in split_perturbation(lab) if g in self._gidx]
            if len(genes) < 2:
                continue
            rows = a[[self._gidx[g] for g in genes]]
            shared = float(np.logical_and.reduce(rows, axis=0).sum())
            out[i] = shared + 0.01 * float(sum(strength[self._gidx[g]] for g in genes))
        return out
