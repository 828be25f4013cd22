"""GenePT-style gene text embeddings: each gene's record + GO term names, embedded.

Text of a gene (``gene_text``)::

    "{symbol}: {name}. {description}. Biological process: t1; t2 ... Molecular function:
    ... Cellular component: ..."

(direct GO annotations; names of up to ``max_terms`` terms per namespace). Embeddings are
unit-norm 384-d vectors of all-MiniLM-L6-v2, cached beside the store as a versioned
parquet table (genes x 384) that grows as more genes are requested.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import ValidationError

__all__ = ["GENEPT_VERSION", "gene_text", "gene_text_embeddings"]

GENEPT_VERSION = 1
_NS = (("BP", "Biological process"), ("MF", "Molecular function"), ("CC", "Cellular component"))


def gene_text(kb, symbols: list[str], max_terms: int = 20) -> dict[str, str]:
    """The text embedded for each official symbol."""
    q = ",".join("?" * len(symbols))
    out: dict[str, str] = {}
    for i in range(0, len(symbols), 900):
        chunk = symbols[i : i + 900]
        q = ",".join("?" * len(chunk))
        genes = kb._q(
            f"SELECT symbol, name, description FROM genes WHERE symbol IN ({q})", tuple(chunk)
        )
        ann = kb._q(
            "SELECT DISTINCT a.gene, t.namespace, t.name FROM annotations a "
            f"JOIN go_terms t ON t.id = a.go_id WHERE a.gene IN ({q}) ORDER BY a.gene, t.name",
            tuple(chunk),
        )
        by = {key: grp["name"].tolist() for key, grp in ann.groupby(["gene", "namespace"])}
        for sym, name, desc in genes.fillna("").itertuples(index=False):
            parts = [f"{sym}: {name}" if name else sym]
            if desc:
                parts.append(desc)
            for ns, label in _NS:
                terms = [
                    t
                    for t in by.get((sym, ns), [])
                    if t not in {"biological_process", "molecular_function", "cellular_component"}
                ][:max_terms]
                if terms:
                    parts.append(f"{label}: {'; '.join(terms)}")
            out[sym] = ". ".join(parts)
    return out


def _cache_path(kb) -> Path:
    fp = kb._index.fingerprint
    return kb.path.with_name(f"{kb.path.name}.genept-v{GENEPT_VERSION}-{fp}.parquet")


def gene_text_embeddings(
    genes: Iterable[str] | None = None, *, kb=None, batch_size: int = 64
) -> pd.DataFrame:
    """GenePT gene embeddings: one row per gene, 384 float32 columns ``e0 .. e383``.

    Parameters
    ----------
    genes
        Gene symbols or aliases (rows are indexed by the names given; names the
        knowledge base does not know are left out). ``None``: every gene with a GO
        annotation (slow on CPU: minutes per ten thousand genes).
    kb
        A :class:`KnowledgeBase` or a store path (default store when ``None``).
    batch_size
        Embedding batch size.

    Returns
    -------
    pandas.DataFrame
        Genes x 384, unit-norm rows, ``attrs["version"]`` and ``attrs["model"]`` set.
    """
    from ._dense import MODEL_NAME, embed
    from ._kb import KnowledgeBase
    from ._search import write_cache

    own = not isinstance(kb, KnowledgeBase)
    kb = KnowledgeBase(kb) if own else kb
    try:
        if genes is None:
            names = kb._q("SELECT DISTINCT gene FROM annotations ORDER BY gene")["gene"].tolist()
        else:
            if isinstance(genes, str):
                raise ValidationError("genes must be a list of symbols, not one string")
            names = list(dict.fromkeys(str(g) for g in genes))
        official = {n: kb.resolve(n) for n in names}
        names = [n for n in names if official[n]]
        if not names:
            raise ValidationError("none of the requested genes is in the knowledge base")
        path = _cache_path(kb)
        cache = pd.read_parquet(path) if path.exists() else pd.DataFrame()
        need = sorted({official[n] for n in names} - set(cache.index))
        if need:
            texts = gene_text(kb, need)
            emb = embed([texts[s] for s in need], batch_size=batch_size, description="gene texts")
            new = pd.DataFrame(
                emb,
                index=pd.Index(need, name="gene"),
                columns=[f"e{i}" for i in range(emb.shape[1])],
            )
            cache = pd.concat([cache, new]) if len(cache) else new
            write_cache(path, cache.to_parquet)  # a read-only folder keeps it in memory
        out = cache.loc[[official[n] for n in names]].astype(np.float32)
        out.index = pd.Index(names, name="gene")
        out.attrs.update({"version": GENEPT_VERSION, "model": MODEL_NAME})
        return out
    finally:
        if own:
            kb.close()
