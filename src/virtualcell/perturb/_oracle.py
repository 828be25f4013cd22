"""Oracle methods: perturbation prediction through a pretrained cell model (``vc.models``).

Both start from a :class:`~virtualcell.models.CellEncoder` with a masked-value (``mae``)
head: given with ``model=`` (a checkpoint folder or :class:`~virtualcell.models.CellModel`)
or pretrained here on the training cells with :func:`vc.train.pretrain` (continuous
tokenizer over all measured genes when there are at most ``max_len`` = 256, else the
``max_len`` most expressed genes of each cell; ``objective="mae"``; ``d_model=64``, 2 layers;
``steps=200`` optimizer steps of 32 cells). ``threads`` sets torch's CPU threads while the
method runs (one thread is much faster on a loaded machine).

``oracle_isp`` — in-silico perturbation. Control cells are tokenized; the perturbed genes'
values are set to their perturbed level (knockout: 0; their level in the training profile
where they were perturbed alone; else the median knock ratio of the training perturbations
times the control level — the same clamp as ``network``). Every other gene's value is
hidden in turn (a fixed partition of the positions into ``n_rounds`` masks) and predicted by
the ``mae`` head, once in the original and once in the perturbed context; the predicted
change of a gene is the mean over cells of the difference. The prediction is ``ctrl +
change`` with the perturbed genes at their clamp level.

``oracle_head`` — a perturbation head on the frozen oracle. Inputs: the oracle's embedding
of a control cell and the perturbation's embedding (the sum over its genes of a gene
embedding: ``"expression"`` = the gene's loadings on the first ``n_components`` principal
components of the training profiles and control cells, available for every measured gene so
unseen genes work; ``"genept"``; or a user DataFrame). A two-layer MLP regresses the
condition's change from control (Adam, ``head_steps`` steps, random pairs of a training
condition and a control cell); the prediction is ``ctrl`` plus the mean output over the
control cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import log
from ..data import split_perturbation
from ._base import Predictor, Unsupported
from ._data import TARGET_SUM, TrainingData, row_roles

__all__ = ["OracleHead", "OracleISP"]


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch CPU threads (restored afterwards); None leaves torch's setting."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Oracle(Predictor):
    """Shared: obtain (pretrain) the oracle, control cells, clamp levels."""

    uses_features = True

    def __init__(
        self,
        *,
        model: Any = None,
        steps: int = 200,
        d_model: int = 64,
        n_layers: int = 2,
        max_len: int = 256,
        n_control_cells: int = 64,
        threads: int | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.model = model
        self.threads = threads
        self.steps = int(steps)
        self.d_model = int(d_model)
        self.n_layers = int(n_layers)
        self.max_len = int(max_len)
        self.n_control_cells = int(n_control_cells)

    def _oracle(self, adata, data: TrainingData) -> Any:
        from ..models import CellModel, load

        if self.model is not None:
            model = self.model if isinstance(self.model, CellModel) else load(self.model)
            if not isinstance(model, CellModel) or "mae" not in getattr(model.network, "heads", {}):
                raise ValidationError(
                    "oracle methods need a CellEncoder with a masked-value ('mae') head "
                    "(pretrain with objective='mae' and a bin/continuous tokenizer)"
                )
            return model
        from ..tokenize import ContinuousTokenizer
        from ..train import TrainConfig, pretrain

        n_genes = len(data.genes)
        subset = "all" if n_genes <= self.max_len else "nonzero"
        tok = ContinuousTokenizer(
            max_len=min(n_genes, self.max_len), gene_subset=subset, min_cells=0
        )
        tok.fit(adata)
        n_heads = 2 if self.d_model % 2 == 0 else 1
        cfg = TrainConfig(
            max_steps=self.steps,
            batch_size=min(32, adata.n_obs),
            lr=1e-3,
            warmup_steps=min(20, max(1, self.steps // 10)),
            seed=self.seed,
            device="cpu",
        )
        model, _ = pretrain(
            adata,
            tokenizer=tok,
            objective="mae",
            model_config={"d_model": self.d_model, "n_layers": self.n_layers, "n_heads": n_heads},
            train_config=cfg,
        )
        return model

    def _control_rows(self, adata, data: TrainingData) -> Any:
        _, role, _ = row_roles(adata, perturbation_type=data.perturbation_type or None)
        rows = np.flatnonzero(role == "control")
        rng = np.random.default_rng(self.seed)
        if len(rows) > self.n_control_cells:
            rows = np.sort(rng.choice(rows, size=self.n_control_cells, replace=False))
        return adata[rows].copy()

    def fit(self, adata, **kw: Any) -> Predictor:
        with _torch_threads(self.threads):
            return super().fit(adata, **kw)

    def predict(self, perturbations, **kw: Any) -> Any:
        with _torch_threads(self.threads):
            return super().predict(perturbations, **kw)

    def _clamp_levels(self, data: TrainingData) -> tuple[dict[str, float], float]:
        levels, ratios = {}, []
        for g in data.seen_singles:
            if g in data.gene_index:
                j = data.gene_index[g]
                levels[g] = float(data.profiles.loc[g].iloc[j])
                if data.control[j] > 0:
                    ratios.append(levels[g] / data.control[j])
        return levels, float(np.median(ratios)) if ratios else 0.0

    def _clamp(self, gene: str) -> float:
        data = self._require_fit()
        return self.levels_.get(gene, self.ratio_ * float(data.control[data.gene_index[gene]]))


class OracleISP(_Oracle):
    """In-silico perturbation through a pretrained CellEncoder (masked-value head)."""

    name = "oracle_isp"

    def __init__(self, *, n_rounds: int = 4, **kw: Any) -> None:
        super().__init__(**kw)
        self.n_rounds = int(n_rounds)

    def _fit(self, data: TrainingData, adata) -> None:
        import torch

        self.model_ = self._oracle(adata, data)
        ctrl = self._control_rows(adata, data)
        tok = self.model_.tokenizer
        cells = tok.encode(ctrl, genes=[str(g) for g in ctrl.var_names])
        self.batch_ = {
            k: v
            for k, v in cells.to_torch().items()
            if k in ("input_ids", "values", "attention_mask")
        }
        ids = cells.input_ids
        vocab = tok.vocab
        self.pos_ = {}  # gene -> (cell rows, positions)
        for g in data.genes:
            tid = vocab.get(g)
            if tid is None:
                continue
            r, p = np.nonzero(ids == tid)
            self.pos_[g] = (r, p)
        x = ctrl.X.toarray() if hasattr(ctrl.X, "toarray") else np.asarray(ctrl.X)
        self.totals_ = np.asarray(x, dtype=np.float64).sum(axis=1)
        self.levels_, self.ratio_ = self._clamp_levels(data)
        maskable = cells.attention_mask & (ids >= vocab.n_special)
        rng = np.random.default_rng(self.seed)
        slot = rng.integers(0, self.n_rounds, size=ids.shape)
        self.masks_ = [torch.as_tensor(maskable & (slot == r)) for r in range(self.n_rounds)]
        self.orig_ = self._run(self.batch_["values"])

    def _run(self, values) -> np.ndarray:
        """Predicted value at every position (each masked once), cells x positions."""
        import torch

        net = self.model_.network
        net.eval()
        out = np.zeros(tuple(values.shape), dtype=np.float64)
        with torch.no_grad():
            for m in self.masks_:
                if not m.any():
                    continue
                res = net(self.batch_["input_ids"], values, self.batch_["attention_mask"],
                          value_mask=m, target_mask=m, heads=("mae",))  # fmt: skip
                out[m.numpy()] = res["mae"].float().numpy()
        return out

    def _to_space(self, v: np.ndarray, rows: np.ndarray) -> np.ndarray:
        data = self._require_fit()
        if data.counts:
            return v
        return np.expm1(v) * self.totals_[rows] / TARGET_SUM

    def _from_space(self, level: float, rows: np.ndarray) -> np.ndarray:
        data = self._require_fit()
        if data.counts:
            return np.full(len(rows), level)
        return np.log1p(level / np.maximum(self.totals_[rows], 1e-12) * TARGET_SUM)

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        import torch

        data = self._require_fit()
        missing = [g for g in genes if g not in self.pos_]
        if missing:
            raise Unsupported(missing, "not in the oracle's vocabulary")
        values = self.batch_["values"].clone()
        for g in genes:
            r, p = self.pos_[g]
            values[r, p] = torch.as_tensor(self._from_space(self._clamp(g), r), dtype=values.dtype)
        pert = self._run(values)
        out = data.control.copy()
        for g, (r, p) in self.pos_.items():
            j = data.gene_index[g]
            if g in genes:
                out[j] = self._clamp(g)
                continue
            change = self._to_space(pert[r, p], r) - self._to_space(self.orig_[r, p], r)
            out[j] += float(change.mean()) if change.size else 0.0
        return out


class OracleHead(_Oracle):
    """Perturbation head on a frozen pretrained CellEncoder, conditioned on gene embeddings."""

    name = "oracle_head"

    def __init__(
        self,
        *,
        embedding: Literal["expression", "genept"] | pd.DataFrame = "expression",
        n_components: int = 16,
        hidden: int = 128,
        head_steps: int = 600,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.embedding = embedding
        self.n_components = int(n_components)
        self.hidden = int(hidden)
        self.head_steps = int(head_steps)

    def _gene_embedding(self, data: TrainingData) -> pd.DataFrame:
        if isinstance(self.embedding, pd.DataFrame):
            return self.embedding.astype(np.float64)
        if self.embedding == "genept":
            from ._knowledge import genept_features

            table = genept_features(data.genes)
            if table is None:
                raise ValidationError(
                    "no GenePT embeddings (knowledge base not built or genes unknown)"
                )
            return table.astype(np.float64)
        if self.embedding != "expression":
            raise ValidationError(
                f"embedding must be 'expression', 'genept' or a DataFrame, got {self.embedding!r}"
            )
        m = np.vstack([data.profiles.to_numpy(), data.control_cells])
        m = m - m.mean(axis=0)
        k = max(1, min(self.n_components, min(m.shape) - 1))
        _, s, vt = np.linalg.svd(m, full_matrices=False)
        return pd.DataFrame(vt[:k].T * (s[:k] / max(s[0], 1e-12)), index=data.genes)

    def _fit(self, data: TrainingData, adata) -> None:
        import torch
        from torch import nn

        self.model_ = self._oracle(adata, data)
        ctrl = self._control_rows(adata, data)
        h = self.model_.embed(ctrl, batch_size=32).astype(np.float32)
        self.gene_emb_ = self._gene_embedding(data)
        conds = [c for c in data.profiles.index
                 if all(g in self.gene_emb_.index for g in split_perturbation(c))]  # fmt: skip
        if not conds:
            raise ValidationError("no training condition has gene embeddings")
        e = np.vstack([self._embed(split_perturbation(c)) for c in conds]).astype(np.float32)
        y = (data.profiles.loc[conds].to_numpy() - data.control).astype(np.float32)
        scale = float(np.abs(y).max()) or 1.0
        self.scale_ = scale
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            head = nn.Sequential(
                nn.Linear(h.shape[1] + e.shape[1], self.hidden),
                nn.GELU(),
                nn.Linear(self.hidden, self.hidden),
                nn.GELU(),
                nn.Linear(self.hidden, y.shape[1]),
            )
            opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
            ht, et, yt = torch.as_tensor(h), torch.as_tensor(e), torch.as_tensor(y / scale)
            gen = torch.Generator().manual_seed(self.seed)
            for step in range(self.head_steps):
                ci = torch.randint(0, len(conds), (64,), generator=gen)
                hi = torch.randint(0, len(h), (64,), generator=gen)
                pred = head(torch.cat([ht[hi], et[ci]], dim=1))
                loss = torch.mean((pred - yt[ci]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step == self.head_steps - 1:
                    log(f"oracle_head: final training loss {loss.item():.4g}")
        self.head_ = head.eval()
        self.h_ = torch.as_tensor(h)

    def _embed(self, genes: tuple[str, ...]) -> np.ndarray:
        missing = [g for g in genes if g not in self.gene_emb_.index]
        if missing:
            raise Unsupported(missing, "no gene embedding")
        return self.gene_emb_.loc[list(genes)].to_numpy().sum(axis=0)

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        import torch

        data = self._require_fit()
        e = torch.as_tensor(self._embed(genes), dtype=torch.float32)[None, :].expand(
            len(self.h_), -1
        )
        with torch.no_grad():
            out = self.head_(torch.cat([self.h_, e], dim=1)).mean(dim=0).numpy()
        return data.control + out.astype(np.float64) * self.scale_
