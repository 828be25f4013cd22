"""Conventions are tests: public namespaces, exports and signatures.

* every namespace listed in ``virtualcell._SUBMODULES`` that exists imports, defines
  ``__all__``, and every name in ``__all__`` exists and is documented;
* scanpy's rule over every exported function: at most 3 positional parameters, and
  every option (a parameter with a default) after the first is keyword-only;
* the data comes first, named and typed consistently: a parameter named ``adata`` is
  annotated ``AnnData``, and a first parameter annotated only ``AnnData`` is ``adata``;
* metrics take the truth first: a metric comparing two things (second parameter
  ``prediction``, ``pred``, ``scores``, ``clusters``, ``embedding`` ...) names its first
  parameter after the truth (``truth``, ``true``, ``labels`` ...);
* importing ``virtualcell`` does not import torch or other heavy optional dependencies;
* ``list_*`` means one thing in every namespace: ``list_<things>(...)`` returns
  ``{name: description}`` (``dict[str, str]``, the registry's ``describe()``), never a
  bare list of names.

Known exceptions still being fixed by their owners are listed in ``KNOWN_EXCEPTIONS``
(each an ``xfail(strict=True)`` case that must be removed once fixed).
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


#: Exported functions that break a rule below, with their owner; each is an
#: xfail(strict=True) case and must be removed from here once fixed.
KNOWN_EXCEPTIONS: dict[str, str] = {
    "train.train": "models: network, data, objective, config are 4 positional parameters",
}
_TRUTH_NAMES = {"truth", "true", "true_de", "true_pert", "labels", "batches", "adata"}
_PREDICTION_NAMES = {
    "prediction", "pred", "scores", "clusters", "embedding", "pred_de", "pred_pert",
}  # fmt: skip


def _every_export():
    for namespace in NAMESPACES:
        module = importlib.import_module(f"virtualcell.{namespace}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{namespace}.{name}", obj


def _problems(qualname: str, func) -> list[str]:
    params = list(inspect.signature(func).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    problems = []
    if len(positional) > 3:
        problems.append(f"{len(positional)} positional parameters (at most 3)")
    options = [p.name for p in positional[1:] if p.default is not p.empty]
    if options:
        problems.append(f"options {options} should be keyword-only")
    for p in params:
        note = str(p.annotation)
        if p.name == "adata" and "AnnData" not in note:
            problems.append(f"'adata' is annotated {note!r}, not AnnData")
    if params:
        first = params[0]
        if str(first.annotation).strip("'\"").split(".")[-1] == "AnnData" and first.name != "adata":
            problems.append(f"first parameter {first.name!r} is an AnnData: name it 'adata'")
    if qualname.startswith("metrics.") and len(positional) >= 2:
        if positional[1].name in _PREDICTION_NAMES and positional[0].name not in _TRUTH_NAMES:
            problems.append(
                f"compares {positional[1].name!r} but its first parameter "
                f"{positional[0].name!r} is not the truth"
            )
    return problems


_EXPORTS = dict(_every_export())


@pytest.mark.parametrize(
    "qualname",
    [
        pytest.param(q, marks=pytest.mark.xfail(strict=True, reason=KNOWN_EXCEPTIONS[q]))
        if q in KNOWN_EXCEPTIONS
        else q
        for q in sorted(_EXPORTS)
    ],
)
def test_every_export_follows_the_signature_rules(qualname):
    problems = _problems(qualname, _EXPORTS[qualname])
    assert not problems, f"{qualname}: " + "; ".join(problems)


def test_known_exceptions_are_exports():
    missing = sorted(set(KNOWN_EXCEPTIONS) - set(_EXPORTS))
    assert not missing, f"KNOWN_EXCEPTIONS names functions that are not exported: {missing}"


def test_rule_checker_flags_what_it_should():
    def bad(a, b, c, d, *, e=1): ...

    def option(x, y=2): ...

    def first(data: AnnData, *, k: int = 1): ...  # noqa: F821

    def named(adata: int): ...

    def metric(prediction, scores): ...

    assert "4 positional" in _problems("x.bad", bad)[0]
    assert "keyword-only" in _problems("x.option", option)[0]
    assert "name it 'adata'" in _problems("x.first", first)[0]
    assert "not AnnData" in _problems("x.named", named)[0]
    assert "not the truth" in " ".join(_problems("metrics.metric", metric))


#: ``list_*`` exports that do not return ``{name: description}`` yet, with their owner.
KNOWN_LISTINGS: dict[str, str] = {}


def _listings() -> list[str]:
    return sorted(q for q in _EXPORTS if q.split(".")[-1].startswith("list_"))


def _returns_descriptions(func) -> bool:
    return str(inspect.signature(func).return_annotation).replace(" ", "") == "dict[str,str]"


@pytest.mark.parametrize(
    "qualname",
    [
        pytest.param(q, marks=pytest.mark.xfail(strict=True, reason=KNOWN_LISTINGS[q]))
        if q in KNOWN_LISTINGS
        else q
        for q in _listings()
    ],
)
def test_list_functions_return_name_to_description(qualname):
    """One meaning of ``list_*`` across packages (issue 25): ``{name: description}``."""
    func = _EXPORTS[qualname]
    assert _returns_descriptions(func), (
        f"{qualname} returns {inspect.signature(func).return_annotation}, not dict[str, str]"
    )
    result = func()
    assert isinstance(result, dict) and result, qualname
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items()), qualname


def test_known_listings_are_exports():
    assert set(KNOWN_LISTINGS) <= set(_listings()), set(KNOWN_LISTINGS) - set(_listings())
    assert len(_listings()) >= 3  # the checker sees the listings (represent has three)


def _annotation(func) -> str:
    return str(inspect.signature(func).return_annotation).strip("'\"")


def test_get_returns_a_class_and_make_an_instance():
    """One meaning of ``get_*`` and ``make_*`` across packages (issue 25): ``get_NAME``
    returns a registered class (``type[Base]``), ``make_NAME`` builds an instance."""
    gets = {q: _annotation(f) for q, f in _EXPORTS.items() if q.split(".")[-1].startswith("get_")}
    makes = {q: _annotation(f) for q, f in _EXPORTS.items() if q.split(".")[-1].startswith("make_")}
    assert gets and makes  # the checker sees both kinds
    assert {q for q, a in gets.items() if not a.startswith("type[")} == set()
    assert {q for q, a in makes.items() if a.startswith("type[")} == set()


def test_deprecated_get_backend_warns_and_builds_the_same():
    import virtualcell as vc

    assert "get_backend" not in vc.agent.__all__
    with pytest.warns(DeprecationWarning, match="make_backend"):
        old = vc.agent.get_backend("scripted", replies=["x"])
    assert type(old) is type(vc.agent.make_backend("scripted", replies=["x"]))


def test_import_is_light():
    code = (
        "import sys, virtualcell as vc; "
        "heavy = [m for m in ('torch', 'scanpy', 'sentence_transformers', 'lightgbm') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import virtualcell pulled in: {out.stdout.strip()}"


# -- documented parameters and typed returns (issue 25 item 5) ---------------------------
#: Packages whose every exported function documents every parameter in a numpydoc
#: ``Parameters`` section (shared ones via ``virtualcell._utils.doc_params``) and
#: annotates a return other than ``Any``: every package now (issue 25 item 5).
DOCUMENTED_PACKAGES = ("data", "pp", "represent", "design", "sim", "grn", "tl", "metrics", "pl", "tokenize", "datasets", "bench", "knowledge", "text", "train", "agent", "perturb", "models", "spatial", "multiomic")  # fmt: skip

#: Exports of those packages not documented yet: each an xfail(strict=True) case that
#: must be removed once fixed (this list must shrink, never grow).
UNDOCUMENTED: dict[str, str] = {}


def _documented_exports() -> list[str]:
    return sorted(q for q in _EXPORTS if q.split(".")[0] in DOCUMENTED_PACKAGES)


def _doc_problems(func) -> list[str]:
    from virtualcell._utils import documented_params

    sig = inspect.signature(func)
    params = [
        p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    problems = []
    have = documented_params(func.__doc__)
    if params and have is None:
        problems.append("no Parameters section")
    elif params:
        missing = [p for p in params if p not in have]
        if missing:
            problems.append(f"Parameters section lacks {missing}")
    ret = sig.return_annotation
    if ret is inspect.Signature.empty or str(ret).strip("'\"") in ("Any", "typing.Any"):
        shown = "missing" if ret is sig.empty else repr(ret)
        problems.append(f"return annotation is {shown}")
    return problems


@pytest.mark.parametrize(
    "qualname",
    [
        pytest.param(q, marks=pytest.mark.xfail(strict=True, reason=UNDOCUMENTED[q]))
        if q in UNDOCUMENTED
        else q
        for q in _documented_exports()
    ],
)
def test_exports_document_parameters_and_type_returns(qualname):
    problems = _doc_problems(_EXPORTS[qualname])
    assert not problems, f"{qualname}: " + "; ".join(problems)


def test_every_package_is_a_documented_package():
    """A new package cannot escape the documentation rule by not being listed."""
    packages = {q.split(".")[0] for q in _EXPORTS}
    assert packages <= set(DOCUMENTED_PACKAGES), sorted(packages - set(DOCUMENTED_PACKAGES))


def test_undocumented_list_names_exports():
    assert set(UNDOCUMENTED) <= set(_documented_exports()), set(UNDOCUMENTED) - set(
        _documented_exports()
    )


def test_doc_checker_flags_what_it_should():
    def bare(adata, *, k: int = 1):
        """No sections."""

    def partial(x: int, *, k: int = 1) -> int:
        """Partly.

        Parameters
        ----------
        x
            A number.
        """
        return x

    def untyped(x: int):
        """Typed nowhere.

        Parameters
        ----------
        x
            A number.
        """

    assert "no Parameters section" in _doc_problems(bare)
    assert "lacks ['k']" in " ".join(_doc_problems(partial))
    assert "return annotation is missing" in _doc_problems(untyped)
