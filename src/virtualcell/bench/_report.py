"""The benchmark report: ``report.html`` (self-contained: figures embedded as base64
PNG, inline CSS, no script, nothing fetched) and ``report.md`` for terminals, both from
Jinja2 templates in ``templates/`` and the leaderboards of :mod:`._stats`."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._utils import atomic_path, markdown_table, write_text
from ._stats import ALPHA, breakdown, leaderboard, min_wilcoxon_p
from ._task import Task

if TYPE_CHECKING:  # pragma: no cover
    from ._runner import BenchResult

__all__ = ["render", "write_report"]


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return "—"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 10**-digits):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}"


def _pm(mean: Any, sd: Any) -> str:
    if sd is None or (isinstance(sd, float) and math.isnan(sd)):
        return _num(mean)
    m = _num(mean)
    # the sd with the mean's decimals (a tiny sd shows as 0.000, not in e-notation)
    decimals = len(m.split(".")[1]) if "." in m and "e" not in m else 3
    return f"{m} ± {float(sd):.{decimals}f}"


def _int(v: Any) -> int | str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(x) else round(x)


def _pct(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{100 * float(v):+.1f}%"


def _kind(row: Mapping[str, Any]) -> str:
    if row.get("method") == "reference_solver":  # a scripted upper bound, not a method
        return "reference_solver"
    if row.get("reference"):
        return "baseline (reference)"
    if row.get("baseline"):
        return "baseline"
    return "peer" if row.get("peer") else "virtualcell"


def _rank(row: Mapping[str, Any]) -> int | str:
    """``3`` for a method with full coverage; ``2 of 10 on its groups`` otherwise."""
    rank = row.get("rank")
    if rank is not None and not (isinstance(rank, float) and math.isnan(rank)):
        return int(rank)
    within = row.get("rank_in_groups")
    if within is None or (isinstance(within, float) and math.isnan(within)):
        return "—"
    return f"({int(within)} of {int(row.get('n_in_groups', 0))} on its groups)"


def _comparison_lines(info: Mapping[str, Any]) -> list[str]:
    """Which methods were compared on which groups, one line per group set."""
    out = []
    n_all = len(info.get("groups", []))
    for c in info.get("comparisons", []):
        groups = c["groups"]
        where = (
            f"all {n_all} groups ({', '.join(groups)})"
            if len(groups) == n_all
            else f"{len(groups)} of {n_all} groups ({', '.join(groups)})"
        )
        ref = c["reference"] or "none (no baseline covers these groups)"
        line = f"on {where}, reference {ref}: ranked {', '.join(c['ranked'])}"
        others = [m for m in c["methods"] if m not in c["ranked"]]
        if len(groups) < n_all and others:
            line += f" (against {', '.join(others)} on the same groups)"
        out.append(line)
    return out


def _task_section(table: pd.DataFrame, task: Task, manifest: dict[str, Any]) -> dict[str, Any]:
    board, info = leaderboard(table, task)
    prim = task.primary.name
    rows = []
    for r in board.to_dict(orient="records") if not board.empty else []:
        ref = r.get(f"{prim}_ref")
        ref_mean = r.get(f"{prim}_ref_mean")
        row = {
            "rank": _rank(r),
            "method": r["method"],
            "kind": _kind(r),
            "baseline": r.get("baseline", False),
            "primary": _pm(r.get(f"{prim}_mean"), r.get(f"{prim}_sd"))
            + (" †" if r.get("partial") else ""),
            "coverage": r.get("coverage", ""),
            "ref": f"{ref} {_num(ref_mean)}" if isinstance(ref, str) else "—",
            "norm": _pct(r.get(f"{prim}_norm")),
            "p": _num(r.get("p_holm")) if r.get("p_holm") is not None else "—",
            "pairs": r.get("pairs"),
            "mark": r.get("mark") or "",
            "others": [_pm(r.get(f"{m.name}_mean"), r.get(f"{m.name}_sd")) for m in task.specs[1:]],
            "runtime": _num(r.get("runtime_s"), 2),
            "peak": _int(r.get("peak_mb")),
            "cells": r.get("n_cells"),
        }
        if row["pairs"] is None or (isinstance(row["pairs"], float) and math.isnan(row["pairs"])):
            row["pairs"] = "—"
        else:
            row["pairs"] = int(row["pairs"])
        rows.append(row)
    # per-split and per-dataset breakdowns of the primary metric (mean ± sd over seeds)
    by_split = breakdown(table, task, by=("split",))
    by_ds = breakdown(table, task, by=("dataset", "split"))

    def pivot(df: pd.DataFrame, cols: list[str]) -> dict[str, Any]:
        if df.empty:
            return {"columns": [], "rows": []}
        df = df.copy()
        df["col"] = df[cols].astype(str).agg(" / ".join, axis=1)
        columns = list(dict.fromkeys(df["col"]))
        order = [r["method"] for r in rows] or list(dict.fromkeys(df["method"]))
        out_rows = []
        for m in order:
            sub = df[df["method"] == m].set_index("col")
            if sub.empty:
                continue
            cells = [
                _pm(sub.loc[c, "mean"], sub.loc[c, "sd"]) if c in sub.index else "—"
                for c in columns
            ]
            out_rows.append(
                {"method": m, "baseline": bool(sub["baseline"].iloc[0]), "cells": cells}
            )
        return {"columns": columns, "rows": out_rows}

    tinfo = manifest["tasks"].get(task.name, {})
    ok = table[(table["task"] == task.name) & (table["status"] == "ok")]
    n_pairs = int(board["nonzero_pairs"].max()) if "nonzero_pairs" in board and len(board) else 0
    failures = table[(table["task"] == task.name) & (table["status"] == "failed")]
    return {
        "name": task.name,
        "description": task.description,
        "version": task.version,
        "metrics": task.specs,
        "primary": task.primary,
        "reference": info["reference"],
        "norm_rule": info["norm"],
        "groups": info["groups"],
        "comparisons": _comparison_lines(info),
        "rows": rows,
        "by_split": pivot(by_split, ["split"]),
        "by_dataset": pivot(by_ds, ["dataset", "split"]),
        "datasets": tinfo.get("datasets", []),
        "facts": manifest.get("dataset_facts", {}).get(task.name, {}),
        "excluded_baselines": tinfo.get("excluded_baselines", []),
        "excluded": tinfo.get("excluded", []),
        "skipped": [s for s in manifest["skipped"] if s["task"] == task.name],
        "not_applicable": [s for s in manifest["not_applicable"] if s["task"] == task.name],
        "failures": _group_failures(failures),
        "n_results": len(ok),
        "min_p": min_wilcoxon_p(n_pairs) if n_pairs else None,
        "n_pairs": n_pairs,
        "partial": any(r.get("partial") for r in board.to_dict(orient="records"))
        if not board.empty
        else False,
        "not_in_preset": tinfo.get("not_in_preset", []),
    }


def _group_failures(failures: pd.DataFrame) -> list[dict[str, Any]]:
    """Failed cells grouped by method and error: ``method, error, n, where`` (up to 4
    cells named)."""
    out = []
    for (method, error), grp in failures.groupby(["method", "error"], sort=True):
        where = [f"{r.dataset}/{r.split}/s{r.seed}" for r in grp.itertuples()]
        more = f" and {len(where) - 4} more" if len(where) > 4 else ""
        out.append(
            {"method": method, "error": error, "n": len(grp), "where": ", ".join(where[:4]) + more}
        )
    return out


def _png_b64(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render(
    result: BenchResult, tasks: Sequence[Task], *, figures: Mapping[str, Any] | None = None
) -> tuple[str, str]:
    """``(html, markdown)`` of the report (see the module docstring)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("virtualcell.bench", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["md"] = lambda rows, **kw: markdown_table(rows, **kw) if rows else "(none)\n"
    manifest = result.manifest
    sections = [_task_section(result.table, t, manifest) for t in tasks]
    figures = dict(figures or {})
    figs = {
        name: {"b64": _png_b64(fig), "file": f"figures/{name}.png"} for name, fig in figures.items()
    }
    for s in sections:
        s["figures"] = [{"name": n, **f} for n, f in figs.items() if n.startswith(f"{s['name']}_")]
    context = {
        "m": manifest,
        "sections": sections,
        "alpha": ALPHA,
        "env_rows": [
            {"package": k, "version": v or "not installed"}
            for k, v in manifest["environment"].items()
        ],
        "hw_rows": [{"item": k, "value": v} for k, v in manifest["hardware"].items()],
    }
    html = env.get_template("report.html.j2").render(**context)
    md = env.get_template("report.md.j2").render(**context)
    return html, md


def write_report(
    result: BenchResult, tasks: Sequence[Task], *, figures: Mapping[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write ``report.html``, ``report.md`` and ``figures/*.png`` into ``result.out``."""
    figures = dict(figures or {})
    if figures:
        folder = result.out / "figures"
        folder.mkdir(exist_ok=True)
        for name, fig in figures.items():
            with atomic_path(folder / f"{name}.png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
    html, md = render(result, tasks, figures=figures)
    return write_text(result.out / "report.html", html), write_text(result.out / "report.md", md)
