"""Ground-truth generators: GRN-driven single-cell simulation with perturbations.

The kinetic model is SERGIO's (Dibaeinia & Sinha 2020), implemented in vectorised numpy
(see ``docs/sim.md``)::

    import virtualcell as vc
    grn = vc.sim.sample_grn(100, n_cell_types=3, seed=0)
    adata = vc.sim.simulate_perturbseq(grn, cells_per_condition=100, singles=30, doubles=20)
    vc.sim.nonadditivity(adata)
    vc.pl.perturbation_heatmap(adata, path="heatmap.png")   # figures live in vc.pl
    batches = vc.sim.simulate_batches(200, n_cell_types=5, n_batches=3, seed=0)  # + batch effects
    tissue = vc.sim.simulate_tissue(100, n_cells=5000, n_niches=4, seed=0)  # niches + signalling
"""

from ._batch import simulate_batches
from ._grn import GRN, sample_grn
from ._noise import TechnicalNoise, add_technical_noise
from ._presets import PRESETS, simulate_preset
from ._simulate import simulate_perturbseq
from ._tissue import simulate_tissue
from ._truth import nonadditivity, true_effects
from ._views import condition_shifts, embed_umap

__all__ = [
    "GRN",
    "PRESETS",
    "TechnicalNoise",
    "add_technical_noise",
    "condition_shifts",
    "embed_umap",
    "nonadditivity",
    "sample_grn",
    "simulate_batches",
    "simulate_perturbseq",
    "simulate_preset",
    "simulate_tissue",
    "true_effects",
]
