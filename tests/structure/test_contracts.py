"""Swappable parts have an abstract contract (issue 25 item 2): every entry of a typed
registry is a subclass of its ``abc`` base class (or, for factories, builds an instance
of it), the base is abstract, and ``make_*`` / ``get_*`` are annotated with the base."""

from __future__ import annotations

import inspect

import pytest

import virtualcell as vc

#: (registry, base class, what an entry is: "class" or "factory")
CONTRACTS = [
    ("perturb.METHODS", vc.perturb.Predictor, "class"),
    ("represent.ANNOTATION_METHODS", vc.represent.Annotator, "class"),
    ("represent.EMBEDDINGS", vc.represent.EmbeddingSource, "class"),
    ("design.POLICIES", vc.design.Policy, "factory"),
]


def _registry(qualname: str):
    namespace, name = qualname.split(".")
    return getattr(getattr(vc, namespace), name)


@pytest.mark.parametrize(("qualname", "base", "kind"), CONTRACTS, ids=[c[0] for c in CONTRACTS])
def test_every_registered_entry_honours_its_contract(qualname, base, kind):
    assert inspect.isabstract(base), f"{base.__name__} has no abstract method"
    registry = _registry(qualname)
    names = registry.names()
    assert names, qualname
    for name in names:
        obj = registry.get(name)
        if kind == "class":
            assert inspect.isclass(obj) and issubclass(obj, base), (
                f"{qualname}[{name!r}] = {obj!r} is not a {base.__name__}"
            )
            assert not inspect.isabstract(obj), f"{qualname}[{name!r}] is still abstract"
        else:
            assert isinstance(obj(seed=0), base), f"{qualname}[{name!r}] builds no {base.__name__}"


def test_registries_and_factories_are_typed_by_the_base():
    from virtualcell.design import _registry as design_registry
    from virtualcell.perturb import _methods as perturb_methods
    from virtualcell.represent import _registry as represent_registry

    def ann(module, name):
        return inspect.get_annotations(module)[name].replace(" ", "")

    assert ann(perturb_methods, "METHODS") == "Registry[type[Predictor]]"
    assert ann(represent_registry, "ANNOTATION_METHODS") == "Registry[type[Annotator]]"
    assert ann(represent_registry, "EMBEDDINGS") == "Registry[type[EmbeddingSource]]"
    assert ann(design_registry, "POLICIES") == "Registry[Callable[...,Policy]]"
    returns = {
        vc.perturb.make_predictor: "Predictor",
        vc.design.make_policy: "Policy",
        vc.represent.get_method: "type[Annotator]",
        vc.represent.get_embedding: "type[EmbeddingSource]",
    }
    for func, want in returns.items():
        assert inspect.signature(func).return_annotation == want, func.__qualname__
    assert isinstance(vc.perturb.make_predictor("train_mean"), vc.perturb.Predictor)


def test_an_incomplete_implementation_cannot_be_built():
    class Half(vc.represent.EmbeddingSource):
        def fit(self, adata, *, layer=None):
            return self

    with pytest.raises(TypeError, match="abstract"):
        Half()
    with pytest.raises(TypeError, match="abstract"):
        type("NoPredict", (vc.perturb.Predictor,), {})()
