"""``scgpt:PATH``: a tiny random model in scGPT's published layout (best_model.pt,
vocab.json, args.json), checked against a reference module written here with scGPT's
state-dict names and its forward pass (torch's own TransformerEncoder)."""

from __future__ import annotations

import json
import pickle

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

import virtualcell as vc
from virtualcell._errors import DataFormatError

N_GENES = 30
TOL = 1e-5
ARGS = {
    "embsize": 16,
    "nheads": 2,
    "d_hid": 24,
    "nlayers": 2,
    "n_layers_cls": 3,
    "n_bins": 11,
    "dropout": 0.2,
    "pad_token": "<pad>",
    "pad_value": -2,
    "mask_value": -1,
    "max_seq_len": 20,
    "input_emb_style": "continuous",
    "fast_transformer": False,
}


class Reference(nn.Module):
    """scGPT's TransformerModel, reduced to what the cell embedding uses (plus its
    expression decoder, which a real best_model.pt also holds): same attribute names."""

    def __init__(self, ntoken: int, args: dict, pad_id: int) -> None:
        super().__init__()
        d = args["embsize"]
        self.encoder = nn.Module()
        self.encoder.embedding = nn.Embedding(ntoken, d, padding_idx=pad_id)
        self.encoder.enc_norm = nn.LayerNorm(d)
        self.value_encoder = nn.Module()
        self.value_encoder.linear1 = nn.Linear(1, d)
        self.value_encoder.linear2 = nn.Linear(d, d)
        self.value_encoder.norm = nn.LayerNorm(d)
        layer = nn.TransformerEncoderLayer(
            d, args["nheads"], args["d_hid"], args["dropout"], batch_first=True
        )
        self.transformer_encoder = nn.TransformerEncoder(layer, args["nlayers"])
        self.decoder = nn.Module()
        self.decoder.fc = nn.Sequential(nn.Linear(d, d), nn.LeakyReLU(), nn.Linear(d, 1))

    def encode(self, src, values, padding_mask):
        g = self.encoder.enc_norm(self.encoder.embedding(src))
        v = values.unsqueeze(-1).clamp(max=512)
        v = self.value_encoder.linear1(v).relu()
        v = self.value_encoder.norm(self.value_encoder.linear2(v))
        return self.transformer_encoder(g + v, src_key_padding_mask=padding_mask)


def make_folder(tmp_path, *, flash_names: bool = False, seed: int = 0, args: dict | None = None):
    torch.manual_seed(seed)
    args = dict(ARGS, **(args or {}))
    vocab = {"<pad>": 0}
    vocab.update({f"GENE{g}": g + 1 for g in range(N_GENES)})
    vocab["<cls>"] = N_GENES + 1  # "<eoc>" left out: scGPT appends it
    ntoken = N_GENES + 3
    ref = Reference(ntoken, args, pad_id=0).eval()
    folder = tmp_path / "scgpt"
    folder.mkdir()
    state = ref.state_dict()
    if flash_names:  # as saved by scGPT's flash-attention layers
        state = {k.replace("self_attn.in_proj_", "self_attn.Wqkv."): v for k, v in state.items()}
    torch.save(state, folder / "best_model.pt")
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "args.json").write_text(json.dumps(args))
    return folder, ref, vocab


