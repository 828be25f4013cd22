"""Hybrid retrieval: BM25 + dense embeddings fused by reciprocal rank fusion (RRF).

RRF score of a passage = sum over retrievers r of 1 / (c + rank_r), ranks from 1, with
c = 60 (Cormack et al. 2009); a passage missing from a retriever's top list gets nothing
from it. Caches (passages, BM25 matrix, dense embeddings) live beside the store, named
with the cache format version and a fingerprint of the build, and are rebuilt when stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import atomic_path, clean_stale_temps, log, sha256_bytes
from ._bm25 import BM25
from ._dense import embed
from ._passages import KINDS, build_passages

__all__ = ["SearchIndex", "rrf", "write_cache"]

CACHE_VERSION = 2
RRF_C = 60
#: Measured cost of the first-use dense index (docs/knowledge.md, "Dense index").
DENSE_COST = "about 150 passages per CPU-second: ~5 CPU-minutes for the 43,558 GO terms"
Mode = Literal["hybrid", "lexical", "dense"]


def rrf(rankings: list[list[int]], c: int = RRF_C) -> dict[int, float]:
    """Reciprocal rank fusion of ranked lists of document indices."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for r, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (c + r)
    return fused


class SearchIndex:
    """Lexical and dense indices over the passages of one store (built lazily, cached)."""

    def __init__(self, kb) -> None:
        self.kb = kb
        stamp = f"{kb.meta.get('built_at')}|{kb.path.stat().st_size}"
        self.fingerprint = sha256_bytes(stamp)[:10]
        self._passages: pd.DataFrame | None = None
        self._bm25: BM25 | None = None
        self._dense: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._names: tuple[np.ndarray, BM25, dict[str, int]] | None = None

    def _cache(self, what: str, ext: str) -> Path:
        p = self.kb.path
        return p.with_name(f"{p.name}.{what}-v{CACHE_VERSION}-{self.fingerprint}.{ext}")

    @property
    def passages(self) -> pd.DataFrame:
        if self._passages is None:
            path = self._cache("passages", "parquet")
            if path.exists():
                self._passages = pd.read_parquet(path)
            else:
                self._passages = build_passages(self.kb._con)
                write_cache(path, lambda t: self._passages.to_parquet(t, index=False))
        return self._passages

    @property
    def bm25(self) -> BM25:
        if self._bm25 is None:
            path = self._cache("bm25", "npz")
            if path.exists():
                self._bm25 = BM25.load(path)
            else:
                self._bm25 = BM25().fit(self.passages["text"].tolist())
                write_cache(path, lambda t: self._bm25.save(t))
        return self._bm25

    def dense(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """(row indices into passages, float16 unit embeddings) for one kind; genes without
        any GO annotation are left out of the dense index (lexical search still has them)."""
        if kind not in self._dense:
            p = self.passages
            rows = np.flatnonzero((p["kind"] == kind).to_numpy() & p["annotated"].to_numpy())
            path = self._cache(f"dense-{kind}", "npy")
            if path.exists():
                emb = np.load(path)
            else:
                texts = p["dense_text"].to_numpy()[rows].tolist()
                log(
                    f"building the dense index of {len(texts):,} {kind} passages (first use "
                    f"only; cached as {path.name}; {DENSE_COST}; "
                    "`vcell kb build --dense` builds it up front, --mode lexical needs none)"
                )
                t0 = time.perf_counter()
                emb = embed(texts, description=f"embedding {kind} passages").astype(np.float16)
                saved = write_cache(path, lambda t: np.save(t, emb))
                log(
                    f"dense index of {kind} passages built in {time.perf_counter() - t0:.0f} s"
                    + ("" if saved else " (store folder read-only: kept in memory only)")
                )
            if emb.shape[0] != len(rows):
                raise ValidationError(f"dense cache {path} does not match the store; delete it")
            self._dense[kind] = (rows, emb)
        return self._dense[kind]

    @property
    def term_names(self) -> tuple[np.ndarray, BM25, dict[str, int]]:
        """(GO IDs, BM25 over GO term names only, exact lower-case name -> position);
        read from the store directly, so it does not need the passage table."""
        if self._names is None:
            df = self.kb._q("SELECT id, name FROM go_terms ORDER BY id").fillna("")
            names = df["name"].tolist()
            exact = {n.lower(): i for i, n in enumerate(names)}
            self._names = (df["id"].to_numpy(), BM25().fit(names), exact)
        return self._names

    def match_terms(self, phrase: str, n: int, mode: Mode = "hybrid") -> list[str]:
        """GO IDs whose *names* best match a phrase: an exact name first, then RRF of BM25
        over names and (unless lexical) dense similarity of name + definition."""
        ids, bm, exact = self.term_names
        if len(ids) == 0:
            return []
        s = bm.scores(phrase)
        top = _topn(s, max(50, n))
        lists = [] if mode == "dense" else [ids[top[s[top] > 0]].tolist()]
        if mode != "lexical":
            keys = self.passages["key"].to_numpy()
            lists.append([str(keys[r]) for r in self.dense_rank(phrase, ("go_term",), max(50, n))])
        fused = rrf(lists)
        order = sorted(fused, key=lambda d: (-fused[d], d))
        first = exact.get(" ".join(phrase.lower().split()))
        if first is not None:
            order = [str(ids[first])] + [d for d in order if d != ids[first]]
        return order[:n]

    def exact_rows(self, query: str, kinds: tuple[str, ...]) -> list[int]:
        """Passages whose GO term name or gene symbol equals the query (case-insensitive)."""
        q = " ".join(query.lower().split())
        p = self.passages
        out = []
        if "go_term" in kinds:
            ids, _, exact = self.term_names
            if q in exact:
                out += np.flatnonzero((p["key"] == ids[exact[q]]).to_numpy()).tolist()
        if "gene" in kinds and " " not in q:
            sym = self.kb.resolve(q)
            if sym:
                out += np.flatnonzero((p["id"] == f"gene:{sym}").to_numpy()).tolist()
        return out

    def _kind_rows(self, kinds: tuple[str, ...]) -> np.ndarray | None:
        if set(kinds) >= set(KINDS):
            return None
        return np.flatnonzero(self.passages["kind"].isin(kinds).to_numpy())

    def lexical(self, query: str, kinds: tuple[str, ...], n: int) -> list[int]:
        rows = self._kind_rows(kinds)
        s = self.bm25.scores(query, rows)
        top = _topn(s, n)
        top = top[s[top] > 0]
        return (top if rows is None else rows[top]).tolist()

    def dense_rank(self, query: str, kinds: tuple[str, ...], n: int) -> list[int]:
        q = embed([query], description="query")[0].astype(np.float32)
        all_rows, all_sims = [], []
        for kind in kinds:
            rows, emb = self.dense(kind)
            all_rows.append(rows)
            all_sims.append(emb.astype(np.float32) @ q)
        rows = np.concatenate(all_rows) if all_rows else np.zeros(0, int)
        sims = np.concatenate(all_sims) if all_sims else np.zeros(0)
        top = _topn(sims, n)
        return rows[top].tolist()

    def search(
        self, query: str, *, k: int = 10, kinds: tuple[str, ...] = KINDS, mode: Mode = "lexical"
    ) -> list[tuple[int, float, dict[str, int]]]:
        """Top ``k`` passages as (row, fused score, ranks per retriever)."""
        if not query or not query.strip():
            raise ValidationError("empty search query")
        bad = [x for x in kinds if x not in KINDS]
        if bad:
            raise ValidationError(f"unknown passage kind(s) {bad}; choose from {list(KINDS)}")
        if mode not in ("hybrid", "lexical", "dense"):
            raise ValidationError(f"unknown search mode {mode!r}; use hybrid, lexical or dense")
        depth = max(100, 5 * k)
        lists: dict[str, list[int]] = {}
        if mode in ("hybrid", "lexical"):
            lists["lexical"] = self.lexical(query, kinds, depth)
        if mode in ("hybrid", "dense"):
            lists["dense"] = self.dense_rank(query, kinds, depth)
        if exact := self.exact_rows(query, kinds):  # an exact name match is a third ranking
            lists["exact"] = exact
        fused = rrf(list(lists.values()))
        ranks = {name: {d: r for r, d in enumerate(lst, 1)} for name, lst in lists.items()}
        order = sorted(fused, key=lambda d: (-fused[d], d))[:k]
        return [(d, fused[d], {n: rk[d] for n, rk in ranks.items() if d in rk}) for d in order]


def _topn(scores: np.ndarray, n: int) -> np.ndarray:
    if len(scores) <= n:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, n)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


def write_cache(path: Path, write: Callable[[Path], object]) -> bool:
    """Write a cache file with the atomic writer (a crash never leaves a half cache);
    ``False`` when the store's folder is read-only (the index then lives in memory)."""
    try:
        clean_stale_temps(path.parent)
        with atomic_path(path) as tmp:
            write(tmp)
    except OSError:
        return False
    return True
