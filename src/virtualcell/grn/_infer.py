"""The single entry point of GRN inference: :func:`infer`.

Input that lives in a file (a path to a ``.h5ad`` / ``.zarr`` store, or a backed AnnData)
is streamed by the method that can (``primed``: :func:`fit_primed_network_stream`, never
the whole matrix in memory); every other method needs the matrix in memory, so such input
is read whole when it is small (dense ``float64`` at most :data:`IN_MEMORY_LIMIT_BYTES`;
logged) and refused with one line naming the method otherwise. A path in another format
(a BEELINE folder, a table ...) has no row-chunked layout: it is read whole
(:func:`virtualcell.data.read`, logged) for every method.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import log
from ._base import GRNInput, Scores, edge_table, prepare, regulator_columns
from ._methods import METHODS

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["IN_MEMORY_LIMIT_BYTES", "STREAMING_METHODS", "infer"]

#: Methods that stream a file or backed AnnData instead of reading it whole.
STREAMING_METHODS = ("primed",)
#: A file given to a method that does not stream is read whole up to this dense size.
IN_MEMORY_LIMIT_BYTES = 2 * 1024**3


def infer(
    data: AnnData | pd.DataFrame | np.ndarray,
    *,
    method: str = "genie3",
    regulators: Iterable[str] | None = None,
    genes: Sequence[str] | None = None,
    layer: str | None = None,
    n_jobs: int = 1,
    seed: int = 0,
    max_edges: int | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Infer a gene regulatory network from expression data.

    Parameters
    ----------
    data
        AnnData (cells x genes; ``obs`` may hold ``PseudoTime*`` columns or
        ``perturbation`` labels used by the pseudotime- and perturbation-aware methods),
        a cells x genes DataFrame, an array (then ``genes`` names the columns), or a
        file: a path to a ``.h5ad`` / ``.zarr`` store or a backed AnnData. A file is
        streamed in cell chunks by ``primed`` (:data:`STREAMING_METHODS`; the same edges
        as in memory); other methods read it whole when its dense matrix is at most
        :data:`IN_MEMORY_LIMIT_BYTES` (logged) and refuse it otherwise.
    method
        A name from :data:`METHODS` (``vc.grn.METHODS.names()``).
    regulators
        Restrict candidate regulators (e.g. transcription factors); names not among the
        genes are ignored. ``None``: every gene may regulate every other gene.
    genes
        Column names when ``data`` is an array.
    layer
        AnnData layer to use instead of ``X``.
    n_jobs
        Worker processes for methods that loop over targets (tree ensembles); negative
        as in joblib (-1 = all CPUs).
    seed
        Random seed; the same seed gives the same table.
    max_edges
        Keep only the top edges.
    **kwargs
        Method options (see each method's docstring, e.g. ``n_estimators``).

    Returns
    -------
    pandas.DataFrame
        Columns ``regulator, target, score`` (and ``sign`` in {-1, 0, 1} when the method
        gives one), sorted by decreasing score, without self-loops.
    """
    fn = METHODS.get(method)
    _check_options(method, fn, kwargs)
    check_n_jobs(n_jobs)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError(f"seed must be a non-negative integer, got {seed!r}")
    if _is_file(data):
        if genes is not None:
            raise ValidationError("genes= names the columns of an array; a file has var_names")
        if isinstance(data, str | Path) and not Path(data).expanduser().exists():
            raise ValidationError(f"{data}: no such file or folder")
        if method in STREAMING_METHODS and _has_row_chunks(data):
            return _infer_streamed(data, regulators=regulators, layer=layer, n_jobs=n_jobs,
                                   seed=seed, max_edges=max_edges, **kwargs)  # fmt: skip
        data = _read_small(data, method, layer)
    prepared = prepare(data, genes=genes, regulators=regulators, layer=layer)
    scores = fn(prepared, n_jobs=n_jobs, seed=seed, **kwargs)
    return edge_table(prepared, scores, max_edges=max_edges)


def _is_file(data: object) -> bool:
    """A path, or an AnnData whose matrix stays in its file (backed)."""
    return isinstance(data, str | Path) or bool(getattr(data, "isbacked", False))


def _has_row_chunks(data: Any) -> bool:
    """A backed AnnData, a ``.h5ad`` file or a ``.zarr`` store: read in cell chunks."""
    if not isinstance(data, str | Path):
        return True
    path = Path(data).expanduser()
    return (path.is_file() and path.suffix == ".h5ad") or (path.is_dir() and path.suffix == ".zarr")


