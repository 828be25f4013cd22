"""Are two benchmark runs the same? Compare two ``results.parquet`` of ``vcell bench``
(e.g. ``make demo`` before and after a refactoring) and list every difference.

    python benchmarks/demo_identity.py BEFORE/results.parquet AFTER/results.parquet

A row is identified by ``(task, dataset, split, method, seed, metric)`` (the grid cell
and the metric). The two tables are the same when

- they hold the same rows (a row only in one table is a difference);
- every ``value`` agrees to ``--tol`` (default 1e-12): ``|a - b| <= tol * max(1, |a|,
  |b|)``, NaN equal to NaN (the metrics are deterministic for a given seed);
- ``status``, ``error``, ``baseline``, ``peer``, ``versions`` and ``key`` (the cell's
  identity hash: task, dataset and method versions and the method's options) are equal.

Timing and memory columns (``runtime_s``, ``cpu_s``, ``load_s``, ``peak_mb``,
``py_peak_mb``) are left out: they measure the machine, not the method. A metric whose
value is not deterministic can be left out with ``--ignore-metric NAME`` (repeatable;
the output says which were left out).

A run that has not finished (or was stopped) has no ``results.parquet`` yet: with
``--records`` each argument is a run folder and the table is built from its per-cell
records (``runs/**/*.json``, the resume state ``vcell bench`` writes as each cell
finishes); only the cells finished in both runs are compared (the summary says how many
each had); an ``n/a`` cell is a row with metric ``n/a`` and its reason as ``error``. ``baseline`` and ``peer`` are not in the records and are not compared then.

Prints a summary line and then one line per difference; exit status 0 when the tables
are the same, 1 when they differ, 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

ID_COLUMNS = ["task", "dataset", "split", "method", "seed", "metric"]
#: Compared exactly (besides ``value``, compared to the tolerance).
EXACT_COLUMNS = ["status", "error", "baseline", "peer", "versions", "key"]
#: Left out: they measure the machine.
TIMING_COLUMNS = ["runtime_s", "cpu_s", "load_s", "peak_mb", "py_peak_mb"]


def _read(path: Path) -> pd.DataFrame:
    table = pd.read_parquet(path)
    missing = [c for c in [*ID_COLUMNS, "value", *EXACT_COLUMNS] if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not a bench results table (missing columns {missing})")
    dup = table.duplicated(ID_COLUMNS, keep=False)
    if dup.any():
        first = table.loc[dup, ID_COLUMNS].iloc[0].tolist()
        raise ValueError(f"{path}: {int(dup.sum())} rows share an identity, e.g. {first}")
    return table.set_index(ID_COLUMNS).sort_index()


CELL_COLUMNS = ID_COLUMNS[:-1]


def _read_records(folder: Path) -> pd.DataFrame:
    """The tidy rows of the finished cells recorded under ``folder/runs`` (as
    ``vc.bench``'s result store writes them: ok cells one row per metric, a failed cell
    one ``error`` row, n/a cells none)."""
    rows = []
    paths = sorted((folder / "runs").rglob("*.json"))
    if not paths:
        raise ValueError(f"{folder}: no cell records under runs/")
    for path in paths:
        rec = json.loads(path.read_text())
        c = rec["cell"]
        v = rec.get("versions", {})
        base = {
            "task": c["task"], "dataset": c["dataset"], "split": c["split"],
            "method": c["method"], "seed": int(c["seed"]), "status": rec["status"],
            "error": rec.get("error"), "baseline": None, "peer": None, "key": rec["key"],
            "versions": (
                f"virtualcell={v.get('virtualcell', '?')};task={c['task']}@{c['task_version']};"
                f"dataset={c['dataset']}@{c['dataset_version']};"
                f"method={c['method']}@{c['method_version']}"
            ),
        }  # fmt: skip
        if rec["status"] == "ok":
            for r in rec["rows"]:
                value = r.get("value")
                rows.append({**base, "metric": r["metric"],
                             "value": math.nan if value is None else float(value)})  # fmt: skip
        elif rec["status"] == "failed":
            rows.append({**base, "metric": "error", "value": math.nan})
        else:  # n/a: left out of results.parquet; here a row, so that a change shows
            rows.append({**base, "metric": "n/a", "value": math.nan, "error": rec.get("reason")})
    table = pd.DataFrame(rows)
    dup = table.duplicated(ID_COLUMNS, keep=False)
    if dup.any():
        raise ValueError(f"{folder}: {int(dup.sum())} rows share an identity")
    return table.set_index(ID_COLUMNS).sort_index()


def _cells(table: pd.DataFrame) -> pd.MultiIndex:
    return table.index.droplevel("metric").unique()


def _same_value(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _same_exact(a: object, b: object) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    return bool(a == b)


def compare(
    before: pd.DataFrame, after: pd.DataFrame, *, tol: float = 1e-12, ignore: set[str] = frozenset()
) -> tuple[list[str], dict[str, int]]:
    """``(differences, counts)`` of two tables indexed by :data:`ID_COLUMNS`."""
    if ignore:
        before = before[~before.index.get_level_values("metric").isin(ignore)]
        after = after[~after.index.get_level_values("metric").isin(ignore)]
    diffs: list[str] = []
    only_before = before.index.difference(after.index)
    only_after = after.index.difference(before.index)
    for ident in only_before:
        diffs.append(f"only in A: {dict(zip(ID_COLUMNS, ident, strict=True))}")
    for ident in only_after:
        diffs.append(f"only in B: {dict(zip(ID_COLUMNS, ident, strict=True))}")
    common = before.index.intersection(after.index)
    a, b = before.loc[common], after.loc[common]
    n_value = n_exact = 0
    max_abs = 0.0
    for ident, va, vb in zip(common, a["value"], b["value"], strict=True):
        va, vb = float(va), float(vb)
        if not (math.isnan(va) or math.isnan(vb)):
            max_abs = max(max_abs, abs(va - vb))
        if not _same_value(va, vb, tol):
            n_value += 1
            where = dict(zip(ID_COLUMNS, ident, strict=True))
            diffs.append(f"value: {where}: A={va!r} B={vb!r} (diff {vb - va:+.3g})")
    for col in EXACT_COLUMNS:
        for ident, xa, xb in zip(common, a[col], b[col], strict=True):
            if not _same_exact(xa, xb):
                n_exact += 1
                where = dict(zip(ID_COLUMNS, ident, strict=True))
                diffs.append(f"{col}: {where}: A={xa!r} B={xb!r}")
    counts = {
        "rows_a": len(before),
        "rows_b": len(after),
        "common": len(common),
        "only_a": len(only_before),
        "only_b": len(only_after),
        "value_diffs": n_value,
        "other_diffs": n_exact,
    }
    counts["max_abs_value_diff"] = max_abs  # type: ignore[assignment]
    return diffs, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="results.parquet of the first run (before)")
    parser.add_argument("b", type=Path, help="results.parquet of the second run (after)")
    parser.add_argument(
        "--records",
        action="store_true",
        help="A and B are run folders: compare the cells finished in both (runs/*.json)",
    )
    parser.add_argument("--tol", type=float, default=1e-12, help="relative tolerance")
    parser.add_argument(
        "--ignore-metric", action="append", default=[], help="a metric to leave out"
    )
    args = parser.parse_args(argv)
    if not (args.tol >= 0 and math.isfinite(args.tol)):
        parser.error(f"--tol {args.tol} is not a finite number >= 0")
    read = _read_records if args.records else _read
    try:
        before, after = read(args.a), read(args.b)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    partial = ""
    if args.records:  # only the cells both runs finished
        cells_a, cells_b = _cells(before), _cells(after)
        both = cells_a.intersection(cells_b)
        before = before[before.index.droplevel("metric").isin(both)]
        after = after[after.index.droplevel("metric").isin(both)]
        partial = (
            f"cells finished: {len(cells_a)} in A, {len(cells_b)} in B, {len(both)} in both "
            "(compared); "
        )
    diffs, counts = compare(before, after, tol=args.tol, ignore=set(args.ignore_metric))
    same = not diffs
    print(
        f"{'IDENTICAL' if same else 'DIFFERENT'}: {partial}{counts['rows_a']} rows in A, "
        f"{counts['rows_b']} in B, {counts['common']} in both; "
        f"{counts['only_a']} only in A, {counts['only_b']} only in B; "
        f"{counts['value_diffs']} values differ beyond {args.tol:g} (largest absolute "
        f"difference {counts['max_abs_value_diff']:.3g}); "
        f"{counts['other_diffs']} differences in {', '.join(EXACT_COLUMNS)}; "
        f"timing columns left out ({', '.join(TIMING_COLUMNS)})"
        + (
            f"; metrics left out: {', '.join(sorted(args.ignore_metric))}"
            if args.ignore_metric
            else ""
        )
    )
    for line in diffs:
        print(line)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
