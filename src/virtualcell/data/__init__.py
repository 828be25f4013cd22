"""Data layer: reading, validation, gene identifiers, splits (``vc.data``)."""

from ._conventions import (
    COMBO_SEP,
    CONTROL,
    PERTURBATION_KEY,
    PERTURBATION_TYPE_KEY,
    join_perturbation,
    split_perturbation,
)

# --- readers and validation (io section) ---

# --- gene identifiers and perturbation-label helpers (genes section) ---

# --- splits (splits section) ---

__all__ = [
    "COMBO_SEP",
    "CONTROL",
    "PERTURBATION_KEY",
    "PERTURBATION_TYPE_KEY",
    "join_perturbation",
    "split_perturbation",
]
