"""Count the places in ``src/virtualcell`` that decide which matrix a task reads, whether
it holds counts, and how it is normalised (issue 25 item 1), at one or more git revisions.

    python benchmarks/matrix_decisions.py 2cbc97a worktree

Three kinds of line are counted with ``git grep`` (comments and docstring lines that
only mention a name are not code and are skipped: a line counts when the pattern is
followed by ``(`` or ``[``):

* ``counts``: a counts rule is applied (``looks_like_counts(``, ``is_integer_valued(``,
  ``value_kind(``, ``is_counts(``, or a hand-written whole-number test: ``np.mod(``,
  ``np.floor(``, ``np.round(`` compared with the values);
* ``normalise``: ``np.log1p(`` / ``normalize_total(`` / ``np.expm1(`` (a library-size
  normalisation, its log, or its inverse);
* ``matrix``: a layer or ``.raw`` picked by hand (``.layers[layer]``, ``layers[layer]``,
  ``raw.X if layer``).

The data layer (``data/_layers.py``: the one implementation; the streaming reader) is
reported apart. ``tokenize`` (the
tokenizers' declared value transforms, numba kernels), ``pp`` (the user's preprocessing
steps themselves), ``metrics`` (pseudobulk definitions of the DE metrics) and
``knowledge`` (BM25 weights) are reported as "declared elsewhere": they are not a task
choosing its input space.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict

PATTERNS = {
    "counts": r"(looks_like_counts|is_integer_valued|value_kind|is_counts)\(|"
    r"np\.(mod|floor|round)\(.*(==|allclose)|allclose\(.*np\.round\(",
    "normalise": r"np\.log1p\(|normalize_total\(|np\.expm1\(",
    "matrix": r"layers\[layer\]|raw\.X if layer|\.layers\[[a-z_]+\] if",
}
ONE_PLACE = "src/virtualcell/data/"
DECLARED = ("src/virtualcell/tokenize/", "src/virtualcell/pp/", "src/virtualcell/metrics/",
            "src/virtualcell/knowledge/")  # fmt: skip


def _hits(rev: str, pattern: str) -> list[tuple[str, str]]:
    at = [] if rev == "worktree" else [rev]  # "worktree": the files as they are now
    out = subprocess.run(
        ["git", "grep", "-n", "-E", pattern, *at, "--", "src/virtualcell"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split(":", 3 if at else 2)
        path, text = parts[-3], parts[-1]
        code = text.strip()
        if code.startswith(("#", '"', "'", "``", "*", "-", ":")) or "``" in code:
            continue  # comments and docstring lines
        rows.append((path, code))
    return rows


def count(rev: str) -> dict[str, dict[str, list[str]]]:
    """``{kind: {"task": [...], "one_place": [...], "declared": [...]}}`` at ``rev``."""
    result: dict[str, dict[str, list[str]]] = {}
    for kind, pattern in PATTERNS.items():
        groups: dict[str, list[str]] = defaultdict(list)
        for path, code in _hits(rev, pattern):
            where = (
                "one_place"
                if path.startswith(ONE_PLACE)
                else "declared"
                if path.startswith(DECLARED) and kind != "matrix"
                else "task"
            )
            groups[where].append(f"{path}: {code}")
        result[kind] = dict(groups)
    return result


def main(revs: list[str]) -> None:
    for rev in revs or ["HEAD"]:
        res = count(rev)
        print(f"== {rev}")
        for kind, groups in res.items():
            task = groups.get("task", [])
            files = sorted({re.sub(r":.*", "", t) for t in task})
            print(
                f"{kind:10s} task code: {len(task):3d} lines in {len(files):2d} files; "
                f"the one place: {len(groups.get('one_place', []))}; "
                f"declared elsewhere: {len(groups.get('declared', []))}"
            )
            for t in task:
                print(f"    {t}")


if __name__ == "__main__":
    main(sys.argv[1:])
