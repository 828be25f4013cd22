"""What the ``openai`` backend sends for structured output, against tiny scripted servers
on 127.0.0.1 that behave like the real ones met (no model): llama-cpp-python's server
(422 on ``json_schema``, takes ``json_object`` + ``schema``) and ``transformers serve``
(answers 200 and ignores ``response_format``)."""

from __future__ import annotations

import pytest

import virtualcell as vc
from virtualcell.agent import OpenAIBackend, action_schema
from virtualcell.agent._openai import LEVELS, response_format, schema_violation

MSGS = [{"role": "user", "content": "Which process is KLF1 in?"}]
SCHEMA = action_schema([], answer=True)  # {"answer": non-empty string}, nothing else


@pytest.fixture
def server(chat_server):
    """``server(answer)``: conftest's scripted server, each reply decided by ``answer``."""
    return lambda answer: chat_server(answer=answer)


def llama_cpp_python(status):
    """Like llama-cpp-python's server (0.3.36, measured): ``response_format.type`` is
    ``text`` or ``json_object``, anything else is answered with its pydantic error (HTTP
    500 there; 422 from a plain FastAPI app); a schema inside ``json_object`` is honoured."""

    def answer(body):
        rf = body.get("response_format")
        if rf is not None and rf["type"] not in ("text", "json_object"):
            msg = "('body', 'response_format', 'type'): Input should be 'text' or 'json_object'"
            return status, msg, "stop"
        if rf is not None and "schema" in rf:
            return 200, '{"answer": "erythrocyte differentiation"}', "stop"
        return 200, "1. 1. 2. 2. 3. 3.", "stop"

    return answer


def test_response_format_of_each_level():
    s = {"type": "object"}
    assert response_format("json_schema", s) == {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": s, "strict": True},
    }
    assert response_format("json_object_schema", s) == {"type": "json_object", "schema": s}
    assert response_format("json_object", s) == {"type": "json_object"}
    assert response_format("json_object", None, json_object=True) == {"type": "json_object"}
    assert response_format("none", s) is None
    assert response_format("json_schema", None) is None  # nothing to constrain
    with pytest.raises(vc.ValidationError, match="structured-output level"):
        response_format("grammar", s)
    assert LEVELS[0] == "json_schema" and LEVELS[-1] == "none"


def test_schema_violation_names_what_is_wrong():
    assert schema_violation('{"answer": "apoptosis"}', SCHEMA) is None
    assert schema_violation("1. 2. 3.", SCHEMA).startswith("not JSON")
    assert "answer" in schema_violation('{"answer": ""}', SCHEMA)  # minLength 1
    assert schema_violation('{"answer": "a", "x": 1}', SCHEMA) is not None  # no extra keys
    enum = {"type": "object", "properties": {"g": {"enum": ["KLF1"]}}, "required": ["g"]}
    assert schema_violation('{"g": "HBB"}', enum).startswith("g:")


@pytest.mark.parametrize("status", [500, 422])
def test_llama_cpp_python_form_after_a_refusal(server, status):
    """json_schema is refused; the same request goes again with the schema inside
    json_object (what llama-cpp-python compiles to a grammar), and stays so."""
    srv = server(llama_cpp_python(status))
    b = OpenAIBackend(srv.url, model="m")
    r = b.chat(MSGS, schema=SCHEMA)
    assert r.text == '{"answer": "erythrocyte differentiation"}'
    types = [x["response_format"]["type"] for x in srv.bodies]
    # the openai client retries a 500 once before the backend sees it
    assert types == ["json_schema"] * (2 if status == 500 else 1) + ["json_object"]
    assert srv.bodies[-1]["response_format"]["schema"] == SCHEMA
    assert b.structured == "json_object_schema"
    n = len(srv.bodies)
    b.chat(MSGS, schema=SCHEMA)
    assert len(srv.bodies) == n + 1 and srv.bodies[-1]["response_format"]["schema"] == SCHEMA
    assert b.schema_stats["refused"] == 1
    assert b.schema_stats["checked"] == 2 and b.schema_stats["violations"] == 0


def test_a_server_that_ignores_the_schema_is_detected_and_logged(server, capsys, monkeypatch):
    """transformers serve answers 200 and ignores response_format: the replies are
    counted as violations, the first is logged, and the backend tries the other form."""
    monkeypatch.setattr(vc.settings, "verbosity", 1)  # the tests run quiet
    srv = server(lambda body: (200, "1. 1. 2. 2. 3. 3.", "stop"))
    b = OpenAIBackend(srv.url, model="m")
    assert b.chat(MSGS, schema=SCHEMA).text == "1. 1. 2. 2. 3. 3."
    err = capsys.readouterr().err
    assert "did not follow the schema" in err and "not JSON" in err
    assert b.structured == "json_object_schema"  # stepped down after a non-JSON reply
    b.chat(MSGS, schema=SCHEMA)
    assert srv.bodies[1]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert b.schema_stats["checked"] == 2 and b.schema_stats["violations"] == 2
    assert b.schema_stats["first"].startswith("[json_schema] not JSON")
    assert b.structured == "json_object_schema"  # no lower: json_object alone is weaker
    assert "did not follow" not in capsys.readouterr().err  # logged once


def test_a_reply_cut_by_the_token_limit_is_not_a_violation(server):
    srv = server(lambda body: (200, '{"answer": "erythro', "length"))
    b = OpenAIBackend(srv.url, model="m")
    b.chat(MSGS, schema=SCHEMA, max_tokens=4)
    assert b.schema_stats["truncated"] == 1 and b.schema_stats["violations"] == 0
    assert b.structured == "json_schema"


def test_no_schema_no_response_format_and_other_errors_stay_errors(server):
    srv = server(lambda body: (200, "plain text", "stop"))
    b = OpenAIBackend(srv.url, model="m")
    assert b.chat(MSGS).text == "plain text"
    assert "response_format" not in srv.bodies[0] and b.schema_stats["checked"] == 0
    bad = server(lambda body: (422, "messages: field required", "stop"))
    with pytest.raises(vc.VirtualCellError, match="openai backend"):
        OpenAIBackend(bad.url, model="m").chat(MSGS)  # no response_format to drop
    broken = server(lambda body: (500, "out of memory", "stop"))
    b = OpenAIBackend(broken.url, model="m")
    with pytest.raises(vc.VirtualCellError, match="out of memory"):
        b.chat(MSGS, schema=SCHEMA)  # a 500 that is not about response_format
    assert b.structured == "json_schema"
