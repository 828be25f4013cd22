"""The code-health counts of issue 25 ("Must show"), for the repository this runs on.

    python benchmarks/health_counts.py [REPO] [--top 10] [--verbose]

``REPO`` defaults to the checkout holding this script; run it on another checkout (e.g.
``main`` before a change) to compare. Everything is read from ``REPO/src/virtualcell``
(the tests are not counted). Sections:

1. **Counts / normalisation / matrix decisions** — code only (comments and strings are
   removed with :mod:`tokenize` first), one hit per line, by regular expression:

   ``counts: shared``   calls of ``looks_like_counts(`` / ``is_integer_valued(``
   ``counts: local``    an integer test of its own: ``== np.round(`` / ``np.rint(`` /
                        ``np.floor(`` (either side), ``% 1 == 0``, ``np.mod(x, 1)``,
                        ``np.allclose(x, np.round(...``
   ``normalise``        library-size normalisation: ``normalize_total(``, ``log1p(`` of
                        a ratio (``log1p(x / size ...``), a division by a row sum
                        (``/ x.sum(axis=1``), a scale ``* 1e4`` / ``* target_sum``,
                        ``row_scale(``
   ``log1p (any)``      every ``log1p(`` (also metrics on a log scale and other
                        transforms: an upper bound of the log-normalisation sites)
   ``matrix: shared``   calls of ``select_matrix(``
   ``matrix: local``    reads of ``.layers[...]`` (not assignments or ``del``) and
                        ``.raw.X`` outside ``data/`` (where ``select_matrix`` lives);
                        not counted: a layer carried over under its own name
                        (``out.layers[k] = src.layers[k]``: a write of simulator output,
                        not a choice of input)
   ``matrix: sim truth`` reads of ``.layers["true_expression"]``, the noise-free ground
                        truth ``vc.sim`` writes (a simulator or a check reading the truth
                        of simulated data, not a task choosing its input matrix); listed
                        apart from ``matrix: local``

   ``data/_layers.py`` (where the shared rules are defined) is not counted.
2. **Registries vs ad-hoc tables** (:mod:`ast`): ``Registry(...)`` constructor calls
   (the class itself and its docstring example excluded), and module-level dict / tuple /
   list literals of at least two entries where at least half the entries are (or hold)
   a callable reference: a function or class defined in the module, a name imported from
   elsewhere that is not ALL_CAPS, a dotted name (``np.mean``) or a ``lambda``. Builtins
   tables that feed a ``Registry`` (passed to ``Registry(...)`` in the same module, e.g.
   ``_builtins``) are counted as part of it, not as ad-hoc tables.
3. **Exports**: every function in ``__all__`` of every public package (imported, with
   ``REPO/src`` first on the path): how many have a numpydoc ``Parameters`` section (or
   take no parameters), how many a return annotation that is present and not ``Any``,
   and how many both.
4. **Private cross-package imports**: the rule of the project's ``private_imports`` tool
   (copied here): a relative ``from ..pkg._mod import`` whose target is another
   top-level package and has a private part.
5. **Largest modules**: line counts of the largest ``.py`` files, and how many exceed 450.

Exit status 0; a section that cannot be computed says why.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import subprocess
import sys
import tokenize
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

DECISION_PATTERNS: dict[str, list[str]] = {
    "counts: shared": [r"\blooks_like_counts\(", r"\bis_integer_valued\("],
    "counts: local": [
        r"==\s*np\.(?:round|rint|floor)\(",
        r"np\.(?:round|rint|floor)\([^()]*(?:\([^()]*\))?[^()]*\)\s*==",
        r"%\s*1(?:\.0)?\s*==\s*0",
        r"np\.mod\([^,]+,\s*1(?:\.0)?\s*\)",
        r"np\.(?:allclose|array_equal)\([^,]+,\s*np\.(?:round|rint|floor)\(",
    ],
    "normalise": [
        r"\bnormalize_total\(",
        r"\blog1p\([^)]*/",
        r"/\s*[\w.\[\]]+\.sum\(\s*axis\s*=\s*1",
        r"\*\s*(?:1e4|1e6|10_?000|target_sum|TARGET_SUM|self\.target_sum)\b",
        r"\brow_scale\(",
    ],
    "log1p (any)": [r"\blog1p\("],
    "matrix: shared": [r"\bselect_matrix\("],
    "matrix: local": [r"\.layers\[[^\]]*\](?!\s*=[^=])", r"\.raw\.X\b"],
}
#: Where the shared rules are defined (their own lines are not uses).
DEFINITIONS = {"data/_layers.py"}
#: ``out.layers[k] = src.layers[k]``: a layer carried over (written), not a matrix choice.
LAYER_CARRIED = re.compile(r"\.layers\[(?P<k>[^\]]+)\]\s*=\s*[\w.]+\.layers\[(?P=k)\]\s*$")
#: A read of the simulator's ground-truth layer.
SIM_TRUTH = re.compile(r"""\.layers\[\s*["']true_expression["']\s*\](?!\s*=[^=])""")


def _code_lines(text: str) -> dict[int, str]:
    """``{line number: code}`` with comments and string literals blanked out."""
    lines = [list(line) for line in text.splitlines()]
    skip = {tokenize.COMMENT, tokenize.STRING}
    if sys.version_info >= (3, 12):
        skip |= {tokenize.FSTRING_START, tokenize.FSTRING_MIDDLE, tokenize.FSTRING_END}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):  # pragma: no cover
        return {}
    for tok in tokens:
        if tok.type not in skip:
            continue
        (r0, c0), (r1, c1) = tok.start, tok.end
        for r in range(r0, r1 + 1):
            row = lines[r - 1] if r - 1 < len(lines) else []
            lo = c0 if r == r0 else 0
            hi = c1 if r == r1 else len(row)
            for c in range(lo, min(hi, len(row))):
                row[c] = " "
    return {n + 1: "".join(row) for n, row in enumerate(lines) if "".join(row).strip()}


def decisions(src: Path, verbose: bool) -> dict[str, dict[str, int]]:
    compiled = {k: [re.compile(p) for p in v] for k, v in DECISION_PATTERNS.items()}
    hits: dict[str, list[str]] = defaultdict(list)
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        text = path.read_text()
        raw_lines = text.splitlines()
        for n, code in _code_lines(text).items():
            for cat, pats in compiled.items():
                if rel in DEFINITIONS:
                    continue
                if cat == "matrix: local" and rel.startswith("data/"):
                    continue
                if code.lstrip().startswith("del "):
                    continue
                if any(p.search(code) for p in pats):
                    if cat == "matrix: local":
                        raw = raw_lines[n - 1]
                        if LAYER_CARRIED.search(raw):
                            continue
                        if SIM_TRUTH.search(raw):
                            hits["matrix: sim truth"].append(f"{rel}:{n}: {raw.strip()}")
                            continue
                    hits[cat].append(f"{rel}:{n}: {code.strip()}")
    out = {}
    for cat in [*DECISION_PATTERNS, "matrix: sim truth"]:
        files = {h.split(":", 1)[0] for h in hits[cat]}
        out[cat] = {"lines": len(hits[cat]), "files": len(files)}
        if verbose:
            for h in hits[cat]:
                print(f"  [{cat}] {h}")
    return out


# -- registries -----------------------------------------------------------------------------
def _callable_ref(node: ast.AST, defined: set[str], imported: set[str]) -> bool:
    if isinstance(node, ast.Lambda | ast.Attribute):
        return True
    if isinstance(node, ast.Name):
        return node.id in defined or (node.id in imported and not node.id.isupper())
    if isinstance(node, ast.Tuple | ast.List):
        return any(_callable_ref(e, defined, imported) for e in node.elts)
    if isinstance(node, ast.Call):  # Entry(fn, ...), partial(fn, ...)
        return any(_callable_ref(a, defined, imported) for a in node.args)
    return False


def registries(src: Path, verbose: bool) -> dict[str, int]:
    n_registries = 0
    tables: list[str] = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        tree = ast.parse(path.read_text())
        defined = {
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
        imported = {
            (a.asname or a.name).split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names
        }
        feeds: set[str] = set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name | ast.Subscript)
                and (
                    getattr(node.func, "id", None) == "Registry"
                    or getattr(getattr(node.func, "value", None), "id", None) == "Registry"
                )
            ):
                if rel != "_utils/_registry.py":
                    n_registries += 1
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    if isinstance(arg, ast.Name):
                        feeds.add(arg.id)
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign):
                targets = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
                value = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                targets, value = [stmt.target.id], stmt.value
            else:
                continue
            if not targets or value is None or set(targets) & feeds or "__all__" in targets:
                continue
            if isinstance(value, ast.Dict):
                entries = value.values
            elif isinstance(value, ast.Tuple | ast.List):
                entries = value.elts
            else:
                continue
            if len(entries) < 2:
                continue
            refs = sum(_callable_ref(e, defined, imported) for e in entries)
            if refs * 2 >= len(entries):
                tables.append(f"{rel}:{stmt.lineno}: {targets[0]} ({len(entries)} entries)")
    if verbose:
        for t in tables:
            print(f"  [ad-hoc table] {t}")
    return {"registries": n_registries, "ad_hoc_tables": len(tables)}


