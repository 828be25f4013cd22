"""Describe a group of cells in words, with citations (``vc.text.describe``).

Three kinds of evidence, each cited:

1. **markers** (from the data) — the ``n_markers`` genes with the largest Welch t of
   log expression, group vs all other cells (higher in the group), with the share of
   cells expressing them inside and outside; each gene's name from the knowledge base
   (cited ``NCBI Gene <symbol>``);
2. **processes** (knowledge base) — GO biological processes over-represented among the
   markers (hypergeometric test over the data's genes, Benjamini-Hochberg FDR;
   :func:`virtualcell.knowledge.enrich`), cited by GO id;
3. **cell types** — candidates: the given ``labels``, the labels a text-bridge model was
   trained on, and the Cell Ontology terms whose names and definitions best match the
   marker genes' names and the processes (BM25 shortlist); ranked by the text bridge
   (cosine of the group's mean cell embedding and the candidate's text embedding) when a
   model is given, else by the sentence-embedding cosine of the evidence text and the
   candidate's text. Cell Ontology terms are cited by id.

The result's ``text`` strings these together; every claim in it carries a bracketed
citation number that indexes ``citations``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..knowledge import KnowledgeBase
    from ..models import CellTextModel

__all__ = ["ClusterDescription", "describe"]


@dataclass
class ClusterDescription:
    """What :func:`describe` produced.

    Attributes
    ----------
    group
        The described group (value of ``obs[groupby]``).
    n_cells
        Cells in the group.
    text
        The description, with bracketed citation numbers.
    markers
        Marker table: ``gene``, ``name``, ``t``, ``log_fc``, ``pct_in``, ``pct_out``.
    processes
        GO processes: ``term``, ``go_id``, ``overlap``, ``fdr``, ``genes``.
    cell_types
        Candidates ranked: ``name``, ``source`` (``label`` / ``ontology``), ``term_id``,
        ``score``, ``method`` (``text_bridge`` / ``sentence_embedding``).
    citations
        ``citations[i - 1]`` is what ``[i]`` in ``text`` refers to.
    """

    group: str
    n_cells: int
    text: str
    markers: pd.DataFrame
    processes: pd.DataFrame = field(default_factory=pd.DataFrame)
    cell_types: pd.DataFrame = field(default_factory=pd.DataFrame)
    citations: list[str] = field(default_factory=list)

    def brief(self, *, limit: int = 700) -> str:
        """A compact form (for an agent's context): the group, marker genes, processes and
        cell-type candidates, each with its citation number, then the citations' ids."""

        def cite(prefix: str) -> str:
            hits = [i for i, c in enumerate(self.citations, 1) if c.startswith(prefix)]
            return f" [{hits[0]}]" if hits else ""

        parts = [f"group {self.group!r} ({self.n_cells} cells)"]
        if len(self.markers):
            parts.append("markers [1]: " + ", ".join(map(str, self.markers["gene"].head(8))))
        if len(self.processes):
            parts.append("processes: " + "; ".join(
                f"{r.term}{cite(r.go_id + ':')}" for r in self.processes.itertuples()
            ))  # fmt: skip
        if len(self.cell_types):
            parts.append("closest cell types: " + "; ".join(
                f"{r.name} ({r.score:.2f}){cite(r.term_id + ':') if r.term_id else ''}"
                for r in self.cell_types.itertuples()
            ))  # fmt: skip
        refs = "; ".join(f"[{i}] {c.split(' (')[0][:48]}" for i, c in enumerate(self.citations, 1))
        text = ". ".join(parts) + f". Citations: {refs}"
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: text, citations and the three tables as records."""
        return {
            "group": self.group,
            "n_cells": self.n_cells,
            "text": self.text,
            "citations": list(self.citations),
            "markers": self.markers.to_dict(orient="records"),
            "processes": self.processes.to_dict(orient="records"),
            "cell_types": self.cell_types.to_dict(orient="records"),
        }


def _marker_table(adata: AnnData, inside: np.ndarray, layer: str | None, n: int) -> pd.DataFrame:
    from ..represent import expression, log_expression
    from ._markers import marker_genes

    X, genes = expression(adata, layer=layer)
    L = log_expression(X)
    groups = np.where(inside, "in", "out")
    top = marker_genes(L, genes, groups, n_markers=n)["in"]
    col = {g: i for i, g in enumerate(genes)}
    rows = []
    sub = L[:, [col[g] for g in top]].toarray() if top else np.zeros((adata.n_obs, 0))
    for j, g in enumerate(top):
        x = sub[:, j]
        rows.append({
            "gene": g,
            "log_fc": float(x[inside].mean() - x[~inside].mean()),
            "pct_in": float((x[inside] > 0).mean()),
            "pct_out": float((x[~inside] > 0).mean()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["gene", "log_fc", "pct_in", "pct_out"]), list(genes)


def _ontology_candidates(query: str, *, ontology: pd.DataFrame, n: int) -> pd.DataFrame:
    from ..knowledge import BM25

    docs = [
        f"{lab} {' '.join(syn)} {desc}"
        for lab, syn, desc in zip(
            ontology["label"], ontology["synonyms"], ontology["description"], strict=True
        )
    ]
    scores = BM25().fit(docs).scores(query)
    top = [i for i in np.argsort(-scores, kind="stable")[:n] if scores[i] > 0]
    return ontology.iloc[top]


def describe(
    adata: AnnData,
    *,
    groupby: str,
    group: str,
    model: CellTextModel | str | Path | None = None,
    kb: KnowledgeBase | str | Path | None = None,
    labels: Sequence[str] | None = None,
    n_markers: int = 10,
    n_types: int = 3,
    layer: str | None = None,
    ontology: Any = "auto",
) -> ClusterDescription:
    """Describe the cells of one group (e.g. a Leiden cluster) in words, with citations.

    Parameters
    ----------
    adata
        Cells (counts or log-normalised expression).
    groupby
        ``obs`` column with the groups (clusters, samples ...).
    group
        The group to describe (compared with all other cells).
    model
        A text-bridge model (:func:`train_bridge`) or its folder, to rank cell types;
        ``None``: rank them by sentence-embedding similarity to the evidence.
    kb
        Knowledge store (path or open store) for gene names and GO processes;
        ``None``: markers and ontology only.
    labels
        Extra candidate cell-type names.
    n_markers
        Marker genes reported.
    n_types
        Cell-type candidates reported.
    layer
        Expression matrix: ``None`` = ``X``, ``"raw"`` = ``adata.raw``, else a layer name.
    ontology
        Cell Ontology for candidates: ``"auto"``, ``True``, ``False`` or a table.

    Returns
    -------
    ClusterDescription
        ``text`` plus the evidence tables and ``citations``.
    """
    from ..knowledge import KnowledgeBase, embed_cached, enrich
    from ._bridge import _load_model, label_embeddings
    from ._labels import _ontology_table, label_texts
    from ._markers import _GO_ID, _go_library

    if groupby not in adata.obs:
        raise ValidationError(
            f"groupby {groupby!r} not in obs columns {list(adata.obs.columns)[:20]}"
        )
    values = adata.obs[groupby].astype(str).to_numpy()
    inside = values == str(group)
    if not inside.any():
        known = sorted(set(values))[:20]
        raise ValidationError(f"group {group!r} not in obs[{groupby!r}] (values e.g. {known})")
    if inside.all():
        raise ValidationError(f"every cell is in group {group!r}; nothing to compare with")
    for name, v in (("n_markers", n_markers), ("n_types", n_types)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValidationError(f"{name} must be a positive integer, got {v!r}")
    own = kb is not None and not isinstance(kb, KnowledgeBase)
    kb_obj = KnowledgeBase(kb) if own else kb
    cites: list[str] = ["data: Welch t of log expression, group vs all other cells"]
    try:
        markers, genes = _marker_table(adata, inside, layer, n_markers)
        names: dict[str, str] = {}
        processes = pd.DataFrame(columns=["term", "go_id", "overlap", "fdr", "genes"])
        if kb_obj is not None and len(markers):
            for g in markers["gene"]:
                sym = kb_obj.resolve(g)
                if sym:
                    rec = kb_obj._q("SELECT name FROM genes WHERE symbol = ?", (sym,))
                    if len(rec) and rec["name"].iloc[0]:
                        names[g] = str(rec["name"].iloc[0])
            sets = _go_library(kb_obj)
            if sets is not None and len(markers) >= 2:
                res = enrich(list(markers["gene"]), gene_sets=sets, background=genes,
                             max_size=500)  # fmt: skip
                res = res[(res["overlap"] >= 2) & (res["fdr"] <= 0.25)].head(3)
                processes = pd.DataFrame({
                    "term": [_GO_ID.sub("", str(t)).strip() for t in res["term"]],
                    "go_id": [(m.group(0).strip(" ()") if (m := _GO_ID.search(str(t))) else "")
                              for t in res["term"]],
                    "overlap": res["overlap"].astype(int).to_numpy(),
                    "fdr": res["fdr"].astype(float).to_numpy(),
                    "genes": list(res["genes"]),
                })  # fmt: skip
        markers.insert(1, "name", [names.get(g, "") for g in markers["gene"]])
        # ---- cell-type candidates
        table = _ontology_table(ontology)
        evidence = ", ".join(f"{g} ({names[g]})" if g in names else g for g in markers["gene"]) + (
            "; " + "; ".join(processes["term"]) if len(processes) else ""
        )
        cand_names: list[str] = []
        cand_src: list[str] = []
        cand_ids: list[str] = []
        bridge = _load_model(model) if model is not None else None
        extra = list(labels or []) + (list(bridge.extra.get("labels", [])) if bridge else [])
        for lab in dict.fromkeys(str(x) for x in extra):
            cand_names.append(lab)
            cand_src.append("label")
            cand_ids.append("")
        onto_texts: dict[str, list[str]] = {}
        if table is not None:
            query = " ".join([*names.values(), *processes["term"], *markers["gene"]])
            for term, row in _ontology_candidates(query, ontology=table, n=20).iterrows():
                cand_names.append(str(row["label"]))
                cand_src.append("ontology")
                cand_ids.append(str(term))
                desc = str(row["description"])
                onto_texts[str(row["label"])] = [str(row["label"])] + (
                    [f"{row['label']}: {desc}"] if desc else []
                )
        cell_types = pd.DataFrame(columns=["name", "source", "term_id", "score", "method"])
        if cand_names:
            lab_only = [n for n, s in zip(cand_names, cand_src, strict=True) if s == "label"]
            texts = {}
            if lab_only:
                lt = label_texts(
                    lab_only, genes=genes, kb=kb_obj, ontology=table if table is not None else False
                )
                texts.update(lt.texts)
            texts.update({n: t for n, t in onto_texts.items() if n not in texts})
            order = list(dict.fromkeys(cand_names))
            texts = {n: texts[n] for n in order}
            if bridge is not None:
                emb = label_embeddings(bridge, texts).to_numpy()
                c = bridge.embed_cells(adata[inside], layer=layer).mean(0)
                c = c / max(float(np.linalg.norm(c)), 1e-12)
                method = "text_bridge"
            else:
                vecs = []
                for ts in texts.values():
                    v = embed_cached(ts, description="cell types").mean(0)
                    vecs.append(v / max(float(np.linalg.norm(v)), 1e-12))
                emb = np.asarray(vecs)
                c = embed_cached(["cells expressing " + evidence], description="evidence")[0]
                method = "sentence_embedding"
            score = emb @ c
            first = {n: i for i, n in reversed(list(enumerate(cand_names)))}
            rows = [
                {"name": n, "source": cand_src[first[n]], "term_id": cand_ids[first[n]],
                 "score": float(s), "method": method}
                for n, s in zip(texts, score, strict=True)
            ]  # fmt: skip
            cell_types = (
                pd.DataFrame(rows).sort_values("score", ascending=False).head(n_types)
                .reset_index(drop=True)
            )  # fmt: skip
    finally:
        if own:
            kb_obj.close()
    # ---- words
    parts = []
    n_in, n_all = int(inside.sum()), int(adata.n_obs)
    head = f"Group {group!r} of {groupby!r}: {n_in} of {n_all} cells."
    if len(markers):
        genes_txt = []
        for r in markers.head(5).itertuples():
            ref = ""
            if r.name:
                cites.append(f"NCBI Gene: {r.gene} ({r.name})")
                ref = f" [{len(cites)}]"
            genes_txt.append(
                f"{r.gene}{' (' + r.name + ')' if r.name else ''} in {r.pct_in:.0%} of its cells "
                f"vs {r.pct_out:.0%} of the others{ref}"
            )
        parts.append("Top markers [1]: " + "; ".join(genes_txt) + ".")
    if len(processes):
        proc = []
        for r in processes.itertuples():
            cites.append(f"{r.go_id}: {r.term} (GO biological process; enrichment FDR {r.fdr:.2g})")
            proc.append(f"{r.term} ({r.overlap} markers) [{len(cites)}]")
        parts.append("Over-represented processes: " + "; ".join(proc) + ".")
    if len(cell_types):
        how = "text bridge" if cell_types["method"].iloc[0] == "text_bridge" else "text similarity"
        ct = []
        for r in cell_types.itertuples():
            if r.term_id:
                source = (table.attrs.get("source", "Cell Ontology") if table is not None
                          else "Cell Ontology")  # fmt: skip
                cites.append(f"{r.term_id}: {r.name} ({source})")
                ct.append(f"{r.name} (score {r.score:.2f}) [{len(cites)}]")
            else:
                ct.append(f"{r.name} (score {r.score:.2f}; a candidate label)")
        parts.append(f"Closest cell types by {how}: " + "; ".join(ct) + ".")
    text = " ".join([head, *parts])
    return ClusterDescription(str(group), n_in, text, markers, processes, cell_types, cites)
