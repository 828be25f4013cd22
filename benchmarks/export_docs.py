"""Count the exported functions of every ``vc`` namespace that document their parameters
(a numpydoc ``Parameters`` section naming every parameter) and annotate a return other
than ``Any`` (issue 25 item 5), for the source tree on ``PYTHONPATH``.

    PYTHONPATH=src python benchmarks/export_docs.py
"""

from __future__ import annotations

import importlib
import inspect
import re

import virtualcell as vc

_HEADER = re.compile(r"^Parameters\n-{3,}$", re.M)
_NEXT = re.compile(r"^[A-Z][A-Za-z ]+\n-{3,}$", re.M)


def _documented(doc: str | None) -> list[str] | None:
    text = inspect.cleandoc(doc or "")
    m = _HEADER.search(text)
    if not m:
        return None
    body = text[m.end() :]
    nxt = _NEXT.search(body)
    body = body[: nxt.start()] if nxt else body
    names = []
    for line in body.splitlines():
        if line and not line[0].isspace():
            names += [n.strip().lstrip("*") for n in line.split(":")[0].split(",")]
    return names


def main() -> None:
    total = with_section = complete = typed = 0
    rows = []
    for ns in vc._SUBMODULES:
        try:
            module = importlib.import_module(f"virtualcell.{ns}")
        except ImportError:
            continue
        n = s = c = t = 0
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not inspect.isfunction(obj):
                continue
            sig = inspect.signature(obj)
            params = [
                p.name
                for p in sig.parameters.values()
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
            have = _documented(obj.__doc__)
            n += 1
            s += have is not None or not params
            c += not params or (have is not None and all(p in have for p in params))
            ret = sig.return_annotation
            t += ret is not sig.empty and str(ret).strip("'\"") not in ("Any", "typing.Any")
        rows.append((ns, n, s, c, t))
        total, with_section, complete, typed = total + n, with_section + s, complete + c, typed + t
    print(f"{'namespace':10s} {'exports':>7s} {'section':>7s} {'all params':>10s} {'typed':>6s}")
    for ns, n, s, c, t in rows:
        print(f"{ns:10s} {n:7d} {s:7d} {c:10d} {t:6d}")
    print(f"{'total':10s} {total:7d} {with_section:7d} {complete:10d} {typed:6d}")


if __name__ == "__main__":
    main()
