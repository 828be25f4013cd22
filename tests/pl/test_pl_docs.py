"""Every figure function documents the plotting contract's parameters with the one
description of :data:`virtualcell.pl._base.FIGURE_PARAMS` (through ``doc_params(**table)``,
tested here too), and its own parameters in its own words."""

from __future__ import annotations

import inspect
import textwrap

import pytest

import virtualcell as vc
from virtualcell._utils import SHARED_PARAMS, doc_params, documented_params
from virtualcell.pl._base import FIGURE_PARAMS

FIGURES = sorted(n for n in vc.pl.__all__ if inspect.isfunction(getattr(vc.pl, n)))


def _entry(doc: str, name: str) -> str:
    """The text of parameter ``name``'s entry in a numpydoc docstring, one line."""
    lines = inspect.cleandoc(doc).splitlines()
    start = lines.index(name)
    body = []
    for line in lines[start + 1 :]:
        if line and not line[0].isspace():
            break
        body.append(line.strip())
    return " ".join(body)


@pytest.mark.parametrize("name", FIGURES)
def test_figure_functions_document_the_contract(name):
    func = getattr(vc.pl, name)
    params = inspect.signature(func).parameters
    have = documented_params(func.__doc__) or []
    assert set(params) <= set(have), (name, sorted(set(params) - set(have)))
    for contract in ("ax", "path", "overwrite"):
        if contract in params:
            text = _entry(func.__doc__, contract)
            assert text, f"{name}: empty description of {contract}"
            # the figure path is written, never read (the shared 'path' says "read")
            if contract == "path":
                assert "read" not in text and ("Save" in text or "save" in text), (name, text)
    assert "Returns" in func.__doc__, name


def test_figure_params_use_the_package_table():
    text = _entry(vc.pl.umap.__doc__, "path")
    assert text == " ".join(FIGURE_PARAMS["path"].split())


def test_doc_params_table_is_preferred_and_own_words_win():
    @doc_params(path="Where the thing is saved.", k="Number of things (default {default}).")
    def f(adata, path, *, k: int = 3, seed: int = 0, **kwargs) -> None:
        """Do it.

        Parameters
        ----------
        seed
            My own seed.
        **kwargs
            Passed on.

        Returns
        -------
        Nothing.
        """

    doc = inspect.cleandoc(f.__doc__)
    assert documented_params(doc) == ["adata", "path", "k", "seed", "kwargs"]
    assert _entry(doc, "path") == "Where the thing is saved."  # the table, not SHARED_PARAMS
    assert _entry(doc, "k") == "Number of things (default 3)."  # {default} filled in
    assert _entry(doc, "seed") == "My own seed."  # the function's words win
    assert _entry(doc, "adata") == " ".join(SHARED_PARAMS["adata"].split())
    assert doc.index("Parameters") < doc.index("Returns")


def test_doc_params_bare_use_is_unchanged():
    def g(adata, *, seed: int = 0) -> None:
        """Do g."""

    out = doc_params(g)
    assert out is g
    assert documented_params(g.__doc__) == ["adata", "seed"]
    assert textwrap.dedent(g.__doc__).startswith("Do g.\n\nParameters\n----------\n")
