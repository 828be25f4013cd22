"""The table of niche embeddings (``vc.spatial.list_niche_embeddings()``).

Each entry is a function ``f(inputs: NicheInputs, *, seed: int, **options) -> cells x dims``
(see :mod:`._niches`); baselines are flagged. Users add their own with
``NICHE_EMBEDDINGS.register(name)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._utils import Entry, Registry

__all__ = ["NICHE_EMBEDDINGS", "NicheEmbedding", "list_niche_embeddings"]

#: ``f(inputs, *, seed, **options) -> (n_cells, dims)`` array.
NicheEmbedding = Callable[..., np.ndarray]


def _builtins() -> list[Entry[NicheEmbedding]]:
    from . import _niches as n
    from ._oracle import niche_transformer_embedding

    return [
        Entry(
            "expression",
            n.expression_embedding,
            "PCA of the cell's own expression, no neighbours (baseline)",
            baseline=True,
        ),
        Entry(
            "neighbor_pca",
            n.neighbor_pca_embedding,
            "expression PCA averaged over the cell and its spatial neighbours (baseline)",
            baseline=True,
        ),
        Entry(
            "composition",
            n.composition_embedding,
            "cellular neighbourhoods: soft cell-state memberships averaged over 8 rounds",
        ),
        Entry(
            "multihop",
            n.multihop_embedding,
            "CellCharter-style: PCA and its 1, 2, 4, 8-round neighbourhood averages concatenated",
        ),
        Entry(
            "niche_transformer",
            niche_transformer_embedding,
            "oracle: a small transformer pretrained (self-supervised) on the section's "
            "niche profiles (a cell's tokens plus its neighbours')",
            tags=("oracle", "slow"),
        ),
    ]


#: Niche-embedding methods (``vcell spatial niches --methods``).
NICHE_EMBEDDINGS: Registry[NicheEmbedding] = Registry("niche embedding", _builtins)


def list_niche_embeddings(*, baseline: bool | None = None) -> dict[str, str]:
    """``{name: description}`` of the niche embeddings.

    Parameters
    ----------
    baseline
        ``True``: baselines only; ``False``: the other methods; ``None``: all.

    Returns
    -------
    dict[str, str]
        One line per method, in name order.
    """
    return {e.name: e.description for e in NICHE_EMBEDDINGS.entries()
            if baseline is None or e.baseline == baseline}  # fmt: skip
