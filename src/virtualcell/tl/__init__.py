"""Task entry points: AnnData in, results stored in documented keys and returned (``vc.tl``).

The rule: ``vc.tl`` holds the functions a user calls first on an AnnData to run a task
end to end; each takes ``adata`` first (``embed`` also its model), options keyword-only,
writes its result to a documented key and returns it. The machinery lives in the task's
own namespace (models, represent, perturb, grn, knowledge ...); these are re-exports or
thin wrappers.

* :func:`embed` — cell embeddings of a model -> ``adata.obsm[key_added]`` (``X_vc``):
  ``vc.represent.embed(adata, source="oracle", model=model)`` after loading the model;
* :func:`annotate` — reference-to-query cell-type annotation (``vc.represent.annotate``);
* :func:`cluster` — Leiden clustering over a resolution sweep (``vc.represent.cluster``);
* :func:`integrate` — batch integration with its scores (``vc.represent.integrate``);
* :func:`predict_perturbation` — predicted expression after a perturbation
  (``vc.perturb.predict_perturbation``);
* :func:`infer_grn` — a gene regulatory network -> ``adata.uns[key_added]`` (``vc_grn``);
* :func:`enrich` — gene-set enrichment against the knowledge base.
"""

from ..knowledge import enrich
from ..perturb import predict_perturbation
from ..represent import annotate, cluster, integrate
from ._embed import embed
from ._grn import infer_grn

__all__ = [
    "annotate",
    "cluster",
    "embed",
    "enrich",
    "infer_grn",
    "integrate",
    "predict_perturbation",
]
