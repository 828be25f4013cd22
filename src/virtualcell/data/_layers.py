"""Which matrix of an AnnData a function reads: ``X``, a layer, or ``.raw``; one rule for
"does this look like counts"; and one function, :func:`expression`, that every task calls
at its entry to get the matrix in a declared space (counts or not, how normalised:
``log1p(x / library * 1e4)``, or the median library size where declared).

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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import ValidationError
from .._utils import doc_params

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "COUNTS_WHOLE_FRACTION",
    "LOG_MAX",
    "RAW",
    "SPACE_COUNTS",
    "SPACE_INPUT",
    "SPACE_LOG",
    "SPACE_LOG_MEDIAN",
    "TARGET_SUM",
    "Expression",
    "Matrix",
    "check_expression",
    "expression",
    "is_integer_valued",
    "layer_alternatives",
    "log1p_normalize",
    "looks_like_counts",
    "select_matrix",
    "space_name",
    "value_kind",
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
    """Whether ``X`` looks like raw counts (module documentation: the counts rule).

    Parameters
    ----------
    X
        Dense or sparse matrix (``X``, a layer, ``.raw.X``).
    sample
        At most this many stored values (the first ones) are read.
    """
    dtype = np.dtype(getattr(X, "dtype", np.float64))
    integer_dtype = dtype.kind in "biu"
    share, n = whole_fraction(X, sample=sample)
    return counts_rule(share, n, integer_dtype=integer_dtype)


def is_integer_valued(X: Matrix, *, sample: int = _SAMPLE) -> bool:
    """True when every one of the first ``sample`` stored values is a whole number.

    Parameters
    ----------
    X
        Dense or sparse matrix (``X``, a layer, ``.raw.X``).
    sample
        At most this many stored values (the first ones) are read.
    """
    values = _stored_values(X, sample)
    if values.size == 0 or values.dtype.kind in "biu":
        return True
    return bool(np.all(np.mod(values, 1) == 0))


@doc_params
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


@doc_params
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

    Parameters
    ----------
    need
        ``"non_negative"``: no negative values; ``"counts"``: also count-like.
    what
        Name of the calling step, for the message.
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


# -- the expression space: one decision at the entry of every task ---------------------------
#: Counts (and linear non-count values) are scaled to this total per cell before ``log1p``.
TARGET_SUM = 1e4
#: Non-integer values above this maximum are linear (not yet logged): ``log1p(1e6)``, the
#: ``vc.pp`` rule for "already log-transformed".
LOG_MAX = float(np.log1p(1e6))
#: Declared space of a matrix passed through as given (already log-normalised, or
#: ``space="input"``).
SPACE_INPUT = "input"
#: Declared space of ``log1p(x / library * 1e4)`` (the default).
SPACE_LOG = "log1p_cp10k"
#: Declared space of ``log1p(x / library * median library)`` (``target_sum="median"``).
SPACE_LOG_MEDIAN = "log1p_median"
#: Declared space of raw counts (``space="counts"``).
SPACE_COUNTS = "counts"

ValueKind = Literal["counts", "linear", "log"]


@dataclass(frozen=True)
class Expression:
    """A matrix in a declared space, as :func:`expression` returns it.

    Attributes
    ----------
    X
        The matrix (CSR or dense ``cells x genes``).
    genes
        Its gene names (``adata.raw.var_names`` for ``layer="raw"``).
    space
        ``"log1p_cp10k"`` (:data:`SPACE_LOG`), ``"log1p_median"``, ``"log1p_per_<n>"``
        (another ``target_sum``), ``"counts"`` or ``"input"`` (values as given).
    source
        What the selected matrix held (:func:`value_kind`): ``"counts"``, ``"linear"``
        (non-integer values above ``log1p(1e6)``) or ``"log"``.
    layer
        The matrix read (``None`` = ``X``).
    target_sum
        The per-cell total used before ``log1p`` (the median resolved to its number);
        ``None`` when nothing was normalised.
    library
        Per-cell totals of the selected matrix when it was normalised, else ``None``.
    """

    X: Any
    genes: pd.Index
    space: str
    source: str
    layer: str | None = None
    target_sum: float | None = None
    library: np.ndarray | None = field(default=None, repr=False)

    @property
    def normalized(self) -> bool:
        """True when this function scaled and logged the values."""
        return self.target_sum is not None

    @property
    def counts(self) -> bool:
        """True when the selected matrix looked like counts (:func:`looks_like_counts`)."""
        return self.source == "counts"


def value_kind(X: Matrix, *, sample: int = _SAMPLE) -> ValueKind:
    """``"counts"`` (:func:`looks_like_counts`), ``"linear"`` (non-integer values whose
    maximum exceeds :data:`LOG_MAX`, i.e. normalised but not logged) or ``"log"``.

    Parameters
    ----------
    X
        Dense or sparse matrix (``X``, a layer, ``.raw.X``).
    sample
        At most this many stored values (the first ones) are read.
    """
    if looks_like_counts(X, sample=sample):
        return "counts"
    values = _stored_values(X, sample)
    values = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    return "linear" if values.size and float(values.max()) > LOG_MAX else "log"


def space_name(target_sum: float | Literal["median"]) -> str:
    """The declared space of ``log1p(x / library * target_sum)``."""
    if isinstance(target_sum, str):
        return SPACE_LOG_MEDIAN
    return SPACE_LOG if float(target_sum) == TARGET_SUM else f"log1p_per_{float(target_sum):g}"


def log1p_normalize(
    X: Matrix,
    *,
    target_sum: float | Literal["median"] = TARGET_SUM,
    dtype: Any = np.float32,
) -> tuple[Any, np.ndarray, float]:
    """The one normalisation: ``log1p(x / library * target_sum)`` per cell.

    Parameters
    ----------
    X
        Non-negative ``cells x genes`` values (dense or sparse; not modified).
    target_sum
        Total each cell is scaled to; ``"median"``: the median library size of the cells
        with any counts (scanpy ``normalize_total``'s default). Cells with no counts stay 0.
    dtype
        Floating type of the result and of the arithmetic.

    Returns
    -------
    tuple
        ``(matrix, library sizes, target_sum used)``; the matrix is CSR for sparse input
        and dense otherwise.
    """
    if sparse.issparse(X):
        m = sparse.csr_matrix(X, dtype=dtype, copy=True)
        library = np.asarray(m.sum(axis=1), dtype=np.float64).ravel()
    else:
        m = np.array(X, dtype=dtype, copy=True)
        library = m.sum(axis=1, dtype=np.float64)
    if isinstance(target_sum, str):
        if target_sum != "median":
            raise ValidationError(f"target_sum must be a number or 'median', not {target_sum!r}")
        positive = library[library > 0]
        total = float(np.median(positive)) if positive.size else 1.0
    else:
        total = float(target_sum)
        if not np.isfinite(total) or total <= 0:
            raise ValidationError(f"target_sum must be > 0, got {target_sum!r}")
    scale = np.divide(total, library, out=np.zeros_like(library), where=library > 0).astype(dtype)
    if sparse.issparse(m):  # one product with the per-cell scale (sparse stays sparse)
        m = sparse.csr_matrix(sparse.diags(scale) @ m)
        m.data = np.log1p(m.data)
    else:  # x / library * target_sum, in that order (the dense rule the tasks had)
        lib = np.where(library > 0, library, 1.0).astype(dtype)
        np.divide(m, lib[:, None], out=m)
        m *= np.dtype(dtype).type(total)
        np.log1p(m, out=m)
    return m, library, total


def _check_values(X: Any, where: str, adata: AnnData, layer: str | None, what: str) -> None:
    values = X.data if sparse.issparse(X) else np.asarray(X)
    if values.size == 0 or values.dtype.kind not in "fc":
        if values.size and values.min() < 0:
            check_expression(adata, layer=layer, what=what)
        return
    if not np.all(np.isfinite(values)):
        raise ValidationError(f"{what}: {where} holds NaN or infinite values")
    if values.min() < 0:
        check_expression(adata, layer=layer, what=what)  # names the layer to pass instead


def expression(
    adata: AnnData,
    *,
    layer: str | None = None,
    space: Literal["log1p", "counts", "input"] = "log1p",
    target_sum: float | Literal["median"] = TARGET_SUM,
    normalize: bool | None = None,
    sparse_output: bool | None = None,
    dtype: Literal["float32", "float64"] | None = None,
    what: str = "expression",
) -> Expression:
    """The matrix a task reads and its declared space: the one place that decides which
    matrix, counts or not, and how it is normalised.

    Parameters
    ----------
    adata
        Annotated data matrix (cells x genes).
    layer
        Matrix to read: ``None`` = ``X``, a name = ``adata.layers[name]``, ``"raw"`` =
        ``adata.raw.X`` (:func:`select_matrix`).
    space
        ``"log1p"``: count-like values (:func:`looks_like_counts`) and linear ones
        (non-integer, maximum above ``log1p(1e6)``) become ``log1p(x / library *
        target_sum)``; values that are already logged pass as given (space
        ``"input"``). ``"counts"``: the raw counts, refused unless count-like.
        ``"input"``: the values as given, unchecked.
    target_sum
        Per-cell total before ``log1p``: ``1e4`` (per 10,000, the default everywhere) or
        ``"median"`` (the median library size, declared as space ``"log1p_median"``).
    normalize
        ``space="log1p"`` only: ``None`` decides by the rule above, ``True`` / ``False``
        force it (e.g. to score a truth in the space its training data had).
    sparse_output
        ``True``: CSR; ``False``: dense; ``None``: CSR when normalised or sparse in, dense
        otherwise.
    dtype
        ``None``: float32 when normalised, float64 otherwise.
    what
        Name of the calling step in error messages.

    Returns
    -------
    Expression
        The matrix, its genes, its declared ``space`` and ``source`` kind, and the
        ``library`` sizes when normalised.

    Raises
    ------
    ValidationError
        No such layer; NaN or infinite values; negative values (scaled or centred data:
        the message names a layer or ``.raw`` that would do); ``space="counts"`` on
        values that are not count-like.
    """
    X, genes = select_matrix(adata, layer=layer)
    where = "X" if layer is None else (".raw" if layer == RAW else f"layer {layer!r}")
    if X is None:
        raise ValidationError(f"{what}: the data has no {where} matrix")
    if hasattr(X, "to_memory"):  # backed / lazy arrays
        X = X.to_memory()
    if not sparse.issparse(X) and np.asarray(X).dtype == np.float16:
        X = np.asarray(X, dtype=np.float32)  # half precision files: scipy.sparse has no float16
    if space == "input":
        return Expression(X, genes, SPACE_INPUT, value_kind(X), layer)
    if space not in ("log1p", "counts"):
        raise ValidationError(f"space must be 'log1p', 'counts' or 'input', not {space!r}")
    _check_values(X, where, adata, layer, what)
    kind = value_kind(X)
    if space == "counts":
        if kind != "counts":
            check_expression(adata, layer=layer, need="counts", what=what)
        return Expression(X, genes, SPACE_COUNTS, kind, layer)
    scale = kind != "log" if normalize is None else bool(normalize)
    want_sparse = (scale or sparse.issparse(X)) if sparse_output is None else sparse_output
    out_dtype = (
        np.dtype(dtype) if dtype is not None else np.dtype(np.float32 if scale else np.float64)
    )
    if scale:
        if want_sparse and not sparse.issparse(X):
            X = sparse.csr_matrix(X)
        elif not want_sparse and sparse.issparse(X):
            X = X.toarray()  # the dense output is computed densely (the dense rule)
        m, library, total = log1p_normalize(X, target_sum=target_sum, dtype=out_dtype)
        space_out, kept = space_name(target_sum), (library, total)
    else:
        m, space_out, kept = X, SPACE_INPUT, None
    if want_sparse:
        m = sparse.csr_matrix(m, dtype=out_dtype)
    else:
        m = np.asarray(m.toarray() if sparse.issparse(m) else m, dtype=out_dtype)
    if kept is None:
        return Expression(m, genes, space_out, kind, layer)
    return Expression(m, genes, space_out, kind, layer, kept[1], kept[0])
