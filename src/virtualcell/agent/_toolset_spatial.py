"""Agent tools of the tissue tasks (``vc.spatial``), derived from the public functions as
every tool is (:func:`~._spec.spec`); listed in :mod:`._toolset` by one line."""

from __future__ import annotations

from ._spec import ToolSpec, spec

__all__ = ["spatial_tools"]


def spatial_tools() -> list[ToolSpec]:
    """Spatial domains and their scoring against a known truth, the knowledge base's
    ligand -> receptor table and cell-cell communication between cell types."""
    from .. import knowledge, spatial

    return [
        spec("spatial_domains", spatial.domains, hide=("layer", "key_added")),
        spec(
            "evaluate_niches",
            spatial.evaluate_niches,
            hide=("layer", "method_options", "dataset", "include_baselines"),
        ),
        # ligand -> receptor candidates of the knowledge base (bound to the opened store)
        spec("ligand_receptor_pairs", knowledge.ligand_receptor_pairs, bind={"kb": "kb"}),
        # communication between cell types of a section in the workspace
        spec(
            "cell_communication",
            spatial.communication,
            hide=("n_neighbors", "seed"),
            answer_kind="group",
        ),
    ]
