"""Agent tools of the tissue tasks (``vc.spatial``), derived from the public functions as
every tool is (:func:`~._spec.spec`); listed in :mod:`._toolset` by one line."""

from __future__ import annotations

from ._spec import ToolSpec, spec

__all__ = ["spatial_tools"]


def spatial_tools() -> list[ToolSpec]:
    """Spatial domains of a section and the niche evaluation against a known truth."""
    from .. import spatial

    return [
        spec(
            "spatial_domains",
            spatial.domains,
            hide=("layer", "key_added"),
        ),
        spec(
            "evaluate_niches",
            spatial.evaluate_niches,
            hide=("layer", "method_options", "dataset", "include_baselines"),
        ),
    ]
