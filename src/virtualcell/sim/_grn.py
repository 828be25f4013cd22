"""Gene regulatory networks for the simulator: the :class:`GRN` object and its sampler.

A GRN is an edge table (``regulator, target, sign, weight, hill_n, half_response``), the
decay rate of every gene and the basal production rate of every *master regulator* (a gene
without incoming edges) in every cell type. Cell types differ only by these basal rates, as
in SERGIO (Dibaeinia & Sinha 2020).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._errors import ValidationError
from .._utils import check_number, doc_params
from ..data import normalize_edge_table

__all__ = ["GRN", "sample_grn"]

_EDGE_COLUMNS = ["regulator", "target", "sign", "weight", "hill_n", "half_response"]


@dataclass
class GRN:
    """A gene regulatory network with SERGIO kinetics.

    Attributes
    ----------
    genes
        Gene names (the order used by every array below).
    edges
        One row per regulation: ``regulator``, ``target`` (gene names), ``sign`` (+1
        activation, -1 repression), ``weight`` (the maximal contribution ``K > 0`` to the
        target's production rate), ``hill_n`` (Hill coefficient) and ``half_response``
        (the regulator level giving half the maximal response).
    decay
        Decay rate ``lambda`` of each gene (``len(genes)``).
    basal
        Basal production rate of each gene in each cell type, ``genes x cell types``
        DataFrame; non-zero only for master regulators.
    """

    genes: list[str]
    edges: pd.DataFrame
    decay: np.ndarray
    basal: pd.DataFrame
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ properties
    @property
    def n_genes(self) -> int:
        return len(self.genes)

    @property
    def cell_types(self) -> list[str]:
        return [str(c) for c in self.basal.columns]

    @property
    def master_regulators(self) -> list[str]:
        """Genes with no incoming edge (their production is the basal rate)."""
        targets = set(self.edges["target"])
        return [g for g in self.genes if g not in targets]

    def index(self) -> dict[str, int]:
        return {g: i for i, g in enumerate(self.genes)}

    def edge_arrays(self) -> tuple[np.ndarray, ...]:
        """``(reg_idx, tgt_idx, sign, weight, hill_n, half_response)`` as numpy arrays."""
        idx = self.index()
        e = self.edges
        return (
            e["regulator"].map(idx).to_numpy(dtype=np.int64),
            e["target"].map(idx).to_numpy(dtype=np.int64),
            e["sign"].to_numpy(dtype=np.float64),
            e["weight"].to_numpy(dtype=np.float64),
            e["hill_n"].to_numpy(dtype=np.float64),
            e["half_response"].to_numpy(dtype=np.float64),
        )

    def is_acyclic(self) -> bool:
        import networkx as nx

        graph = nx.DiGraph(list(zip(self.edges["regulator"], self.edges["target"], strict=True)))
        return nx.is_directed_acyclic_graph(graph)

    def levels(self) -> pd.Series:
        """Topological level of each gene (0 for master regulators; longest path from one).

        Only defined for acyclic networks (raises :class:`ValidationError` otherwise).
        """
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self.genes)
        graph.add_edges_from(zip(self.edges["regulator"], self.edges["target"], strict=True))
        if not nx.is_directed_acyclic_graph(graph):
            raise ValidationError("the network has a cycle; topological levels are undefined")
        level = dict.fromkeys(self.genes, 0)
        for g in nx.topological_sort(graph):
            for t in graph.successors(g):
                level[t] = max(level[t], level[g] + 1)
        return pd.Series(level, name="level").loc[self.genes]

    def to_frame(self) -> pd.DataFrame:
        """The edge table (a copy), as stored in ``adata.uns["true_network"]``."""
        return self.edges[_EDGE_COLUMNS].reset_index(drop=True).copy()

    def __repr__(self) -> str:
        return (
            f"GRN({self.n_genes} genes, {len(self.edges)} edges, "
            f"{len(self.master_regulators)} master regulators, "
            f"{len(self.cell_types)} cell types)"
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(
        cls,
        edges: pd.DataFrame,
        *,
        genes: list[str] | None = None,
        basal: pd.DataFrame | None = None,
        n_cell_types: int = 3,
        decay: float = 0.8,
        weight_range: tuple[float, float] = (1.0, 5.0),
        hill_n: float = 2.0,
        basal_low: tuple[float, float] = (0.2, 1.0),
        basal_high: tuple[float, float] = (2.0, 4.0),
        allow_cycles: bool = False,
        seed: int = 0,
    ) -> GRN:
        """Build a GRN from a given edge table (e.g. a BEELINE / SERGIO ground truth).

        Parameters
        ----------
        edges
            DataFrame with ``regulator`` and ``target`` columns (``Gene1``/``Gene2`` as in
            BEELINE's ``refNetwork.csv`` are accepted). Optional: ``sign`` (+1/-1, or
            ``+``/``-``, ``activation``/``repression``; BEELINE's ``Type``), ``weight``
            (``K``; a negative weight means repression when no sign is given),
            ``hill_n``, ``half_response``. Missing values are drawn with ``seed``
            (weights uniform in ``weight_range``, sign +1) or computed (half responses:
            the regulator's mean steady-state level over cell types, as in SERGIO).
        genes
            All genes (default: those named in ``edges``, sorted).
        basal
            Basal rates, ``genes x cell types`` (master regulators only need rows); by
            default drawn per master regulator and cell type from ``basal_low`` or
            ``basal_high`` (each with probability 1/2).
        allow_cycles
            Cyclic networks have no topological order; by default they are refused.
        """
        rng = np.random.default_rng(seed)
        df = normalize_edge_table(edges, what="edge table")
        self_loops = df[df["regulator"] == df["target"]]
        if len(self_loops):
            raise ValidationError(
                f"self-loops are not supported: {sorted(self_loops['regulator'].unique())[:5]}"
            )
        dup = df.duplicated(["regulator", "target"])
        if dup.any():
            df = df[~dup]
        n = len(df)
        if "weight" in df.columns:
            w = pd.to_numeric(df["weight"], errors="coerce").to_numpy(dtype=float)
            if np.isnan(w).any():
                raise ValidationError("column 'weight' has non-numeric or missing values")
        else:
            w = rng.uniform(*weight_range, size=n)
        if "sign" in df.columns:
            sign = np.sign(pd.to_numeric(df["sign"]).to_numpy(dtype=float))
            bad = sign == 0
            if bad.any():
                shown = [
                    f"{r}->{t}"
                    for r, t in zip(df["regulator"][bad], df["target"][bad], strict=True)
                ]
                raise ValidationError(
                    f"column 'sign' must be + or - for every simulated edge; {int(bad.sum())} "
                    f"unsigned: {shown[:5]}"
                )
        else:
            sign = np.where(w < 0, -1.0, 1.0)
        df["sign"] = sign.astype(np.int64)
        df["weight"] = np.abs(w)
        df["hill_n"] = (
            pd.to_numeric(df["hill_n"]).to_numpy(dtype=float)
            if "hill_n" in df.columns
            else np.full(n, float(hill_n))
        )
        all_genes = sorted(set(df["regulator"]) | set(df["target"]))
        if genes is None:
            genes = all_genes
        else:
            genes = [str(g) for g in genes]
            unknown = sorted(set(all_genes) - set(genes))
            if unknown:
                raise ValidationError(f"edges name genes not in `genes`: {unknown[:5]}")
        targets = set(df["target"])
        mrs = [g for g in genes if g not in targets]
        if basal is None:
            names = [f"type_{i}" for i in range(n_cell_types)]
            basal = pd.DataFrame(0.0, index=genes, columns=names)
            for g in mrs:
                high = rng.random(n_cell_types) < 0.5
                basal.loc[g] = np.where(
                    high,
                    rng.uniform(*basal_high, n_cell_types),
                    rng.uniform(*basal_low, n_cell_types),
                )
        else:
            basal = basal.reindex(index=genes).fillna(0.0).astype(float)
            basal.columns = [str(c) for c in basal.columns]
        has_h = "half_response" in df.columns
        if not has_h:
            df["half_response"] = np.nan
        grn = cls(
            genes=list(genes),
            edges=df.reset_index(drop=True),
            decay=np.full(len(genes), float(decay)),
            basal=basal,
        )
        if not allow_cycles and not grn.is_acyclic():
            raise ValidationError(
                "the network has a cycle (steady-state simulation needs an acyclic network); "
                "pass allow_cycles=True to simulate it anyway"
            )
        if not has_h or grn.edges["half_response"].isna().any():
            from ._kinetics import mean_field

            _, h = mean_field(grn, return_half_response=True)
            filled = grn.edges["half_response"].to_numpy(dtype=float)
            grn.edges["half_response"] = np.where(np.isnan(filled), h, filled)
        return grn


#: The largest network :func:`sample_grn` samples (the simulation of one this size takes
#: hours; ``vcell sim --genes`` allows up to 5,000).
MAX_GENES = 20_000


@doc_params
def sample_grn(
    n_genes: int,
    *,
    n_master_regulators: int | None = None,
    mean_out_degree: float = 2.0,
    frac_repression: float = 0.3,
    n_cell_types: int = 3,
    attachment_power: float = 1.0,
    weight_range: tuple[float, float] = (1.0, 5.0),
    hill_n: float = 2.0,
    decay: float = 0.8,
    basal_low: tuple[float, float] = (0.2, 1.0),
    basal_high: tuple[float, float] = (2.0, 4.0),
    seed: int = 0,
) -> GRN:
    """Sample an acyclic GRN with a scale-free out-degree and master regulators.

    Genes are placed in a hidden random order; the first ``n_master_regulators`` have no
    regulators. Every other gene draws ``1 + Poisson(m - 1)`` regulators among the genes
    before it (``m`` chosen so that the mean out-degree is ``mean_out_degree``), each with
    probability proportional to ``(1 + current out-degree) ** attachment_power``
    (preferential attachment, giving hub regulators and a heavy-tailed out-degree).
    Because regulators always precede their targets the network is acyclic, which is what
    SERGIO's steady-state mode requires.

    Each edge is a repression with probability ``frac_repression`` (else activation), has
    weight ``K ~ U(weight_range)``, Hill coefficient ``hill_n`` and half response equal to
    the regulator's mean steady-state level over cell types. Master regulators get a basal
    rate per cell type drawn from ``basal_low`` or ``basal_high`` (probability 1/2 each),
    so cell types run different programmes. Gene names (``G001``...) are assigned in a
    random order unrelated to the topology.

    Parameters
    ----------
    n_genes
        Number of genes (2 .. the simulator's maximum).
    n_master_regulators
        Genes without regulators (default ``max(2, round(n_genes / 10))``).
    mean_out_degree
        Mean number of targets per regulator.
    frac_repression
        Probability that an edge is a repression.
    n_cell_types
        Cell types (each with its own master-regulator basal rates).
    attachment_power
        Exponent of the preferential attachment of regulators.
    weight_range
        Edge weights ``K`` are drawn uniformly from this range.
    hill_n
        Hill coefficient of every edge.
    decay
        mRNA decay rate of every gene.
    basal_low
        Range of the low basal rates of master regulators.
    basal_high
        Range of the high basal rates of master regulators.

    Returns
    -------
    GRN
    """
    check_number("n_genes", n_genes, low=2, high=MAX_GENES, integer=True)
    check_number("n_cell_types", n_cell_types, low=1, integer=True)
    check_number("hill_n", hill_n, low=0, low_open=True)
    check_number("decay", decay, low=0, low_open=True)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    check_number("attachment_power", attachment_power)
    for label, (lo, hi) in (("weight_range", weight_range), ("basal_low", basal_low),
                            ("basal_high", basal_high)):  # fmt: skip
        check_number(f"{label}[0]", lo, low=0)
        check_number(f"{label}[1]", hi, low=lo)
    if n_master_regulators is None:
        n_master_regulators = max(2, round(0.1 * n_genes))
    if not 1 <= n_master_regulators < n_genes:
        raise ValidationError(
            f"n_master_regulators must be in [1, n_genes), got {n_master_regulators}"
        )
    if not 0.0 <= frac_repression <= 1.0:
        raise ValidationError(f"frac_repression must be in [0, 1], got {frac_repression}")
    if mean_out_degree <= 0:
        raise ValidationError(f"mean_out_degree must be > 0, got {mean_out_degree}")
    rng = np.random.default_rng(seed)
    n_mr = n_master_regulators
    mean_in = max(1.0, mean_out_degree * n_genes / (n_genes - n_mr))
    out_deg = np.zeros(n_genes)
    regs: list[int] = []
    tgts: list[int] = []
    for j in range(n_mr, n_genes):
        k = min(j, 1 + rng.poisson(mean_in - 1.0))
        p = (1.0 + out_deg[:j]) ** attachment_power
        chosen = rng.choice(j, size=k, replace=False, p=p / p.sum())
        for r in chosen:
            regs.append(int(r))
            tgts.append(j)
            out_deg[r] += 1
    width = len(str(n_genes))
    names = np.array([f"G{i + 1:0{width}d}" for i in range(n_genes)])
    order_names = names[rng.permutation(n_genes)]  # hidden position -> name
    n_edges = len(regs)
    sign = np.where(rng.random(n_edges) < frac_repression, -1, 1)
    edges = pd.DataFrame(
        {
            "regulator": order_names[regs],
            "target": order_names[tgts],
            "sign": sign,
            "weight": rng.uniform(*weight_range, size=n_edges),
            "hill_n": float(hill_n),
        }
    )
    edges = edges.sort_values(["regulator", "target"]).reset_index(drop=True)
    cell_types = [f"type_{i}" for i in range(n_cell_types)]
    basal = pd.DataFrame(0.0, index=sorted(names), columns=cell_types)
    for g in order_names[:n_mr]:
        high = rng.random(n_cell_types) < 0.5
        if n_cell_types > 1 and (high.all() or not high.any()):
            high[rng.integers(n_cell_types)] ^= True  # make each MR vary across types
        basal.loc[g] = np.where(
            high, rng.uniform(*basal_high, n_cell_types), rng.uniform(*basal_low, n_cell_types)
        )
    grn = GRN.from_edges(
        edges, genes=sorted(names), basal=basal, decay=decay, hill_n=hill_n, seed=seed
    )
    grn.meta = {
        "sampler": "preferential_attachment_dag",
        "n_master_regulators": int(n_mr),
        "mean_out_degree": float(mean_out_degree),
        "frac_repression": float(frac_repression),
        "attachment_power": float(attachment_power),
        "seed": int(seed),
    }
    return grn
