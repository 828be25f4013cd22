"""More than one modality per cell (``vc.multiomic``): RNA + protein (CITE-seq) and
RNA + chromatin accessibility co-embedded, and protein imputed from RNA.

Multi-modal data are MuData objects (``vc.data.read_h5mu``); ground truth comes from
:func:`virtualcell.sim.simulate_multiome`::

    import virtualcell as vc
    mdata = vc.sim.simulate_multiome(100, n_cells=2000, seed=0)
    z = vc.multiomic.embed(mdata, method="wnn", modalities=["rna", "protein"])
    result = vc.multiomic.evaluate_embedding(mdata, modalities=["rna", "protein"])
    prot = vc.multiomic.impute_protein(mdata[:1500].copy(), mdata["rna"][1500:], method="knn")
"""

from ._embed import (
    EMBED_METHODS,
    PER_MODALITY,
    embed,
    embed_per_modality,
    method_applicable,
    modality_weights,
)
from ._evaluate import evaluate_embedding, evaluate_imputation
from ._impute import IMPUTE_METHODS, impute_protein
from ._modality import modality_kind

__all__ = [
    "EMBED_METHODS",
    "IMPUTE_METHODS",
    "PER_MODALITY",
    "embed",
    "embed_per_modality",
    "evaluate_embedding",
    "evaluate_imputation",
    "impute_protein",
    "method_applicable",
    "modality_kind",
    "modality_weights",
]
