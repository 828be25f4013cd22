"""The Cell Ontology (CL), read from the installed ``cellxgene-ontology-guide`` wheel.

The wheel ships each ontology as zstd-compressed JSON under
``cellxgene_ontology_guide/data/`` (``CL-ontology-v<date>.json.zst``): one object per term
id with ``label``, ``description``, ``synonyms``, ``ancestors`` (``{id: distance}``) and
``deprecated``. :func:`cell_ontology` reads the newest CL file (deprecated terms left
out) into a table (``parents``: the ancestors at distance 1); the package is located without importing it (its ``__init__`` pulls in
dependencies virtualcell does not need) and read with ``zstandard``.

:func:`match_cell_types` maps free-text cell-type labels (``"CD14+ Monocyte"``) to terms:

1. the label is normalised (:func:`normalize_label`: ``X+`` -> ``X-positive``, ``X-`` ->
   ``X-negative``, ``/`` and ``_`` -> separators);
2. an exact, case-insensitive match of the normalised label, or of one of its words
   (three characters or more, not a number, not ``cell``) or two adjacent words written together
   (``T Reg`` -> ``TReg``), to a term's label or synonym wins (score 1);
3. otherwise the ``shortlist`` terms with the best BM25 score over label + synonyms are
   re-ranked by the cosine similarity of all-MiniLM-L6-v2 sentence embeddings of the
   normalised label and the term's label / synonym, plus ``0.05`` per signed marker
   (``CD4-positive``, ``CD25-negative``, ``CD56-bright``) the two share, minus ``0.05``
   per signed marker only one of them has (so ``CD4+/CD25 T Reg`` prefers a CD4-positive
   regulatory T cell to a CD8-positive one), plus ``0.1`` times the share of the label's
   words (three letters or more) found in the term name, plus ``0.1`` per *state word*
   (:data:`STATE_WORDS`: ``naive``, ``memory``, ``effector``, ``progenitor`` ...) the two
   share, minus ``0.15`` per state word only one of them has (so ``CD4+/CD45RA+/CD25-
   Naive T`` goes to the naive CD4-positive T cell, not to CD4-positive TEMRA, whose name
   shares more markers); the best is accepted when this score is at least
   ``min_similarity``. A label that names only markers (``CD34+``: no word of its own) is
   accepted only by an exact match (step 2): markers alone do not say which cell type
   (CD34 marks haematopoietic progenitors, innate lymphoid precursors, endothelium ...).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import DataFormatError, DatasetNotAvailableError, ValidationError

__all__ = [
    "cell_ontology",
    "cell_ontology_path",
    "match_cell_types",
    "normalize_label",
    "ontology_available",
]

_PACKAGE = "cellxgene_ontology_guide"
_MATCH_COLUMNS = ["term_id", "term_label", "score", "matched_text", "accepted"]
_SIGNED = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]*\d[A-Za-z0-9]*)-(positive|negative|bright|dim|high|low)"
)
_MARKER_WEIGHT = 0.05
#: Words too generic to match a term on their own ("cell" is CL:0000000 itself).
_GENERIC_WORDS = frozenset({"cell", "cells", "type"})
_WORD_WEIGHT = 0.1
#: Differentiation / activation states: a label and a term that disagree on one are
#: different cell types however similar the rest of their names.
STATE_WORDS = frozenset(
    {
        "naive", "memory", "effector", "central", "temra", "tscm", "exhausted",
        "activated", "resting", "regulatory", "progenitor", "precursor", "stem",
        "mature", "immature",
    }
)  # fmt: skip
_STATE_SHARED = 0.1
_STATE_MISMATCH = 0.15


def _words(text: str) -> set[str]:
    """Lower-case words of three or more letters (no markers, no numbers)."""
    return {w for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in ("positive", "negative")}


def _signed_markers(text: str) -> set[tuple[str, str]]:
    """``{(marker, sign)}`` written as ``X-positive`` / ``X-negative`` ... in ``text``."""
    return {(m.upper(), s) for m, s in _SIGNED.findall(text)}


def cell_ontology_path() -> Path | None:
    """The newest ``CL-ontology-*.json.zst`` of the installed wheel, or ``None``."""
    from .._utils import package_dir

    package = package_dir(_PACKAGE)
    if package is None:
        return None
    files = sorted((package / "data").glob("CL-ontology-*.json.zst"))
    return files[-1] if files else None


def ontology_available() -> bool:
    """True when the Cell Ontology file and ``zstandard`` are installed."""
    return cell_ontology_path() is not None and importlib.util.find_spec("zstandard") is not None


@lru_cache(maxsize=2)
def _read(path: str) -> pd.DataFrame:
    import zstandard

    try:
        with open(path, "rb") as fh:
            raw = zstandard.ZstdDecompressor().stream_reader(fh).read()
        doc = json.loads(raw)
    except (OSError, ValueError, zstandard.ZstdError) as e:
        raise DataFormatError(f"{path}: cannot read the Cell Ontology ({e})") from None
    if not isinstance(doc, dict):
        raise DataFormatError(f"{path}: expected a JSON object of terms")
    rows = []
    for term, v in doc.items():
        if not isinstance(v, dict) or v.get("deprecated") or "label" not in v:
            continue
        anc = v.get("ancestors") if isinstance(v.get("ancestors"), dict) else {}
        rows.append(
            {
                "id": str(term),
                "label": str(v["label"]),
                "description": str(v.get("description") or ""),
                "synonyms": tuple(str(s) for s in (v.get("synonyms") or ())),
                "ancestors": tuple(sorted(anc, key=anc.get)),
                "parents": tuple(sorted(a for a, d in anc.items() if d == 1)),
            }
        )
    table = pd.DataFrame(rows).set_index("id")
    table.attrs["source"] = Path(path).name
    return table


def cell_ontology() -> pd.DataFrame:
    """The Cell Ontology: one row per (non-deprecated) term.

    Returns
    -------
    pandas.DataFrame
        Indexed by term id (``CL:0000576``) with columns ``label``, ``description``,
        ``synonyms`` (tuple), ``ancestors`` (tuple of ids, nearest first) and ``parents``
        (tuple of the ancestors at distance 1, sorted ids);
        ``attrs["source"]`` names the file read.

    Raises
    ------
    DatasetNotAvailableError
        When ``cellxgene-ontology-guide`` or ``zstandard`` is not installed.
    """
    path = cell_ontology_path()
    if path is None or importlib.util.find_spec("zstandard") is None:
        raise DatasetNotAvailableError(
            "the Cell Ontology needs the cellxgene-ontology-guide wheel and zstandard: "
            "pip install 'virtualcell[text]' && pip install --no-deps cellxgene-ontology-guide"
        )
    return _read(str(path)).copy()


def normalize_label(label: str) -> str:
    """Cell-type label in ontology wording: ``"CD14+ Monocyte"`` -> ``"CD14-positive
    Monocyte"``, ``"CD4+/CD25-"`` -> ``"CD4-positive, CD25-negative"``.

    Parameters
    ----------
    label
        A cell-type label as written in a dataset (underscores read as spaces).

    Returns
    -------
    str
        The label with ``+``/``-`` markers spelled out and ``/`` as ``", "``.
    """
    s = str(label).replace("_", " ")
    s = re.sub(r"(?<=[A-Za-z0-9])\+", "-positive", s)
    s = re.sub(r"(?<=[A-Za-z0-9])-(?=[\s/,]|$)", "-negative", s)
    s = re.sub(r"\s*/\s*", ", ", s)
    return re.sub(r"\s+", " ", s).strip(" ,")


def _names(ontology: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Every (term id, name) pair: labels and synonyms."""
    ids, names = [], []
    for term, label, syns in zip(
        ontology.index, ontology["label"], ontology["synonyms"], strict=True
    ):
        for name in (label, *syns):
            ids.append(str(term))
            names.append(str(name))
    return ids, names


