"""Gene-set enrichment: hypergeometric over-representation (ORA) and prerank (GSEA).

ORA
    Universe B = ``background`` (default: the union of all gene-set genes); query Q and
    each set S are restricted to B. With N = |B|, n = |S|, m = |Q|, x = |Q ∩ S|:
    p = P(X >= x), X ~ Hypergeom(N, n, m) (``scipy.stats.hypergeom.sf(x - 1, N, n, m)``);
    odds ratio with the Haldane-Anscombe 0.5 correction; Benjamini-Hochberg FDR over the
    sets with x >= 1 (the Enrichr / gseapy convention).
Prerank
    Genes sorted by score (descending). Running sum (Subramanian et al. 2005, weight p=1):
    +|score_i| / sum_{j in S} |score_j| at members, -1 / (N - n) otherwise; ES = the
    largest deviation from 0. Null: ``n_perm`` random gene sets of the same size (gene
    permutation), seeded. NES = ES / mean(null ES of the same sign); p = fraction of
    null ES of the same sign with |ES_null| >= |ES| (with +1 in numerator and
    denominator); FDR = Benjamini-Hochberg on p.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError

__all__ = ["bh_fdr", "enrich", "enrichment_score"]


def bh_fdr(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (monotone, capped at 1).

    Parameters
    ----------
    p
        Raw p-values (one per test, any order).

    Returns
    -------
    np.ndarray
        The adjusted p-values, in the order of ``p``.
    """
    p = np.asarray(p, dtype=float)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    adj = p[order] * n / np.arange(1, n + 1)
    adj = np.minimum.accumulate(adj[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


def _load_sets(gene_sets, kb_path) -> dict[str, list[str]]:
    if isinstance(gene_sets, Mapping):
        sets = {str(k): [str(g) for g in v] for k, v in gene_sets.items()}
    elif isinstance(gene_sets, (str, Path)) and str(gene_sets).endswith((".gmt", ".gmt.gz")):
        from ._readers import read_gmt

        df = read_gmt(Path(gene_sets))
        sets = {n: g.split("|") for n, g in zip(df["name"], df["genes"], strict=True)}
    elif isinstance(gene_sets, str):
        from . import load

        with load(kb_path) as kb:
            sets = kb.gene_sets(gene_sets)
    else:
        raise ValidationError(
            "gene_sets must be a dict {name: genes}, a .gmt path or a library name in the "
            f"knowledge base, not {type(gene_sets).__name__}"
        )
    if not sets:
        raise ValidationError("no gene sets given")
    return sets


def enrich(
    genes: Iterable[str] | pd.Series,
    *,
    gene_sets: Mapping[str, Iterable[str]] | str | Path = "GO_Biological_Process_2023",
    background: Iterable[str] | None = None,
    method: Literal["hypergeometric", "prerank"] = "hypergeometric",
    min_size: int = 1,
    max_size: int = 100_000,
    n_perm: int = 1000,
    seed: int = 0,
    kb: str | Path | None = None,
) -> pd.DataFrame:
    """Gene-set enrichment of a gene list (ORA) or of a ranked gene score vector (prerank).

    Parameters
    ----------
    genes
        ``method="hypergeometric"``: gene symbols. ``method="prerank"``: a
        :class:`pandas.Series` of scores indexed by gene (higher = more up).
    gene_sets
        ``{name: genes}``, a ``.gmt`` file, or the name of a gene-set library in the
        knowledge base (default ``GO_Biological_Process_2023``, from pyenrichr).
    background
        ORA universe; default the union of the genes in ``gene_sets``.
    method
        ``"hypergeometric"`` or ``"prerank"``; definitions in the module docstring.
    min_size, max_size
        Sets whose size (after restriction to the universe / ranked genes) falls outside
        are skipped.
    n_perm, seed
        Prerank permutations and their seed.
    kb
        Knowledge-store path used when ``gene_sets`` is a library name.

    Returns
    -------
    pandas.DataFrame
        ORA: ``term, overlap, set_size, query_size, universe, pvalue, fdr, odds_ratio,
        genes``. Prerank: ``term, es, nes, pvalue, fdr, set_size, leading_edge``. Sorted by
        p-value.
    """
    sets = _load_sets(gene_sets, kb)
    if method == "hypergeometric":
        return _ora(genes, sets, background, min_size, max_size)
    if method == "prerank":
        return _prerank(genes, sets, min_size, max_size, n_perm, seed)
    raise ValidationError(f"unknown enrichment method {method!r}; use hypergeometric or prerank")


def _ora(genes, sets, background, min_size, max_size) -> pd.DataFrame:
    from scipy.stats import hypergeom

    if isinstance(genes, str):
        raise ValidationError("genes must be a list of gene symbols, not one string")
    query = {str(g) for g in genes}
    if background is None:
        universe = set().union(*map(set, sets.values()))
    else:
        universe = {str(g) for g in background}
    if not universe:
        raise ValidationError("the enrichment background is empty")
    q = query & universe
    if not q:
        raise ValidationError(
            f"none of the {len(query)} query genes is in the background "
            f"(e.g. {sorted(query)[:5]}); check the gene identifiers"
        )
    n_univ, m = len(universe), len(q)
    rows = []
    for name, members in sets.items():
        s = set(members) & universe
        n = len(s)
        if n < min_size or n > max_size:
            continue
        hits = q & s
        x = len(hits)
        if x < 1:
            continue
        p = float(hypergeom.sf(x - 1, n_univ, n, m))
        odds = ((x + 0.5) * (n_univ - n - m + x + 0.5)) / ((n - x + 0.5) * (m - x + 0.5))
        rows.append((name, x, n, m, n_univ, p, odds, ";".join(sorted(hits))))
    cols = [
        "term",
        "overlap",
        "set_size",
        "query_size",
        "universe",
        "pvalue",
        "odds_ratio",
        "genes",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(6, "fdr", bh_fdr(df["pvalue"].to_numpy()))
    return df.sort_values(["pvalue", "term"], kind="stable").reset_index(drop=True)


def enrichment_score(positions: np.ndarray, weights: np.ndarray, n_genes: int) -> np.ndarray:
    """ES for one or many gene sets from their (sorted) positions in the ranked list.

    ``positions``: (..., n) sorted 0-based ranks of the set members; ``weights``: their
    |scores| (same shape). Evaluated only at member positions (exact: the running sum
    peaks just after a member and bottoms just before one)."""
    positions = np.asarray(positions)
    weights = np.asarray(weights, dtype=float)
    n = positions.shape[-1]
    total = weights.sum(axis=-1, keepdims=True)
    total = np.where(total > 0, total, 1.0)
    hit = np.cumsum(weights, axis=-1) / total
    misses_before = positions - np.arange(n)  # misses ranked above each member
    miss = misses_before / max(n_genes - n, 1)
    top = hit - miss
    bottom = (hit - weights / total) - miss
    mx, mn = top.max(axis=-1), bottom.min(axis=-1)
    return np.where(np.abs(mx) >= np.abs(mn), mx, mn)


def _prerank(scores, sets, min_size, max_size, n_perm, seed) -> pd.DataFrame:
    if not isinstance(scores, pd.Series):
        raise ValidationError("prerank needs a pandas Series of scores indexed by gene")
    s = scores.dropna()
    s = s[~s.index.duplicated()]
    if s.empty:
        raise ValidationError("prerank: the score vector is empty after dropping NaN")
    s = s.sort_values(ascending=False, kind="stable")
    genes = s.index.astype(str)
    pos_of = pd.Series(np.arange(len(s)), index=genes)
    absw = np.abs(s.to_numpy(dtype=float))
    n_genes = len(s)
    rng = np.random.default_rng(seed)
    null_cache: dict[int, np.ndarray] = {}
    rows = []
    for name, members in sets.items():
        pos = np.sort(pos_of.reindex(list(dict.fromkeys(members))).dropna().to_numpy(dtype=int))
        n = len(pos)
        if n < max(min_size, 1) or n > max_size or n >= n_genes:
            continue
        es = float(enrichment_score(pos, absw[pos], n_genes))
        if n not in null_cache:
            perm = np.sort(
                np.stack([rng.choice(n_genes, n, replace=False) for _ in range(n_perm)]), axis=1
            )
            null_cache[n] = enrichment_score(perm, absw[perm], n_genes)
        null = null_cache[n]
        same = null[null >= 0] if es >= 0 else null[null < 0]
        p = (np.sum(np.abs(same) >= abs(es)) + 1) / (len(same) + 1)
        nes = es / abs(same.mean()) if len(same) and same.mean() != 0 else np.nan
        if es >= 0:
            lead = genes[pos[pos <= pos[np.argmax(_running_at(pos, absw, n_genes))]]]
        else:
            lead = genes[pos[pos >= pos[np.argmin(_running_at(pos, absw, n_genes, before=True))]]]
        rows.append((name, es, nes, float(p), n, ";".join(lead)))
    df = pd.DataFrame(rows, columns=["term", "es", "nes", "pvalue", "set_size", "leading_edge"])
    df.insert(4, "fdr", bh_fdr(df["pvalue"].to_numpy()))
    return df.sort_values(["pvalue", "term"], kind="stable").reset_index(drop=True)


def _running_at(pos, absw, n_genes, before: bool = False) -> np.ndarray:
    w = absw[pos]
    total = w.sum() if w.sum() > 0 else 1.0
    hit = np.cumsum(w) / total - (w / total if before else 0)
    return hit - (pos - np.arange(len(pos))) / max(n_genes - len(pos), 1)
