"""Figures of closed-loop screens (``vc.pl``), drawn from ``vc.design`` results.

* :func:`discovery_curves` — the cumulative hit rate per round of each policy, mean over
  seeds with a band of one standard deviation (or min-max).

They only draw; the numbers come from :func:`vc.design.run_screen` /
:func:`vc.design.compare` (``ScreenResult`` objects or their ``to_dict()``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import ValidationError
from ._base import figure_params, finish, new_axes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["discovery_curves"]


def _field(result: Any, key: str) -> Any:
    if isinstance(result, Mapping):
        if key not in result:
            raise ValidationError(f"a screen result has no {key!r} (got keys {sorted(result)})")
        return result[key]
    if not hasattr(result, key):
        raise ValidationError(f"a screen result has no {key!r}: got {type(result).__name__}")
    return getattr(result, key)


@figure_params
def discovery_curves(
    results: Sequence[Any],
    *,
    env: str | None = None,
    band: Literal["sd", "range", "none"] = "sd",
    x: Literal["round", "measured"] = "round",
    title: str | None = None,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Figure:
    """Discovery curves per policy: cumulative hit rate after each round, mean over seeds.

    Parameters
    ----------
    results
        Screen results (``vc.design.ScreenResult`` or their ``to_dict()``) of one
        environment (or pass ``env`` to pick one) and one budget.
    env
        Draw only the results of this environment.
    band
        ``sd``: mean ± one standard deviation over seeds; ``range``: min to max;
        ``none``: the mean only.
    x
        ``round`` (1..R) or ``measured`` (perturbations measured: round x batch).
    title
        Axes title (default: the environment's name and the number of seeds).
    Returns
    -------
    The figure (the caller's, when ``ax`` is given).
    """
    if band not in ("sd", "range", "none"):
        raise ValidationError(f"band must be 'sd', 'range' or 'none', got {band!r}")
    if x not in ("round", "measured"):
        raise ValidationError(f"x must be 'round' or 'measured', got {x!r}")
    rows = [r for r in results if env is None or _field(r, "env") == env]
    if not rows:
        raise ValidationError(
            "no screen results to plot" + (f" for environment {env!r}" if env else "")
        )
    envs = sorted({str(_field(r, "env")) for r in rows})
    if len(envs) > 1:
        raise ValidationError(f"results of several environments {envs}: pass env= one of them")
    groups: dict[str, list[np.ndarray]] = {}
    batch: dict[str, int] = {}
    for r in rows:
        name = str(_field(r, "policy"))
        groups.setdefault(name, []).append(np.asarray(_field(r, "curve"), dtype=float))
        batch[name] = int(_field(r, "batch"))
    fig, ax = new_axes(ax, figsize=(5.5, 4.0))
    seeds = 0
    for i, (name, curves) in enumerate(groups.items()):
        lengths = {len(c) for c in curves}
        if len(lengths) > 1:
            raise ValidationError(f"policy {name!r}: curves of different budgets {sorted(lengths)}")
        arr = np.vstack(curves)
        seeds = max(seeds, arr.shape[0])
        steps = np.arange(1, arr.shape[1] + 1) * (batch[name] if x == "measured" else 1)
        mean = arr.mean(axis=0)
        color = f"C{i % 10}"
        ax.plot(steps, mean, marker="o", ms=3, color=color, label=f"{name} (n={arr.shape[0]})")
        if band != "none" and arr.shape[0] > 1:
            if band == "sd":
                sd = arr.std(axis=0, ddof=1)
                lo, hi = mean - sd, mean + sd
            else:
                lo, hi = arr.min(axis=0), arr.max(axis=0)
            ax.fill_between(steps, np.clip(lo, 0, 1), np.clip(hi, 0, 1), color=color,
                            alpha=0.15, linewidth=0)  # fmt: skip
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round" if x == "round" else "perturbations measured")
    ax.set_ylabel("cumulative hit rate")
    ax.set_ylim(0, 1.02)
    ax.set_title(title if title is not None else f"{envs[0]} ({seeds} seeds)", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.grid(alpha=0.3, linewidth=0.5)
    return finish(fig, path, overwrite=overwrite)
