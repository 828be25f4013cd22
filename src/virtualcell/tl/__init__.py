"""Task-level tools: AnnData in, AnnData / DataFrame out (``vc.tl``).

Each function is implemented in the namespace that owns its logic and re-exported here.
"""

__all__: list[str] = [
    "annotate",
    "cluster",
    "embed",
    "enrich",
    "integrate",
    "predict_perturbation",
]

from ..knowledge import enrich
from ..models import embed
from ..perturb import predict_perturbation
from ..represent import annotate, cluster, integrate
