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
1. Missing labels (NaN, empty) and the labels of cells *without a usable guide*
   (:data:`UNASSIGNED_VALUES`: ``no_guide``, ``no-guide``, ``None``, ``unassigned``,
   ``multiplet``, ``multiple``, ``NA`` ..., compared case-insensitively with ``_``, ``-``
   and spaces ignored, also numbered: ``no_guide_2``) are *unassigned*: such cells are
   neither controls nor any gene's perturbation, so the label is never split or read as
   a gene (``no_guide`` is not the gene ``no``). They are NaN in the output and counted
   per label in the report (``unassigned``); the perturbation tasks leave them out with
   one log line (:func:`vc.perturb.standardize_labels`). An unassigned word that is also
   a measured gene (``genes``), or a label that still leaves such a word as its "gene"
   after rule 3 (``no_guide_x``, read ``no``), cannot be told apart and is refused with an
   error naming the column and the labels.
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
5. Mixed spellings in one column (auto-detected separator ``+``, ``|`` or ``,``): the
   other two of these also separate genes (``A|B`` next to ``A+B``), and with ``genes`` a
   token that is no measured gene is cut at ``_`` where the pieces are genes or guide
   suffixes / control words (``A_B`` next to ``A|B`` is ``A+B``; ``KLF1_sg2+ctrl`` is
   ``KLF1``), refused as in rule 4 when it cuts more than one way.
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
    "UNASSIGNED_VALUES",
    "detect_perturbation_key",
    "is_unassigned",
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
    "negative_control",
    "negctrl",
    "safe-targeting",
    "intergenic",
    "unperturbed",
    "*",
)
#: Labels of cells without a usable guide (module docstring, rule 1), as guide-assignment
#: outputs spell them: no guide detected (``no_guide``, ``no_guides``, ``None``), not
#: assigned (``unassigned``), several guides where one was expected (``multiplet``,
#: ``multiple``, ``doublet``), no guide above pertpy's assignment threshold (``Negative``,
#: the default label of ``pertpy``'s ``assign_to_max_guide``; negative *control guides*
#: are spelt ``negative_control`` / ``negctrl``, control words) or missing values
#: written as text (``NA``, ``nan``).
#: Compared after :func:`_squash` (case, ``_``, ``-`` and spaces ignored). No human gene
#: symbol of the knowledge store (77,510 NCBI / GO symbols) is one of them; of their
#: aliases, ``NA`` (XK) and ``NaN`` (SCN11A) are, which files use for missing values.
UNASSIGNED_VALUES: tuple[str, ...] = (
    "no_guide",
    "no_guides",
    "no_grna",
    "no_sgrna",
    "unassigned",
    "not_assigned",
    "multiplet",
    "multiplets",
    "multiple",
    "doublet",
    "ambiguous",
    "negative",
    "none",
    "na",
    "n/a",
    "nan",
    "null",
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


def _squash(text: str) -> str:
    """``text`` lower-cased without ``_``, ``-`` and white space (``No-Guide`` ->
    ``noguide``): the form unassigned words are compared in."""
    return re.sub(r"[\s_\-]+", "", text.lower())


_UNASSIGNED = frozenset(_squash(v) for v in UNASSIGNED_VALUES)


def _words(values: Sequence[str]) -> frozenset[str]:
    """``values`` in the compared form (:func:`_squash`), the default set built once."""
    return (
        _UNASSIGNED if values is UNASSIGNED_VALUES else frozenset(_squash(str(v)) for v in values)
    )


def is_unassigned(label: object, *, values: Sequence[str] = UNASSIGNED_VALUES) -> bool:
    """Whether ``label`` marks a cell without a usable guide (module docstring, rule 1):
    missing (``None``, NaN, empty) or one of ``values`` (case, ``_``, ``-`` and spaces
    ignored; a trailing number too after a word of 4 letters or more: ``no_guide_2``, not
    ``NA14``).

    Parameters
    ----------
    label
        One perturbation label as read from a file.
    values
        Words of unassigned cells (default :data:`UNASSIGNED_VALUES`).

    Examples
    --------
    >>> is_unassigned("No-Guide"), is_unassigned("multiplet_3"), is_unassigned("KLF1")
    (True, True, False)
    """
    if label is None or (isinstance(label, float) and np.isnan(label)):
        return True
    words = _words(values)
    text = _squash(str(label))
    if not text or text in words:
        return True
    head = re.fullmatch(r"(.{4,}?)\d+", text)  # not na / nan + digits (NA14: an alias)
    return head is not None and head.group(1) in words


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
    unassigned: Sequence[str] = UNASSIGNED_VALUES,
    also: Sequence[str] = (),
) -> str | None:
    if is_unassigned(label, values=unassigned):
        text = "" if label is None else str(label).strip()
        if genes is not None and text in genes:
            raise _Unclear(text, "is a measured gene (var_names) and a word of unassigned cells")
        return None
    text = str(label).strip()
    if _is_control(text, controls) and not (genes is not None and text in genes):
        return CONTROL
    cuts = [c for c in (sep, *also) if c]
    parts = re.split("|".join(map(re.escape, cuts)), text) if cuts else [text]
    tokens = [t.strip() for t in parts]

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
            return _checked(text, ways[0], genes, unassigned)
    if genes is not None and sep not in ("_", None):  # rule 5: A_B next to A|B
        tokens = [piece for t in tokens for piece in _underscored(t, text, genes, dropped)]
    genes_ = [t for t in tokens if t and not dropped(t)]
    return _checked(text, genes_, genes, unassigned)


