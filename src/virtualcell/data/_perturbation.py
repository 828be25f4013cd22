"""Normalise published perturbation labels to the convention of ``_conventions.py``.

Published styles handled
------------------------
* scPerturb: ``"control"``, ``"GENE"``, ``"GENE_A_GENE_B"`` (``_`` between genes);
* GEARS: ``"ctrl"``, ``"GENE+ctrl"`` / ``"ctrl+GENE"``, ``"GENE_A+GENE_B"``;
* guide / transcript labels: ``"GENE_pDS269"``, ``"GENE_P1P2"``, ``"12_GENE_P1_ENSG..."``,
  ``"GENE_sg2"``, ``"non-targeting_00012"`` ...;
* comma-separated lists: ``"GENE_A,GENE_B"``.

Rules (applied per distinct label)
----------------------------------
1. Empty / missing labels are *unmapped* (NaN in the output, reported).
2. A label equal to a control value (case-insensitive) is ``"control"``.
3. Otherwise the label is split on the separator (``separator_in``; auto-detected per
   column when ``None``: ``+`` if any label contains it, else ``,``, else ``_``), tokens
   that are control words or look like guide / transcript suffixes (``guide_suffixes``
   regular expressions) are dropped, and the remaining genes are joined sorted with ``+``.
   If nothing but control words and guide suffixes remains, the label is ``"control"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from .._errors import ValidationError
from ._conventions import CONTROL, PERTURBATION_KEY, UNS_KEY, join_perturbation

__all__ = ["DEFAULT_CONTROL_VALUES", "DEFAULT_GUIDE_SUFFIXES", "standardize_perturbations"]

DEFAULT_CONTROL_VALUES: tuple[str, ...] = (
    "control",
    "ctrl",
    "non-targeting",
    "nontargeting",
    "non_targeting",
    "NT",
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
    for sep in ("+", ",", "_"):
        if any(sep in lab for lab in labels):
            return sep
    return None


def _normalise_label(
    label: object, *, controls: set[str], guides: list[re.Pattern[str]], sep: str | None
) -> str | None:
    if label is None or (isinstance(label, float) and np.isnan(label)):
        return None
    text = str(label).strip()
    if not text or text.lower() in {"nan", "none", "na"}:
        return None
    if text.lower() in controls:
        return CONTROL
    tokens = [t.strip() for t in (text.split(sep) if sep else [text])]
    genes = [
        t
        for t in tokens
        if t and t.lower() not in controls and not any(g.fullmatch(t) for g in guides)
    ]
    return join_perturbation(genes)


def standardize_perturbations(
    adata: ad.AnnData,
    *,
    perturbation_key: str = PERTURBATION_KEY,
    control_values: Sequence[str] = DEFAULT_CONTROL_VALUES,
    separator_in: str | None = None,
    guide_suffixes: Sequence[str] = DEFAULT_GUIDE_SUFFIXES,
    key_added: str = PERTURBATION_KEY,
    inplace: bool = False,
) -> ad.AnnData:
    """Rewrite a perturbation column to ``control`` / ``GENE`` / ``GENE_A+GENE_B``.

    Parameters
    ----------
    adata
        Cells with a perturbation label column in ``.obs``.
    perturbation_key
        ``obs`` column holding the published labels.
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
        ``perturbation_key`` is missing from ``adata.obs``.
    """
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
    mapping = {x: _normalise_label(x, controls=controls, guides=guides, sep=sep) for x in distinct}
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
