"""Fixtures of the agent tests: the tiny knowledge base of tests/knowledge plus a small
GO-style gene-set library (Enrichr naming), built once per session; a loopback
OpenAI-compatible server with scripted replies."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

_KBDATA = Path(__file__).resolve().parents[1] / "knowledge" / "_kbdata.py"


def _kbdata():
    spec = importlib.util.spec_from_file_location("_agent_kbdata", _KBDATA)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GO_LIBRARY = {
    "erythrocyte differentiation (GO:0030218)": ["KLF1", "GATA1", "HBB"],
    "insulin secretion (GO:0030073)": ["INS", "GCG"],
    "apoptotic process (GO:0006915)": ["TP53", "BAX", "CDKN1A", "MDM2"],
}


@pytest.fixture(scope="session")
def agent_kb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from virtualcell.knowledge import build

    root = _kbdata().write_sources(tmp_path_factory.mktemp("agent-kb-src"))
    (root / "gene_sets" / "GO_Biological_Process_test.gmt").write_text(
        "".join(f"{k}\t\t" + "\t".join(v) + "\n" for k, v in GO_LIBRARY.items())
    )
    out = tmp_path_factory.mktemp("agent-kb") / "knowledge.sqlite"
    build(root, out=out, include_defaults=False)
    return out


@pytest.fixture
def kb(agent_kb_path):
    from virtualcell.knowledge import load as kb_open

    store = kb_open(agent_kb_path)
    yield store
    store.close()


class ScriptedChatServer:
    """An OpenAI-compatible ``/v1/chat/completions`` endpoint on 127.0.0.1 that replies
    with the given texts in order and records every request body.

    ``refuse``: ``response_format`` types answered with 400 (not recorded). ``answer``:
    instead of ``replies``, a function ``answer(body) -> (status, text, finish_reason)``
    deciding each reply (a status other than 200 sends ``text`` as the error message)."""

    def __init__(self, replies: list[str] = (), refuse: tuple[str, ...] = (), answer=None):
        self.replies = list(replies)
        self.requests: list[dict] = []
        self.refuse = refuse
        outer = self

        def scripted(body: dict) -> tuple[int, str, str] | None:
            kind = (body.get("response_format") or {}).get("type")
            if kind in outer.refuse:
                return None  # refused, not recorded
            i = len(outer.requests)
            return 200, outer.replies[i] if i < len(outer.replies) else '{"answer": "done"}', "stop"

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = (answer or scripted)(body)
                if reply is None:
                    kind = body["response_format"]["type"]
                    self._send(400, {"error": {"message": f"{kind} unsupported"}})
                    return
                outer.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                i = len(outer.requests) - 1
                status, text, finish = reply
                if status != 200:
                    self._send(status, {"error": {"message": text, "type": "server_error"}})
                    return
                self._send(200, {
                    "id": f"chatcmpl-{i}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "test"),
                    "choices": [{
                        "index": 0,
                        "finish_reason": finish,
                        "message": {"role": "assistant", "content": text},
                    }],
                    "usage": {
                        "prompt_tokens": 11 * (i + 1),
                        "completion_tokens": 7,
                        "total_tokens": 11 * (i + 1) + 7,
                    },
                })  # fmt: skip

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def bodies(self) -> list[dict]:
        """The recorded request bodies, in order."""
        return [r["body"] for r in self.requests]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_server():
    servers = []

    def start(replies=(), refuse=(), answer=None):
        s = ScriptedChatServer(replies, refuse, answer).__enter__()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.__exit__()


# a random 1-layer model with a byte-level tokenizer: the decoding mechanism under test, not
# a model's skill (test_agent_constrain.py, test_agent_fill.py)
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer): byte-level BPE with a few merges, random 1-layer Llama."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<eos>", "<|end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = ['{"tool":"go_annotations","args":{"gene":"TP53"}}', '{"answer":"apoptosis"}'] * 20
    tk.train_from_iterator(corpus, trainer)
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>")
    tok.chat_template = TEMPLATE
    cfg = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    return model, tok