def _underscored(token: str, text: str, genes: set[str], dropped: Any) -> list[str]:
    """``token`` cut at ``_`` where the pieces are measured genes or dropped tokens (rule
    5), or ``[token]`` when it is a gene itself or does not cut that way."""
    if token in genes or "_" not in token:
        return [token]
    ways = _segmentations(token.split("_"), genes, dropped)
    if len(ways) > 1 and {join_perturbation(w) for w in ways} != {join_perturbation(ways[0])}:
        raise _Ambiguous(text, ways)
    return ways[0] if ways else [token]


def _checked(
    text: str, genes_: list[str], genes: set[str] | None, unassigned: Sequence[str]
) -> str:
    """The condition of ``genes_``, refused when one of them is (a piece of) a word of
    unassigned cells and no measured gene (``no`` left of ``no_guide_x``)."""
    pieces = _words(unassigned) | {"no"}
    odd = [g for g in genes_ if _squash(g) in pieces and not (genes is not None and g in genes)]
    if odd:
        raise _Unclear(text, f"would be read as the gene {odd[0]!r}")
    return join_perturbation(genes_)


class _Unclear(Exception):
    """A label that cannot be told apart from an unassigned one (module docstring)."""

    def __init__(self, label: str, why: str) -> None:
        self.label, self.why = label, why
        super().__init__(label)


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
    also numbered: ``non-targeting_1``) and something else than controls and unassigned
    cells (:func:`is_unassigned`).

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
        n_none = sum(is_unassigned(v) for v in values)
        if n_ctrl and len(values) > n_ctrl + n_none:
            return col
        what = "only cells without a guide:" if n_none == len(values) else "e.g."
        seen.append(f"obs[{col!r}] ({what} {', '.join(repr(v) for v in values[:4])})")
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
    unassigned_values: Sequence[str] = UNASSIGNED_VALUES,
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
    unassigned_values
        Labels of cells without a usable guide (rule 1; case, ``_``, ``-`` and spaces
        ignored); ``()``: only missing values.

    Returns
    -------
    AnnData
        The copy (or ``adata`` itself when ``inplace``) with ``obs[key_added]`` as a
        categorical and ``uns["vc"]["perturbation_labels"]``: ``column``, ``separator``,
        ``n_labels``, ``n_control_cells``, ``unmapped`` (labels that gave no condition:
        the unassigned ones, rule 1), ``n_unmapped_cells``, ``unassigned`` (label -> number
        of cells; missing values as ``"NaN"``) and ``mapping`` (input label -> output
        label).

    Raises
    ------
    ValidationError
        ``perturbation_key`` is missing from ``adata.obs`` (or none is found); a label
        splits into genes in more than one way (rule 4); a label cannot be told apart
        from an unassigned one (rule 1).
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
    also = (  # rule 5: the other combination separators of the column
        [c for c in ("+", "|", ",") if c != sep and any(c in t for t in texts)]
        if separator_in is None and sep in ("+", "|", ",")
        else []
    )
    controls = {c.lower() for c in control_values}
    guides = [re.compile(p) for p in guide_suffixes]
    gene_set = None if genes is None else {str(g) for g in genes}
    mapping, ambiguous, unclear = {}, [], []
    for x in distinct:
        try:
            mapping[x] = _normalise_label(
                x, controls=controls, guides=guides, sep=sep, genes=gene_set,
                unassigned=unassigned_values, also=also,
            )  # fmt: skip
        except _Ambiguous as err:
            ambiguous.append(err)
        except _Unclear as err:
            unclear.append(err)
    if unclear:
        shown = "; ".join(f"{e.label!r} {e.why}" for e in unclear[:3])
        raise ValidationError(
            f"obs[{perturbation_key!r}]: cannot tell whether {len(unclear)} label(s) name "
            f"genes or cells without a guide: {shown}; relabel them (unassigned cells: "
            "'unassigned', or drop them)"
        )
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
    missing = values.isna()
    unassigned = raw[missing.to_numpy()].astype(object).fillna("NaN").astype(str).value_counts()
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
        "n_unmapped_cells": int(missing.sum()),
        "unassigned": {str(k): int(n) for k, n in unassigned.items()},
        "mapping": {str(k): ("" if v is None else v) for k, v in mapping.items()},
    }
    out.uns.setdefault(UNS_KEY, {})["perturbation_labels"] = report
    return out
