"""Agent tools of the multi-omic task (``vc.multiomic``): simulate paired RNA + protein +
ATAC cells, read a ``.h5mu`` file, score joint embeddings and protein imputation against
the truth (baselines included). Offered when named (``on_request``), so the default tool
list of the agent benchmark stays as it is."""

from __future__ import annotations

from ._spec import spec

__all__ = ["multiomic_tools"]


def multiomic_tools() -> list:
    from .. import multiomic, sim
    from ..data import read_h5mu

    return [
        spec(
            "simulate_multiome",
            sim.simulate_multiome,
            hide=("rna_noise", "method", "background_peaks", "primed_peaks", "surface_genes"),
            on_request=True,
        ),
        spec("read_h5mu", read_h5mu, paths=("path",), on_request=True),
        spec(
            "evaluate_multiomic_embedding",
            multiomic.evaluate_embedding,
            hide=("dataset", "n_comps"),
            on_request=True,
        ),
        spec(
            "evaluate_protein_imputation",
            multiomic.evaluate_imputation,
            hide=("dataset", "n_comps", "k"),
            on_request=True,
        ),
    ]
