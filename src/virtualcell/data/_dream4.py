"""DREAM4 in-silico network folders -> one AnnData of all profiles.

A network folder (``insilico_size10_1/``) holds tab-separated files with a header
``"G1" ... "Gn"``:

* ``*_wildtype.tsv``: 1 steady state of the unperturbed network;
* ``*_knockouts.tsv`` / ``*_knockdowns.tsv``: n rows, row i = gene ``Gi`` knocked out
  (expression set to 0) / knocked down (transcription halved);
* ``*_multifactorial.tsv``: steady states under small random changes of many genes'
  basal rates (size-10 networks only; the size-100 multifactorial challenge renamed the
  genes, so it is *not* merged here);
* ``*_timeseries.tsv``: a ``"Time"`` column, then blocks of 21 time points (0..1000)
  separated by blank lines; an unnamed perturbation acts during the first half;
* ``*_dualknockouts_indexes.tsv``: pairs ``G_i  G_j`` (1-based gene indices) whose double
  knockout was asked for; their noise-free profiles are the bonus-round gold files
  ``insilico_sizeN_K_nonoise_dualknockouts.tsv`` (no header, same row order), found in the
  folder or in a ``gold/`` folder beside the challenge folders;
* gold standard ``DREAM4_GoldStandard_InSilico_SizeN_K.tsv``: ``Gi  Gj  1|0`` (same
  places).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._errors import DataFormatError
from ._beeline import read_network
from ._conventions import CONTROL, join_perturbation
from ._errors_io import numeric_values, reading

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["DREAM4_EXPERIMENTS", "Experiment", "find_dream4_gold", "read_dream4"]

Experiment = Literal[
    "wildtype", "knockout", "knockdown", "multifactorial", "timeseries", "dual_knockout"
]
DREAM4_EXPERIMENTS: tuple[str, ...] = (
    "wildtype", "knockout", "knockdown", "multifactorial", "timeseries", "dual_knockout"
)  # fmt: skip
_SUFFIX = {
    "wildtype": "_wildtype.tsv",
    "knockout": "_knockouts.tsv",
    "knockdown": "_knockdowns.tsv",
    "multifactorial": "_multifactorial.tsv",
    "timeseries": "_timeseries.tsv",
}
_NETWORK = re.compile(r"size(\d+)_(\d+)", re.IGNORECASE)


def _find(folder: Path, suffix: str) -> Path | None:
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.name.lower().endswith(suffix):
            return entry
    return None


def _network_id(name: str) -> tuple[int, int] | None:
    match = _NETWORK.search(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_dream4_gold(folder: str | Path, kind: Literal["network", "dual_knockouts"]) -> Path | None:
    """Locate a network's gold-standard file (edges or noise-free dual knockouts).

    Looks in the folder itself, then in ``gold/`` folders next to it and up to two levels
    above it, then under the reference data (``settings.data_dir/grn/dream4/gold``).
    """
    from .._settings import settings

    folder = Path(folder)
    ident = _network_id(folder.name)
    if ident is None:
        return None
    places = [folder]
    for parent in (folder.parent, folder.parent.parent, folder.parent.parent.parent):
        places += [parent / "gold", parent]
    ref = settings.reference_data("grn", "dream4", "gold")
    if ref is not None:
        places.append(ref)
    for place in places:
        if not place.is_dir():
            continue
        for entry in sorted(place.iterdir()):
            name = entry.name.lower()
            if not entry.is_file() or _network_id(name) != ident:
                continue
            if "multifactorial" in name:  # size-100 multifactorial renamed the genes
                continue
            if kind == "network" and "goldstandard" in name:
                return entry
            if kind == "dual_knockouts" and name.endswith("nonoise_dualknockouts.tsv"):
                return entry
    return None


def _read_profiles(path: Path) -> pd.DataFrame:
    with reading(path, "a DREAM4 table"):
        table = pd.read_csv(path, sep="\t", header=0, skip_blank_lines=True)
    table.columns = [str(c).strip().strip('"') for c in table.columns]
    return table


def _check_genes(table: pd.DataFrame, genes: list[str], path: Path) -> np.ndarray:
    columns = [c for c in table.columns if c != "Time"]
    if columns != genes:
        raise DataFormatError(f"{path}: gene columns {columns[:5]}... differ from {genes[:5]}...")
    return numeric_values(table[genes], path, dtype="float64", what="a DREAM4 table")


def _read_pairs(path: Path, n_genes: int) -> np.ndarray:
    """The 1-based gene index pairs of a dual-knockout index file, checked: whole numbers
    within ``1..n_genes`` (the error names the line and column)."""
    with reading(path, "a DREAM4 dual-knockout index file"):
        table = pd.read_csv(path, sep="\t", header=0, dtype=str, keep_default_na=False)
    table.columns = [str(c).strip().strip('"') for c in table.columns]
    if table.shape[1] != 2:
        raise DataFormatError(f"{path}: expected 2 columns (G_i, G_j), found {table.shape[1]}")
    values = numeric_values(table, path, what="a DREAM4 dual-knockout index file")
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 1) | (values > n_genes)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataFormatError(
            f"{path}: gene index {table.iat[row, col]!r} at line {row + 2}, column "
            f"{table.columns[col]!r} is outside 1..{n_genes} (the network has {n_genes} genes)"
        )
    return values.astype(int)


def read_dream4(
    folder: str | Path,
    *,
    experiments: Iterable[Experiment] | None = None,
    include_negatives: bool = False,
) -> ad.AnnData:
    """Read one DREAM4 in-silico network folder into a single AnnData.

    Parameters
    ----------
    folder
        A network folder such as ``DREAM4_InSilico_Size10/insilico_size10_1``.
    experiments
        Subset of ``wildtype``, ``knockout``, ``knockdown``, ``multifactorial``,
        ``timeseries``, ``dual_knockout`` (default: all that are present).
    include_negatives
        Keep the gold standard's listed non-edges in ``uns["true_network"]`` (``label``
        column), see :func:`~virtualcell.data.read_network`.

    Returns
    -------
    AnnData
        Rows = profiles in the order above, columns = genes ``G1..Gn``. ``obs`` columns:

        ``experiment``
            one of the experiment names above.
        ``perturbation``
            ``"control"`` for wildtype, multifactorial and time series (their
            perturbations are not named in the data), ``"G3"`` for a single knockout /
            knockdown, ``"G10+G3"`` (sorted) for a dual knockout.
        ``perturbation_type``
            ``control``, ``knockout``, ``knockdown``, ``multifactorial`` or
            ``timeseries``.
        ``timeseries``, ``time``
            series number (1-based) and time point for time-series rows; -1 / NaN
            elsewhere.
        ``noise_free``
            True for the dual knockouts (bonus-round gold profiles are noise-free ODE
            steady states; all others carry DREAM4's noise).

        ``uns["true_network"]`` is the gold-standard edge table when found;
        ``uns["dream4"]`` records network size and number and the files used.
    """
    import anndata as ad

    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"no such DREAM4 folder: {folder}")
    wanted = tuple(experiments) if experiments is not None else DREAM4_EXPERIMENTS
    unknown = [e for e in wanted if e not in DREAM4_EXPERIMENTS]
    if unknown:
        raise DataFormatError(
            f"unknown DREAM4 experiment(s) {unknown}; choose from {', '.join(DREAM4_EXPERIMENTS)}"
        )
    files = {key: _find(folder, suffix) for key, suffix in _SUFFIX.items()}
    reference = files["wildtype"] or files["knockout"] or files["knockdown"]
    if reference is None:
        raise DataFormatError(
            f"{folder} is not a DREAM4 network folder: no *_wildtype.tsv / *_knockouts.tsv"
        )
    genes = [c for c in _read_profiles(reference).columns if c != "Time"]
    blocks: list[np.ndarray] = []
    meta: list[pd.DataFrame] = []
    used: dict[str, str] = {}

    def add(values: np.ndarray, experiment: str, perts: list[str], ptype: list[str], names: list[str],
            series: np.ndarray | None = None, time: np.ndarray | None = None, noise_free: bool = False) -> None:  # fmt: skip
        n = values.shape[0]
        blocks.append(values)
        meta.append(
            pd.DataFrame(
                {
                    "experiment": experiment,
                    "perturbation": perts,
                    "perturbation_type": ptype,
                    "timeseries": series if series is not None else np.full(n, -1),
                    "time": time if time is not None else np.full(n, np.nan),
                    "noise_free": noise_free,
                },
                index=names,
            )
        )

    n_genes = len(genes)
    for experiment in ("wildtype", "knockout", "knockdown", "multifactorial"):
        path = files[experiment]
        if experiment not in wanted or path is None:
            continue
        values = _check_genes(_read_profiles(path), genes, path)
        used[experiment] = path.name
        n = values.shape[0]
        if experiment == "wildtype":
            add(values, experiment, [CONTROL] * n, ["control"] * n,
                ["wildtype" if n == 1 else f"wildtype_{i + 1}" for i in range(n)])  # fmt: skip
        elif experiment in ("knockout", "knockdown"):
            if n != n_genes:
                raise DataFormatError(f"{path}: {n} rows, expected one per gene ({n_genes})")
            add(values, experiment, list(genes), [experiment] * n,
                [f"{experiment}_{g}" for g in genes])  # fmt: skip
        else:
            add(values, experiment, [CONTROL] * n, ["multifactorial"] * n,
                [f"multifactorial_{i + 1}" for i in range(n)])  # fmt: skip
    path = files["timeseries"]
    if "timeseries" in wanted and path is not None:
        table = _read_profiles(path)
        if "Time" not in table.columns:
            raise DataFormatError(f"{path}: no Time column")
        time = table["Time"].to_numpy(dtype=float)
        series = np.cumsum(np.r_[True, np.diff(time) < 0]).astype(np.int64)
        values = _check_genes(table, genes, path)
        names = [f"timeseries_{s}_t{t:g}" for s, t in zip(series, time, strict=True)]
        n = len(time)
        add(values, "timeseries", [CONTROL] * n, ["timeseries"] * n, names, series, time)
        used["timeseries"] = path.name
    if "dual_knockout" in wanted:
        index_file = _find(folder, "_dualknockouts_indexes.tsv")
        profile_file = find_dream4_gold(folder, "dual_knockouts")
        pairs = _read_pairs(index_file, n_genes) if index_file is not None else None
        if index_file is not None and profile_file is None:
            warnings.warn(
                f"{folder.name}: dual-knockout pairs listed but their noise-free profiles "
                "(insilico_*_nonoise_dualknockouts.tsv) were not found; skipping them",
                UserWarning,
                stacklevel=2,
            )
        elif index_file is not None and profile_file is not None:
            assert pairs is not None
            with reading(profile_file, "DREAM4 dual-knockout profiles"):
                table = pd.read_csv(profile_file, sep="\t", header=None)
            values = numeric_values(
                table, profile_file, first_line=1, what="DREAM4 dual-knockout profiles"
            )
            if values.shape != (len(pairs), n_genes):
                raise DataFormatError(
                    f"{profile_file}: shape {values.shape} does not match {len(pairs)} pairs "
                    f"in {index_file.name} x {n_genes} genes"
                )
            perts = [join_perturbation(genes[i - 1] for i in pair) for pair in pairs]
            n = len(perts)
            add(values, "dual_knockout", perts, ["knockout"] * n,
                [f"dual_knockout_{p}" for p in perts], noise_free=True)  # fmt: skip
            used["dual_knockout"] = f"{index_file.name} + {profile_file.name}"
    if not blocks:
        raise DataFormatError(f"{folder}: none of the experiments {list(wanted)} found")
    obs = pd.concat(meta)
    obs["experiment"] = pd.Categorical(obs["experiment"], categories=list(DREAM4_EXPERIMENTS))
    obs["perturbation_type"] = obs["perturbation_type"].astype("category")
    obs["timeseries"] = obs["timeseries"].astype(np.int64)
    obs["noise_free"] = obs["noise_free"].astype(bool)
    adata = ad.AnnData(
        X=np.vstack(blocks), obs=obs, var=pd.DataFrame(index=pd.Index(genes, dtype=str))
    )
    gold = find_dream4_gold(folder, "network")
    if gold is not None:
        adata.uns["true_network"] = read_network(gold, include_negatives=include_negatives)
        used["gold_standard"] = gold.name
    ident = _network_id(folder.name)
    adata.uns["dream4"] = {
        "network": folder.name,
        "size": ident[0] if ident else n_genes,
        "index": ident[1] if ident else 0,
        "files": used,
    }
    adata.uns["vc"] = {"source": {"path": str(folder), "format": "dream4"}}
    return adata
