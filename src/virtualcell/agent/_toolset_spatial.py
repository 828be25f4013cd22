"""Agent tools of the tissue tasks (``vc.spatial``): one line per public function, read
by :func:`virtualcell.agent._toolset.builtin_tools`."""

from __future__ import annotations

from ._spec import spec

__all__ = ["spatial_tools"]


def spatial_tools() -> list:
    from .. import knowledge, spatial

    return [
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
