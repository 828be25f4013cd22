"""Validation of an expression matrix: precise problems, never a modified input.

:func:`validate` scans ``X`` (or a layer) in row chunks, dense or sparse (CSR / CSC /
backed), counting per cell and per gene: NaN, +-inf, negative values, non-whole values
and non-zero entries. From these it reports problems that name *where* they are (first
few cells / genes with their counts).

Counts rule: counts are expected when ``expect_counts=True``, or when
``expect_counts=None`` and ``X`` *looks like counts*: an integer dtype, or a float matrix
where at least 95 % of the non-zero finite values are whole numbers (and it has some).
When counts are expected, negative values (``negative_counts``) and non-whole values
(``non_integer_counts``) are errors. ``expect_counts=False`` switches both checks off.

Problem codes
-------------
Errors: ``unreadable``, ``no_data``, ``non_numeric``, ``nan``, ``inf``,
``negative_counts``, ``non_integer_counts``, ``implausible_counts`` (a count above
2**31 - 1, e.g. 1e30), ``empty_cells``, ``duplicate_genes``,
``duplicate_cells``, ``low_vocabulary_overlap``, ``empty_perturbation_label``,
``malformed_perturbation_label``.
Warnings: ``empty_genes`` (all-zero genes are common after subsetting),
``unsorted_perturbation_label``, ``no_control_cells``. ``strict=True`` turns warnings
into errors. Negative values in data that is not count-like (scaled, log-ratios) are
not a problem; the summary's ``min`` shows them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import DataFormatError, ValidationError
from ._checks import (
    Problem,
    check_matrix,
    check_names,
    check_perturbations,
    check_vocabulary,
    scan_matrix,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ._io import Format
    from ._tables import Orientation

__all__ = ["DEFAULT_MIN_VOCAB_FRACTION", "Problem", "ValidationReport", "validate"]

#: Default smallest share of the genes that must be in a given vocabulary.
DEFAULT_MIN_VOCAB_FRACTION = 0.5


@dataclass
class ValidationReport:
    """Result of :func:`validate`.

    Attributes
    ----------
    ok
        True when there is no error (warnings allowed).
    problems
        Errors first, then warnings.
    summary
        ``n_cells``, ``n_genes``, ``nnz``, ``sparsity`` (fraction of zeros), ``is_integer``
        (all finite values whole), ``looks_like_counts``, ``counts_expected``, ``min``,
        ``max``, ``dtype``, ``layer``.
    source
        The path or name validated, or ``None`` for an in-memory object.
    """

    ok: bool
    problems: list[Problem] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def errors(self) -> list[Problem]:
        """The problems with severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems with severity ``warning``."""
        return [p for p in self.problems if p.severity == "warning"]

    def raise_if_failed(self) -> None:
        """Raise :class:`~virtualcell.ValidationError` with the first error, if any."""
        if self.errors:
            first = self.errors[0]
            where = f"{self.source}: " if self.source else ""
            more = f" (+{len(self.errors) - 1} more errors)" if len(self.errors) > 1 else ""
            raise ValidationError(f"{where}{first.message}{more}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "ok": self.ok,
            "source": self.source,
            "summary": self.summary,
            "problems": [asdict(p) for p in self.problems],
        }

    def to_json(self) -> str:
        """The report as a JSON string."""
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    def describe(self) -> str:
        """One-line description of the data (shape, zeros, count-likeness, range)."""
        return _describe_summary(self.summary)

    def __str__(self) -> str:
        s = self.summary
        head = "valid" if self.ok else "INVALID"
        where = f"{self.source}: " if self.source else ""
        lines = [f"{head}: {where}" + _describe_summary(s)]
        lines += [f"  {p.severity} [{p.code}] {p.message}" for p in self.problems]
        return "\n".join(lines)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _describe_summary(s: dict[str, Any]) -> str:
    if "n_cells" not in s:
        return "no data"
    text = f"{s['n_cells']:,} cells x {s['n_genes']:,} genes"
    if "sparsity" in s:
        kind = "counts" if s.get("looks_like_counts") else "non-count values"
        text += f", {100 * s['sparsity']:.1f}% zeros, {kind}"
        if s.get("min") is not None:
            text += f" (range {s['min']:.4g}..{s['max']:.4g})"
    return text


def _open(source: str | Path, **read_options: Any) -> tuple[Any, str, list[Problem]]:
    """AnnData for a path (``.h5ad`` opened read-only, backed), or the reading problem."""
    import anndata as ad

    from ._errors_io import check_hdf5, reading
    from ._io import _names_checked_here, read
    from ._paths import check_input_path

    text = str(source)
    path = check_input_path(source)  # missing, a dataset name, a FIFO: raised, not reported
    try:
        fmt = read_options.get("format")
        if path.is_file() and fmt in (None, "h5ad") and path.suffix.lower() == ".h5ad":
            check_hdf5(path, "h5ad")
            with reading(path, "h5ad"), _names_checked_here():  # reported below, by name
                return ad.read_h5ad(path, backed="r"), text, []
        return read(path, **read_options), text, []
    except DataFormatError as err:
        return None, text, [Problem("unreadable", str(err), count=1)]


def validate(
    data: AnnData | str | Path,
    *,
    expect_counts: bool | None = None,
    vocabulary: Iterable[str] | None = None,
    min_vocab_fraction: float = DEFAULT_MIN_VOCAB_FRACTION,
    layer: str | None = None,
    strict: bool = False,
    format: Format | None = None,
    orientation: Orientation = "auto",
) -> ValidationReport:
    """Check an expression matrix and report every problem precisely.

    Parameters
    ----------
    data
        An AnnData, or a path given to :func:`~virtualcell.data.read` (``.h5ad`` files
        are opened read-only in backed mode and scanned in chunks). A file that cannot
        be read gives an ``unreadable`` error in the report; a missing path, a non-regular
        file or an object of another type raises. Registry datasets:
        ``validate(vc.datasets.read(name))``.
    expect_counts
        ``True``: ``X`` must hold non-negative whole numbers; ``False``: no count checks;
        ``None``: count checks apply when ``X`` looks like counts (module documentation).
    vocabulary
        Gene names the data should use (e.g. a tokenizer's vocabulary).
    min_vocab_fraction
        Smallest acceptable fraction of ``var_names`` found in ``vocabulary``.
    layer
        Check ``adata.layers[layer]`` instead of ``X``.
    strict
        Treat warnings as errors.
    format, orientation
        Reader options for a path (see :func:`~virtualcell.data.read`).

    Returns
    -------
    ValidationReport
        ``ok`` is False when any error was found; the input is never modified.
    """
    source = None
    opened = None
    if isinstance(data, str | os.PathLike):
        opened, source, problems = _open(data, format=format, orientation=orientation)
        if opened is None:
            return ValidationReport(ok=False, problems=problems, source=source)
    elif not all(hasattr(data, a) for a in ("X", "obs_names", "var_names", "layers")):
        raise ValidationError(
            "validate() takes an AnnData or a path to a data file, got "
            f"{type(data).__name__} {data!r:.60}"
        )
    adata = opened if opened is not None else data
    try:
        return _validate(
            adata, source, expect_counts, vocabulary, min_vocab_fraction, layer, strict
        )
    finally:
        if opened is not None and getattr(opened, "isbacked", False):
            opened.file.close()


def _with_layer_hint(problems: list[Problem], adata: Any, layer: str | None) -> list[Problem]:
    """Count problems name the layer / ``.raw`` that holds usable values, if any."""
    codes = {"negative_counts", "non_integer_counts"}
    if not any(p.code in codes for p in problems):
        return problems
    from ._layers import layer_alternatives

    try:
        others = layer_alternatives(adata, need="counts", exclude=layer)
    except Exception:  # a backed file: layers that cannot be read give no hint
        others = []
    if not others:
        return problems
    hint = f"; use layer={others[0]!r} instead (vcell: --layer {others[0]})"
    return [
        Problem(p.code, p.message + hint, p.severity, p.count) if p.code in codes else p
        for p in problems
    ]


def _validate(adata: Any, source: str | None, expect_counts: bool | None, vocabulary: Any,
              min_vocab_fraction: float, layer: str | None, strict: bool) -> ValidationReport:  # fmt: skip
    from ._layers import select_matrix

    problems: list[Problem] = []
    X, var_names = select_matrix(adata, layer=layer)  # layer="raw": adata.raw.X
    obs_names = pd.Index(adata.obs_names)
    n_vars = len(var_names)
    summary: dict[str, Any] = {
        "n_cells": int(adata.n_obs), "n_genes": int(n_vars), "layer": layer or "X",
    }  # fmt: skip
    if X is None or adata.n_obs == 0 or n_vars == 0:
        problems.append(Problem("no_data", (
            f"the matrix is empty or missing ({adata.n_obs} cells x {n_vars} genes)")))  # fmt: skip
    else:
        dtype = np.dtype(X.dtype)
        summary["dtype"] = str(dtype)
        if not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
            problems.append(Problem("non_numeric", f"X has non-numeric dtype {dtype}"))
        else:
            try:
                scan = scan_matrix(X, adata.n_obs, n_vars)
            except Exception as exc:  # a backed file that breaks part-way through
                from ._errors_io import describe_exception

                problems.append(Problem("unreadable", (
                    f"reading the matrix failed part-way: {describe_exception(exc)}")))  # fmt: skip
            else:
                problems += check_matrix(scan, obs_names, var_names, expect_counts, dtype, summary)
    problems = _with_layer_hint(problems, adata, layer)
    problems += check_names(var_names, "gene")
    problems += check_names(obs_names, "cell")
    if vocabulary is not None:
        problems += check_vocabulary(var_names, vocabulary, min_vocab_fraction)
    problems += check_perturbations(adata.obs)
    if strict:
        problems = [Problem(p.code, p.message, "error", p.count) for p in problems]
    problems.sort(key=lambda p: p.severity != "error")
    ok = not any(p.severity == "error" for p in problems)
    return ValidationReport(ok=ok, problems=problems, summary=summary, source=source)
