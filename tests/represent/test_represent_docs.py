"""The first python example of docs/represent.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "represent.md"


def test_docs_example_runs(capsys):
    import virtualcell as vc

    try:
        vc.datasets.wu2020()
    except vc.DatasetNotAvailableError:
        pytest.skip("wu2020 needs the scirpy wheel (make install)")
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    res = namespace["res"]
    assert {"accuracy", "macro_f1", "ece"} <= set(res.metrics)
    assert "X_vc_center" in namespace["adata"].obsm
    assert "vc_cluster" in namespace["adata"].obs
