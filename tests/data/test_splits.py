"""Splits: determinism, no leakage, category definitions, versioned files."""

from __future__ import annotations

import itertools
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from virtualcell._errors import DataFormatError, ValidationError
from virtualcell.data import split_perturbation
from virtualcell.data import splits as sp


def _cells(n=200, seed=0):
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {
            "cell_type": rng.choice(["T", "B", "NK", "Mono"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "batch": rng.choice(["b1", "b2", "b3"], n),
        },
        index=[f"cell{i}" for i in range(n)],
    )
    return ad.AnnData(np.zeros((n, 3), dtype=np.float32), obs=obs)


def _doubles(n_genes=20, n_doubles=40, cells_per=3, seed=0):
    """Synthetic single + double perturbation data (a few genes never perturbed alone)."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i:02d}" for i in range(n_genes)]
    singles = genes[:-3]  # the last 3 genes occur only in doubles
    pairs = list(itertools.combinations(genes, 2))
    chosen = [pairs[i] for i in rng.choice(len(pairs), n_doubles, replace=False)]
    # mixed label order (B+A) to check canonicalisation
    doubles = [f"{b}+{a}" if i % 2 else f"{a}+{b}" for i, (a, b) in enumerate(chosen)]
    labels = ["control"] * 10 + [c for c in singles + doubles for _ in range(cells_per)]
    obs = pd.DataFrame({"perturbation": labels}, index=[f"c{i}" for i in range(len(labels))])
    return ad.AnnData(np.zeros((len(labels), 2), dtype=np.float32), obs=obs)


def test_random_split_counts_and_determinism():
    a = _cells()
    s1 = sp.random_split(a, fractions=(0.7, 0.1, 0.2), seed=3)
    assert s1.counts()["n_cells"].to_dict() == {"train": 140, "val": 20, "test": 40}
    assert list(a.obs["split"]) == list(s1.assignment)
    s2 = sp.random_split(a, fractions=(0.7, 0.1, 0.2), seed=3, key_added=None)
    assert s2.assignment.equals(s1.assignment)
    s3 = sp.random_split(a, fractions=(0.7, 0.1, 0.2), seed=4, key_added=None)
    assert not s3.assignment.equals(s1.assignment)
    with pytest.raises(ValidationError, match="sum to 1"):
        sp.random_split(a, fractions=(0.7, 0.1, 0.1))


def test_stratified_split_keeps_proportions():
    a = _cells()
    s = sp.stratified_split(a, label_key="cell_type", fractions=(0.5, 0.0, 0.5), seed=0)
    table = pd.crosstab(a.obs["cell_type"], a.obs["split"])
    for ct, row in table.iterrows():
        n = int((a.obs["cell_type"] == ct).sum())
        assert row["test"] == round(0.5 * n)
    assert sp.check_no_leakage(s, a)["val"] == 0


def test_heldout_split():
    a = _cells()
    s = sp.heldout_split(a, label_key="cell_type", test_values=["NK"], val_values=["Mono"])
    assert set(a.obs.loc[a.obs["split"] == "test", "cell_type"]) == {"NK"}
    assert s.conditions == {"train": ["B", "T"], "val": ["Mono"], "test": ["NK"]}
    sp.check_no_leakage(s, a)
    b = sp.heldout_split(a, label_key="batch", test_values="b2", key_added=None)
    assert b.conditions["test"] == ["b2"]
    with pytest.raises(ValidationError, match=r"not found in obs\['cell_type'\]: \['DC'\]"):
        sp.heldout_split(a, label_key="cell_type", test_values=["DC"])


@pytest.mark.parametrize("unseen", ["condition", "gene"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_perturbation_split_no_leakage(unseen, seed):
    a = _doubles(seed=seed)
    s = sp.perturbation_split(a, test_fraction=0.25, val_fraction=0.1, seed=seed, unseen=unseen)
    sp.check_no_leakage(s, a)
    train = set(s.conditions["train"])
    test = set(s.conditions["test"])
    assert "control" in train and not (train & test) and test
    if unseen == "gene":
        train_genes = {g for c in train for g in split_perturbation(c)}
        assert not train_genes & set(s.params["test_genes"])
        for c in test:
            assert set(split_perturbation(c)) & set(s.params["test_genes"])
    again = sp.perturbation_split(
        a, test_fraction=0.25, val_fraction=0.1, seed=seed, unseen=unseen, key_added=None
    )
    assert again.assignment.equals(s.assignment)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_simulation_split_categories(seed):
    a = _doubles(seed=seed)
    s = sp.simulation_split(a, seed=seed)
    report = sp.check_no_leakage(s, a)
    assert report["test"] > 0
    train = set(s.conditions["train"])
    train_singles = {c for c in train if "+" not in c and c != "control"}
    assert train_singles == set(s.params["train_singles"])
    # definitions recomputed independently
    for k in (0, 1, 2):
        for c in s.subgroups[f"combo_seen{k}"]:
            assert sum(g in train_singles for g in split_perturbation(c)) == k
    for c in s.subgroups["unseen_single"]:
        assert all(c not in split_perturbation(t) for t in train)
    for c in train:
        assert set(split_perturbation(c)) <= train_singles
    held = set(s.conditions["test"]) | set(s.conditions["val"])
    assert held == {c for v in s.subgroups.values() for c in v}
    # 17 singles: 25 % test -> 4 unseen singles, 10 % val -> 2
    assert len(s.subgroups["unseen_single"]) == 4 and len(s.subgroups["val_single"]) == 2
    assert sp.simulation_split(a, seed=seed, key_added=None).assignment.equals(s.assignment)


def test_leakage_is_detected():
    a = _doubles()
    s = sp.simulation_split(a, seed=0)
    # move one test double's cells into train: the condition is in both parts
    victim = s.subgroups["combo_seen1"][0]
    bad = s.assignment.copy()
    cells = s.labels.index[s.labels == victim]
    bad[cells[:1]] = "train"
    leaky = sp.Split(bad, s.method, s.seed, s.key, s.labels, s.conditions, s.subgroups, s.params)
    with pytest.raises(sp.LeakageError, match="in both train and test"):
        sp.check_no_leakage(leaky)
    # wrong category: claim a combo_seen1 double is combo_seen0
    groups = {**s.subgroups, "combo_seen1": s.subgroups["combo_seen1"][1:]}
    groups["combo_seen0"] = [*s.subgroups["combo_seen0"], victim]
    wrong = sp.Split(
        s.assignment, s.method, s.seed, s.key, s.labels, s.conditions, groups, s.params
    )
    with pytest.raises(sp.LeakageError, match="combo_seen0 doubles without exactly 0"):
        sp.check_no_leakage(wrong)
    # combination leakage through label order: A+B in train, B+A in test
    labels = pd.Series(["control", "A+B", "B+A", "A"], index=list("wxyz"), dtype=object)
    assign = pd.Series(["train", "train", "test", "train"], index=list("wxyz"), dtype=object)
    combo = sp.Split(
        assign,
        "perturbation",
        0,
        "perturbation",
        labels,
        {"train": ["A", "A+B", "control"], "val": [], "test": ["B+A"]},
    )
    with pytest.raises(sp.LeakageError, match=r"in both train and test: \['B\+A'\]"):
        sp.check_no_leakage(combo)


def test_save_load_roundtrip(tmp_path):
    a = _doubles()
    s = sp.simulation_split(a, seed=5)
    path = s.save(tmp_path / "split.json")
    data = json.loads(path.read_text())
    assert data["format_version"] == sp.FORMAT_VERSION and data["method"] == "simulation"
    back = sp.Split.load(path)
    assert back.assignment.equals(s.assignment) and back.labels.equals(s.labels)
    assert back.subgroups == s.subgroups and back.conditions == s.conditions
    assert back.seed == 5 and back.params == s.params
    sp.check_no_leakage(back, a)
    data["format_version"] = sp.FORMAT_VERSION + 1
    (tmp_path / "new.json").write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match="newer than supported"):
        sp.Split.load(tmp_path / "new.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        sp.Split.load(tmp_path / "bad.json")
    other = _cells()
    with pytest.raises(sp.LeakageError, match="not made on these cells"):
        sp.check_no_leakage(back, other)


def test_simulation_split_refuses_triples():
    a = _doubles()
    a.obs["perturbation"] = a.obs["perturbation"].astype(str)
    a.obs.iloc[-1, 0] = "G01+G02+G03"
    with pytest.raises(ValidationError, match="1 or 2 genes"):
        sp.simulation_split(a, seed=0)
