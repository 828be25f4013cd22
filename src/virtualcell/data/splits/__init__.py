"""Leakage-safe data splits (``vc.data.splits``).

* cells: :func:`random_split`, :func:`stratified_split`, :func:`heldout_split`
  (held-out cell type or batch);
* perturbations: :func:`perturbation_split` (test perturbations unseen in training) and
  :func:`simulation_split` (GEARS-style combo_seen0/1/2 + unseen singles);
* :class:`Split` (per-cell assignment, condition lists, metadata; versioned JSON via
  ``save``/``load``) and :func:`check_no_leakage`.
"""

from ._cells import heldout_split, random_split, stratified_split
from ._leakage import LeakageError, check_no_leakage
from ._perturbation import perturbation_split, simulation_split
from ._split import FORMAT_VERSION, SPLIT_NAMES, Split

__all__ = [
    "FORMAT_VERSION",
    "SPLIT_NAMES",
    "LeakageError",
    "Split",
    "check_no_leakage",
    "heldout_split",
    "perturbation_split",
    "random_split",
    "simulation_split",
    "stratified_split",
]
