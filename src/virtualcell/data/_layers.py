"""Which matrix of an AnnData a function reads: ``X``, a layer, or ``.raw``; and one rule
for "does this look like counts".

``layer=None`` is ``X``; ``layer="raw"`` is ``adata.raw.X`` (with ``adata.raw.var_names``)
unless a real layer is called ``raw``; any other name is ``adata.layers[name]``.

Counts rule (:func:`looks_like_counts`, used by validation, preprocessing and the PCA
baseline): a matrix looks like counts when it has an integer (or boolean) dtype, or when
at least 95 % of its non-zero finite values are whole numbers (and it has some);
:func:`is_integer_valued` is the exact test (every stored value whole) used where the
values are copied as counts. Both read at most ``sample`` stored values (the first
ones), so they cost the same on any size.

:func:`check_expression` is the check a command or model runs before it uses a matrix:
when ``X`` is not usable (scaled values below zero where counts are needed, as in
scanpy's ``pbmc68k_reduced``) the error says which layer or ``.raw`` to pass instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "COUNTS_WHOLE_FRACTION",
    "RAW",
    "Matrix",
    "check_expression",
    "is_integer_valued",
    "layer_alternatives",
    "looks_like_counts",
    "select_matrix",
    "whole_fraction",
]

#: An expression matrix: dense or sparse (``X``, a layer, ``.raw.X``).
Matrix = np.ndarray | sparse.spmatrix | sparse.sparray

#: ``layer=`` value that selects ``adata.raw.X``.
RAW = "raw"
#: Share of whole numbers among the non-zero finite values above which data looks like counts.
COUNTS_WHOLE_FRACTION = 0.95
_SAMPLE = 1_000_000


def _stored_values(X: Any, sample: int) -> np.ndarray:
    """The first ``sample`` stored values of a sparse matrix, or the first ``sample`` rows
    of a dense one, flattened."""
    if sparse.issparse(X):
        return np.asarray(X.data[:sample])
    return np.asarray(X)[:sample].ravel()


def whole_fraction(X: Matrix, *, sample: int = _SAMPLE) -> tuple[float, int]:
    """``(share of whole numbers, count)`` among the non-zero finite values of the first
    ``sample`` stored values of ``X``."""
    values = _stored_values(X, sample)
    if values.dtype.kind in "biu":
        n = int(np.count_nonzero(values))
        return 1.0, n
    values = values[np.isfinite(values) & (values != 0)]
    if values.size == 0:
        return 1.0, 0
    return float(np.mean(values == np.floor(values))), int(values.size)


def counts_rule(whole_share: float, n_nonzero: int, *, integer_dtype: bool) -> bool:
    """The one counts rule on precomputed tallies (see the module documentation)."""
    return bool(integer_dtype or (n_nonzero > 0 and whole_share >= COUNTS_WHOLE_FRACTION))


def looks_like_counts(X: Matrix, *, sample: int = _SAMPLE) -> bool:
    """Whether ``X`` looks like raw counts (module documentation: the counts rule)."""
    dtype = np.dtype(getattr(X, "dtype", np.float64))
    integer_dtype = dtype.kind in "biu"
    share, n = whole_fraction(X, sample=sample)
    return counts_rule(share, n, integer_dtype=integer_dtype)


def is_integer_valued(X: Matrix, *, sample: int = _SAMPLE) -> bool:
    """True when every one of the first ``sample`` stored values is a whole number."""
    values = _stored_values(X, sample)
    if values.size == 0 or values.dtype.kind in "biu":
        return True
    return bool(np.all(np.mod(values, 1) == 0))


def select_matrix(adata: AnnData, *, layer: str | None = None) -> tuple[Any, pd.Index]:
    """``(matrix, gene names)`` of ``X``, ``layers[layer]`` or ``.raw`` (``layer="raw"``).

    Raises
    ------
    ValidationError
        No such layer (the message lists the layers and whether ``.raw`` exists).
    """
    if layer is None:
        return adata.X, pd.Index(adata.var_names)
    if layer in adata.layers:
        return adata.layers[layer], pd.Index(adata.var_names)
    if layer == RAW and adata.raw is not None:
        return adata.raw.X, pd.Index(adata.raw.var_names)
    raise ValidationError(f"no layer {layer!r}; {_choices(adata)}")


def _choices(adata: AnnData) -> str:
    names = [*adata.layers.keys()] + ([RAW] if adata.raw is not None else [])
    return (
        f"available: {', '.join(repr(n) for n in names)}"
        if names
        else "the data has no layers or .raw"
    )


def layer_alternatives(
    adata: AnnData,
    *,
    need: Literal["counts", "non_negative"] = "non_negative",
    exclude: str | None = None,
) -> list[str]:
    """Layer names (and ``"raw"`` for ``.raw``) whose values meet ``need``: count-like
    and non-negative (``"counts"``) or only non-negative."""
    out = [
        str(name)
        for name in adata.layers.keys()
        if name != exclude and _usable(adata.layers[name], need)
    ]
    if adata.raw is not None and exclude != RAW and RAW not in out and _usable(adata.raw.X, need):
        out.append(RAW)
    return out


def _minimum(X: Any) -> float:
    values = _stored_values(X, _SAMPLE)
    values = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    return float(values.min()) if values.size else 0.0


def _usable(X: Any, need: str) -> bool:
    if X is None:
        return False
    if need == "counts":
        return _minimum(X) >= 0 and looks_like_counts(X)
    return _minimum(X) >= 0


def check_expression(
    adata: AnnData,
    *,
    layer: str | None = None,
    need: Literal["counts", "non_negative"] = "non_negative",
    what: str = "this step",
) -> None:
    """Refuse a matrix ``what`` cannot use, naming the layer to pass instead.

    ``need="non_negative"``: no negative values (scaled / centred data is refused);
    ``need="counts"``: also count-like (the counts rule). The message names the other
    layers or ``.raw`` that would do (``layer='raw'``; CLI ``--layer raw``).
    """
    X, _ = select_matrix(adata, layer=layer)
    if X is None:
        raise ValidationError(f"{what}: the data has no {'X' if layer is None else layer} matrix")
    where = "X" if layer is None else (f"layer {layer!r}" if layer != RAW else ".raw")
    minimum = _minimum(X)
    if minimum < 0:
        problem = f"{where} has negative values (min {minimum:.3g}: scaled or centred data)"
    elif need == "counts" and not looks_like_counts(X):
        share, _ = whole_fraction(X)
        problem = f"{where} does not look like counts ({100 * share:.0f}% whole numbers)"
    else:
        return
    alternatives = layer_alternatives(adata, need=need, exclude=layer)
    if alternatives:
        first = alternatives[0]
        hint = f"; pass layer={first!r} (vcell: --layer {first})" + (
            f" — also usable: {', '.join(alternatives[1:])}" if len(alternatives) > 1 else ""
        )
    else:
        hint = "; it has no layer or .raw with usable values: give raw counts"
    need_text = "raw counts" if need == "counts" else "non-negative expression"
    raise ValidationError(f"{what} needs {need_text} but {problem}{hint}")
