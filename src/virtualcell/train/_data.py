"""Deterministic, resumable, rank-sharded batches of tokenized cells streamed in row chunks.

Order of one epoch (a pure function of ``seed`` and the epoch number):

1. rows are cut into consecutive chunks of ``chunk_size`` rows (one disk read each);
2. the chunk order is a permutation drawn from ``numpy.random.default_rng([seed, epoch])``;
3. rows inside a chunk are permuted with ``default_rng([seed, epoch, chunk])``;
4. each chunk is tokenized once and cut into *global* batches of
   ``batch_size * world_size`` rows; rank ``r`` takes its slice of every global batch.

The position in the data is ``(epoch, batch)`` (batches consumed in this epoch); resuming
at a position skips whole chunks without reading them, so resume is cheap and exact.

The training loop reads any :class:`Batches`: :class:`CellBatches` (tokenized cells
streamed from AnnData or a file) or :class:`TensorBatches` (ready tensors in memory, e.g.
the GRN oracle's fixed-layout sequences).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .._errors import ValidationError
from ..data import CellSource

if TYPE_CHECKING:
    import torch

    from ..tokenize import Tokenizer

__all__ = ["Batches", "CellBatches", "DataPosition", "TensorBatches"]


@dataclass(frozen=True)
class DataPosition:
    """Where training is in the data stream: ``batch`` batches consumed in ``epoch``."""

    epoch: int = 0
    batch: int = 0


@runtime_checkable
class Batches(Protocol):
    """What the training loop reads: a resumable, deterministic stream of batches.

    ``iterate(position)`` yields ``(position after this batch, batch)`` from ``position``
    to the end of that position's epoch; the loop then continues with the next epoch at
    ``DataPosition(epoch + 1, 0)``. A batch maps names (``input_ids``,
    ``attention_mask``, optional ``values`` / ``labels``) to tensors.
    """

    def iterate(
        self, position: DataPosition = ...
    ) -> Iterator[tuple[DataPosition, dict[str, torch.Tensor]]]: ...


class CellBatches:
    """Batches of tokenized cells (dicts of torch tensors) for training.

    Parameters
    ----------
    source
        A :class:`CellSource` (or anything :meth:`CellSource.open` accepts).
    tokenizer
        A fitted tokenizer from :mod:`virtualcell.tokenize`.
    batch_size
        Cells per batch and rank.
    chunk_size
        Rows read (and tokenized) at once; rounded up to a multiple of the global batch.
    seed
        Seed of the shuffling.
    shuffle
        Shuffle chunks and rows (``False``: file order).
    rank, world_size
        This process's rank and the number of processes (distributed data parallel).
    targets
        Optional per-cell targets (``(n_obs,)`` int or float array) added to each batch as
        ``"labels"`` (fine-tuning).
    layer
        Passed to :meth:`CellSource.open` when ``source`` is not a CellSource yet.
    counts
        Also add ``"counts"``: float32 ``(batch, len(vocab))``, each cell's expression of
        every vocabulary gene at its token id (0 for special tokens and genes the data
        lacks) — the target of the ``mvc`` objective.
    """

    def __init__(
        self,
        source: Any,
        tokenizer: Tokenizer,
        *,
        batch_size: int = 32,
        chunk_size: int = 1024,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        targets: np.ndarray | None = None,
        layer: str | None = None,
        counts: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValidationError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValidationError(f"rank {rank} not in [0, {world_size})")
        self.source = (
            source if isinstance(source, CellSource) else CellSource.open(source, layer=layer)
        )
        if self.source.n_obs < world_size:
            raise ValidationError(
                f"{self.source.n_obs} cells cannot be shared by {world_size} ranks"
            )
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.world_size = int(world_size)
        self.rank = int(rank)
        g = self.batch_size * self.world_size
        self.chunk_size = max(g, -(-int(chunk_size) // g) * g)
        self.seed = int(seed)
        self.shuffle = shuffle
        if targets is not None:
            targets = np.asarray(targets)
            if targets.shape[0] != self.source.n_obs:
                raise ValidationError(
                    f"targets has {targets.shape[0]} rows, the data has {self.source.n_obs} cells"
                )
        self.targets = targets
        self.counts = bool(counts)
        self._token_of_column: np.ndarray | None = None
        if self.counts:
            vocab = getattr(tokenizer, "vocab", None)
            if vocab is None:
                raise ValidationError("counts=True needs a fitted tokenizer (with a vocabulary)")
            ids = vocab.lookup([str(g) for g in self.source.var_names])
            ids[ids < vocab.n_special] = -1
            self._token_of_column = ids
        n = self.source.n_obs
        self._chunks = [(s, min(s + self.chunk_size, n)) for s in range(0, n, self.chunk_size)]

    @property
    def n_obs(self) -> int:
        return self.source.n_obs

    def _global_batches(self, n_rows: int) -> int:
        g = self.batch_size * self.world_size
        full, rest = divmod(n_rows, g)
        return full + (1 if rest >= self.world_size else 0)

    def batches_per_epoch(self) -> int:
        """Number of batches each rank sees per epoch."""
        return sum(self._global_batches(b - a) for a, b in self._chunks)

    def _chunk_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self._chunks))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self._chunks))

    def iterate(
        self, position: DataPosition = DataPosition()
    ) -> Iterator[tuple[DataPosition, dict]]:
        """Yield ``(position after this batch, batch)`` from ``position`` to the end of its epoch."""
        epoch, skip = position.epoch, position.batch
        done = 0
        for c in self._chunk_order(epoch):
            start, stop = self._chunks[int(c)]
            n_b = self._global_batches(stop - start)
            if done + n_b <= skip:
                done += n_b
                continue
            rows = np.arange(start, stop)
            if self.shuffle:
                rows = rows[
                    np.random.default_rng([self.seed, epoch, int(c)]).permutation(len(rows))
                ]
            X = self.source.read(start, stop)
            tok = self.tokenizer.encode(X, genes=self.source.var_names)
            dense = self._vocab_counts(X) if self.counts else None
            for b in range(n_b):
                if done < skip:
                    done += 1
                    continue
                sel = self._rank_slice(rows, b) - start
                done += 1
                batch = self._to_batch(tok, sel, start)
                if dense is not None:
                    import torch

                    batch["counts"] = torch.from_numpy(dense[sel])
                yield DataPosition(epoch, done), batch

    def _vocab_counts(self, X: Any) -> np.ndarray:
        """Dense ``(rows, len(vocab))`` expression at each gene's token id."""
        ids = self._token_of_column
        assert ids is not None
        out = np.zeros((X.shape[0], len(self.tokenizer.vocab)), dtype=np.float32)
        keep = np.flatnonzero(ids >= 0)
        block = X[:, keep].tocoo()
        np.add.at(out, (block.row, ids[keep][block.col]), block.data)
        return out

    def _rank_slice(self, rows: np.ndarray, b: int) -> np.ndarray:
        g = self.batch_size * self.world_size
        block = rows[b * g : (b + 1) * g]
        if len(block) == g:
            return block[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        return np.array_split(block, self.world_size)[self.rank]

    def _to_batch(self, tok: Any, local: np.ndarray, start: int) -> dict:
        sub = tok.subset(local)
        length = max(int(sub.attention_mask.sum(1).max()), 1)
        batch = {k: v[:, :length] for k, v in sub.to_torch().items() if v.ndim == 2}
        if self.targets is not None:
            import torch

            batch["labels"] = torch.as_tensor(self.targets[local + start])
        return batch

    def __iter__(self) -> Iterator[dict]:
        for _, batch in self.iterate():
            yield batch


class TensorBatches:
    """Batches drawn from tensors already in memory (a :class:`Batches`).

    Epoch ``e`` visits the rows in the order ``numpy.random.default_rng([seed, e])``
    permutes them, ``batch_size`` rows at a time (the last batch may be smaller).

    Parameters
    ----------
    tensors
        Name -> tensor, all with the same first dimension (rows).
    batch_size
        Rows per batch.
    seed
        Seed of the row order.
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor], *, batch_size: int, seed: int = 0):
        if batch_size < 1:
            raise ValidationError(f"batch_size must be >= 1, got {batch_size}")
        sizes = {int(v.shape[0]) for v in tensors.values()}
        if len(sizes) != 1:
            raise ValidationError(f"tensors have different numbers of rows: {sorted(sizes)}")
        self.tensors = dict(tensors)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.n_obs = sizes.pop()

    def iterate(
        self, position: DataPosition = DataPosition()
    ) -> Iterator[tuple[DataPosition, dict[str, torch.Tensor]]]:
        """Yield ``(position after this batch, batch)`` to the end of the epoch."""
        order = np.random.default_rng([self.seed, position.epoch]).permutation(self.n_obs)
        for b, start in enumerate(range(0, self.n_obs, self.batch_size)):
            if b < position.batch:
                continue
            rows = order[start : start + self.batch_size]
            yield DataPosition(position.epoch, b + 1), {k: v[rows] for k, v in self.tensors.items()}
