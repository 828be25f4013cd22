"""Tools are derived from signatures + numpydoc: schemas, descriptions, validation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

import virtualcell as vc
from virtualcell.agent import function_schema, parse_numpydoc, validate_arguments

if TYPE_CHECKING:
    import anndata as ad


def example(
    adata: ad.AnnData,
    *,
    gene: str,
    k: int = 5,
    scale: float = 1.0,
    mode: Literal["fast", "exact"] = "fast",
    genes: list[str] | None = None,
    out: Path | None = None,
    flag: bool = False,
) -> dict:
    """Do something useful with ``gene``.

    Parameters
    ----------
    adata
        The data.
    gene
        A gene symbol.
    k, scale
        Sizes.
    mode
        How: :func:`fast` or exact.
    genes
        Optional gene list.
    out
        Output file.
    flag
        A switch.
    """
    return {}


def test_numpydoc_and_schema_from_signature():
    summary, params, _ = parse_numpydoc(example.__doc__)
    assert summary == "Do something useful with gene."
    assert params["k"] == params["scale"] == "Sizes." and params["mode"] == "How: fast or exact."
    desc, schema = function_schema(example)
    p = schema["properties"]
    assert desc == summary and schema["required"] == ["adata", "gene"]
    assert p["adata"] == {"type": "string", "format": "handle", "description": "The data."}
    assert p["k"] == {"type": "integer", "description": "Sizes.", "default": 5}
    assert p["scale"]["type"] == "number" and p["flag"]["type"] == "boolean"
    assert p["mode"]["enum"] == ["fast", "exact"] and p["mode"]["default"] == "fast"
    assert p["genes"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "Optional gene list.",
    }
    assert p["out"]["format"] == "path" and "default" not in p["out"]
    assert schema["additionalProperties"] is False


def test_validation_errors_and_coercions():
    _, schema = function_schema(example)
    ok = validate_arguments(
        schema,
        {"adata": "data", "gene": "KLF1", "k": "7", "flag": "true", "genes": "A, B C", "scale": 2},
        tool="example",
    )
    assert ok["k"] == 7 and ok["flag"] is True and ok["genes"] == ["A", "B", "C"]
    cases = [
        ({"adata": "d"}, "missing required argument(s) gene"),
        ({"adata": "d", "gene": "X", "kk": 1}, "unknown argument(s) 'kk'; valid: adata, gene, k"),
        ({"adata": "d", "gene": "X", "k": "many"}, "argument 'k' must be an integer"),
        ({"adata": "d", "gene": "X", "mode": "slow"}, "argument 'mode' must be one of fast, exact"),
        ({"adata": "d", "gene": ["X"]}, "argument 'gene' must be a string"),
    ]
    for args, message in cases:
        with pytest.raises(
            vc.ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")
        ):
            validate_arguments(schema, args, tool="example")


def test_every_registered_tool_has_a_documented_schema(kb):
    tb = vc.agent.Toolbox(kb=kb, allow_code=True)
    on_request = {e.name for e in vc.agent.tools.entries() if e.obj.on_request}
    # the screen tools of the design agent and the multi-omic tools are offered only when named
    assert on_request == {
        "predict_candidates", "screen_results", "gene_neighbors",
        "simulate_multiome", "read_h5mu", "evaluate_multiomic_embedding",
        "evaluate_protein_imputation",
    }  # fmt: skip
    assert set(tb.names()) == set(vc.agent.tools.names()) - on_request
    tb = vc.agent.Toolbox(kb=kb, allow_code=True, names=vc.agent.tools.names())
    assert set(tb.names()) == set(vc.agent.tools.names())
    for name in tb.names():
        t = tb.get(name)
        assert t.description, name
        assert t.schema["type"] == "object"
        for arg, s in t.schema["properties"].items():
            assert s.get("description"), f"{name}.{arg} has no description in its docstring"
            assert "``" not in s["description"], f"{name}.{arg}: reST markup left"


def test_three_generated_schemas(kb):
    """The derived schemas of three tools, pinned (they change only with the functions)."""
    tb = vc.agent.Toolbox(kb=kb)
    search = tb.get("kb_search").to_dict()
    assert (
        search["description"]
        == "Ranked passages (genes, GO terms, gene sets) for a free-text query."
    )
    assert search["input_schema"]["required"] == ["query"]
    assert search["input_schema"]["properties"]["mode"]["enum"] == ["hybrid", "lexical", "dense"]
    assert "self" not in search["input_schema"]["properties"]
    enrich = tb.get("enrich").to_dict()["input_schema"]
    assert "kb" not in enrich["properties"] and "n_perm" not in enrich["properties"]
    # the default library comes from the store (its GO BP library)
    assert enrich["properties"]["gene_sets"]["default"] == "GO_Biological_Process_test"
    assert enrich["properties"]["genes"]["anyOf"][0] == {
        "type": "array",
        "items": {"type": "string"},
    }
    pe = tb.get("perturbation_effects").to_dict()["input_schema"]
    assert pe["required"] == ["adata", "gene"]
    assert pe["properties"]["adata"]["format"] == "handle"
    assert pe["properties"]["perturbation_key"]["default"] == "perturbation"
