"""``check_no_leakage``: prove a split keeps test (and val) conditions out of training."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..._errors import ValidationError
from .._conventions import CONTROL, join_perturbation, split_perturbation
from ._common import conditions_of
from ._split import SPLIT_NAMES, Split

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["LeakageError", "check_no_leakage"]

_GROUP_METHODS = {"heldout", "perturbation", "simulation"}
_PERTURBATION_METHODS = {"perturbation", "simulation"}


class LeakageError(ValidationError):
    """A split lets test or validation conditions into training."""


def _fail(message: str, items: list[str] | set[str]) -> None:
    items = sorted(items)
    raise LeakageError(f"{message}: {items[:10]}{' ...' if len(items) > 10 else ''}")


def _genes(conditions: list[str] | set[str]) -> set[str]:
    return {g for c in conditions for g in split_perturbation(c)}


def _check_simulation(split: Split, parts: dict[str, list[str]]) -> None:
    train_conds = set(parts["train"])
    train_singles = {c for c in train_conds if len(split_perturbation(c)) == 1}
    for c in train_conds:
        genes = set(split_perturbation(c))
        if len(genes) == 2 and not genes <= train_singles:
            _fail("training double with a gene not seen as a training single", [c])
    held_out = set(parts["val"]) | set(parts["test"])
    in_groups: dict[str, str] = {}
    for name, conds in split.subgroups.items():
        for c in conds:
            if c in in_groups:
                _fail(f"condition in subgroups {in_groups[c]} and {name}", [c])
            in_groups[c] = name
        part = "val" if name.startswith("val_") else "test"
        wrong_part = set(conds) - set(parts[part])
        if wrong_part:
            _fail(f"subgroup {name} holds conditions that are not in {part}", wrong_part)
        if name.endswith("_single"):
            bad = {c for c in conds if len(split_perturbation(c)) != 1}
            bad |= {c for c in conds if set(split_perturbation(c)) & _genes(train_conds)}
            if bad:
                _fail(f"{name} conditions whose gene occurs in training", bad)
        elif "combo_seen" in name:
            k = int(name[-1])
            bad = {
                c
                for c in conds
                if len(split_perturbation(c)) != 2
                or len(set(split_perturbation(c)) & train_singles) != k
            }
            if bad:
                _fail(f"{name} doubles without exactly {k} gene(s) seen as training singles", bad)
    unassigned = held_out - set(in_groups)
    if unassigned:
        _fail("held-out conditions in no subgroup", unassigned)


def check_no_leakage(split: Split, adata: AnnData | None = None) -> dict[str, int]:
    """Raise :class:`LeakageError` if the split leaks; return counts of what was checked.

    Checks, by method:

    * every split: one part per cell (train / val / test), unique cell names; with
      ``adata``, its cells and ``obs[split.key]`` must be the ones the split was made on;
    * group splits (held-out, perturbation, simulation): no value of ``split.key`` occurs
      in two parts, and the stored condition lists equal those of the cells;
    * perturbation splits: conditions compared as gene *sets* (``A+B`` == ``B+A``), so no
      test or val combination occurs in training; ``control`` only in train; with
      ``unseen="gene"`` the drawn test/val genes occur in no training condition and
      every test/val condition has a gene that training never saw;
    * simulation split: every training double has both genes among training singles;
      ``unseen_single``/``val_single`` genes occur in no training condition;
      ``combo_seenK`` doubles have exactly K genes seen as training singles; every
      held-out condition is in exactly one subgroup of its own part.
    """
    assignment = split.assignment.astype(str)
    bad = sorted(set(assignment) - set(SPLIT_NAMES))
    if bad:
        _fail("unknown part names", bad)
    if assignment.index.has_duplicates:
        _fail("cells assigned twice", set(assignment.index[assignment.index.duplicated()]))
    if adata is not None:
        names = pd.Index(adata.obs_names.astype(str))
        if not names.equals(assignment.index):
            raise LeakageError("the split was not made on these cells (obs_names differ)")
        if split.key is not None and split.labels is not None:
            if split.key not in adata.obs:
                raise LeakageError(f"adata.obs lacks the split key {split.key!r}")
            now = adata.obs[split.key].astype(str).to_numpy()
            canon = [join_perturbation(split_perturbation(v)) for v in now]
            stored = split.labels.astype(str).to_numpy()
            use = canon if split.method in _PERTURBATION_METHODS else now
            if list(use) != list(stored):
                raise LeakageError(f"adata.obs[{split.key!r}] differs from the split's labels")
    report = {name: int((assignment == name).sum()) for name in SPLIT_NAMES}
    if split.method not in _GROUP_METHODS:
        return report
    if split.labels is None:
        raise LeakageError(f"a {split.method} split must store per-cell labels")
    labels = split.labels.astype(str)
    parts = conditions_of(assignment, labels)
    for a, b in (("train", "test"), ("train", "val"), ("val", "test")):
        shared = set(parts[a]) & set(parts[b])
        if split.method in _PERTURBATION_METHODS:
            sets_a = {frozenset(split_perturbation(c)) for c in parts[a]}
            shared |= {c for c in parts[b] if frozenset(split_perturbation(c)) in sets_a}
        if shared:
            _fail(f"conditions in both {a} and {b}", shared)
    for name in SPLIT_NAMES:
        if sorted(split.conditions.get(name, [])) != parts[name]:
            diff = set(parts[name]) ^ set(split.conditions.get(name, []))
            _fail(f"stored {name} conditions differ from the cells' (symmetric difference)", diff)
    if split.method in _PERTURBATION_METHODS:
        if CONTROL in parts["test"] or CONTROL in parts["val"]:
            _fail("control cells outside train", [CONTROL])
        if split.params.get("unseen") == "gene":
            seen = _genes(parts["train"])
            named = set(split.params.get("test_genes", [])) | set(split.params.get("val_genes", []))
            if seen & named:
                _fail("test/val genes occur in training conditions", seen & named)
            known = {c for c in parts["test"] + parts["val"] if set(split_perturbation(c)) <= seen}
            if known:
                _fail("test/val conditions made only of genes seen in training", known)
    if split.method == "simulation":
        _check_simulation(split, parts)
    report["n_conditions_checked"] = sum(len(v) for v in parts.values())
    return report
