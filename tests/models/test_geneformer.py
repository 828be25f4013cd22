"""``geneformer:PATH``: a tiny random BertForMaskedLM in the published folder layout,
checked against transformers' own BERT and an independent rank-value tokenization."""

from __future__ import annotations

import pickle

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch

import virtualcell as vc
from virtualcell._errors import DataFormatError

transformers = pytest.importorskip("transformers")

N_GENES = 40
TOL = 1e-5


def _ensembl(i: int) -> str:
    return f"ENSG{i:011d}"


def make_folder(tmp_path, *, v2: bool = False, weights: str = "safetensors", seed: int = 0):
    """config.json + weights of a random BertForMaskedLM, token_dictionary.pkl and
    gene_median_dictionary.pkl (plain pickles, as published)."""
    torch.manual_seed(seed)
    special = ["<pad>", "<mask>"] + (["<cls>", "<eos>"] if v2 else [])
    tokens = {s: i for i, s in enumerate(special)}
    tokens.update({_ensembl(g): len(special) + g for g in range(N_GENES)})
    config = transformers.BertConfig(
        vocab_size=len(tokens),
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=24,
        hidden_act="relu",  # as Geneformer's config
        pad_token_id=0,
    )
    model = transformers.BertForMaskedLM(config).eval()
    folder = tmp_path / ("gf_v2" if v2 else "gf")
    folder.mkdir()
    if weights == "safetensors":
        model.save_pretrained(folder)
    else:
        config.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    rng = np.random.default_rng(seed)
    medians = {_ensembl(g): float(rng.uniform(0.5, 4.0)) for g in range(N_GENES)}
    (folder / "token_dictionary.pkl").write_bytes(pickle.dumps(tokens))
    (folder / "gene_median_dictionary.pkl").write_bytes(pickle.dumps(medians))
    return folder, model, tokens, medians


def make_cells(n: int = 9, seed: int = 1) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(1.5, 3.0, (n, N_GENES + 5))).astype(np.float32)
    X[0, :] = 0
    X[0, 3] = 5  # one cell with a single gene
    a = ad.AnnData(sp.csr_matrix(X))
    a.var_names = [f"SYM{g}" for g in range(N_GENES + 5)]  # symbols in var_names
    a.var["ensembl_id"] = [_ensembl(g) for g in range(N_GENES)] + [f"OTHER{g}" for g in range(5)]
    a.obs_names = [f"c{i}" for i in range(n)]
    return a


def reference_tokens(a, tokens, medians, size, v2):
    """Rank-value encoding written out independently (one cell at a time)."""
    X = a.X.toarray().astype(np.float64)
    ids = list(a.var["ensembl_id"])
    out = []
    for row in X:
        total = row.sum()
        pairs = [
            (row[j] / total * 10_000 / medians[g], j, tokens[g])
            for j, g in enumerate(ids)
            if g in medians and row[j] > 0
        ]
        pairs.sort(key=lambda p: (-p[0], p[1]))
        seq = [t for _, _, t in pairs]
        if v2:
            seq = [tokens["<cls>"], *seq[: size - 2], tokens["<eos>"]]
        else:
            seq = seq[:size]
        out.append(seq)
    return out


def reference_embedding(model, seqs, *, mode, layer=-1, v2=False):
    """transformers' BertModel (the MLM's ``bert``) on padded batches, pooled as
    Geneformer's EmbExtractor pools."""
    n = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), n), dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    with torch.no_grad():
        hs = model.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    h = hs.hidden_states[len(hs.hidden_states) - 1 + layer]
    if mode == "cls":
        return h[:, 0].numpy()
    out = []
    for i, s in enumerate(seqs):
        rows = h[i, 1 : len(s) - 1] if v2 else h[i, : len(s)]
        out.append(rows.mean(0).numpy())
    return np.stack(out)


def test_forward_equals_transformers_bert(tmp_path):
    folder, ref, *_ = make_folder(tmp_path)
    ours = vc.models.load(f"geneformer:{folder}")
    ids = torch.randint(2, ref.config.vocab_size, (4, 24))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    mask[3, 3:] = 0
    with torch.no_grad():
        theirs = ref.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        mine = ours.hidden_states(ids, mask)
    assert len(mine) == len(theirs.hidden_states) == 4
    diff = max(
        float((a - b)[mask.bool()].abs().max())
        for a, b in zip(mine, theirs.hidden_states, strict=True)
    )
    print(f"geneformer hidden states: max |ours - transformers| = {diff:.2e}")
    assert diff < TOL


