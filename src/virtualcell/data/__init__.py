"""Data layer: reading, validation, gene identifiers, splits (``vc.data``)."""

# --- readers and validation (io section) ---
from ._beeline import read_beeline, read_network
from ._conventions import (
    COMBO_SEP,
    CONTROL,
    PERTURBATION_KEY,
    PERTURBATION_TYPE_KEY,
    join_perturbation,
    split_perturbation,
)
from ._dream4 import read_dream4

# --- gene identifiers and perturbation-label helpers (genes section) ---
from ._genes import GeneMappingReport, gene_table, harmonize_genes
from ._io import detect_format, read, read_h5ad, read_loom, read_zarr
from ._perturbation import standardize_perturbations
from ._stream import CellSource
from ._tables import detect_orientation, read_table
from ._tenx import read_10x, read_10x_h5, read_10x_mtx
from ._validate import Problem, ValidationReport, validate

# --- splits (splits section) ---
# isort: split
from . import splits

__all__ = [
    "COMBO_SEP",
    "CONTROL",
    "PERTURBATION_KEY",
    "PERTURBATION_TYPE_KEY",
    "CellSource",
    "GeneMappingReport",
    "Problem",
    "ValidationReport",
    "detect_format",
    "detect_orientation",
    "gene_table",
    "harmonize_genes",
    "join_perturbation",
    "read",
    "read_10x",
    "read_10x_h5",
    "read_10x_mtx",
    "read_beeline",
    "read_dream4",
    "read_h5ad",
    "read_loom",
    "read_network",
    "read_table",
    "read_zarr",
    "split_perturbation",
    "splits",
    "standardize_perturbations",
    "validate",
]
