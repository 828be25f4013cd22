"""Norman et al. (2019) genetic-interaction table -> interaction modes of their doubles.

``regr_fits_final.csv`` (Perturbseq_GI repository, ``data_sharing/``) has one row per
double perturbation ``name = "A_B"`` with the fits of the double's mean expression change
on the two single changes; ``ts_coef_first`` / ``ts_coef_second`` are the Theil-Sen
coefficients ``c_A``, ``c_B`` of ``delta_AB ≈ c_A delta_A + c_B delta_B``, the model of
:func:`vc.metrics.interaction_fit`. :func:`read_norman_gi` turns them into the same
``magnitude = sqrt((c_A^2 + c_B^2)/2)`` and mode (:func:`vc.metrics.mode_of_magnitude`),
so a prediction on Norman's expression data (``vc.datasets.norman2019``) can be classified
with :func:`vc.metrics.interaction_mode` — fitted on the observed single profiles — and
compared with these labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import DataFormatError
from ..data import join_perturbation

__all__ = ["read_norman_gi"]

_COLUMNS = ("name", "ts_coef_first", "ts_coef_second")


def read_norman_gi(
    path: str | Path, *, tolerance: float = 0.25, suppression: float = 0.5
) -> pd.DataFrame:
    """Read Norman's ``regr_fits_final.csv`` (or its folder) into interaction modes.

    Parameters
    ----------
    path
        The csv file, or the folder holding ``regr_fits_final.csv``.
    tolerance
        Largest departure of the interaction magnitude from 1 still called additive
        (``vc.metrics.mode_of_magnitude``).
    suppression
        Magnitude below which a double is called suppressive
        (``vc.metrics.mode_of_magnitude``).

    Returns
    -------
    DataFrame indexed by the canonical label ``A+B``: ``gene_first``, ``gene_second``,
    ``coef_first``, ``coef_second`` (Theil-Sen), ``magnitude``, ``mode``, plus Norman's
    ``corr_fit`` and ``dcor`` when present.
    """
    from ..metrics import mode_of_magnitude

    path = Path(path)
    if path.is_dir():
        path = path / "regr_fits_final.csv"
    if not path.is_file():
        raise DataFormatError(f"no Norman GI table at {path}")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: not a csv table ({err})") from None
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise DataFormatError(f"{path}: lacks column(s) {missing} of Norman's regr_fits_final.csv")
    genes = table["name"].astype(str).str.split("_", n=1, expand=True)
    if genes.shape[1] != 2 or genes.isna().any().any():
        raise DataFormatError(f"{path}: names must look like 'GENEA_GENEB'")
    c1 = table["ts_coef_first"].to_numpy(dtype=float)
    c2 = table["ts_coef_second"].to_numpy(dtype=float)
    mag = np.sqrt((c1**2 + c2**2) / 2.0)
    out = pd.DataFrame(
        {
            "gene_first": genes[0].to_numpy(),
            "gene_second": genes[1].to_numpy(),
            "coef_first": c1,
            "coef_second": c2,
            "magnitude": mag,
            "mode": [
                mode_of_magnitude(m, tolerance=tolerance, suppression=suppression) for m in mag
            ],
        },
        index=pd.Index(
            [join_perturbation([a, b]) for a, b in zip(genes[0], genes[1], strict=True)],
            name="perturbation",
        ),
    )
    for col in ("corr_fit", "dcor"):
        if col in table.columns:
            out[col] = table[col].to_numpy(dtype=float)
    return out
