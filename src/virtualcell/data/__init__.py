"""Data layer: reading, validation, gene identifiers, splits (``vc.data``)."""

# --- readers and validation (io section) ---
from ._beeline import read_beeline, read_network
from ._conventions import (
    COMBO_SEP,
    CONTROL,
    PERTURBATION_KEY,
    PERTURBATION_TYPE_KEY,
    UNS_KEY,
    join_perturbation,
    split_perturbation,
)
from ._dream4 import read_dream4
from ._edges import EDGE_COLUMNS, normalize_edge_table, parse_signs, true_network

# --- gene identifiers and perturbation-label helpers (genes section) ---
from ._genes import GeneMappingReport, gene_table, harmonize_genes
from ._io import (
    FORMATS,
    Format,
    detect_format,
    read,
    read_h5ad,
    read_loom,
    read_zarr,
    set_source,
)
from ._layers import (
    RAW,
    SPACE_INPUT,
    SPACE_LOG,
    SPACE_LOG_MEDIAN,
    TARGET_SUM,
    Expression,
    check_expression,
    expression,
    is_integer_valued,
    log1p_normalize,
    looks_like_counts,
    select_matrix,
    value_kind,
)
from ._mudata import read_h5mu, write_h5mu
from ._paths import looks_like_path
from ._perturbation import (
    PERTURBATION_COLUMNS,
    UNASSIGNED_VALUES,
    detect_perturbation_key,
    is_unassigned,
    standardize_perturbations,
)
from ._spatial_io import read_visium, read_xenium
from ._spatialdata import read_spatialdata
from ._stream import CellSource
from ._tables import Orientation, detect_orientation, read_table
from ._tenx import read_10x, read_10x_h5, read_10x_mtx
from ._validate import Problem, ValidationReport, validate

# --- splits (splits section) ---
# isort: split
from . import splits

__all__ = [
    "COMBO_SEP",
    "CONTROL",
    "EDGE_COLUMNS",
    "FORMATS",
    "PERTURBATION_COLUMNS",
    "PERTURBATION_KEY",
    "PERTURBATION_TYPE_KEY",
    "RAW",
    "SPACE_INPUT",
    "SPACE_LOG",
    "SPACE_LOG_MEDIAN",
    "TARGET_SUM",
    "UNASSIGNED_VALUES",
    "UNS_KEY",
    "CellSource",
    "Expression",
    "Format",
    "GeneMappingReport",
    "Orientation",
    "Problem",
    "ValidationReport",
    "check_expression",
    "detect_format",
    "detect_orientation",
    "detect_perturbation_key",
    "expression",
    "gene_table",
    "harmonize_genes",
    "is_integer_valued",
    "is_unassigned",
    "join_perturbation",
    "log1p_normalize",
    "looks_like_counts",
    "looks_like_path",
    "normalize_edge_table",
    "parse_signs",
    "read",
    "read_10x",
    "read_10x_h5",
    "read_10x_mtx",
    "read_beeline",
    "read_dream4",
    "read_h5ad",
    "read_h5mu",
    "read_loom",
    "read_network",
    "read_spatialdata",
    "read_table",
    "read_visium",
    "read_xenium",
    "read_zarr",
    "select_matrix",
    "set_source",
    "split_perturbation",
    "splits",
    "standardize_perturbations",
    "true_network",
    "validate",
    "value_kind",
    "write_h5mu",
]
