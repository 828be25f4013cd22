"""Screen environments: a hidden truth, a public view, noisy measurements and the history.

A :class:`ScreenEnv` holds the hidden truth of a screen (the true phenotype of every
candidate and the hit set) and answers :meth:`ScreenEnv.measure` with noisy measurements,
never with the truth. Policies see only the :class:`ScreenView` (spec, candidates,
observational data, readout, budget) and the :class:`History` of what was measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import check_number
from ..data import (
    PERTURBATION_KEY,
    PERTURBATION_TYPE_KEY,
    join_perturbation,
    split_perturbation,
)
from ._phenotypes import Phenotype

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["EnvSpec", "History", "Measurement", "ScreenEnv", "ScreenView", "canonical_label"]

#: Version of the environment specification format (``EnvSpec.to_dict``).
SPEC_FORMAT = 1


def canonical_label(label: object) -> str:
    """A perturbation label in the package grammar (``B+A`` -> ``A+B``)."""
    if not isinstance(label, str):
        raise ValidationError(f"a perturbation must be a label string, got {label!r}")
    return join_perturbation(split_perturbation(label))


@dataclass(frozen=True)
class EnvSpec:
    """The documented, versioned definition of one screen.

    Attributes
    ----------
    name
        Registry name of the environment.
    version
        Version of the environment's definition (bumped whenever the truth or the
        measurement of a given seed changes).
    kind
        ``single`` (single-gene perturbations) or ``pair`` (combinations).
    seed
        Seed of the hidden truth (network, program) and of the measurement noise.
    rounds, batch
        Default budget: ``rounds`` rounds of ``batch`` perturbations.
    params
        Every other parameter (sizes, cells per perturbation, noise, hit fraction ...).
    """

    name: str
    version: int
    kind: Literal["single", "pair"]
    seed: int
    rounds: int
    batch: int
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "seed": self.seed,
            "rounds": self.rounds,
            "batch": self.batch,
            "params": dict(self.params),
        }


@dataclass
class Measurement:
    """One measured perturbation.

    Attributes
    ----------
    perturbation
        The label (package grammar).
    round
        Round it was measured in (0: measured before the screen, e.g. the singles of a
        pair screen).
    phenotype
        The measured phenotype value (:meth:`Phenotype.score` of the measured profile).
    profile, control
        Mean measured profile and the mean profile of the same batch's control arm.
    n_cells
        Cells (or replicates) behind ``profile``.
    replicate
        0 for the first measurement of this perturbation, 1, 2 ... for repeats.
    """

    perturbation: str
    round: int
    phenotype: float
    profile: np.ndarray
    control: np.ndarray
    n_cells: int
    replicate: int = 0


@dataclass
class ScreenView:
    """What a policy may know about a screen (never the truth).

    Attributes
    ----------
    spec
        The environment spec.
    genes
        Measured genes.
    candidates
        Perturbations that may be proposed.
    observational
        Data available before the screen (control cells, or DREAM4's wild type and time
        series), an AnnData with ``obs["perturbation"]``.
    phenotype
        The readout (:mod:`._phenotypes`).
    n_hits
        How many true hits the screen has (the spec's hit fraction of the candidates).
    description
        One paragraph for people and agents.
    """

    spec: EnvSpec
    genes: list[str]
    candidates: list[str]
    observational: Any
    phenotype: Phenotype
    n_hits: int
    description: str = ""
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        return self.spec.kind


class History:
    """Everything measured so far in one screen (what :meth:`Policy.propose` receives).

    Parameters
    ----------
    screen
        The public view of the screen.
    budget
        ``(rounds, batch)`` of this run.
    """

    def __init__(self, screen: ScreenView, *, budget: tuple[int, int] | None = None) -> None:
        self.screen = screen
        self.budget = budget or (screen.spec.rounds, screen.spec.batch)
        self.measurements: list[Measurement] = []
        self.rounds: list[list[str]] = []  # proposals of rounds 1.. (round 0 not listed)
        self._cells: list[Any] = []
        #: Free storage for tools and policies that work on this one run.
        self.cache: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return (
            f"History({self.screen.spec.name!r}: {len(self.measured())} of "
            f"{len(self.screen.candidates)} candidates measured, round {self.round} of "
            f"{self.budget[0]})"
        )

    # -- filling (the runner) ------------------------------------------------------------
    def add(self, measurements: Sequence[Measurement], cells: Any = None) -> None:
        """Record measurements (and the measured cells, for predictors)."""
        self.measurements.extend(measurements)
        if cells is not None:
            self._cells.append(cells)

    # -- reading -------------------------------------------------------------------------
    @property
    def round(self) -> int:
        """Rounds completed so far."""
        return len(self.rounds)

    def measured(self) -> set[str]:
        """Candidates measured at least once (round-0 measurements excluded)."""
        cand = set(self.screen.candidates)
        return {m.perturbation for m in self.measurements if m.perturbation in cand}

    def remaining(self) -> list[str]:
        """Candidates not measured yet, in the screen's order."""
        done = self.measured()
        return [c for c in self.screen.candidates if c not in done]

    def table(self) -> pd.DataFrame:
        """One row per measurement: ``perturbation, round, phenotype, hit_score,
        n_cells, replicate``."""
        rows = [
            (m.perturbation, m.round, m.phenotype, m.n_cells, m.replicate)
            for m in self.measurements
        ]
        df = pd.DataFrame(
            rows, columns=["perturbation", "round", "phenotype", "n_cells", "replicate"]
        )
        df.insert(3, "hit_score", self.screen.phenotype.hit_score(df["phenotype"].to_numpy()))
        return df

    def scores(self, *, candidates_only: bool = True) -> pd.Series:
        """Mean measured hit score per perturbation (replicates averaged)."""
        df = self.table()
        if candidates_only:
            df = df[df["perturbation"].isin(set(self.screen.candidates))]
        return df.groupby("perturbation", sort=True)["hit_score"].mean()

    def profiles(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{perturbation: (mean profile, mean control)}`` over replicates."""
        acc: dict[str, list[Measurement]] = {}
        for m in self.measurements:
            acc.setdefault(m.perturbation, []).append(m)
        return {
            k: (np.mean([m.profile for m in v], axis=0), np.mean([m.control for m in v], axis=0))
            for k, v in acc.items()
        }

    def singles(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{gene: (mean profile, mean control)}`` of every measured single perturbation
        (what pair readouts compare a double with)."""
        return {k: v for k, v in self.profiles().items() if len(split_perturbation(k)) == 1}

    def adata(self) -> AnnData:
        """Observational data plus every measured cell, one AnnData with
        ``obs["perturbation"]`` / ``obs["perturbation_type"]`` (what the perturbation
        predictors of :mod:`virtualcell.perturb` fit on)."""
        import anndata as ad

        parts = [self.screen.observational, *self._cells]
        out = ad.concat(parts, join="inner", index_unique="-", merge=None)
        out.obs[PERTURBATION_KEY] = out.obs[PERTURBATION_KEY].astype(str)
        if PERTURBATION_TYPE_KEY in out.obs:
            out.obs[PERTURBATION_TYPE_KEY] = out.obs[PERTURBATION_TYPE_KEY].astype(str)
        return out


class ScreenEnv:
    """Base class of the screen environments.

    Subclasses set ``spec``, ``genes``, ``candidates``, ``observational``, ``phenotype``,
    the hidden true phenotype values (``_truth``, a Series over the candidates) and
    implement :meth:`_measure`.
    """

    spec: EnvSpec
    genes: list[str]
    candidates: list[str]
    observational: Any
    phenotype: Phenotype
    _truth: pd.Series
    description: str = ""

    # -- truth (the runner and the metrics only) -----------------------------------------
    @property
    def n_hits(self) -> int:
        frac = float(self.spec.params.get("hit_fraction", 0.05))
        return max(1, math.ceil(frac * len(self.candidates)))

    @property
    def hits(self) -> list[str]:
        """The true hits: the ``n_hits`` candidates with the largest true hit score
        (ties by label). Hidden from policies."""
        score = pd.Series(self.phenotype.hit_score(self._truth.to_numpy()), index=self._truth.index)
        order = score.sort_index().sort_values(ascending=False, kind="stable")
        return sorted(order.index[: self.n_hits])

    def truth(self) -> pd.Series:
        """The true phenotype of every candidate (for evaluation; hidden from policies)."""
        return self._truth.copy()

    # -- what policies see ----------------------------------------------------------------
    def view(self) -> ScreenView:
        """The public view (its cache is shared by every view of this environment, so
        policies run on the same environment reuse derived data such as the prior)."""
        if not hasattr(self, "_view_cache"):
            self._view_cache: dict[str, Any] = {}
        return ScreenView(
            spec=self.spec,
            genes=list(self.genes),
            candidates=list(self.candidates),
            observational=self.observational,
            phenotype=self.phenotype,
            n_hits=self.n_hits,
            description=self.description,
            cache=self._view_cache,
        )

    defaults: dict[str, Any] = {}  # noqa: RUF012  (subclasses set a ClassVar)

    def _options(self, seed: int, params: dict[str, Any]) -> dict[str, Any]:
        """Check ``seed`` and the option names; the defaults updated with ``params``
        (each subclass then checks the values)."""
        check_number("seed", seed, low=0, integer=True)
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValidationError(
                f"environment {self.spec_name()!r} has no option(s) {unknown}; its options "
                f"are {sorted(self.defaults)}"
            )
        p = {**self.defaults, **params}
        check_number("hit_fraction", p["hit_fraction"], low=0, high=1, low_open=True)
        for key in ("rounds", "batch"):
            check_number(key, p[key], low=1, integer=True)
        return p

    @classmethod
    def spec_name(cls) -> str:
        return str(getattr(cls, "name", cls.__name__))

    def initial(self) -> tuple[list[Measurement], Any]:
        """Measurements given before the screen starts (round 0) and their cells."""
        return [], None

    def measure(
        self, perturbations: Sequence[str], *, round: int, history: History | None = None
    ) -> tuple[list[Measurement], Any]:
        """Measure ``perturbations`` (a batch with its own control arm): the noisy
        measurements and the measured cells (an AnnData, or None)."""
        labels = [canonical_label(p) for p in perturbations]
        if not labels:
            return [], None
        return self._measure(labels, round=round, history=history)

    def _measure(self, labels, *, round, history) -> tuple[list[Measurement], Any]:
        raise NotImplementedError

    @staticmethod
    def _replicates_before(history: History | None) -> dict[str, int]:
        """How often each perturbation was measured before (the next replicate index)."""
        out: dict[str, int] = {}
        for m in history.measurements if history is not None else []:
            out[m.perturbation] = out.get(m.perturbation, 0) + 1
        return out

    def _rng(self, round: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([int(self.spec.seed), 17, round]))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.spec.name!r} v{self.spec.version}, seed "
            f"{self.spec.seed}: {len(self.candidates)} candidates, {self.n_hits} hits)"
        )
