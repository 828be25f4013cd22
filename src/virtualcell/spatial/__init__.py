"""Cells in tissue (``vc.spatial``): neighbourhood graphs, niche embeddings and spatial
domains, and ligand -> receptor communication between cell types.

Spatial coordinates live in ``obsm["spatial"]`` (the squidpy / spatialdata convention);
ground truth comes from :func:`virtualcell.sim.simulate_tissue`.

* :func:`neighbors` — the spatial neighbourhood graph (k nearest or a radius), stored as
  squidpy stores it (``obsp["spatial_connectivities"]``, ``obsp["spatial_distances"]``);
* :func:`niche_embed` — a cell embedded with its neighbourhood by a method of
  :func:`list_niche_embeddings` (baselines ``expression`` and ``neighbor_pca``;
  ``composition``, ``multihop`` and the oracle option ``niche_transformer``);
* :func:`domains` — spatial domains (k-means or Leiden on a niche embedding);
* :func:`evaluate_niches` — methods vs baselines against the true niches (ARI, NMI), a
  :class:`virtualcell.metrics.EvalResult`;
* :func:`communication` — every candidate ligand -> receptor pair between every sender and
  receiver cell type scored by a method of :data:`COMMUNICATION_METHODS` (baselines
  ``permutation`` — CellPhoneDB-style — and ``coexpression``);
* :func:`evaluate_communication` — the methods by AUPRC against a simulated truth.

>>> import virtualcell as vc
>>> adata = vc.sim.simulate_tissue(100, n_cells=3000, seed=0)  # doctest: +SKIP
>>> vc.spatial.domains(adata, embedding="composition", n_domains=4)  # doctest: +SKIP
>>> vc.spatial.communication(adata, method="contact_response").head()  # doctest: +SKIP
>>> vc.spatial.evaluate_communication(adata).summary()  # doctest: +SKIP
"""

from ._comm_data import CommInput
from ._communication import COMMUNICATION_METHODS, communication, evaluate_communication
from ._domains import cluster_domains, domains, niche_embed
from ._evaluate import evaluate_niches
from ._graph import coordinates, neighbors, smoothing_operator
from ._niches import NicheInputs
from ._registry import NICHE_EMBEDDINGS, list_niche_embeddings

__all__ = [
    "COMMUNICATION_METHODS",
    "NICHE_EMBEDDINGS",
    "CommInput",
    "NicheInputs",
    "cluster_domains",
    "communication",
    "coordinates",
    "domains",
    "evaluate_communication",
    "evaluate_niches",
    "list_niche_embeddings",
    "neighbors",
    "niche_embed",
    "smoothing_operator",
]
