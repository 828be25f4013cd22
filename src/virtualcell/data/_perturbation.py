"""Normalise published perturbation labels to the convention of ``_conventions.py``.

Published styles handled
------------------------
* scPerturb: ``"control"``, ``"GENE"``, ``"GENE_A_GENE_B"`` (``_`` between genes);
* GEARS: ``"ctrl"``, ``"GENE+ctrl"`` / ``"ctrl+GENE"``, ``"GENE_A+GENE_B"``;
* guide / transcript labels: ``"GENE_pDS269"``, ``"GENE_P1P2"``, ``"12_GENE_P1_ENSG..."``,
  ``"GENE_sg2"``, ``"non-targeting_00012"`` ...;
* comma-separated lists: ``"GENE_A,GENE_B"``; pipes: ``"GENE_A|GENE_B"``;
* numbered controls: ``"non-targeting_1"``, ``"NT-3"``, ``"ctrl12"`` (a control word, an
  optional ``_`` / ``-`` and a number).

The column (``perturbation_key="auto"``, :func:`detect_perturbation_key`): the first of
:data:`PERTURBATION_COLUMNS` present in ``obs`` that holds both control and perturbed
labels.

Rules (applied per distinct label)
----------------------------------
1. Empty / missing labels are *unmapped* (NaN in the output, reported).
2. A label equal to a control value (case-insensitive) is ``"control"``.
3. Otherwise the label is split on the separator (``separator_in``; auto-detected per
   column when ``None``: ``+`` if any label contains it, else ``|``, else ``,``, else
   ``_``), tokens
   that are control words or look like guide / transcript suffixes (``guide_suffixes``
   regular expressions) are dropped, and the remaining genes are joined sorted with ``+``.
   If nothing but control words and guide suffixes remains, the label is ``"control"``.
4. With ``genes`` (e.g. ``var_names``) and the ``_`` separator, whose tokens may also be
   parts of gene names (``HLA_A``): a label is split where the pieces are genes, guide
   suffixes or control words; a label that splits into such pieces in more than one way
   (``A_B`` when ``A``, ``B`` and ``A_B`` are all genes) is refused with an error naming
   the column and the labels; a token that is a gene is never dropped as a guide suffix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import doc_params
from ._conventions import CONTROL, PERTURBATION_KEY, UNS_KEY, join_perturbation

__all__ = [
    "DEFAULT_CONTROL_VALUES",
    "DEFAULT_GUIDE_SUFFIXES",
    "PERTURBATION_COLUMNS",
    "detect_perturbation_key",
    "standardize_perturbations",
]

#: ``obs`` columns searched for perturbation labels (``perturbation_key="auto"``), in
#: order: the package's own, scPerturb / pertpy's, then common screen outputs.
PERTURBATION_COLUMNS: tuple[str, ...] = (
    "perturbation",
    "condition",
    "target_gene",
    "gene",
    "perturbation_name",
    "gene_target",
    "guide_target",
    "target",
    "guide_ids",
    "guide_identity",
    "sgRNA",
)

DEFAULT_CONTROL_VALUES: tuple[str, ...] = (
    "control",
    "ctrl",
    "non-targeting",
    "nontargeting",
    "non_targeting",
    "non targeting",
    "NT",
    "NTC",
    "scrambled",
    "negative",
    "negctrl",
    "safe-targeting",
    "intergenic",
    "unperturbed",
    "*",
)
DEFAULT_GUIDE_SUFFIXES: tuple[str, ...] = (
    r"p[A-Z]{1,3}\d+",  # plasmid ids (Adamson: pDS269, pBA581)
    r"P\d(P\d)?",  # Replogle promoter / guide tags: P1, P1P2
    r"(sg|g|i|guide)\d*",  # guide numbers: sg2, g1, i1
    r"ENS[A-Z]*[GT]\d+(\.\d+)?",  # Ensembl gene / transcript ids
    r"\d+(\(mod\))?",  # running numbers (Adamson non-targeting: "62(mod)")
    r"[ACGT]{15,}",  # protospacer sequences
)


def _detect_separator(labels: Sequence[str]) -> str | None:
    for sep in ("+", "|", ",", "_"):
        if any(sep in lab for lab in labels):
            return sep
    return None


def _is_control(text: str, controls: set[str]) -> bool:
    low = text.strip().lower()
    if low in controls:
        return True
    head = re.fullmatch(r"(.+?)[_\-]?\d+", low)
    return head is not None and head.group(1) in controls and head.group(1) != "*"


def _segmentations(
    tokens: list[str], genes: set[str], dropped: Any, limit: int = 2
) -> list[list[str]]:
    """Ways (up to ``limit``) to cut ``tokens`` into consecutive pieces joined by ``_``
    that are each a gene or a dropped token (guide suffix / control word); the genes of
    each way."""
    out: list[list[str]] = []

    def walk(i: int, acc: list[str]) -> None:
        if len(out) >= limit:
            return
        if i == len(tokens):
            out.append(list(acc))
            return
        for j in range(i + 1, len(tokens) + 1):
            piece = "_".join(tokens[i:j])
            if piece in genes:
                walk(j, [*acc, piece])
            elif j == i + 1 and dropped(piece):
                walk(j, acc)

    walk(0, [])
    return out


def _normalise_label(
    label: object,
    *,
    controls: set[str],
    guides: list[re.Pattern[str]],
    sep: str | None,
    genes: set[str] | None = None,
) -> str | None:
    if label is None or (isinstance(label, float) and np.isnan(label)):
        return None
    text = str(label).strip()
    if not text or text.lower() in {"nan", "none", "na"}:
        return None
    if _is_control(text, controls) and not (genes is not None and text in genes):
        return CONTROL
    tokens = [t.strip() for t in (text.split(sep) if sep else [text])]

    def dropped(t: str) -> bool:
        if genes is not None and t in genes:
            return False
        return (
            t.lower() in controls or _is_control(t, controls) or any(g.fullmatch(t) for g in guides)
        )

    if genes is not None and sep == "_" and len(tokens) > 1:
        ways = _segmentations(tokens, genes, dropped)
        if len(ways) > 1 and {join_perturbation(w) for w in ways} != {join_perturbation(ways[0])}:
            raise _Ambiguous(text, ways)
        if ways:
            return join_perturbation(ways[0])
    genes_ = [t for t in tokens if t and not dropped(t)]
    return join_perturbation(genes_)


class _Ambiguous(Exception):
    def __init__(self, label: str, ways: list[list[str]]) -> None:
        self.label, self.ways = label, ways
        super().__init__(label)


@doc_params
def detect_perturbation_key(
    adata: ad.AnnData,
    *,
    control_values: Sequence[str] = DEFAULT_CONTROL_VALUES,
    columns: Sequence[str] = PERTURBATION_COLUMNS,
) -> str:
    """The ``obs`` column holding the perturbation labels: the first of ``columns``
    present whose labels include both a control (``control_values``, case-insensitive,
    also numbered: ``non-targeting_1``) and something else.

    Parameters
    ----------
    control_values
        Labels that mean "control" (case-insensitive; numbered variants too).
    columns
        Candidate ``obs`` columns, in order of preference.

    Raises
    ------
    ValidationError
        No such column; the message names the candidate columns found and their first
        values, and how to say which column and control label to use.
    """
    controls = {c.lower() for c in control_values}
    seen = []
    for col in columns:
        if col not in adata.obs.columns:
            continue
        values = [str(v) for v in pd.unique(adata.obs[col].dropna().astype(str))]
        n_ctrl = sum(_is_control(v, controls) for v in values)
        if n_ctrl and len(values) > n_ctrl:
            return col
        seen.append(f"obs[{col!r}] (e.g. {', '.join(repr(v) for v in values[:4])})")
    if seen:
        raise ValidationError(
            f"cannot tell the perturbation labels: {'; '.join(seen)} has no control label "
            f"({', '.join(list(control_values)[:5])}, ...) next to perturbed ones; give the "
            "control label (--control NAME) and the column (--perturbation-key COL)"
        )
    raise ValidationError(
        f"no perturbation column in obs (looked for {', '.join(columns)}; obs has "
        f"{', '.join(map(str, adata.obs.columns[:20])) or 'no columns'}); give it with "
        "--perturbation-key COL"
    )


def standardize_perturbations(
    adata: ad.AnnData,
    *,
    perturbation_key: str = PERTURBATION_KEY,
    control_values: Sequence[str] = DEFAULT_CONTROL_VALUES,
    separator_in: str | None = None,
    guide_suffixes: Sequence[str] = DEFAULT_GUIDE_SUFFIXES,
    key_added: str = PERTURBATION_KEY,
    inplace: bool = False,
    control: str | None = None,
    genes: Sequence[str] | None = None,
) -> ad.AnnData:
    """Rewrite a perturbation column to ``control`` / ``GENE`` / ``GENE_A+GENE_B``.

    Parameters
    ----------
    adata
        Cells with a perturbation label column in ``.obs``.
    perturbation_key
        ``obs`` column holding the published labels; ``"auto"``:
        :func:`detect_perturbation_key`.
    control_values
        Labels (and tokens) meaning "no perturbation"; compared case-insensitively.
    separator_in
        Separator between genes of a combination in the input (``"+"``, ``"_"``,
        ``","``); ``None`` detects it from the labels (``+`` > ``,`` > ``_``).
    guide_suffixes
        Regular expressions (full-token, case-sensitive match) of guide / transcript
        tokens to drop.
    key_added
        Output column (default ``"perturbation"``). When it equals ``perturbation_key``
        the original labels are kept in ``obs[perturbation_key + "_original"]``.
    inplace
        Modify ``adata`` instead of a copy.
    control
        One more control label (the data's own name for unperturbed cells).
    genes
        Gene names (e.g. ``adata.var_names``) deciding how ``_``-joined labels split
        (rule 4); ``None``: every ``_`` separates.

    Returns
    -------
    AnnData
        The copy (or ``adata`` itself when ``inplace``) with ``obs[key_added]`` as a
        categorical and ``uns["vc"]["perturbation_labels"]``: ``column``, ``separator``,
        ``n_labels``, ``n_control_cells``, ``unmapped`` (labels that gave no condition),
        ``n_unmapped_cells`` and ``mapping`` (input label -> output label).

    Raises
    ------
    ValidationError
        ``perturbation_key`` is missing from ``adata.obs`` (or none is found); a label
        splits into genes in more than one way (rule 4).
    """
    if control is not None:
        control_values = (*control_values, str(control))
    if perturbation_key == "auto":
        perturbation_key = detect_perturbation_key(adata, control_values=control_values)
    if perturbation_key not in adata.obs.columns:
        raise ValidationError(
            f"obs has no perturbation column {perturbation_key!r}; available columns: "
            f"{', '.join(map(str, adata.obs.columns[:30]))}"
        )
    out = adata if inplace else adata.copy()
    raw = out.obs[perturbation_key]
    distinct = pd.unique(raw.astype(object))
    texts = [str(x) for x in distinct if isinstance(x, str)]
    sep = separator_in if separator_in is not None else _detect_separator(texts)
    controls = {c.lower() for c in control_values}
    guides = [re.compile(p) for p in guide_suffixes]
    gene_set = None if genes is None else {str(g) for g in genes}
    mapping, ambiguous = {}, []
    for x in distinct:
        try:
            mapping[x] = _normalise_label(
                x, controls=controls, guides=guides, sep=sep, genes=gene_set
            )
        except _Ambiguous as err:
            ambiguous.append(err)
    if ambiguous:
        shown = "; ".join(
            f"{e.label!r} = " + " or ".join("+".join(w) for w in e.ways) for e in ambiguous[:3]
        )
        raise ValidationError(
            f"obs[{perturbation_key!r}]: cannot tell where '_' separates genes: {shown} "
            f"({len(ambiguous)} such labels; all pieces are var_names); relabel the "
            "combinations with '+' (A+B)"
        )
    unmapped = sorted(str(k) for k, v in mapping.items() if v is None)
    values = raw.astype(object).map(lambda x: mapping.get(x))
    if key_added == perturbation_key:
        out.obs[f"{perturbation_key}_original"] = raw.copy()
    out.obs[key_added] = pd.Categorical(values.to_numpy())
    report = {
        "column": perturbation_key,
        "key_added": key_added,
        "separator": sep if sep is not None else "",
        "n_labels": len(distinct),
        "n_conditions": int(pd.Series(values).dropna().nunique()),
        "n_control_cells": int((values == CONTROL).sum()),
        "unmapped": unmapped,
        "n_unmapped_cells": int(values.isna().sum()),
        "mapping": {str(k): ("" if v is None else v) for k, v in mapping.items()},
    }
    out.uns.setdefault(UNS_KEY, {})["perturbation_labels"] = report
    return out