def match_cell_types(
    labels: Sequence[str],
    *,
    ontology: pd.DataFrame | None = None,
    shortlist: int = 30,
    min_similarity: float = 0.6,
) -> pd.DataFrame:
    """Match free-text cell-type labels to Cell Ontology terms (see the module docstring).

    Parameters
    ----------
    labels
        Cell-type labels as written in a data set.
    ontology
        A table like :func:`cell_ontology` (default: the installed Cell Ontology).
    shortlist
        Terms re-ranked by sentence embeddings after the BM25 pre-selection.
    min_similarity
        Smallest score (see the module docstring) for an embedding match to be accepted.

    Returns
    -------
    pandas.DataFrame
        Indexed by label: ``term_id``, ``term_label``, ``score``, ``matched_text``
        (the term name that matched) and ``accepted`` (False: best guess below
        ``min_similarity``, not to be used).
    """
    from ._bm25 import BM25
    from ._dense import embed_cached

    if isinstance(labels, str):
        raise ValidationError("labels must be a list of strings, not one string")
    table = cell_ontology() if ontology is None else ontology
    missing = {"label", "synonyms"} - set(table.columns)
    if missing:
        raise ValidationError(f"ontology table lacks column(s) {sorted(missing)}")
    ids, names = _names(table)
    exact: dict[str, int] = {}
    for i, name in enumerate(names):
        exact.setdefault(name.lower(), i)
    labels = [str(x) for x in labels]
    rows: dict[str, dict] = {}
    pending: list[str] = []
    for label in labels:
        norm = normalize_label(label)
        hit = exact.get(norm.lower(), exact.get(label.lower()))
        if hit is None:
            words = [w for w in re.split(r"[\s,/._+-]+", label) if w and not w.isdigit()]
            grams = [w for w in words if len(w) >= 3 and w.lower() not in _GENERIC_WORDS]
            grams += [a + b for a, b in itertools.pairwise(words)]
            hit = next((exact[w.lower()] for w in grams if w.lower() in exact), None)
        if hit is not None:
            rows[label] = _row(ids[hit], table, names[hit], 1.0, True)
        else:
            pending.append(label)
    if pending:
        index = BM25().fit(names)
        queries = [normalize_label(x) for x in pending]
        cands = []
        for q in queries:
            scores = index.scores(q)
            top = np.argsort(-np.asarray(scores), kind="stable")[:shortlist]
            cands.append([int(i) for i in top if scores[i] > 0])
        texts = sorted({names[i] for c in cands for i in c} | set(queries))
        emb = dict(zip(texts, embed_cached(texts, description="ontology names"), strict=True))
        for label, q, cand in zip(pending, queries, cands, strict=True):
            if not cand:
                rows[label] = _row("", table, "", 0.0, False)
                continue
            sims = np.array([_similarity(q, names[i], emb) for i in cand])
            best = int(np.argmax(sims))
            i = cand[best]
            ok = bool(sims[best] >= min_similarity) and _names_a_type(q)
            rows[label] = _row(ids[i], table, names[i], float(sims[best]), ok)
    return pd.DataFrame([rows[x] for x in labels], index=pd.Index(labels, name="label"))[
        _MATCH_COLUMNS
    ]


def _names_a_type(query: str) -> bool:
    """Whether a normalised label has a word besides its signed markers (``CD19-positive
    B``: yes; ``CD34-positive``: no)."""
    return re.search(r"[A-Za-z]", _SIGNED.sub(" ", query)) is not None


def _similarity(query: str, name: str, emb: dict[str, np.ndarray]) -> float:
    """Re-ranking score of ontology name ``name`` for normalised label ``query`` (the
    module docstring's step 3)."""
    mq, mt = _signed_markers(query), _signed_markers(name)
    wq, wt = _words(query), _words(name)
    sq, st = wq & STATE_WORDS, wt & STATE_WORDS
    return (
        float(emb[query] @ emb[name])
        + _MARKER_WEIGHT * (len(mq & mt) - len(mq ^ mt))
        + _WORD_WEIGHT * len(wq & wt) / max(len(wq), 1)
        + _STATE_SHARED * len(sq & st)
        - _STATE_MISMATCH * len(sq ^ st)
    )


def _row(term: str, table: pd.DataFrame, name: str, sim: float, ok: bool) -> dict:
    return {
        "term_id": term,
        "term_label": str(table.at[term, "label"]) if term else "",
        "score": round(sim, 4),
        "matched_text": name,
        "accepted": ok,
    }