@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_embeddings_equal_the_reference_pipeline(tmp_path, weights):
    folder, ref, tokens, medians = make_folder(tmp_path, weights=weights)
    model = vc.models.load(f"geneformer:{folder}")
    assert model.emb_mode == "cell" and model.emb_layer == -1
    cells = make_cells()
    emb = model.embed(cells, batch_size=4)  # genes found in var["ensembl_id"]
    seqs = reference_tokens(cells, tokens, medians, 24, v2=False)
    assert max(len(s) for s in seqs) == 24  # some cells are truncated
    expected = reference_embedding(ref, seqs, mode="cell")
    diff = float(np.abs(emb - expected).max())
    print(f"geneformer cell embeddings ({weights}): max |diff| = {diff:.2e}")
    assert emb.shape == (cells.n_obs, 16) and diff < TOL
    # the tokenizer itself, token by token
    genes = np.asarray(cells.var["ensembl_id"], dtype=object)
    ids, lengths = model.tokenizer.encode(cells.X, genes)
    assert [list(r[:n]) for r, n in zip(ids, lengths, strict=True)] == seqs


def test_v2_dictionary_uses_cls(tmp_path):
    folder, ref, tokens, medians = make_folder(tmp_path, v2=True, seed=3)
    model = vc.models.load(f"geneformer:{folder}")
    assert model.tokenizer.special and model.emb_mode == "cls"
    cells = make_cells(seed=4)
    seqs = reference_tokens(cells, tokens, medians, 24, v2=True)
    assert all(s[0] == tokens["<cls>"] and s[-1] == tokens["<eos>"] for s in seqs)
    got = model.embed(cells, batch_size=5)
    want = reference_embedding(ref, seqs, mode="cls")
    assert float(np.abs(got - want).max()) < TOL
    mean = vc.models.GeneformerModel(model.network, model.tokenizer, emb_mode="cell")
    want_mean = reference_embedding(ref, seqs, mode="cell", v2=True)
    assert float(np.abs(mean.embed(cells) - want_mean).max()) < TOL
    last = vc.models.GeneformerModel(model.network, model.tokenizer, emb_layer=0)
    want_last = reference_embedding(ref, seqs, mode="cls", layer=0)
    assert float(np.abs(last.embed(cells) - want_last).max()) < TOL


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_malicious_pickle_is_refused(tmp_path):
    folder, *_ = make_folder(tmp_path)
    target = tmp_path / "pwned"
    (folder / "token_dictionary.pkl").write_bytes(pickle.dumps({"<pad>": 0, "x": _Payload(target)}))
    with pytest.raises(
        DataFormatError,
        match=r"token_dictionary.pkl: refused: the pickle asks for (io|builtins)\.open",
    ):
        vc.models.load(f"geneformer:{folder}")
    assert not target.exists()
    # a numpy scalar needs numpy's code to load: refused as well, with the same message
    (folder / "token_dictionary.pkl").write_bytes(pickle.dumps({"a": np.int64(1)}))
    with pytest.raises(DataFormatError, match="refused: the pickle asks for numpy"):
        vc.models.load(f"geneformer:{folder}")
    # other content than str -> int / float
    (folder / "token_dictionary.pkl").write_bytes(pickle.dumps({"a": {"b": 1}}))
    with pytest.raises(DataFormatError, match="is not str -> int"):
        vc.models.load(f"geneformer:{folder}")
    (folder / "token_dictionary.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataFormatError, match="not a readable pickle"):
        vc.models.load(f"geneformer:{folder}")


def test_malicious_weights_are_refused(tmp_path):
    folder, *_ = make_folder(tmp_path, weights="bin")
    target = tmp_path / "pwned"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(target)))
    with pytest.raises(DataFormatError, match="weights_only=True"):
        vc.models.load(f"geneformer:{folder}")
    assert not target.exists()


