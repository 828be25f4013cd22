"""Cells in tissue (``vc.spatial``): neighbourhood graphs, niche embeddings and spatial
domains, and ligand -> receptor communication between niches.

Spatial coordinates live in ``obsm["spatial"]`` (the squidpy / spatialdata convention);
ground truth comes from :func:`virtualcell.sim.simulate_tissue`.

Communication: :func:`communication` scores every candidate ligand -> receptor pair
between every sender and receiver cell type with a method of
:data:`COMMUNICATION_METHODS` (baselines ``permutation`` — CellPhoneDB-style — and
``coexpression``); :func:`evaluate_communication` scores the methods by AUPRC against a
simulated truth::

    import virtualcell as vc
    adata = vc.sim.simulate_tissue(100, n_cells=3000, seed=0)
    vc.spatial.communication(adata, method="response").head()
    vc.spatial.evaluate_communication(adata).summary()
"""

from ._comm_data import CommInput
from ._communication import (
    COMMUNICATION_METHODS,
    communication,
    evaluate_communication,
)

__all__ = [
    "COMMUNICATION_METHODS",
    "CommInput",
    "communication",
    "evaluate_communication",
]
