"""Small read-outs of a screen in progress, for people and for agents (each becomes an
agent tool): the measured results so far and a gene's neighbours in the prior network."""

from __future__ import annotations

import pandas as pd

from .._errors import ValidationError
from .._utils import check_number
from ._env import History
from ._policies import network_prior

__all__ = ["gene_neighbors", "screen_results"]


def screen_results(history: History, *, top: int = 8) -> pd.DataFrame:
    """The measured perturbations with the strongest phenotype so far.

    Parameters
    ----------
    history
        The screen so far.
    top
        Number of rows.

    Returns
    -------
    DataFrame indexed by perturbation, strongest first: ``hit_score`` (mean over
    replicates), ``round`` (first measured), ``n_measured``.
    """
    check_number("top", top, low=1, integer=True)
    df = history.table()
    df = df[df["perturbation"].isin(set(history.screen.candidates))]
    if df.empty:
        return pd.DataFrame(columns=["hit_score", "round", "n_measured"])
    out = df.groupby("perturbation").agg(
        hit_score=("hit_score", "mean"), round=("round", "min"), n_measured=("round", "size")
    )
    return out.sort_values("hit_score", ascending=False, kind="stable").head(int(top)).round(4)


def gene_neighbors(history: History, gene: str, *, k: int = 8) -> pd.DataFrame:
    """A gene's strongest neighbours in the screen's prior network (known TF targets, or a
    GRN inferred from the observational data).

    Parameters
    ----------
    history
        The screen so far.
    gene
        A measured gene.
    k
        Number of neighbours.

    Returns
    -------
    DataFrame: ``neighbor``, ``direction`` (``target`` or ``regulator`` of ``gene``),
    ``score``, ``measured`` (whether perturbing the neighbour was measured, alone or in a
    pair), ``hit_score`` (its measured hit score when measured alone).
    """
    check_number("k", k, low=1, integer=True)
    screen = history.screen
    if gene not in set(screen.genes):
        raise ValidationError(f"{gene!r} is not a gene of this screen (e.g. {screen.genes[:3]})")
    edges, _ = network_prior(screen)
    score = edges["score"] if "score" in edges else pd.Series(1.0, index=edges.index)
    out = edges.assign(score=score.abs())
    targets = out[out["regulator"] == gene].assign(
        neighbor=lambda d: d["target"], direction="target"
    )
    regs = out[out["target"] == gene].assign(
        neighbor=lambda d: d["regulator"], direction="regulator"
    )
    table = pd.concat([targets, regs])[["neighbor", "direction", "score"]]
    table = table.sort_values("score", ascending=False, kind="stable").drop_duplicates("neighbor")
    table = table.head(int(k)).reset_index(drop=True)
    measured_genes = {g for p in history.measured() for g in p.split("+")}
    scores = history.scores(candidates_only=False)
    table["measured"] = table["neighbor"].isin(measured_genes)
    table["hit_score"] = table["neighbor"].map(scores).astype(float).round(4)
    return table.round({"score": 4})
