"""Every MCP tool answers every wrong argument with a tool error (``is_error`` and one
line), never a protocol error or a server traceback. The bad calls are derived from each
tool's own JSON schema (what ``tools/list`` shows a client): an unknown argument, a missing required one, and for every property a value of
the wrong JSON type, a value outside its enum, a handle that does not exist and a handle
of the wrong kind. The schema and the validation agree: a value the schema allows (an
integer for ``simulate_perturbseq``'s ``grn``) is accepted."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

pytest.importorskip("mcp")

from mcp import Client

import virtualcell as vc
from virtualcell.agent._mcp import make_server

_KBDATA = Path(__file__).resolve().parents[1] / "knowledge" / "_kbdata.py"
WRONG_TYPE = {
    "integer": "twelve",
    "number": "a lot",
    "boolean": "maybe",
    "string": {"not": "a string"},
    "array": {"not": "a list"},
    "object": ["not", "an object"],
}


@pytest.fixture(scope="module")
def toolbox(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("_hardening_kbdata", _KBDATA)
    kbdata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kbdata)
    root = kbdata.write_sources(tmp_path_factory.mktemp("kb-src"))
    path = tmp_path_factory.mktemp("kb") / "knowledge.sqlite"
    vc.knowledge.build(root, out=path, include_defaults=False)
    store = vc.knowledge.load(path)
    ws = vc.agent.Workspace(tmp_path_factory.mktemp("ws"))
    rng = np.random.default_rng(0)
    adata = ad.AnnData(rng.poisson(2, size=(20, 6)).astype(np.float32))
    adata.var_names = ["KLF1", "GATA1", "TP53", "MDM2", "CDKN1A", "BAX"]
    adata.obs["cell_type"] = np.repeat(["a", "b"], 10)
    ws.put(adata, name="data")
    tb = vc.agent.Toolbox(ws, kb=store)
    table = tb.call("tf_targets", {"tf": "TP53"})  # r1: a table (DataFrame) handle
    assert table.ok, table.observation
    yield tb
    store.close()


def _bad_calls(tool: dict) -> list[tuple[str, object]]:
    """``(what, arguments)`` pairs that the schema of ``tool`` does not allow."""
    schema = tool["input_schema"]
    props, required = schema.get("properties", {}), schema.get("required", [])
    base = {k: _valid(props[k]) for k in required}
    # (arguments that are not an object are refused by the client library itself)
    calls: list[tuple[str, object]] = [("unknown argument", {**base, "no_such_argument": 1})]
    if required:
        calls.append(("missing required", {}))
    for name, prop in props.items():
        options = prop.get("anyOf", [prop])
        kinds = {o.get("type") for o in options}
        for kind, wrong in WRONG_TYPE.items():
            if kind in kinds and not any(_accepts(o, wrong) for o in options):
                calls.append((f"{name}: wrong type", {**base, name: wrong}))
                break
        if any("enum" in o for o in options):
            calls.append((f"{name}: not in enum", {**base, name: "no-such-choice"}))
        if any(o.get("format") == "handle" for o in options) and kinds == {"string"}:
            calls.append((f"{name}: no such handle", {**base, name: "r999"}))
            calls.append((f"{name}: handle of another kind", {**base, name: "r1"}))
    return calls


def _accepts(option: dict, value: object) -> bool:
    return option.get("type") == "string" and isinstance(value, str)


def _valid(prop: dict) -> object:
    option = prop.get("anyOf", [prop])[0]
    if "enum" in option:
        return option["enum"][0]
    return {"integer": 1, "number": 1.0, "boolean": True, "array": ["KLF1"], "object": {}}.get(
        option.get("type"), "data" if option.get("format") == "handle" else "KLF1"
    )


def test_every_wrong_argument_is_a_tool_error(toolbox):
    tools = toolbox.describe()
    cases = [(t["name"], what, args) for t in tools for what, args in _bad_calls(t)]
    assert len(cases) >= 5 * len(tools)

    async def main():
        out = []
        async with Client(make_server(toolbox)) as client:
            for name, what, args in cases:
                result = await client.call_tool(name, args)  # a protocol error raises here
                out.append((name, what, args, result))
        return out

    wrong = []
    for name, what, args, result in asyncio.run(main()):
        text = result.content[0].text if result.content else ""
        if what.endswith("handle of another kind") and not result.is_error:
            continue  # the parameter takes any object (Any): nothing to refuse
        if not result.is_error or not text.startswith("error: ") or "\n" in text.strip():
            wrong.append(f"{name} ({what}) {args}: is_error={result.is_error} {text[:120]!r}")
        if "internal error" in text or "Traceback" in text:
            wrong.append(f"{name} ({what}) {args}: {text[:160]}")
    assert not wrong, f"{len(wrong)} of {len(cases)} bad calls:\n" + "\n".join(wrong)


def test_schema_and_validation_agree(toolbox):
    async def main():
        async with Client(make_server(toolbox)) as client:
            grn = await client.call_tool(
                "simulate_perturbseq",
                {"grn": 12, "cells_per_condition": 4, "singles": 2, "doubles": 0},
            )
            wrong_kind = await client.call_tool("describe_data", {"adata": "r1"})
            k = await client.call_tool("kb_search", {"query": "erythrocyte", "k": -5})
        return grn, wrong_kind, k

    grn, wrong_kind, k = asyncio.run(main())
    assert not grn.is_error, grn.content[0].text
    assert (
        "AnnData 24 cells x 12 genes" in grn.content[0].text or "x 12 genes" in grn.content[0].text
    )
    assert wrong_kind.is_error
    assert wrong_kind.content[0].text == (
        "error: describe_data: argument 'adata' needs a AnnData handle; r1 is a DataFrame"
    )
    assert k.is_error and "k must be an integer >= 1" in k.content[0].text
