"""Cells in tissue (``vc.spatial``): neighbourhood graphs, niche embeddings and spatial
domains, and ligand -> receptor communication between niches.

Spatial coordinates live in ``obsm["spatial"]`` (the squidpy / spatialdata convention);
ground truth comes from :func:`virtualcell.sim.simulate_tissue`.
"""

__all__: list[str] = []
