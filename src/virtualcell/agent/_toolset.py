"""The built-in agent tools: one line per public function (read by the :data:`tools`
registry). Add a tool by adding a line; its schema comes from the function itself.

When the perturbation and representation tasks land, their public entry points become
tools the same way, e.g. ``spec("predict_perturbation", perturb.predict)``.
"""

from __future__ import annotations

from ._spec import spec

__all__ = ["builtin_tools"]

_KB = {"self": "kb"}


def _bp_terms(df) -> list[str]:
    """Answer values of ``go_annotations``: the first direct BP annotations."""
    bp = df[(df["namespace"] == "BP") & (df["via"] == "")] if len(df) else df
    return [f"{r['name']} ({r['go_id']})" for _, r in bp.head(3).iterrows()]


def _supported_edges(df) -> list[str]:
    """Answer value of ``knockout_support``: the supported edges (one value: the list), or
    ``none``."""
    sup = [str(e) for e in df.loc[df["supported"], "edge"]] if len(df) else []
    return [", ".join(sup)] if sup else ["none of the edges is supported"]


def builtin_tools() -> list:
    from .. import design, grn, sim, text
    from ..data import read as read_data
    from ..knowledge import KnowledgeBase, enrich
    from . import _analysis as an
    from ._sandbox import run_python
    from ._toolset_multiomic import multiomic_tools
    from ._toolset_spatial import spatial_tools

    return [
        # knowledge base (bound to the opened store)
        spec("kb_search", KnowledgeBase.search, bind=_KB, evidence=False),
        spec("gene_info", KnowledgeBase.gene, bind=_KB),
        spec(
            "go_annotations",
            KnowledgeBase.go_annotations,
            bind=_KB,
            answers=_bp_terms,
            answer_kind="process",
        ),
        spec("go_term", KnowledgeBase.go_term, bind=_KB, answer_kind="process"),
        spec("genes_for_term", KnowledgeBase.genes_for_term, bind=_KB, answer_kind="gene"),
        spec("tf_targets", KnowledgeBase.targets, bind=_KB, answer_kind="gene"),
        spec("tf_regulators", KnowledgeBase.regulators, bind=_KB, answer_kind="gene"),
        spec("verify_claim", KnowledgeBase.verify, bind=_KB, evidence=False, answer_kind="verdict"),
        spec(
            "enrich",
            enrich,
            bind={"kb": "kb_path"},
            defaults={"gene_sets": "go_library"},
            hide=("n_perm", "seed", "method"),
            answer_kind="process",
        ),
        # data in the workspace
        spec("read_data", read_data, paths=("source",)),
        spec("describe_data", an.describe_data),
        spec("perturbation_effects", an.perturbation_effects, answer_kind="perturbation"),
        spec("expression_by_group", an.expression_by_group, answer_kind="group"),
        spec("count_cell_types", an.count_cell_types, answer_kind="number"),
        spec(
            "knockout_support", an.knockout_support, answers=_supported_edges, answer_kind="edges"
        ),
        # a cluster in words, with citations (markers + knowledge base + Cell Ontology)
        spec(
            "describe_cluster",
            text.describe,
            bind={"kb": "kb"},
            hide=("model", "labels", "ontology", "n_types"),
        ),
        # simulation and gene regulation
        spec(
            "simulate_perturbseq",
            sim.simulate_perturbseq,
            hide=(
                "technical_noise",
                "chunk_size",
                "method",
                "dt",
                "n_steps",
                "noise_s",
                "keep_true_expression",
                "score_pairs",
                "frac_converging",
                "knockdown_factor",
                "overexpression_factor",
            ),
        ),
        spec("infer_grn", grn.infer, hide=("genes",), answer_kind="edges"),
        spec("evaluate_grn", grn.evaluate),
        # closed-loop screens (vc.design): offered by name to the design agent
        spec("predict_candidates", design.predict_candidates, hide=("predictor",), on_request=True),
        spec("screen_results", design.screen_results, on_request=True),
        spec("gene_neighbors", design.gene_neighbors, on_request=True),
        # tissue (vc.spatial): spatial domains, niche scoring, ligand -> receptor pairs and
        # cell-cell communication
        *spatial_tools(),
        # multi-omic cells (vc.multiomic): offered by name
        *multiomic_tools(),
        # code: off unless enabled; runs in a separate, sandboxed process
        spec("run_python", run_python, enabled=False),
    ]
