"""The single entry point of GRN inference: :func:`infer`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._base import edge_table, prepare
from ._methods import METHODS

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["infer"]


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
        a cells x genes DataFrame, or an array (then ``genes`` names the columns).
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
    prepared = prepare(data, genes=genes, regulators=regulators, layer=layer)
    scores = fn(prepared, n_jobs=n_jobs, seed=seed, **kwargs)
    return edge_table(prepared, scores, max_edges=max_edges)


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
