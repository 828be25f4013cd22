"""Perturbation designs: which genes to perturb, how that edits production rates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._errors import ValidationError

if TYPE_CHECKING:
    from ._grn import GRN

__all__ = ["PerturbationType", "condition_rates", "sample_conditions"]

PerturbationType = Literal["knockout", "knockdown", "overexpression"]


def condition_rates(
    grn: GRN,
    conditions: Sequence[tuple[str, ...]],
    *,
    perturbation_type: PerturbationType = "knockout",
    knockdown_factor: float = 0.3,
    overexpression_factor: float = 4.0,
    overexpression_add: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Production multiplier ``m`` and added production ``a`` per gene and condition.

    Knockout: ``m = 0``. Knockdown: ``m = knockdown_factor``. Overexpression (CRISPRa):
    ``m = overexpression_factor`` and ``a = overexpression_add`` (default: the mean basal
    rate of the master regulators, so that silent genes are switched on too).

    Returns two ``genes x conditions`` arrays.
    """
    idx = grn.index()
    n = len(conditions)
    mult = np.ones((grn.n_genes, n))
    add = np.zeros((grn.n_genes, n))
    if perturbation_type == "knockout":
        m, a = 0.0, 0.0
    elif perturbation_type == "knockdown":
        if not 0.0 <= knockdown_factor < 1.0:
            raise ValidationError(f"knockdown_factor must be in [0, 1), got {knockdown_factor}")
        m, a = float(knockdown_factor), 0.0
    elif perturbation_type == "overexpression":
        if overexpression_factor < 1.0:
            raise ValidationError(
                f"overexpression_factor must be >= 1, got {overexpression_factor}"
            )
        if overexpression_add is None:
            b = grn.basal.loc[grn.master_regulators].to_numpy()
            overexpression_add = float(b.mean()) if b.size else 1.0
        m, a = float(overexpression_factor), float(overexpression_add)
    else:
        raise ValidationError(
            "perturbation_type must be 'knockout', 'knockdown' or 'overexpression', "
            f"got {perturbation_type!r}"
        )
    for j, genes in enumerate(conditions):
        unknown = [g for g in genes if g not in idx]
        if unknown:
            raise ValidationError(f"perturbed gene(s) not in the network: {unknown[:5]}")
        for g in genes:
            mult[idx[g], j] = m
            add[idx[g], j] = a
    return mult, add


def _children(grn: GRN) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {g: set() for g in grn.genes}
    for r, t in zip(grn.edges["regulator"], grn.edges["target"], strict=True):
        out[r].add(t)
    return out


def sample_conditions(
    grn: GRN,
    *,
    singles: int | Sequence[str],
    doubles: int | Sequence[Sequence[str]],
    frac_converging: float = 0.5,
    rng: np.random.Generator,
    pair_score: Callable[[list[tuple[str, str]]], np.ndarray] | None = None,
) -> tuple[list[tuple[str]], list[tuple[str, str]]]:
    """Choose single and double perturbations.

    ``singles`` as a number picks regulators first (genes with targets, in random order),
    then other genes. ``doubles`` as a number picks pairs among the singles: a fraction
    ``frac_converging`` whose genes converge on a shared downstream gene that is itself a
    regulator (or, failing that, any shared downstream gene) — where non-additive
    interactions arise — and the rest uniformly at random. With ``pair_score`` (a
    function giving each candidate pair a non-negative non-additivity score, e.g. from
    the deterministic model) the converging pairs are drawn with probability
    proportional to ``score + 1% of the largest score`` among up to 2,000 candidates.
    Every gene of a sampled double is also perturbed alone, so the additive prediction is
    always available.
    """
    children = _children(grn)
    if isinstance(singles, int | np.integer):
        if not 0 <= singles <= grn.n_genes:
            raise ValidationError(f"singles must be in [0, {grn.n_genes}], got {singles}")
        regs = [g for g in grn.genes if children[g]]
        others = [g for g in grn.genes if not children[g]]
        order = list(rng.permutation(regs)) + list(rng.permutation(others))
        single_genes = sorted(str(g) for g in order[: int(singles)])
    else:
        single_genes = sorted({str(g) for g in singles})
        unknown = sorted(set(single_genes) - set(grn.genes))
        if unknown:
            raise ValidationError(f"singles name genes not in the network: {unknown[:5]}")
    if isinstance(doubles, int | np.integer):
        pairs = _sample_pairs(
            single_genes, int(doubles), children, frac_converging, rng, pair_score
        )
    else:
        pairs = []
        for combo in doubles:
            combo = tuple(sorted({str(g) for g in combo}))
            if len(combo) < 2:
                raise ValidationError(f"a combination needs 2+ distinct genes, got {combo}")
            pairs.append(combo)
        pairs = list(dict.fromkeys(pairs))
    return [(g,) for g in single_genes], pairs


def _descendants(children: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}

    def visit(g: str) -> set[str]:
        if g not in out:
            out[g] = set()
            acc: set[str] = set()
            for c in children[g]:
                acc |= {c} | visit(c)
            out[g] = acc
        return out[g]

    for g in children:
        visit(g)
    return out


def _sample_pairs(pool, n, children, frac_converging, rng, pair_score) -> list[tuple[str, str]]:
    if n == 0:
        return []
    all_pairs = [(a, b) for i, a in enumerate(pool) for b in pool[i + 1 :]]
    if n > len(all_pairs):
        raise ValidationError(
            f"cannot choose {n} doubles from {len(pool)} single genes "
            f"({len(all_pairs)} pairs); raise --singles or lower --doubles"
        )

    # non-additivity needs a shared descendant that itself regulates (SERGIO adds the
    # regulators' contributions at a promoter, so a shared leaf target stays additive)
    desc = _descendants(children)
    hubs = {g for g, c in children.items() if c}
    direct, second = [], []
    for p in all_pairs:
        shared = desc[p[0]] & desc[p[1]]
        if shared & hubs:
            direct.append(p)
        elif shared:
            second.append(p)
    n_conv = round(n * frac_converging)
    chosen: list[tuple[str, str]] = []
    if pair_score is not None and n_conv > 0 and direct + second:
        cand = direct + second
        if len(cand) > 2000:
            cand = [cand[i] for i in sorted(rng.choice(len(cand), size=2000, replace=False))]
        score = np.nan_to_num(np.asarray(pair_score(cand), dtype=float)).clip(min=0)
        p = score + 0.01 * score.max() if score.max() > 0 else np.ones(len(cand))
        take = min(n_conv, len(cand))
        pick = rng.choice(len(cand), size=take, replace=False, p=p / p.sum())
        chosen = [cand[i] for i in sorted(pick)]
        direct = second = []
    for group in (direct, second):
        take = min(n_conv - len(chosen), len(group))
        if take > 0:
            pick = rng.choice(len(group), size=take, replace=False)
            chosen += [group[i] for i in sorted(pick)]
    taken = set(chosen)
    rest = [p for p in all_pairs if p not in taken]
    pick = rng.choice(len(rest), size=n - len(chosen), replace=False)
    chosen += [rest[i] for i in sorted(pick)]
    return chosen
