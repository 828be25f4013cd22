"""``gears_graph``: a small GEARS-style graph model (after the idea of Roohani et al. 2023).

Two graphs, one embedding each:

* **gene side** — every measured gene ``i`` has a learned embedding ``h_i``, propagated one
  step over a co-expression graph built from the *training* cells only (top ``k``
  neighbours by absolute Pearson correlation, signed, each row normalised to sum of
  absolute weights 1): ``h'_i = h_i + sum_j C_ij h_j``;
* **perturbation side** — every gene of the perturbation graph (measured genes and
  training-perturbed genes) has a learned embedding ``e_g``, propagated one step over a
  GO-similarity graph (Jaccard index of the genes' GO annotations from the installed
  knowledge store, top ``k`` neighbours) and, with ``graph="go+coexpression"`` (the
  default), also over the co-expression graph: ``p_g = e_g + sum_j A_gj e_j`` (embeddings
  start at 0). A gene perturbed in training uses ``p_g``; a graph gene never perturbed in
  training uses its neighbours' ``sum_j A_gj p_j`` (two hops: it borrows what its
  neighbours learned, not its own barely trained ``e_g``); a gene outside the node set
  (e.g. not measured) the same over its GO neighbours.

A condition perturbing the genes ``S`` adds ``sum_{g in S} f(p_g)`` (``f`` a small MLP) to
every gene's ``h'_i``; a shared MLP and a per-gene linear decoder give the predicted change
from control ``d_i = w_i . MLP(h'_i + sum f(p_g)) + b_i``. The prediction is
``ctrl + scale * d`` with each perturbed gene then set to its knock level (the engine's
rule, :meth:`~virtualcell.perturb._data.TrainingData.knock_level`).

Training (full batch, AdamW with weight decay, the decoder's bias started at the mean
training change so that an untrained model predicts the training mean) minimises GEARS'
autofocus loss ``mean |d - y|^(2 + gamma)`` plus ``direction * mean (sign(y) - tanh(d))^2``
on the training pseudobulk changes ``y`` (divided by one global scale, their standard
deviation, so the loss sees unit-sized numbers), with the perturbed genes themselves left
out of the loss (they are clamped, and scoring leaves them out). ``epochs`` full-batch
steps (default 100). With ``val_fraction > 0`` the number of epochs is instead chosen by
early stopping on held-out *training* conditions (that fraction of them, at least one,
when there are at least three; a held-out gene is embedded as an unseen one), then the
model is refitted on every training condition for that many epochs. The default is off:
on RENGE dev fold seeds 10-14 (the design seeds; ``docs/perturb.md``) early stopping on
one or two of the ~8 training knockouts stopped near the training mean (Pearson-delta
0.307 against 0.348 with 100 fixed epochs). Deterministic under ``seed`` (CPU, one thread
while fitting).

Differences from GEARS: pseudobulk changes instead of single cells, one propagation step
instead of several GNN layers, no cross-gene decoder layer, Jaccard on direct GO
annotations, co-expression edges also on the perturbation side (DREAM4-like data have no
GO), epochs chosen on held-out training conditions then refitted on all of them.

A gene with no embedding (not a graph node, and no GO annotation with a neighbour)
cannot be predicted: it raises, or with ``on_unsupported="flag"`` is predicted as the
training mean with ``obs["fallback"] = True`` (the predictor contract).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .._errors import ValidationError
from ..data import split_perturbation
from ._base import Predictor, Unsupported
from ._data import TrainingData, parse_conditions

__all__ = ["GearsGraph"]

_GRAPHS = ("go", "coexpression", "go+coexpression")
#: Cells the co-expression graph is computed on (a seeded random subset beyond that).
_MAX_CELLS = 10_000


class GearsGraph(Predictor):
    """GEARS-style graph model: GO and co-expression graphs, small MLP, autofocus loss."""

    name = "gears_graph"
    uses_features = True
    clamp_targets = True

    def __init__(
        self,
        *,
        graph: Literal["go", "coexpression", "go+coexpression"] = "go+coexpression",
        hidden: int = 8,
        neighbours: int = 10,
        epochs: int = 100,
        lr: float = 0.01,
        weight_decay: float = 0.1,
        gamma: float = 2.0,
        direction: float = 0.1,
        val_fraction: float = 0.0,
        patience: int = 30,
        go_features: pd.DataFrame | None = None,
        kb: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        if graph not in _GRAPHS:
            raise ValidationError(f"graph must be one of {list(_GRAPHS)}, got {graph!r}")
        checks = {
            "hidden": (hidden, 1),
            "neighbours": (neighbours, 1),
            "epochs": (epochs, 1),
            "patience": (patience, 1),
        }
        for key, (value, least) in checks.items():
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < least:
                raise ValidationError(f"{key} must be an integer >= {least}, got {value!r}")
        for key, value in {"lr": lr, "weight_decay": weight_decay, "gamma": gamma,
                           "direction": direction}.items():  # fmt: skip
            if not np.isfinite(value) or value < 0 or (key == "lr" and value == 0):
                raise ValidationError(f"{key} must be a finite number >= 0 (lr > 0), got {value!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValidationError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
        if go_features is not None and not isinstance(go_features, pd.DataFrame):
            raise ValidationError("go_features must be a DataFrame (genes x GO terms, 0/1)")
        self.graph = graph
        self.hidden = int(hidden)
        self.neighbours = int(neighbours)
        self.epochs = int(epochs)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.gamma = float(gamma)
        self.direction = float(direction)
        self.val_fraction = float(val_fraction)
        self.patience = int(patience)
        self.go_features = go_features
        self.kb = kb

    # ------------------------------------------------------------------ knowledge
    def _go_terms(self, genes: list[str]) -> dict[str, frozenset[str]]:
        """GO term sets of the genes that have any (others left out); cached per gene."""
        missing = [g for g in genes if g not in self._go_cache]
        if missing:
            if self.go_features is not None:
                table = self.go_features
                for g in missing:
                    row = table.loc[g] if g in table.index else None
                    terms = [] if row is None else [str(c) for c in row.index[row.to_numpy() > 0]]
                    self._go_cache[g] = frozenset(terms)
            else:
                from ._knowledge import go_tf_features

                feats = go_tf_features(missing, self._require_fit().genes, kb=self.kb)
                for g in missing:
                    terms: list[str] = []
                    if feats is not None and g in feats.index:
                        row = feats.loc[g]
                        terms = [c for c in row.index[row.to_numpy() > 0] if c.startswith("go:")]
                    self._go_cache[g] = frozenset(terms)
        return {g: self._go_cache[g] for g in genes if self._go_cache[g]}

    def _go_rows(self, genes: list[str]) -> dict[str, dict[int, float]]:
        """GO-neighbour weights (node index -> weight, rows sum to 1) of each gene with one:
        the top ``neighbours`` graph genes by Jaccard index of the GO term sets (sparse
        products, so a screen's thousands of genes stay quick)."""
        from scipy import sparse

        terms = self._go_terms(genes)
        if not terms or not self._node_terms:
            return {}
        vocab: dict[str, int] = {}
        node_ids = [j for j, node in enumerate(self.nodes_) if self._node_terms.get(node)]

        def binary(sets: list[frozenset[str]]) -> Any:
            rows, cols = [], []
            for r, ts in enumerate(sets):
                for t in sorted(ts):
                    rows.append(r)
                    cols.append(vocab.setdefault(t, len(vocab)))
            return rows, cols

        node_rc = binary([self._node_terms[self.nodes_[j]] for j in node_ids])
        names = list(terms)
        gene_rc = binary([terms[g] for g in names])
        shape_n = (len(node_ids), len(vocab))
        nodes_m = sparse.csr_matrix((np.ones(len(node_rc[0])), node_rc), shape=shape_n)
        genes_m = sparse.csr_matrix(
            (np.ones(len(gene_rc[0])), gene_rc), shape=(len(names), len(vocab))
        )
        inter = (genes_m @ nodes_m.T).toarray()
        size_g = np.asarray(genes_m.sum(axis=1)).ravel()
        size_n = np.asarray(nodes_m.sum(axis=1)).ravel()
        jac = inter / (size_g[:, None] + size_n[None, :] - inter)
        out = {}
        for r, g in enumerate(names):
            sims = jac[r].copy()
            if g in self.node_index_:  # not its own neighbour
                sims[np.asarray(node_ids) == self.node_index_[g]] = 0.0
            order = np.argsort(-sims, kind="stable")[: self.neighbours]
            order = order[sims[order] > 0]
            total = sims[order].sum()
            if total > 0:
                out[g] = {node_ids[k]: float(sims[k] / total) for k in order}
        return out

    # ------------------------------------------------------------------ fitting
    def _coexpression(self, adata: Any, data: TrainingData) -> np.ndarray:
        """Genes x genes signed co-expression weights from the training cells (top-k |r|)."""
        from ._data import expression_matrix

        x, _ = expression_matrix(adata, counts=data.counts)  # the training space
        if x.shape[0] > _MAX_CELLS:  # a fixed random subset of the cells is enough
            keep = np.sort(np.random.default_rng(self.seed).choice(x.shape[0], _MAX_CELLS,
                                                                   replace=False))  # fmt: skip
            x = x[keep]
        x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)
        n = x.shape[1]
        if x.shape[0] < 3:
            return np.zeros((n, n))
        sd = x.std(axis=0)
        z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        r = (z.T @ z) / x.shape[0]
        r[:, sd == 0] = 0.0
        r[sd == 0, :] = 0.0
        np.fill_diagonal(r, 0.0)
        out = np.zeros_like(r)
        k = min(self.neighbours, n - 1)
        for i in range(n):
            top = np.argsort(-np.abs(r[i]), kind="stable")[:k]
            top = top[np.abs(r[i, top]) > 0]
            total = np.abs(r[i, top]).sum()
            if total > 0:
                out[i, top] = r[i, top] / total
        return out

    def _fit(self, data: TrainingData, adata: Any) -> None:
        import torch

        self._go_cache: dict[str, frozenset[str]] = {}
        idx = data.gene_index
        self.nodes_ = list(dict.fromkeys([*data.genes, *sorted(data.seen_genes)]))
        self.node_index_ = {g: i for i, g in enumerate(self.nodes_)}
        use_go = self.graph in ("go", "go+coexpression")
        use_co = self.graph in ("coexpression", "go+coexpression")
        self._node_terms = self._go_terms(self.nodes_) if use_go else {}
        self.coexpression_ = self._coexpression(adata, data)
        n_nodes = len(self.nodes_)
        adj = np.zeros((n_nodes, n_nodes))
        if use_go:
            for g, row in self._go_rows(list(self._node_terms)).items():
                for j, w in row.items():
                    adj[self.node_index_[g], j] += w
        if use_co:
            co = np.abs(self.coexpression_)  # a neighbour's embedding, whatever the sign
            m = len(data.genes)
            adj[:m, :m] += co
        total = adj.sum(axis=1, keepdims=True)
        self.adjacency_ = np.divide(adj, total, out=np.zeros_like(adj), where=total > 0)
        # a node with neither a neighbour nor training data has no usable embedding
        self.embeddable_ = {
            g for i, g in enumerate(self.nodes_) if total[i, 0] > 0 or g in data.seen_genes
        }
        # training conditions whose genes all have an embedding
        conds = [
            c for c in data.profiles.index
            if all(g in self.embeddable_ for g in split_perturbation(c))
        ]  # fmt: skip
        self.train_conditions_ = conds
        self.mean_ = data.train_mean()
        if not conds:
            self.net_ = None
            return
        y = data.profiles.loc[conds].to_numpy() - data.control[None, :]
        mask = np.ones_like(y)
        for r, c in enumerate(conds):
            for g in split_perturbation(c):
                if g in idx:
                    mask[r, idx[g]] = 0.0  # the clamped gene itself is not learned
        sd = float(np.sqrt((y**2 * mask).sum() / max(mask.sum(), 1.0)))
        self.scale_ = sd if sd > 0 else 1.0
        y = y / self.scale_
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            n_val = 0
            if self.val_fraction > 0 and len(conds) >= 3:
                n_val = max(1, round(self.val_fraction * len(conds)))
            epochs = self.epochs
            self.val_curve_: list[float] = []
            if n_val:
                order = np.random.default_rng(self.seed).permutation(len(conds))
                val, tr = order[:n_val], order[n_val:]
                seen = {g for i in tr for g in split_perturbation(conds[i])}
                train_rows = self._rows([conds[i] for i in tr], seen)
                val_rows = self._rows([conds[i] for i in val], seen)
                _, curve = self._train(train_rows, y[tr], mask[tr], self.epochs,
                                       (*val_rows, y[val], mask[val]))  # fmt: skip
                self.val_curve_ = curve
                epochs = int(np.argmin(curve)) + 1
            self.epochs_ = epochs
            rows = self._rows(conds, set(data.seen_genes))
            self.net_, _ = self._train(rows, y, mask, epochs, None)
        finally:
            torch.set_num_threads(threads)

    def _rows(self, conds: list[str], seen: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """Conditions x nodes counts of the perturbed genes: on the one-hop embeddings
        (genes perturbed in this fit's training conditions) and on the two-hop ones
        (graph genes not perturbed in it: their neighbours' embeddings)."""
        one = np.zeros((len(conds), len(self.nodes_)))
        two = np.zeros_like(one)
        for r, c in enumerate(conds):
            for g in split_perturbation(c):
                (one if g in seen else two)[r, self.node_index_[g]] += 1.0
        return one, two

    def _tensors(self) -> tuple[Any, Any]:
        import torch

        return (
            torch.tensor(self.adjacency_, dtype=torch.float32),
            torch.tensor(self.coexpression_, dtype=torch.float32),
        )

    def _train(
        self, rows: tuple, y: np.ndarray, mask: np.ndarray, epochs: int, val: Any
    ) -> tuple[Any, list[float]]:
        import torch

        torch.manual_seed(self.seed)
        adj, co = self._tensors()
        net = _Net(len(self.nodes_), co.shape[0], self.hidden)
        with torch.no_grad():  # start at the mean training change: untrained = train mean
            net.b.copy_(torch.tensor((y * mask).sum(0) / np.maximum(mask.sum(0), 1.0)))
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        r1, r2, t, m = (torch.tensor(a, dtype=torch.float32) for a in (*rows, y, mask))
        if val is not None:
            v1, v2, vt, vm = (torch.tensor(a, dtype=torch.float32) for a in val)
        curve: list[float] = []
        best, since = np.inf, 0
        for _ in range(epochs):
            net.train()
            opt.zero_grad()
            loss = self._loss(net(r1, r2, adj, co), t, m)
            loss.backward()
            opt.step()
            if val is not None:
                with torch.no_grad():
                    v = float(self._loss(net(v1, v2, adj, co), vt, vm))
                curve.append(v)
                if v < best - 1e-9:
                    best, since = v, 0
                else:
                    since += 1
                    if since >= self.patience:
                        break
        return net, curve

    def _loss(self, pred: Any, target: Any, mask: Any) -> Any:
        import torch

        n = mask.sum().clamp(min=1.0)
        focus = ((pred - target).abs() ** (2.0 + self.gamma) * mask).sum() / n
        sign = ((torch.sign(target) - torch.tanh(pred)) ** 2 * mask).sum() / n
        return focus + self.direction * sign

    # ------------------------------------------------------------------ predicting
    def predict(
        self, perturbations: Any, *, on_unsupported: Any = "raise", time: Any = None
    ) -> Any:
        """:meth:`Predictor.predict`, with the GO annotations of every gene outside the
        graph looked up in one knowledge-base query first."""
        self._require_fit()
        labels = parse_conditions(perturbations)
        if self.graph != "coexpression":
            need = sorted(
                {g for lab in labels for g in split_perturbation(lab)} - set(self.node_index_)
            )
            if need:
                self._go_terms(need)
        return super().predict(labels, on_unsupported=on_unsupported, time=time)

    def _pert_rows(self, genes: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
        """Rows (over graph nodes) that give each gene's perturbation embedding as
        ``row @ (E + A E)``-style mixtures; raises :class:`Unsupported` for genes without."""
        data = self._require_fit()
        rows, lacking = [], []
        for g in genes:
            row = np.zeros(len(self.nodes_))
            if g in self.node_index_ and g in self.embeddable_:
                row[self.node_index_[g]] = 1.0
                rows.append(("seen" if g in data.seen_genes else "unseen", row))
                continue
            go = self._go_rows([g]) if self.graph != "coexpression" else {}
            if g not in go:
                lacking.append(g)
                continue
            for j, w in go[g].items():
                row[j] = w
            rows.append(("outside", row))
        if lacking:
            raise Unsupported(lacking, "no graph neighbour (no GO annotation shared with a "
                              "graph gene and not a co-expressed measured gene)")  # fmt: skip
        return np.vstack([r for _, r in rows]), [k for k, _ in rows]

    def _predict_one(self, genes: tuple[str, ...]) -> np.ndarray:
        import torch

        data = self._require_fit()
        rows, kinds = self._pert_rows(genes)
        if self.net_ is None:
            raise Unsupported(genes, "no training condition has a graph embedding")
        adj, co = self._tensors()
        with torch.no_grad():
            r = torch.tensor(rows, dtype=torch.float32)
            hop = torch.tensor([k == "unseen" for k in kinds])
            delta = self.net_.forward_rows(r, hop, adj, co).numpy()
        return data.control + self.scale_ * delta.astype(np.float64)


def _Net(n_nodes: int, n_genes: int, hidden: int) -> Any:
    """The torch module (built lazily so that importing this file needs no torch)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # zero: a gene whose embedding never gets a gradient (neither perturbed in
            # training nor a neighbour of a perturbed gene) stays at nothing, so an unseen
            # gene's embedding is what its neighbours learned, not initial noise
            self.pert = nn.Parameter(torch.zeros(n_nodes, hidden))
            self.gene = nn.Parameter(torch.randn(n_genes, hidden) * 0.1)
            self.pert_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(),
                                          nn.Linear(hidden, hidden))  # fmt: skip
            self.shared = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
            self.w = nn.Parameter(torch.randn(n_genes, hidden) * 0.1)
            self.b = nn.Parameter(torch.zeros(n_genes))

        def _decode(self, shift: Any, co: Any) -> Any:
            h = self.gene + co @ self.gene  # genes x hidden
            z = self.shared(h[None, :, :] + shift[:, None, :])  # conds x genes x hidden
            return (z * self.w[None]).sum(-1) + self.b[None]

        def embeddings(self, adj: Any) -> tuple[Any, Any]:
            """One-hop (own + neighbours) and two-hop (neighbours' one-hop) embeddings."""
            one = self.pert + adj @ self.pert  # nodes x hidden
            return one, adj @ one

        def forward(self, one_rows: Any, two_rows: Any, adj: Any, co: Any) -> Any:
            """Conditions x nodes counts of the perturbed genes on the one-hop (perturbed
            in training) and two-hop (not perturbed in training) embeddings."""
            one, two = self.embeddings(adj)
            shift = one_rows @ self.pert_mlp(one) + two_rows @ self.pert_mlp(two)
            return self._decode(shift, co)

        def forward_rows(self, rows: Any, hop: Any, adj: Any, co: Any) -> Any:
            """One condition, a row per gene: one-hot on the one-hop embeddings (perturbed
            in training), on the two-hop ones (``hop``: a graph gene not perturbed in
            training), or the GO-neighbour weights of a gene outside the graph (its
            neighbours' one-hop embeddings, as a graph gene's two-hop one)."""
            one, two = self.embeddings(adj)
            per_gene = torch.where(hop[:, None], rows @ two, rows @ one)
            shift = self.pert_mlp(per_gene).sum(0, keepdim=True)
            return self._decode(shift, co)[0]

    return Net()
