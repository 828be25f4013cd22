"""Reading data sets, truths and regulator lists for GRN inference; writing edge tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .._errors import DataFormatError, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad

__all__ = ["load_dataset", "read_regulators", "write_edges"]

#: DREAM4 experiments used for inference: the noise-free dual-knockout profiles are a
#: bonus-round answer, not challenge data, so they are left out.
DREAM4_INFERENCE_EXPERIMENTS = ("wildtype", "knockout", "knockdown", "multifactorial", "timeseries")


def load_dataset(data: str | Path) -> ad.AnnData:
    """AnnData from a BEELINE folder, a DREAM4 network folder, a SERGIO data-set folder,
    an h5ad (or other file ``vc.data.read`` understands) or a registry name.

    Parameters
    ----------
    data
        A folder, a file or a registry dataset name.
    """
    from .. import data as vcdata
    from ._sergio import read_sergio

    path = Path(str(data)).expanduser()
    if path.is_dir():
        if (path / "ExpressionData.csv").is_file():
            return vcdata.read_beeline(path)
        if any(path.glob("simulated_noNoise_T_*.csv")):
            return read_sergio(path)
        if any(path.glob("*_knockouts.tsv")) or any(path.glob("*_wildtype.tsv")):
            return vcdata.read_dream4(path, experiments=DREAM4_INFERENCE_EXPERIMENTS)
    if hasattr(vcdata, "read"):
        from ..datasets import read

        return read(str(data))
    if path.is_file() and path.suffix == ".h5ad":
        import anndata as ad

        return ad.read_h5ad(path)
    raise DataFormatError(f"cannot read {data!r}: not a BEELINE/DREAM4/SERGIO folder or .h5ad file")


def read_regulators(path: str | Path) -> list[str]:
    """Regulator names from a text file: one per line, or a csv/tsv whose first column
    holds them (a header such as ``TF`` / ``gene`` / ``regulator`` is skipped).

    Parameters
    ----------
    path
        Text, csv or tsv file of regulator names.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"no such regulator file: {path}")
    names = []
    for i, line in enumerate(path.read_text().splitlines()):
        field = line.replace("\t", ",").split(",")[0].strip().strip('"')
        if not field or (i == 0 and field.lower() in {"tf", "gene", "regulator", "symbol", "name"}):
            continue
        names.append(field)
    if not names:
        raise DataFormatError(f"{path}: no regulator names found")
    return names


def write_edges(edges: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write an edge table as ``.csv`` / ``.tsv`` / ``.parquet`` (by suffix), atomically.

    Parameters
    ----------
    edges
        The edge table (``regulator``, ``target``, ``weight``, ...).
    path
        Output file; its suffix picks the format.
    overwrite
        Replace an existing file (refused otherwise: the output rule of
        ``virtualcell._utils.check_output``).

    Returns
    -------
    The path written.
    """
    from .._utils import atomic_path, check_output

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".tsv", ".parquet"}:
        raise ValidationError(f"--out must end in .csv, .tsv or .parquet, got {path.name!r}")
    check_output(path, overwrite=overwrite, kind="file")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as part:
        if suffix == ".parquet":
            edges.to_parquet(part, index=False)
        else:
            edges.to_csv(part, index=False, sep="\t" if suffix == ".tsv" else ",")
    return path