def _open(data: Any, layer: str | None) -> Any:
    from ..data import CellSource

    path = Path(data).expanduser() if isinstance(data, str | Path) else data
    return CellSource.open(path, layer=layer)


def _read_small(data: Any, method: str, layer: str | None) -> Any:
    """A file read whole for a method that does not stream, if it is small (any other
    format, e.g. a BEELINE folder or a table, has no row-chunked layout: read whole)."""
    if not _has_row_chunks(data):
        from ..data import read

        log(f"grn {method}: reading {data} into memory ({', '.join(STREAMING_METHODS)} "
            "streams .h5ad and .zarr only)")  # fmt: skip
        return read(Path(data).expanduser())
    with _open(data, layer) as cells:
        shape = (cells.n_obs, len(cells.var_names))
    size = 8.0 * shape[0] * shape[1]
    if size > IN_MEMORY_LIMIT_BYTES:
        raise ValidationError(
            f"GRN method {method!r} needs the matrix in memory ({shape[0]} cells x "
            f"{shape[1]} genes = {size / 1024**3:.1f} GiB dense) and does not stream; "
            f"{', '.join(map(repr, STREAMING_METHODS))} streams a file or backed AnnData"
        )
    where = data if isinstance(data, str | Path) else "the backed AnnData"
    log(f"grn {method}: reading {where} ({shape[0]} cells x {shape[1]} genes) into memory "
        f"(only {', '.join(STREAMING_METHODS)} streams)")  # fmt: skip
    if isinstance(data, str | Path):
        from ..data import read

        return read(Path(data).expanduser())
    return data.to_memory()


def _infer_streamed(
    data: Any,
    *,
    regulators: Iterable[str] | None,
    layer: str | None,
    n_jobs: int,
    seed: int,
    max_edges: int | None,
    prior: pd.DataFrame | str | None = "auto",
    groupby: str | None = "auto",
    reference: str | None = "auto",
    perturbed: str | None = None,
    chunk_cells: int = 5000,
    dask: str | Any | None = None,
) -> pd.DataFrame:
    """``primed`` on a file: the options decided from ``obs`` once (as in memory), the
    cells streamed (:func:`fit_primed_network_stream`)."""
    from ._primed import primed_inputs
    from ._stream import fit_primed_network_stream

    with _open(data, layer) as cells:
        names = [str(g) for g in cells.var_names]
        obs = cells.obs
        n_cells = cells.n_obs
    if len(set(names)) != len(names):
        dup = pd.Index(names)[pd.Index(names).duplicated()].unique()[:5].tolist()
        raise ValidationError(f"duplicate gene names: {dup}")
    where = data if isinstance(data, str | Path) else "the backed AnnData"
    regs = regulator_columns(names, regulators, where=f"the var_names of {where}")
    prior, groups, ref, per_cell = primed_inputs(
        obs, names, prior=prior, groupby=groupby, reference=reference, perturbed=perturbed
    )
    log(f"grn primed: streaming {where} ({n_cells} cells x {len(names)} genes, "
        f"{regs.size} regulators) in chunks of {chunk_cells} cells")  # fmt: skip
    source = Path(data).expanduser() if isinstance(data, str | Path) else data
    net = fit_primed_network_stream(
        source, regulators=[names[i] for i in regs], prior=prior, groupby=groups,
        reference=ref, layer=layer, seed=seed, chunk_cells=chunk_cells, n_jobs=n_jobs,
        dask=dask, perturbed=per_cell,
    )  # fmt: skip
    shape_only = GRNInput(X=np.empty((0, len(names))), genes=names, regulators=regs, obs=obs)
    scores = Scores(score=np.abs(net.coef), sign=np.sign(net.coef))
    return edge_table(shape_only, scores, max_edges=max_edges)


def check_n_jobs(n_jobs: object) -> int:
    """``n_jobs`` as joblib reads it: workers (>= 1) or, negative, all CPUs but
    ``-n_jobs - 1`` (-1 = all); 0 and non-integers are refused."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ValidationError(
            f"n_jobs must be a number of workers (>= 1, or -1 for all CPUs), got {n_jobs!r}"
        )
    return n_jobs


def _check_options(method: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Raise :class:`ValidationError` naming the options ``method`` does not take (a
    method that forwards ``**kw`` names the function it forwards to as ``options_of``)."""
    target = getattr(fn, "options_of", fn)
    params = inspect.signature(target).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # accepts anything: nothing to check
    known = [
        name
        for name, p in params.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("n_jobs", "seed", "resolve")
    ]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ValidationError(
            f"GRN method {method!r} has no option(s) {unknown}; its options are {known or 'none'}"
        )
