"""Conventions every loader, simulator and task follows (one place, documented).

Perturbations
-------------
``obs["perturbation"]`` holds one string per cell:

* ``"control"`` for unperturbed / non-targeting cells (:data:`CONTROL`);
* ``"GENE"`` for a single-gene perturbation;
* ``"GENE_A+GENE_B"`` for a combination (:data:`COMBO_SEP`), genes sorted alphabetically
  so that ``A+B`` and ``B+A`` are the same condition.

``obs["perturbation_type"]`` (optional) says how: ``knockout``, ``knockdown``,
``overexpression``, ``control`` or ``mixed``.

Gene and cell names
-------------------
``var_names`` are gene symbols when known (original identifiers kept in
``var["gene_id"]``); ``obs_names`` are unique cell identifiers.

Provenance
----------
Loaders record ``uns["vc"]["source"]`` (path or registry name and format) and every
preprocessing step appends to ``uns["vc"]["preprocessing"]``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "COMBO_SEP",
    "CONTROL",
    "PERTURBATION_KEY",
    "PERTURBATION_TYPE_KEY",
    "UNS_KEY",
    "join_perturbation",
    "split_perturbation",
]

CONTROL = "control"
COMBO_SEP = "+"
PERTURBATION_KEY = "perturbation"
PERTURBATION_TYPE_KEY = "perturbation_type"
UNS_KEY = "vc"


def join_perturbation(genes: Iterable[str]) -> str:
    """Canonical condition label for a set of perturbed genes (``control`` if empty).

    Parameters
    ----------
    genes
        Perturbed genes (order and repeats do not matter).

    Examples
    --------
    >>> join_perturbation(["TP53", "KLF1"])
    'KLF1+TP53'
    """
    genes = sorted({str(g).strip() for g in genes if str(g).strip() and str(g) != CONTROL})
    return COMBO_SEP.join(genes) if genes else CONTROL


def split_perturbation(label: str) -> tuple[str, ...]:
    """Genes of a condition label; ``()`` for control.

    Parameters
    ----------
    label
        A label such as ``control``, ``A`` or ``A+B``.

    Examples
    --------
    >>> split_perturbation("KLF1+TP53")
    ('KLF1', 'TP53')
    """
    label = str(label).strip()
    if label == CONTROL or not label:
        return ()
    return tuple(part for part in label.split(COMBO_SEP) if part)
