"""Conventions are tests: public namespaces, exports and signatures.

* every namespace listed in ``virtualcell._SUBMODULES`` that exists imports, defines
  ``__all__``, and every name in ``__all__`` exists and is documented;
* public functions whose first parameter is ``adata`` take every other option
  keyword-only (scanpy convention);
* importing ``virtualcell`` does not import torch or other heavy optional dependencies.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys

import pytest

import virtualcell as vc

NAMESPACES = [
    name for name in vc._SUBMODULES if importlib.util.find_spec(f"virtualcell.{name}") is not None
]


def test_version_and_top_level_exports():
    assert isinstance(vc.__version__, str) and vc.__version__.count(".") >= 2
    for name in vc.__all__:
        if name in vc._SUBMODULES:
            assert name in NAMESPACES, f"vc.{name} is listed but does not exist"
        assert hasattr(vc, name), name


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_namespace_exports_exist_and_are_documented(namespace):
    module = importlib.import_module(f"virtualcell.{namespace}")
    assert module.__doc__, f"vc.{namespace} has no module docstring"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"vc.{namespace} defines no __all__"
    assert len(set(exported)) == len(exported), f"duplicates in vc.{namespace}.__all__"
    for name in exported:
        assert hasattr(module, name), f"vc.{namespace}.__all__ names missing {name!r}"
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), f"vc.{namespace}.{name} has no docstring"


def _public_functions():
    for namespace in NAMESPACES:
        module = importlib.import_module(f"virtualcell.{namespace}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                params = list(inspect.signature(obj).parameters)
                if params and params[0] == "adata":
                    yield f"{namespace}.{name}", obj


@pytest.mark.parametrize(("qualname", "func"), list(_public_functions()))
def test_adata_first_functions_take_keyword_only_options(qualname, func):
    params = list(inspect.signature(func).parameters.values())
    positional = [
        p.name
        for p in params[1:]
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty
    ]
    assert not positional, f"{qualname}: options {positional} should be keyword-only"


def test_import_is_light():
    code = (
        "import sys, virtualcell as vc; "
        "heavy = [m for m in ('torch', 'scanpy', 'sentence_transformers', 'lightgbm') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import virtualcell pulled in: {out.stdout.strip()}"
