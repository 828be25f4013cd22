"""Ground-truth generators: GRN-driven single-cell simulation with perturbations.

The kinetic model is SERGIO's (Dibaeinia & Sinha 2020), implemented in vectorised numpy
(see ``docs/sim.md``)::

    import virtualcell as vc
    grn = vc.sim.sample_grn(100, n_cell_types=3, seed=0)
    adata = vc.sim.simulate_perturbseq(grn, cells_per_condition=100, singles=30, doubles=20)
    vc.sim.nonadditivity(adata)
"""

from ._grn import GRN, sample_grn
from ._noise import TechnicalNoise, add_technical_noise
from ._plot import plot_heatmap, plot_network, plot_umap
from ._presets import PRESETS, simulate_preset
from ._simulate import simulate_perturbseq
from ._truth import nonadditivity, true_effects

__all__ = [
    "GRN",
    "PRESETS",
    "TechnicalNoise",
    "add_technical_noise",
    "nonadditivity",
    "plot_heatmap",
    "plot_network",
    "plot_umap",
    "sample_grn",
    "simulate_perturbseq",
    "simulate_preset",
    "true_effects",
]
