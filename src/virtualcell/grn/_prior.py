"""Knowledge-prior blending: data-driven scores nudged towards curated TF -> target edges
(TRRUST, OmniPath / CollecTRI ... as held by :mod:`virtualcell.knowledge`).

``score = (1 - w) * rank(base) + w * prior`` with ``prior[r, t] = 1`` for a known edge
(0 otherwise) and ranks scaled to (0, 1]; a known edge's sign replaces the base sign.
Gene names are matched case-insensitively (so mouse symbols meet human TRRUST entries;
orthology beyond that is not attempted). Note: scoring a prior-blended network against a
reference built from the same databases is circular.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._base import GRNInput, Scores
from ._perturbation import rank01

__all__ = ["knowledge_prior_edges"]


def knowledge_prior_edges(genes: list[str], *, path=None) -> pd.DataFrame:
    """TF -> target edges among ``genes`` from the built knowledge store
    (``vc.knowledge.load``): columns ``regulator, target, sign``; none when fewer than
    ``vc.knowledge.MIN_SYMBOL_FRACTION`` of ``genes`` are official symbols (synthetic names
    such as DREAM4's ``G1``, aliases of unrelated human genes)."""
    from .. import knowledge

    try:
        kb = knowledge.load(path)
    except Exception as err:  # store missing or unreadable
        raise ValidationError(
            "no knowledge store to draw a prior from: build it with `vcell kb build` "
            f"or pass prior=<edge table> ({err})"
        ) from err
    upper = {g.upper(): g for g in genes}
    rows = []
    with kb:
        if not kb.names_genes(genes):
            genes = []  # not named by the store's symbols (e.g. DREAM4's G1): no edges
        for g in genes:
            hits = kb.targets(g.upper())
            for t, s in zip(hits["target"], hits["sign"], strict=True):
                if str(t).upper() in upper:
                    rows.append((g, upper[str(t).upper()], int(s or 0)))
    return pd.DataFrame(rows, columns=["regulator", "target", "sign"]).drop_duplicates(
        ["regulator", "target"]
    )


def prior(
    data: GRNInput,
    *,
    n_jobs: int = 1,
    seed: int = 0,
    base: str = "grnboost2",
    weight: float = 0.3,
    prior: pd.DataFrame | None = None,
    resolve: Callable[[str], Callable[..., Scores]],
) -> Scores:
    """Knowledge-prior blending (see module docstring).

    Parameters
    ----------
    base
        Registered data-driven method.
    weight
        Weight ``w`` of the prior in ``[0, 1]``.
    prior
        Known edges (``regulator``/``tf``, ``target``[, ``sign``]); default from the built
        knowledge store.
    resolve
        Method lookup by name (bound by the method table, :data:`virtualcell.grn.METHODS`).
    """
    if not 0.0 <= weight <= 1.0:
        raise ValidationError(f"weight must be in [0, 1], got {weight}")
    if prior is None:
        prior = knowledge_prior_edges(list(data.genes))
    p = prior.rename(columns={"tf": "regulator", "Gene1": "regulator", "Gene2": "target"})
    if not {"regulator", "target"} <= set(p.columns):
        raise ValidationError(f"prior needs regulator/target columns, has {list(prior.columns)}")
    upper = {g.upper(): i for i, g in enumerate(data.genes)}
    rpos = {int(g): i for i, g in enumerate(data.regulators)}
    P = np.zeros((len(data.regulators), data.n_genes))
    PS = np.zeros_like(P)
    signs = p["sign"] if "sign" in p.columns else pd.Series(0, index=p.index)
    for r, t, s in zip(p["regulator"].astype(str), p["target"].astype(str), signs, strict=True):
        ri, ti = upper.get(r.upper()), upper.get(t.upper())
        if ri is None or ti is None or ri not in rpos or ri == ti:
            continue
        P[rpos[ri], ti] = 1.0
        PS[rpos[ri], ti] = np.sign(float(s)) if pd.notna(s) else 0.0
    if not P.any():
        from .._utils import log

        log(
            f"prior: none of the {len(p)} known edges joins two of the data's genes; the "
            f"result ranks edges exactly as {base!r} does"
        )
    off = data.regulators[:, None] != np.arange(data.n_genes)[None, :]
    b = resolve(base)(data, n_jobs=n_jobs, seed=seed)
    score = (1 - weight) * rank01(np.asarray(b.score, dtype=float), off) + weight * P
    sign = np.where(PS != 0, PS, b.sign if b.sign is not None else 0.0)
    return Scores(score=np.where(off, score, 0.0), sign=sign)