def test_json_dictionaries_and_problems_are_named(tmp_path):
    import json

    folder, _, tokens, medians = make_folder(tmp_path)
    for stem, doc in (("token_dictionary", tokens), ("gene_median_dictionary", medians)):
        (folder / f"{stem}.pkl").unlink()
        (folder / f"{stem}.json").write_text(json.dumps(doc))
    model = vc.models.load(f"geneformer:{folder}")
    assert len(model.tokenizer.genes()) == N_GENES
    cells = make_cells()
    with pytest.raises(vc.ValidationError, match="vocabulary"):
        model.embed(cells[:, 40:])  # none of these genes is in the dictionary
    with pytest.raises(vc.ValidationError, match="is not a var column"):
        model.embed(cells, gene_column="nonexistent")
    with pytest.raises(vc.ValidationError, match="no gene of the Geneformer token"):
        model.embed(cells[:, :1])  # cells without that gene
    (folder / "token_dictionary_v1.json").write_text(json.dumps(tokens))
    with pytest.raises(DataFormatError, match="several files could be the gene token"):
        vc.models.load(f"geneformer:{folder}")
    (folder / "token_dictionary_v1.json").rename(tmp_path / "tokens.json")
    explicit = vc.models.GeneformerModel.from_folder(
        folder, token_dictionary=tmp_path / "tokens.json"
    )
    assert explicit.tokenizer.token_dictionary == tokens
    (folder / "gene_median_dictionary.json").unlink()
    with pytest.raises(DataFormatError, match="no gene median file"):
        vc.models.load(f"geneformer:{folder}")
    with pytest.raises(vc.ValidationError, match="is not a folder"):
        vc.models.load(f"geneformer:{tmp_path / 'nowhere'}")


def test_vcell_embed_and_oracle_source_take_geneformer_paths(tmp_path, capsys):
    from virtualcell.cli import main

    folder, *_ = make_folder(tmp_path)
    cells = make_cells()
    path, out = tmp_path / "cells.h5ad", tmp_path / "emb.h5ad"
    cells.write_h5ad(path)
    argv = ["embed", str(path), "--model", f"geneformer:{folder}", "--out", str(out)]
    assert main(argv) == 0
    got = ad.read_h5ad(out).obsm["X_vc"]
    want = vc.models.load(f"geneformer:{folder}").embed(cells)
    assert np.allclose(got, want, atol=1e-6)
    # the represent task's oracle source reads the same string
    z = vc.represent.embed(cells.copy(), source="oracle", model=f"geneformer:{folder}")
    assert np.allclose(z, want, atol=1e-6)
    bad = ["embed", str(path), "--model", f"geneformer:{tmp_path / 'nope'}", "--out", str(out)]
    assert main(bad) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_represent_runs_a_published_checkpoint(tmp_path):
    import pandas as pd

    folder, *_ = make_folder(tmp_path)
    cells = make_cells(n=30, seed=5)
    cells.obs["cell_type"] = np.where(np.arange(30) % 2, "a", "b")
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    out = tmp_path / "bench"
    vc.bench.run(
        "quick",
        out=out,
        tasks=["represent"],
        methods=["checkpoint"],
        data=path,
        user_options={"label_key": "cell_type", "model": f"geneformer:{folder}"},
        seeds=[0],
        n_jobs=1,
    )
    table = pd.read_csv(out / "results.csv")
    rows = table[(table["method"] == "checkpoint") & (table["metric"] == "avg_bio")]
    assert len(rows) == 1 and np.isfinite(rows["value"]).all()
    assert {"pca", "checkpoint"} <= set(table["method"])  # beside the PCA baseline


def test_log_normalised_input_is_refused_naming_the_counts(tmp_path):
    """Geneformer ranks counts / library size / gene median: log-normalised values give
    other ranks, so they are refused (they were embedded silently); the counts in
    ``.raw`` are named and give the embedding of the counts themselves."""
    folder, *_ = make_folder(tmp_path)
    model = vc.models.load(f"geneformer:{folder}")
    cells = make_cells()
    logged = cells.copy()
    logged.raw = cells.copy()
    x = logged.X.toarray()
    logged.X = sp.csr_matrix(np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1) * 1e4))
    with pytest.raises(vc.ValidationError, match=r"does not look like counts.*layer='raw'"):
        model.embed(logged)
    np.testing.assert_allclose(model.embed(logged, layer="raw"), model.embed(cells), atol=1e-6)


def test_a_geneformer_folder_without_its_prefix_names_the_prefix(tmp_path):
    folder, *_ = make_folder(tmp_path)
    with pytest.raises(
        DataFormatError, match=f"published Geneformer folder: pass geneformer:{folder}"
    ):
        vc.models.load(str(folder))
