"""The one plotting contract of ``vc.pl``.

Every figure function has the form ``f(obj, *, ax=None, path=None, ...) -> Figure``:

- it draws what it is given and computes nothing heavy (results are computed by the task
  functions first, then plotted);
- with ``ax`` it draws into that axes (a panel of the caller's figure), otherwise it
  makes its own :class:`matplotlib.figure.Figure` — without ``pyplot``'s global state and
  without switching the backend, so notebooks keep their inline plots and loops leak no
  figures;
- with ``path`` the figure is saved atomically (format from the suffix: png, pdf, svg),
  under the package's one output rule (:func:`virtualcell._utils.check_output`): an
  existing file is replaced only with ``overwrite=True``, checked before it is written.

Helpers here implement that contract once: :func:`new_axes` and :func:`finish`; the
contract's three parameters are described once, in :data:`FIGURE_PARAMS`, and written
into every figure function's ``Parameters`` section by :data:`figure_params`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ValidationError
from .._utils import atomic_path, check_output, doc_params

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_PARAMS",
    "FIGURE_SUFFIXES",
    "figure_params",
    "finish",
    "new_axes",
    "new_figure",
]

#: File suffixes :func:`finish` can write.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")

#: The plotting contract's parameters, described once for every figure function.
FIGURE_PARAMS: dict[str, str] = {
    "ax": (
        "Matplotlib axes to draw into (a panel of the caller's figure); ``None``: a new "
        "figure of the function's own size."
    ),
    "path": (
        "Save the figure there, atomically (format from the suffix: ``.png``, ``.pdf`` or "
        "``.svg``); ``None``: not saved."
    ),
    "overwrite": "Replace an existing file at ``path`` (refused otherwise: the output rule).",
}

#: Decorator documenting ``ax``, ``path`` and ``overwrite`` (and the shared parameters of
#: :data:`virtualcell._utils.SHARED_PARAMS`) of a figure function.
figure_params = doc_params(**FIGURE_PARAMS)


def new_figure(*, figsize: tuple[float, float] = (6.0, 4.0), **kwargs: Any) -> Figure:
    """A figure that belongs to no pyplot state machine (no backend switch)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained", **kwargs)


def new_axes(ax: Axes | None, *, figsize: tuple[float, float] = (6.0, 4.0)) -> tuple[Figure, Axes]:
    """``(figure, axes)``: the caller's ``ax`` and its figure, or a new pair."""
    if ax is not None:
        return ax.get_figure(root=True) if _has_root_kw(ax) else ax.get_figure(), ax
    fig = new_figure(figsize=figsize)
    return fig, fig.add_subplot()


def _has_root_kw(ax: Axes) -> bool:
    import inspect

    try:
        return "root" in inspect.signature(ax.get_figure).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def finish(
    fig: Figure, path: str | os.PathLike[str] | None, *, dpi: int = 120, overwrite: bool = False
) -> Figure:
    """Save ``fig`` atomically to ``path`` (when given) and return it; an existing file is
    replaced only with ``overwrite`` (the output rule)."""
    if path is not None:
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in FIGURE_SUFFIXES:
            raise ValidationError(
                f"cannot save a figure as {target.name!r}: use one of {', '.join(FIGURE_SUFFIXES)}"
            )
        check_output(
            target, overwrite=overwrite, kind="file", name="path",
            hint="pass overwrite=True to replace it",
        )  # fmt: skip
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, format=suffix[1:])
    return fig
