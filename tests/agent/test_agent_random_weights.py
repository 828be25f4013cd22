"""The random-weights control of the local backend: the same architecture and tokenizer
with every weight random, so the bench can show what the decoding rules, tool choice and
answer ranking achieve without what the model learned."""

from __future__ import annotations

import pytest

from virtualcell.agent._bench import _model_name
from virtualcell.agent._local import LocalBackend, randomise_weights


def test_randomise_weights_replaces_every_weight_the_same_way_each_time(tiny):
    import copy

    import torch

    model, _ = tiny
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    a, b = copy.deepcopy(model), copy.deepcopy(model)
    randomise_weights(a, seed=0)
    randomise_weights(b, seed=0)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb), name  # seeded: the control is reproducible
        if pa.dim() >= 2:
            assert not torch.equal(pa, before[name]), name
            assert abs(float(pa.detach().std()) - 0.02) < 0.01, name
        elif "norm" in name:
            assert torch.all(pa == 1.0), name
        else:
            assert torch.all(pa == 0.0), name
    c = copy.deepcopy(model)
    randomise_weights(c, seed=1)
    assert any(
        not torch.equal(pa, pc)
        for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
        if pa.dim() >= 2
    )


def test_the_control_is_named_in_the_results_and_cached_apart(monkeypatch, tmp_path):
    from virtualcell.agent import _local

    trained, control = LocalBackend(), LocalBackend(random_weights=True)
    assert _model_name("local", trained) == "smollm2-135m"
    assert _model_name("local", control) == "smollm2-135m (random weights)"
    # one process may hold both: the control never gets the trained model's cache entry
    path = tmp_path / "model.gguf"
    cache = {str(path): ("trained", "tok", 1.0), f"{path} (random weights)": ("random", "tok", 2.0)}
    monkeypatch.setattr(_local, "_CACHE", cache)
    for backend in (trained, control):
        monkeypatch.setattr(backend, "_path", lambda: path)
    assert trained.load() == ("trained", "tok") and trained.load_seconds == 1.0
    assert control.load() == ("random", "tok") and control.load_seconds == 2.0


@pytest.mark.parametrize("backend", ["openai", "scripted"])
def test_cli_refuses_the_control_for_other_backends(backend, tmp_path, capsys):
    from virtualcell.cli import main

    argv = ["agent", "bench", "--backend", backend, "--random-weights",
            "--out", str(tmp_path / "o"), "--json"]  # fmt: skip
    assert main(argv) == 2
    assert "--random-weights is a control of the local backend" in capsys.readouterr().err
