"""Constrained decoding: every reply of a (random) model is a valid call of an offered tool
or an answer; the reused key/value cache of the shared prompt prefix changes nothing.

A tiny byte-level tokenizer and a randomly initialised 1-layer Llama stand in for the real
model (the mechanism, not the model's skill, is under test), so these run in seconds.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("llguidance")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import virtualcell as vc  # noqa: E402
from virtualcell.agent import LocalBackend, Toolbox, action_schema  # noqa: E402
from virtualcell.agent._schema import validate_arguments  # noqa: E402


def _backend(tiny, **kw) -> LocalBackend:
    b = LocalBackend(**kw)
    b.load = lambda: tiny  # the tiny model instead of the GGUF file
    b._path = lambda: __import__("pathlib").Path("tiny.gguf")
    return b


@pytest.fixture
def tools(tmp_path):
    tb = Toolbox(tmp_path / "ws", kb=None)
    return tb, [tb.get(n) for n in ("go_annotations", "tf_targets", "enrich", "count_cell_types")]


def test_random_model_only_writes_valid_calls_or_answers(tiny, tools):
    tb, offered = tools
    schema = action_schema(offered, handles=["data"])
    b = _backend(tiny)
    kinds = set()
    for seed in range(8):
        r = b.chat(
            [{"role": "user", "content": f"question {seed}"}],
            max_tokens=120, temperature=1.5, seed=seed, schema=schema,
        )  # fmt: skip
        obj = json.loads(r.text)  # always one complete JSON object
        if "answer" in obj:
            assert set(obj) == {"answer"} and 1 <= len(obj["answer"]) <= 240
            kinds.add("answer")
            continue
        assert set(obj) == {"tool", "args"} and obj["tool"] in {t.name for t in offered}
        validate_arguments(tb.get(obj["tool"]).schema, obj["args"], tool=obj["tool"])
        for name, value in obj["args"].items():  # handles only name existing objects
            if tb.get(obj["tool"]).schema["properties"][name].get("format") == "handle":
                assert value == "data"
        kinds.add(obj["tool"])
    assert len(kinds) >= 2  # sampling reaches more than one branch of the schema


def test_unconstrained_random_model_writes_garbage(tiny):
    """The control: without the schema the same model does not write a valid object."""
    b = _backend(tiny)
    texts = [
        b.chat([{"role": "user", "content": "q"}], max_tokens=40, temperature=1.5, seed=s).text
        for s in range(4)
    ]
    assert all(vc.agent.parse_action(t).kind == "error" for t in texts)


def test_reused_prefix_cache_gives_identical_greedy_output(tiny, tools):
    _, offered = tools
    schema = action_schema(offered, handles=["data"])
    turns = [
        [{"role": "system", "content": "tools: " * 30}, {"role": "user", "content": "q1"}],
    ]
    turns.append(
        turns[0] + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "obs"}]
    )
    with_reuse, without = _backend(tiny), _backend(tiny, reuse_prefix=False)
    a = [with_reuse.chat(m, max_tokens=60, schema=schema).text for m in turns]
    b = [without.chat(m, max_tokens=60, schema=schema).text for m in turns]
    assert a == b
    assert with_reuse.reused_tokens > 30 and without.reused_tokens == 0


def test_action_schema_compacts_and_bounds(tools):
    _, offered = tools
    s = action_schema(offered[:1], handles=[], answer=False)
    args = s["properties"]["args"]
    text = json.dumps(args)
    assert "description" not in text and "default" not in text and "format" not in text
    assert args["properties"]["gene"]["maxLength"] == 80
    with pytest.raises(vc.VirtualCellError, match="no tool"):
        action_schema([], answer=False)


def test_agent_passes_the_schema_of_offered_tools_and_existing_handles(kb, tmp_path):
    backend = vc.agent.ScriptedBackend(['{"answer": "done"}'])
    agent = vc.agent.Agent(backend, kb=kb, workspace=vc.agent.Workspace(tmp_path / "ws"), plan=False,
                           max_tools=3)  # fmt: skip
    agent.run("Which process is TP53 involved in?")
    schema = backend.schemas[0]
    names = [o["properties"]["tool"]["const"] for o in schema["anyOf"] if "tool" in o["properties"]]
    assert 3 <= len(names) <= 4 and "kb_search" in names
    off = vc.agent.ScriptedBackend(['{"answer": "done"}'])
    vc.agent.Agent(off, kb=kb, workspace=vc.agent.Workspace(tmp_path / "ws2"), plan=False,
                   constrain=False).run("q")  # fmt: skip
    assert off.schemas == [None]


def test_grounded_arguments_only_take_words_of_the_context(tiny, tools):
    from virtualcell.agent._constrain import context_words

    _, offered = tools
    words = context_words("Which process is the gene TP53 involved in?", "targets: 'MDM2', CDKN1A.")
    assert {"TP53", "MDM2", "CDKN1A", "process"} <= set(words) and "CDKN1A." not in words
    schema = action_schema(offered[:2], handles=["data"], answer=False, words=words)
    b = _backend(tiny)
    for seed in range(4):
        obj = json.loads(
            b.chat(
                [{"role": "user", "content": "q"}],
                max_tokens=60,
                temperature=1.5,
                seed=seed,
                schema=schema,
            ).text
        )
        strings = [v for v in obj["args"].values() if isinstance(v, str)]
        assert strings and all(v in words for v in strings)


def test_grounded_answer_is_a_list_of_context_items_joined():
    from virtualcell.agent._constrain import context_words

    words = context_words(
        "Name a target of KLF1.", "r1 = table\ntarget,sign\nHBB,1\nalpha globin chain,0"
    )
    assert "alpha globin chain" in words
    s = action_schema([], words=words, ground_answer=True)
    assert s["properties"]["answer"]["items"]["enum"] == words
    assert vc.agent.parse_action('{"answer": ["KLF1", "HBB"]}').answer == "KLF1; HBB"


def test_openai_backend_sends_the_schema_and_falls_back_when_refused(chat_server):
    schema = action_schema([], answer=True)
    msgs = [{"role": "user", "content": "q"}]
    ok = chat_server(['{"answer": "a"}'])
    b = vc.agent.OpenAIBackend(ok.url, model="m")
    assert b.chat(msgs, schema=schema).text == '{"answer": "a"}'
    rf = ok.requests[0]["body"]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"] == schema
    old = chat_server(['{"answer": "b"}', '{"answer": "c"}'], refuse=("json_schema", "json_object"))
    b = vc.agent.OpenAIBackend(old.url, model="m")
    assert b.chat(msgs, schema=schema).text == '{"answer": "b"}' and b.structured == "none"
    assert "response_format" not in old.requests[0]["body"]
    b.chat(msgs, schema=schema)  # remembered: no retry with a refused format
    assert len(old.requests) == 2


def test_free_form_objects_are_bounded_in_depth():
    """A measured failure: `enrich`'s `gene_sets` mapping let SmolLM2 nest lists until the
    token budget ran out (1 unparseable reply of 93 in the 20-task run)."""
    s = vc.agent.compact_schema({"type": "object", "properties": {"m": {"type": "object"}}})
    extra = s["properties"]["m"]["additionalProperties"]["anyOf"]
    assert {o["type"] for o in extra} == {"string", "number", "boolean", "array"}
    assert all(o.get("items", {}).get("type", "string") == "string" for o in extra)


def test_tokens_the_grammar_forces_do_not_spend_the_budget(tiny):
    """A filled call whose argument is a long const list (25 candidate edges) is written
    whole even when it is longer than max_tokens (before: cut at the budget, invalid
    JSON, three failed replies on a knockout-edge task)."""
    edges = [f"SNAI1->GENE{i:02d}" for i in range(25)]
    schema = {
        "type": "object",
        "properties": {
            "tool": {"const": "knockout_support"},
            "args": {
                "type": "object",
                "properties": {"adata": {"enum": ["data"]}, "edges": {"const": edges}},
                "required": ["adata", "edges"],
                "additionalProperties": False,
            },
        },
        "required": ["tool", "args"],
        "additionalProperties": False,
    }
    r = _backend(tiny).chat([{"role": "user", "content": "q"}], max_tokens=20, schema=schema)
    assert len(r.text) > 20 * 4  # far more characters than the budget's tokens could hold
    assert json.loads(r.text) == {
        "tool": "knockout_support",
        "args": {"adata": "data", "edges": edges},
    }
