"""Reading the data of a perturbation task and its labels: :func:`read_data` (an AnnData,
a DREAM4 folder, a file or a registry name), :func:`standardize_labels` (any public
Perturb-seq label convention rewritten in the package grammar, ``control``, ``A``,
``A+B``) and :func:`read_capped` (at most so many cells per condition, read from an
``.h5ad`` / ``.zarr`` file in row chunks, so a screen larger than memory can be
evaluated).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import DataFormatError, ValidationError
from ..data import CONTROL, PERTURBATION_KEY

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["read_capped", "read_data", "standardize_conditions", "standardize_labels"]

#: Seed of the draw of :func:`read_capped` (fixed: every split seed and fold of a data
#: set sees the same cells).
CAP_SEED = 0


def _is_dream4(path: Path) -> bool:
    return path.is_dir() and (any(path.glob("*_knockouts.tsv")) or any(path.glob("*_wildtype.tsv")))


def read_data(data: Any) -> tuple[AnnData, str, bool]:
    """``(adata, name, is_dream4)`` for an AnnData, DREAM4 folder, file or registry name.

    Parameters
    ----------
    data
        An ``AnnData`` (used as is), a DREAM4 network folder (``*_knockouts.tsv`` ...),
        a file ``vc.data.read`` reads, or a ``vc.datasets`` registry name.

    Returns
    -------
    tuple of (AnnData, str, bool)
        The data, a display name (file or folder name, registry name, or the source path
        recorded in ``uns["vc"]``) and whether it is a DREAM4 folder.
    """
    import anndata as ad

    if isinstance(data, ad.AnnData):
        return data, str(data.uns.get("vc", {}).get("source", {}).get("path", "adata")), False
    text = str(data)
    path = Path(text).expanduser()
    if _is_dream4(path):
        from ..data import read_dream4

        return read_dream4(path), path.name, True
    if path.exists():
        from ..data import read

        return read(str(path)), path.name, False
    from ..datasets import load, names

    if text in names():
        return load(text), text, False
    raise DataFormatError(
        f"cannot read {text!r}: not a DREAM4 network folder, an existing file or a registry "
        f"dataset ({', '.join(names())})"
    )


def check_cap(value: int | None, option: str) -> int | None:
    """``value`` as a cell cap (``None``: no cap); a cap below 1 is refused, naming
    ``option``."""
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValidationError(f"{option} must be a whole number >= 1, got {value!r}")
    return int(value)


def read_capped(
    data: Any,
    *,
    max_cells: int | None,
    max_control_cells: int | None = None,
    perturbation_key: str | None = None,
    control: str | None = None,
    chunk: int = 20_000,
) -> tuple[AnnData, str, dict[str, Any]]:
    """At most ``max_cells`` cells of each perturbed condition and ``max_control_cells``
    control cells of ``data``, labelled in the package grammar.

    An ``.h5ad`` or ``.zarr`` file is never read whole: its ``obs`` is read, the labels
    are standardised (:func:`standardize_labels`, cells without a usable guide left
    out), the cells are drawn per condition (at random, seed :data:`CAP_SEED`: the same
    cells for every split seed and fold) and only those rows of the matrix are kept while
    it is read ``chunk`` rows at a time (:meth:`vc.data.CellSource.take`). Memory is the
    cells kept plus one chunk, not the file. Other inputs (an AnnData, a registry name,
    another format) are read as :func:`read_data` reads them and drawn from in memory.
    A condition with no more cells than its cap keeps all of them, so caps above every
    condition's size read exactly the data. Few control cells make every method look
    better: the control mean's noise is in every change, predicted and true, so it raises
    Pearson-delta (logged when controls are capped; ``docs/perturb.md``).

    Parameters
    ----------
    data
        A file, an AnnData or a registry name (not a DREAM4 folder: one profile per
        condition).
    max_cells
        Cells kept per perturbed condition (``None``: all).
    max_control_cells
        Control cells kept (``None``: all).
    perturbation_key, control
        As for :func:`standardize_labels`.
    chunk
        Rows read at a time from a file.

    Returns
    -------
    tuple of (AnnData, str, dict)
        The cells kept (``X``, ``obs``, ``var``, ``uns``), the data's display name and the
        label report of :func:`standardize_labels` with ``cells``: ``{"in_data",
        "read", "max_cells", "max_control_cells", "seed"}``.
    """
    import anndata as ad

    from .._utils import log
    from ..data import CellSource

    source, name = _file_source(data)
    if source is None:
        adata, name, dream4 = read_data(data)
        if dream4:
            raise ValidationError(
                f"{name}: max_cells / max_control_cells draw cells per condition; a DREAM4 "
                "folder has one profile per condition"
            )
        source = CellSource.open(adata)
    with source:
        positions = pd.Index([str(i) for i in range(source.n_obs)])
        shell = ad.AnnData(obs=source.obs.set_axis(positions, axis=0),
                           var=pd.DataFrame(index=pd.Index(source.var_names)))  # fmt: skip
        std, info = standardize_labels(
            shell, name=name, perturbation_key=perturbation_key, control=control
        )
        labels = std.obs[PERTURBATION_KEY].astype(str).to_numpy()
        chosen = _draw(labels, max_cells, max_control_cells, CAP_SEED)
        rows = std.obs_names[chosen].astype(int).to_numpy()
        out = source.take(rows, chunk=chunk)
    obs = std[chosen].copy().obs  # an anndata subset: no category without a cell
    obs.index = out.obs_names
    out.obs = obs
    info["cells"] = {"in_data": len(labels), "read": int(out.n_obs),
                     "max_cells": max_cells, "max_control_cells": max_control_cells,
                     "seed": CAP_SEED}  # fmt: skip
    log(
        f"perturb: kept {out.n_obs:,} of {len(labels):,} cells of {name} (at most "
        f"{'all' if max_cells is None else f'{max_cells:,}'} per perturbed condition, "
        f"{'all' if max_control_cells is None else f'{max_control_cells:,}'} controls; "
        f"seed {CAP_SEED})"
    )
    if max_control_cells is not None and (labels == CONTROL).sum() > max_control_cells:
        log(
            f"perturb: note: {max_control_cells:,} control cells of {(labels == CONTROL).sum():,}: "
            "the control mean's noise is in every change, predicted and true, and raises "
            "every method's Pearson-delta; keep the controls many (docs/perturb.md)"
        )
    return out, name, info


#: How many times its matrix an evaluation holds at its peak, about (measured: 3.8 for
#: the baselines at 200,000 x 5,000; ``primed_network`` more, its network's statistics).
EVALUATION_FACTOR = 4


def _file_source(data: Any) -> tuple[Any, str | None]:
    """``(CellSource, file name)`` when ``data`` is an ``.h5ad`` file or a ``.zarr`` store
    (read in row chunks), else ``(None, None)``."""
    import anndata as ad

    from ..data import CellSource, detect_format

    if isinstance(data, ad.AnnData):
        return None, None
    path = Path(str(data)).expanduser()
    if path.exists() and not _is_dream4(path) and detect_format(path) in ("h5ad", "zarr"):
        return CellSource.open(path), path.name
    return None, None


def check_fits(data: Any) -> None:
    """Before a file is read whole: refuse one whose matrix alone is larger than the
    memory the machine has free, and log a warning when an evaluation (about
    :data:`EVALUATION_FACTOR` times the matrix) may not fit; both say how many cells
    ``--max-cells`` may keep. Nothing for other inputs, or where the free memory is not
    known."""
    from .._utils import available_memory, log

    free = available_memory()
    if free is None:
        return
    source, name = _file_source(data)
    if source is None:
        return
    with source:
        size, n = source.matrix_bytes, source.n_obs
    if size <= 0 or n == 0:
        return
    fit = int(free / EVALUATION_FACTOR / (size / n))
    gb = 2**30
    hint = (f"evaluate on cells drawn per condition and read in chunks: --max-cells N "
            f"(max_cells=N) with N x the number of conditions below about {fit:,} of its "
            f"{n:,} cells")  # fmt: skip
    if size > free:
        raise ValidationError(
            f"{name}: its matrix takes {size / gb:.1f} GB in memory, more than the "
            f"{free / gb:.1f} GB free on this machine; {hint}"
        )
    if EVALUATION_FACTOR * size > free:
        log(
            f"perturb: warning: {name} takes {size / gb:.1f} GB in memory and an evaluation "
            f"about {EVALUATION_FACTOR} times that, more than the {free / gb:.1f} GB free; "
            f"if it is killed for memory, {hint}"
        )


def _draw(labels: Any, max_cells: int | None, max_control_cells: int | None, seed: int) -> Any:
    """Sorted positions of the cells kept: per label (in sorted order) a random draw of
    its cap, all of a label within its cap."""
    import numpy as np

    rng = np.random.default_rng(seed)
    keep = np.ones(len(labels), dtype=bool)
    uniq, codes = np.unique(labels, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    for i, label in enumerate(uniq):
        cap = max_control_cells if label == CONTROL else max_cells
        rows = order[bounds[i] : bounds[i + 1]]
        if cap is None or len(rows) <= cap:
            continue
        keep[rows] = False
        keep[rng.choice(rows, size=cap, replace=False)] = True
    return np.flatnonzero(keep)


def standardize_labels(
    adata: AnnData,
    *,
    name: str = "data",
    perturbation_key: str | None = None,
    control: str | None = None,
) -> tuple[AnnData, dict[str, Any]]:
    """``adata`` (a new object sharing ``X``) with ``obs["perturbation"]`` in the package
    grammar, and what was detected.

    The labels are read from ``perturbation_key`` (default: detected,
    :func:`vc.data.detect_perturbation_key`: ``perturbation``, ``condition``,
    ``target_gene``, ``gene``, ``guide_ids`` ...) and rewritten by
    :func:`vc.data.standardize_perturbations` with ``control`` as one more control label
    and the measured genes (``var_names``) deciding how ``_`` splits. Cells without a
    usable guide (NaN, ``no_guide``, ``None``, ``unassigned``, ``multiplet`` ...:
    :data:`vc.data.UNASSIGNED_VALUES`) are neither controls nor perturbations: they are
    left out with one log line naming each such label and its number of cells. What was
    detected (column, separator, control labels, cells left out) is logged on stderr and
    returned.

    Parameters
    ----------
    adata
        Cells with perturbation labels in some ``obs`` column; not modified.
    name
        Name of the data in messages (e.g. the file name).
    perturbation_key
        ``obs`` column of the labels (``None``: detected); an absent column is refused.
    control
        Extra label that marks control cells (``None``: the standard spellings only); it
        must occur in the column when ``perturbation_key`` is given.

    Returns
    -------
    tuple of (AnnData, dict)
        The relabelled data (without unassigned cells) and the detection report
        (``column``, ``detected``, ``separator``, ``control_labels``,
        ``n_unlabelled_cells`` and ``unassigned``: label -> cells left out).

    Raises
    ------
    ValidationError
        The column or the control label is absent; every cell is unassigned; no control
        cells; a label cannot be read (:func:`vc.data.standardize_perturbations`).
    """
    import anndata as ad

    from .._utils import log
    from ..data import standardize_perturbations

    key = perturbation_key or "auto"
    if key != "auto" and key not in adata.obs.columns:
        raise ValidationError(
            f"{name}: obs has no column {key!r} (--perturbation-key); obs columns: "
            f"{', '.join(map(str, adata.obs.columns[:20]))}"
        )
    if control is not None and key != "auto":
        present = set(adata.obs[key].astype(str))
        if str(control) not in present:
            raise ValidationError(
                f"{name}: control label {control!r} (--control) is not a value of "
                f"obs[{key!r}] (e.g. {', '.join(sorted(present)[:5])})"
            )
    shell = ad.AnnData(obs=adata.obs.copy(), var=adata.var[[]].copy())
    shell = standardize_perturbations(
        shell, perturbation_key=key, key_added="perturbation_std", control=control,
        genes=list(map(str, adata.var_names)), inplace=True,
    )  # fmt: skip
    report = dict(shell.uns["vc"]["perturbation_labels"])
    mapping = report.pop("mapping")
    if control is not None and str(control) not in mapping:  # the detected column
        raise ValidationError(
            f"{name}: control label {control!r} (--control) is not a value of "
            f"obs[{report['column']!r}] (detected; e.g. {', '.join(sorted(mapping)[:5])})"
        )
    controls = sorted(k for k, v in mapping.items() if v == CONTROL)
    std = shell.obs["perturbation_std"]
    keep = std.notna().to_numpy()
    dropped = report["unassigned"]
    shown = ", ".join(f"{k!r} {n}" for k, n in list(dropped.items())[:8])
    if not keep.any():
        raise ValidationError(
            f"{name}: every cell of obs[{report['column']!r}] is unassigned ({shown}): no "
            "control and no perturbed cell; give the column of the guide calls with "
            "--perturbation-key COL"
        )
    if (std == CONTROL).sum() == 0:
        raise ValidationError(
            f"{name}: no control cells in obs[{report['column']!r}] (e.g. "
            f"{', '.join(repr(k) for k in list(mapping)[:5])}); give the control label "
            "with --control NAME"
        )
    out = adata[keep] if not keep.all() else adata
    out = ad.AnnData(X=out.X, obs=out.obs.copy(), var=out.var, uns=dict(adata.uns),
                     obsm=dict(out.obsm), layers=dict(out.layers))  # fmt: skip
    if report["column"] != PERTURBATION_KEY and PERTURBATION_KEY in out.obs:
        out.obs[f"{PERTURBATION_KEY}_original"] = out.obs[PERTURBATION_KEY]
    out.obs[PERTURBATION_KEY] = std[keep].astype(str).to_numpy()
    info = {
        "column": report["column"],
        "detected": perturbation_key is None,
        "separator": report["separator"],
        "control_labels": controls[:10],
        "n_conditions": report["n_conditions"],
        "n_control_cells": report["n_control_cells"],
        "n_unlabelled_cells": report["n_unmapped_cells"],
        "unassigned": dict(dropped),
    }
    changed = sum(1 for k, v in mapping.items() if v and str(k) != v)
    log(
        f"perturb: labels from obs[{info['column']!r}]"
        f"{' (detected)' if info['detected'] else ''}: controls {controls[:5]}, "
        f"{info['n_conditions'] - 1} perturbed conditions, combination separator "
        f"{info['separator'] or 'none'!r}, {changed} labels rewritten"
    )
    if dropped:
        log(
            f"perturb: left out {info['n_unlabelled_cells']} cells without a usable guide "
            f"(neither control nor a perturbation) in obs[{info['column']!r}]: {shown}"
            f"{', ...' if len(dropped) > 8 else ''}"
        )
    return out, info


def standardize_conditions(
    conditions: list[str],
    *,
    separator: str | None,
    genes: list[str],
    control: str | None = None,
) -> list[str]:
    """Conditions named by a user (``vcell perturb predict -p``) in the package grammar,
    read by the rules of the data's own labels (:func:`standardize_labels`): the data's
    combination ``separator`` (``A_B`` in a scPerturb file is ``A+B``; ``A+B`` is always
    understood), its control spellings (``ctrl``, ``non-targeting``, ``control``) and
    ``genes`` deciding how ``_`` splits.

    Raises
    ------
    ValidationError
        A condition that names nothing (empty, ``nan``).
    """
    import anndata as ad
    import pandas as pd

    from ..data import is_unassigned, standardize_perturbations
    from ._data import canonical

    shell = ad.AnnData(obs=pd.DataFrame({"label": [str(c) for c in conditions]},
                                        index=[str(i) for i in range(len(conditions))]))  # fmt: skip
    std = standardize_perturbations(
        shell, perturbation_key="label", separator_in=separator or None, control=control,
        genes=genes, key_added="std", inplace=True,
    ).obs["std"]  # fmt: skip
    out = []
    for given, value in zip(conditions, std, strict=True):
        if value is None or pd.isna(value):
            why = " (it labels cells without a guide)" if is_unassigned(given) else ""
            raise ValidationError(f"--perturbations: {given!r} names no condition{why}")
        out.append(canonical(value))
    return out
