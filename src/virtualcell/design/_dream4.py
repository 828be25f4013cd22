"""A knockout screen on a DREAM4 size-100 network (GeneNetWeaver, Marbach et al. 2010).

The oracle of truth is the challenge's own data: the 100 single-knockout profiles and the
20 noise-free dual-knockout profiles (bonus round) of one network are the candidates'
true profiles, the wild type is the control. A measurement draws ``replicates`` noisy
copies of the true profile, ``max(0, x * exp(sigma_mult * z1) + sigma_add * z2)`` with
standard normal ``z`` per gene and replicate (multiplicative and additive noise, as in
GeneNetWeaver's noise model), and a control arm of as many wild-type copies. The
observational data before the screen are the wild type and the 10 time series (210
profiles, type ``timeseries``); knockdowns are not given (they would reveal the knockouts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._errors import DatasetNotAvailableError, ValidationError
from .._utils import check_number
from ..data import CONTROL, PERTURBATION_KEY, PERTURBATION_TYPE_KEY
from ._env import EnvSpec, Measurement, ScreenEnv
from ._phenotypes import Impact, readout_genes

__all__ = ["Dream4Screen"]


def _network_folder(network: int, folder: str | Path | None) -> Path:
    if folder is not None:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise ValidationError(f"DREAM4 folder {path} does not exist")
        return path
    from .._settings import settings

    path = settings.reference_data(
        "grn", "dream4", "DREAM4_InSilico_Size100", f"insilico_size100_{network}"
    )
    if path is None:
        raise DatasetNotAvailableError(
            "the DREAM4 size-100 networks are not available: set VIRTUALCELL_DATA to the "
            "reference data folder (grn/dream4/...) or pass folder= a DREAM4 network folder"
        )
    return path


class Dream4Screen(ScreenEnv):
    """Knockout screen on a DREAM4 size-100 network (singles and dual knockouts);
    hits = largest transcriptional impact."""

    name = "dream4"
    version = 1
    kind = "single"
    defaults: ClassVar[dict[str, Any]] = {
        "network": None,
        "folder": None,
        "replicates": 2,
        "sigma_mult": 0.2,
        "sigma_add": 0.05,
        "readout_fraction": 0.5,
        "hit_fraction": 0.05,
        "rounds": 4,
        "batch": 4,
    }

    def __init__(self, *, seed: int = 0, **params: Any) -> None:
        from ..data import read_dream4

        p = self._options(seed, params)
        if p["network"] is None:
            p["network"] = 1 + int(seed) % 3
        check_number("network", p["network"], low=1, high=5, integer=True)
        check_number("replicates", p["replicates"], low=1, integer=True)
        check_number("sigma_mult", p["sigma_mult"], low=0)
        check_number("sigma_add", p["sigma_add"], low=0)
        folder = _network_folder(int(p["network"]), p["folder"])
        data = read_dream4(folder, experiments=["wildtype", "knockout", "timeseries",
                                                "dual_knockout"])  # fmt: skip
        self.genes = [str(g) for g in data.var_names]
        exp = data.obs["experiment"].astype(str).to_numpy()
        x = np.asarray(data.X, dtype=float)
        labels = data.obs[PERTURBATION_KEY].astype(str).to_numpy()
        wild = x[exp == "wildtype"].mean(axis=0)
        true = {
            labels[i]: x[i] for i in np.flatnonzero(np.isin(exp, ["knockout", "dual_knockout"]))
        }
        if not true:
            raise ValidationError(f"{folder}: no knockout profiles")
        singles = sorted((k for k in true if "+" not in k), key=_gene_order)
        doubles = sorted(k for k in true if "+" in k)
        self.candidates = singles + doubles
        obs_rows = np.isin(exp, ["wildtype", "timeseries"])
        self.observational = _profiles_adata(
            x[obs_rows], [CONTROL] * int(obs_rows.sum()),
            np.where(exp[obs_rows] == "wildtype", "control", "timeseries"), self.genes, "obs-",
        )  # fmt: skip
        levels = pd.Series(x[obs_rows].mean(axis=0), index=self.genes)
        self.phenotype = Impact(
            self.genes, readout_genes(levels, fraction=float(p["readout_fraction"]))
        )
        self._true = true
        self._wild = wild
        values = self.phenotype.score(np.vstack([true[c] for c in self.candidates]),
                                      self.candidates, control=wild)  # fmt: skip
        self._truth = pd.Series(values, index=self.candidates, name="phenotype")
        spec_params = {k: v for k, v in p.items() if k not in ("rounds", "batch")}
        spec_params["folder"] = folder.name
        self.spec = EnvSpec(self.name, self.version, self.kind, int(seed), int(p["rounds"]),
                            int(p["batch"]), spec_params)  # fmt: skip
        self.description = (
            f"Knockout screen on DREAM4 in-silico network {folder.name} ({len(self.genes)} "
            f"genes): {len(singles)} single and {len(doubles)} dual knockouts, each measured "
            f"as {p['replicates']} noisy replicates. Phenotype: {self.phenotype.describe()}. "
            f"The {self.n_hits} knockouts with the largest true impact are the hits."
        )

    def _noisy(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        p = self.spec.params
        z1 = rng.standard_normal((n, x.size))
        z2 = rng.standard_normal((n, x.size))
        return np.maximum(0.0, x[None, :] * np.exp(p["sigma_mult"] * z1) + p["sigma_add"] * z2)

    def _measure(self, labels, *, round, history):
        unknown = [lab for lab in labels if lab not in self._true]
        if unknown:
            raise ValidationError(f"no DREAM4 profile for {unknown[:5]}")
        rng = self._rng(round)
        n = int(self.spec.params["replicates"])
        ctrl_reps = self._noisy(self._wild, n, rng)
        reps = [self._noisy(self._true[lab], n, rng) for lab in labels]
        control = ctrl_reps.mean(axis=0)
        profiles = np.vstack([r.mean(axis=0) for r in reps])
        values = self.phenotype.score(profiles, labels, control=control)
        before = self._replicates_before(history)
        out = [
            Measurement(lab, round, float(v), profiles[i], control, n, before.get(lab, 0))
            for i, (lab, v) in enumerate(zip(labels, values, strict=True))
        ]
        cells = _profiles_adata(
            np.vstack([ctrl_reps, *reps]),
            [CONTROL] * n + [lab for lab in labels for _ in range(n)],
            ["control"] * n + ["knockout"] * (n * len(labels)),
            self.genes,
            f"r{round}-",
        )
        return out, cells


def _gene_order(label: str) -> tuple[int, str]:
    digits = "".join(ch for ch in label if ch.isdigit())
    return (int(digits) if digits else 0, label)


def _profiles_adata(x, labels, types, genes, prefix) -> Any:
    import anndata as ad

    obs = pd.DataFrame(
        {PERTURBATION_KEY: list(labels), PERTURBATION_TYPE_KEY: list(types)},
        index=[f"{prefix}{i}" for i in range(len(labels))],
    )
    return ad.AnnData(X=np.asarray(x, dtype=np.float64), obs=obs,
                      var=pd.DataFrame(index=pd.Index(genes, dtype=str)))  # fmt: skip