def make_cells(n: int = 7, seed: int = 0) -> ad.AnnData:
    """Counts whose non-zero values differ within each cell (so scGPT's random tie
    spreading never applies and the bins are np.digitize's)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, N_GENES + 4), dtype=np.float32)
    for i in range(n):
        k = rng.integers(5, N_GENES + 4)
        cols = rng.choice(N_GENES + 4, k, replace=False)
        X[i, cols] = rng.permutation(np.arange(1, k + 1)) * 3.0
    a = ad.AnnData(sp.csr_matrix(X))
    a.var_names = [f"GENE{g}" for g in range(N_GENES)] + [f"UNKNOWN{g}" for g in range(4)]
    a.obs_names = [f"c{i}" for i in range(n)]
    return a


def test_forward_equals_the_reference_module(tmp_path):
    folder, ref, vocab = make_folder(tmp_path)
    model = vc.models.load(f"scgpt:{folder}")
    ids = torch.randint(1, N_GENES + 1, (5, 12))
    ids[:, 0] = vocab["<cls>"]
    values = torch.randint(1, 11, (5, 12)).float()
    values[:, 0] = -2
    ids[2, 7:] = 0
    ids[4, 3:] = 0
    values[ids == 0] = -2
    pad = ids.eq(0)
    with torch.no_grad():
        want = ref.encode(ids, values, pad)
        got = model.network(ids, values, pad)
    diff = float((got - want)[~pad].abs().max())
    print(f"scgpt encoder output: max |ours - reference| = {diff:.2e}")
    assert diff < TOL


@pytest.mark.parametrize("flash_names", [False, True])
def test_cell_embeddings_equal_the_reference_pipeline(tmp_path, flash_names):
    folder, ref, vocab = make_folder(tmp_path, flash_names=flash_names, seed=2)
    model = vc.models.load(f"scgpt:{folder}")
    assert model.tokenizer.vocab["<eoc>"] == N_GENES + 2
    cells = make_cells()
    got = model.embed(cells, batch_size=3)
    # the reference tokenization: <cls> + (gene, bin) of the non-zero known genes
    X = cells.X.toarray()
    rows = []
    for row in X:
        nz = [j for j in range(N_GENES) if row[j] > 0]
        vals = row[nz]
        edges = np.quantile(vals, np.linspace(0, 1, ARGS["n_bins"] - 1))
        rows.append(([vocab["<cls>"]] + [j + 1 for j in nz], [-2.0, *np.digitize(vals, edges)]))
    long = [r for r in rows if len(r[0]) <= ARGS["max_seq_len"]]
    assert len(long) < len(rows)  # some cells are longer than max_seq_len: sampled
    n = max(len(r[0]) for r in rows)
    ids = torch.zeros((len(rows), n), dtype=torch.long)
    values = torch.full((len(rows), n), -2.0)
    for i, (g, v) in enumerate(rows):
        ids[i, : len(g)], values[i, : len(v)] = torch.tensor(g), torch.tensor(v)
    with torch.no_grad():
        want = ref.encode(ids, values, ids.eq(0))[:, 0]
    want = (want / want.norm(dim=1, keepdim=True)).numpy()
    fits = [i for i, r in enumerate(rows) if len(r[0]) <= ARGS["max_seq_len"]]
    diff = float(np.abs(got[fits] - want[fits]).max())
    print(f"scgpt cell embeddings (flash names {flash_names}): max |diff| = {diff:.2e}")
    assert got.shape == (cells.n_obs, ARGS["embsize"]) and diff < TOL
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # a sampled cell keeps max_seq_len tokens of its own genes, binned over all of them
    tok_ids, tok_values = model.tokenizer.encode(cells.X, np.asarray(cells.var_names))
    for i, (g, v) in enumerate(rows):
        k = int((tok_ids[i] != 0).sum())
        assert k == min(len(g), ARGS["max_seq_len"])
        pairs = dict(zip(g[1:], v[1:], strict=True))
        assert all(
            pairs[int(t)] == b for t, b in zip(tok_ids[i, 1:k], tok_values[i, 1:k], strict=True)
        )
    # reproducible (seeded sampling)
    assert np.array_equal(got, model.embed(cells, batch_size=7))


def test_binning_spreads_ties_like_scgpt():
    rng = np.random.default_rng(0)
    values = np.array([1.0] * 30 + [2.0, 3.0, 9.0])
    bins = vc.models._scgpt.bin_values(values, 11, rng)
    edges = np.quantile(values, np.linspace(0, 1, 10))
    left, right = np.digitize(values, edges), np.digitize(values, edges, right=True)
    assert ((bins >= np.minimum(left, right)) & (bins <= np.maximum(left, right))).all()
    assert len(set(bins[:30])) > 1  # tied values on several equal edges are spread
    assert bins.max() == 10 and bins.min() >= 0


def test_refusals(tmp_path):
    folder, *_ = make_folder(tmp_path)

    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    (folder / "best_model.pt").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(DataFormatError, match="weights_only=True"):
        vc.models.load(f"scgpt:{folder}")
    (tmp_path / "b").mkdir()
    folder2, *_ = make_folder(tmp_path / "b", args={"embsize": 32})
    args = json.loads((folder2 / "args.json").read_text())
    args["embsize"] = 8
    (folder2 / "args.json").write_text(json.dumps(args))
    with pytest.raises(DataFormatError, match="shape"):
        vc.models.load(f"scgpt:{folder2}")
    args["nheads"] = 3
    (folder2 / "args.json").write_text(json.dumps(args))
    with pytest.raises(DataFormatError, match="multiple of nheads"):
        vc.models.load(f"scgpt:{folder2}")
    (folder2 / "vocab.json").write_text("[1, 2]")
    with pytest.raises(DataFormatError, match=r"vocab\.json"):
        vc.models.load(f"scgpt:{folder2}")


def test_vcell_embed_takes_scgpt_paths(tmp_path):
    from virtualcell.cli import main

    folder, *_ = make_folder(tmp_path)
    cells = make_cells()
    path, out = tmp_path / "cells.h5ad", tmp_path / "emb.h5ad"
    cells.write_h5ad(path)
    assert main(["embed", str(path), "--model", f"scgpt:{folder}", "--out", str(out)]) == 0
    got = ad.read_h5ad(out).obsm["X_vc"]
    assert np.allclose(got, vc.models.load(f"scgpt:{folder}").embed(cells), atol=1e-6)


def test_a_scgpt_folder_without_its_prefix_names_the_prefix(tmp_path):
    folder, *_ = make_folder(tmp_path)
    with pytest.raises(DataFormatError, match=f"published scGPT folder: pass scgpt:{folder}"):
        vc.models.load(str(folder))