# -- exports --------------------------------------------------------------------------------
_EXPORTS_CODE = r"""
import importlib, inspect, json, pkgutil, sys, re, warnings
warnings.simplefilter("ignore")
import virtualcell
rows = []
for info in sorted(pkgutil.iter_modules(virtualcell.__path__), key=lambda i: i.name):
    if info.name.startswith("_") or not info.ispkg:
        continue
    try:
        mod = importlib.import_module(f"virtualcell.{info.name}")
    except Exception as err:
        rows.append({"name": info.name, "error": f"{type(err).__name__}: {err}"})
        continue
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name, None)
        if not inspect.isfunction(obj):
            continue
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        doc = inspect.getdoc(obj) or ""
        params = [p for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        has_params = bool(re.search(r"^Parameters\n-{3,}", doc, re.M)) or not params
        ret = sig.return_annotation
        text = "" if ret is inspect.Signature.empty else (ret if isinstance(ret, str) else getattr(ret, "__name__", repr(ret)))
        typed = bool(text) and text not in ("Any", "typing.Any")
        rows.append({"name": f"{info.name}.{name}", "parameters": has_params, "typed": typed})
print(json.dumps(rows))
"""


def exports(repo: Path, verbose: bool) -> dict[str, int] | str:
    env = {"PYTHONPATH": str(repo / "src"), "PATH": "/usr/bin:/bin", "VIRTUALCELL_OFFLINE": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _EXPORTS_CODE],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=repo,
        )
        rows = json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as err:
        return f"not computed ({type(err).__name__}); stderr: {proc.stderr[-300:] if 'proc' in dir() else ''}"
    errors = [r for r in rows if "error" in r]
    funcs = [r for r in rows if "error" not in r]
    if verbose:
        for r in funcs:
            if not (r["parameters"] and r["typed"]):
                missing = [k for k in ("parameters", "typed") if not r[k]]
                print(f"  [export] {r['name']}: no {' / '.join(missing)}")
        for r in errors:
            print(f"  [export] package {r['name']} did not import: {r['error']}")
    return {
        "functions": len(funcs),
        "with_parameters": sum(r["parameters"] for r in funcs),
        "typed_return": sum(r["typed"] for r in funcs),
        "both": sum(r["parameters"] and r["typed"] for r in funcs),
        "packages_not_imported": len(errors),
    }


# -- private cross-package imports (the private_imports tool's rule) --------------------------
_IMPORT = re.compile(r"^(\s*)from (\.+)([\w\.]+) import (.+)$")


def private_imports(src: Path, verbose: bool) -> dict[str, int]:
    total = 0
    by_target: Counter[str] = Counter()
    for f in sorted(src.rglob("*.py")):
        rel = f.relative_to(src).parts
        pkg = rel[0]
        for line in f.read_text().splitlines():
            m = _IMPORT.match(line)
            if not m:
                continue
            _, dots, mod, _ = m.groups()
            parts = list(rel[:-1])
            d = len(dots)
            base = parts[: len(parts) - (d - 1)] if d > 1 else parts
            target = base + mod.split(".")
            if target[0] == pkg or not any(p.startswith("_") for p in target[1:]):
                continue
            total += 1
            by_target[f"{pkg} -> {'.'.join(target)}"] += 1
    if verbose:
        for key, n in by_target.most_common():
            print(f"  [private import] {key}: {n}")
    return {"private_cross_package_imports": total}


def largest(src: Path, top: int) -> tuple[list[tuple[str, int]], int]:
    sizes = sorted(
        (
            (p.relative_to(src).as_posix(), len(p.read_text().splitlines()))
            for p in src.rglob("*.py")
        ),
        key=lambda x: -x[1],
    )
    return sizes[:top], sum(1 for _, n in sizes if n > 450)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", type=Path, default=HERE)
    parser.add_argument("--top", type=int, default=10, help="largest modules to list")
    parser.add_argument("--verbose", action="store_true", help="list every hit")
    parser.add_argument("--no-exports", action="store_true", help="skip the import-based count")
    args = parser.parse_args(argv)
    src = args.repo.resolve() / "src" / "virtualcell"
    if not src.is_dir():
        parser.error(f"{args.repo} has no src/virtualcell")
    print(f"# health counts of {args.repo.resolve()}")
    print("\n## 1. places deciding counts / normalisation / matrix (code lines, files)")
    for cat, n in decisions(src, args.verbose).items():
        print(f"{cat:18s} {n['lines']:4d} lines in {n['files']:3d} files")
    print("\n## 2. registries vs ad-hoc tables of callables")
    for k, v in registries(src, args.verbose).items():
        print(f"{k:16s} {v:4d}")
    print("\n## 3. exported functions")
    if args.no_exports:
        print("skipped (--no-exports)")
    else:
        ex = exports(args.repo.resolve(), args.verbose)
        if isinstance(ex, str):
            print(ex)
        else:
            print(
                f"{ex['functions']} functions: {ex['with_parameters']} with a Parameters section "
                f"(or no parameters), {ex['typed_return']} with a typed non-Any return, "
                f"{ex['both']} both; packages that did not import: {ex['packages_not_imported']}"
            )
    print("\n## 4. private cross-package imports")
    for k, v in private_imports(src, args.verbose).items():
        print(f"{k:16s} {v:4d}")
    print(f"\n## 5. largest modules (top {args.top})")
    top, over = largest(src, args.top)
    for name, n in top:
        print(f"{n:5d}  {name}")
    print(f"modules over 450 lines: {over}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
