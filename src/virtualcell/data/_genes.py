"""Gene-identifier harmonisation: symbols, aliases, Ensembl and Entrez IDs -> symbols.

Table
-----
``resources/human_genes.tsv.gz`` (built by ``scripts/build_gene_table.py`` from
Bioconductor ``org.Hs.eg.db`` 3.16 = NCBI Gene 2022-09-12, plus NCBI ``gene_info`` and
Ensembl cross-references): one row per human gene with its current symbol, Entrez ID,
Ensembl gene IDs and aliases (previous symbols and synonyms).

Rules (first rule that applies wins; each must give exactly one gene)
--------------------------------------------------------------------
1. ``symbol``: the input is a current symbol (exact, case-sensitive).
2. ``ensembl``: an Ensembl gene ID, version suffix stripped (``ENSG...15`` -> ``ENSG...``).
3. ``entrez``: an Entrez ID (``7157``, ``GeneID:7157`` or ``Entrez:7157``).
4. ``alias``: an alias / previous symbol of exactly one gene.
5. ``symbol_case`` / ``alias_case``: the same, ignoring case (e.g. ``Tp53``).

An identifier matching several genes (e.g. an alias shared by two genes) is *ambiguous*:
unmapped and reported with its candidates. A current symbol always wins over an alias
(rule 1 before rule 4). When two inputs map to the same gene (a *collision*), the input
that is that gene's current symbol is kept, else the first one; the others keep their
original names and are reported.

Mouse identifiers are not supported yet.
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal

import anndata as ad
import pandas as pd

from .._errors import ValidationError
from ._conventions import UNS_KEY

__all__ = ["GeneMappingReport", "gene_table", "harmonize_genes"]

_ENSEMBL = re.compile(r"^(ENS[A-Z]*G\d{6,})(\.\d+)?$")
_ENTREZ = re.compile(r"^(?:GeneID:|Entrez:|ENTREZ:)?(\d+)$")
_RULES = ("symbol", "ensembl", "entrez", "alias", "symbol_case", "alias_case")


@lru_cache(maxsize=2)
def gene_table(species: Literal["human"] = "human") -> pd.DataFrame:
    """The shipped gene table (symbol, entrez, ensembl, aliases, type) as strings."""
    if species != "human":
        raise ValidationError(f"species={species!r} is not supported yet (only 'human')")
    path = resources.files("virtualcell.data") / "resources" / "human_genes.tsv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt") as handle:
        table = pd.read_csv(handle, sep="\t", comment="#", dtype=str, keep_default_na=False)
    return table


@dataclass
class _Index:
    symbols: set[str]
    ensembl: dict[str, set[str]]
    entrez: dict[str, str]
    alias: dict[str, set[str]]
    symbol_upper: dict[str, set[str]]
    alias_upper: dict[str, set[str]]
    to_ensembl: dict[str, str]
    to_entrez: dict[str, str]


@lru_cache(maxsize=2)
def _index(species: str) -> _Index:
    table = gene_table(species)  # type: ignore[arg-type]
    ensembl: dict[str, set[str]] = defaultdict(set)
    alias: dict[str, set[str]] = defaultdict(set)
    symbol_upper: dict[str, set[str]] = defaultdict(set)
    alias_upper: dict[str, set[str]] = defaultdict(set)
    to_ensembl: dict[str, str] = {}
    to_entrez: dict[str, str] = {}
    for sym, eid, ens, als in zip(
        table["symbol"], table["entrez"], table["ensembl"], table["aliases"], strict=True
    ):
        symbol_upper[sym.upper()].add(sym)
        to_entrez.setdefault(sym, eid)
        ids = [e for e in ens.split("|") if e]
        if ids:
            to_ensembl.setdefault(sym, ids[0])
        for e in ids:
            ensembl[e].add(sym)
        for a in als.split("|"):
            if a:
                alias[a].add(sym)
                alias_upper[a.upper()].add(sym)
    return _Index(
        symbols=set(table["symbol"]),
        ensembl=dict(ensembl),
        entrez=dict(zip(table["entrez"], table["symbol"], strict=True)),
        alias=dict(alias),
        symbol_upper=dict(symbol_upper),
        alias_upper=dict(alias_upper),
        to_ensembl=to_ensembl,
        to_entrez=to_entrez,
    )


def _lookup(raw: str, idx: _Index) -> tuple[str | None, str, list[str]]:
    """(symbol or None, rule or reason, candidates when ambiguous)."""
    text = raw.strip()
    if not text:
        return None, "empty", []
    if text in idx.symbols:
        return text, "symbol", []
    m = _ENSEMBL.match(text)
    if m:
        hits = sorted(idx.ensembl.get(m.group(1), ()))
        if len(hits) == 1:
            return hits[0], "ensembl", []
        return None, ("ensembl" if hits else "unknown"), hits
    m = _ENTREZ.match(text)
    if m:
        hit = idx.entrez.get(m.group(1))
        return (hit, "entrez", []) if hit else (None, "unknown", [])
    for rule, table, key in (
        ("alias", idx.alias, text),
        ("symbol_case", idx.symbol_upper, text.upper()),
        ("alias_case", idx.alias_upper, text.upper()),
    ):
        hits = sorted(table.get(key, ()))
        if len(hits) == 1:
            return hits[0], rule, []
        if len(hits) > 1:
            return None, rule, hits
    return None, "unknown", []


@dataclass
class GeneMappingReport:
    """Outcome of :func:`harmonize_genes`.

    Attributes
    ----------
    inputs
        Identifiers given, in order.
    mapped
        Target identifier per input (``None`` when unmapped or a losing collision).
    new_names
        Names to use: the target where mapped, else the original input.
    rules
        Rule that mapped each input (``symbol``, ``ensembl``, ``entrez``, ``alias``,
        ``symbol_case``, ``alias_case``) or why not (``unknown``, ``ambiguous``, ``empty``,
        ``collision``).
    ambiguous
        Input -> candidate symbols, for identifiers matching several genes.
    collisions
        Target -> all inputs that mapped to it (the kept one first).
    """

    species: str
    to: str
    inputs: list[str]
    mapped: list[str | None]
    new_names: list[str]
    rules: list[str]
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    collisions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def n_input(self) -> int:
        """Number of identifiers given."""
        return len(self.inputs)

    @property
    def n_mapped(self) -> int:
        """Inputs mapped to a gene (collision losers not counted)."""
        return sum(m is not None for m in self.mapped)

    @property
    def n_unmapped(self) -> int:
        """Inputs not mapped (unknown, ambiguous, empty or collision losers)."""
        return self.n_input - self.n_mapped

    @property
    def coverage(self) -> float:
        """``n_mapped / n_input`` (0 for an empty input)."""
        return self.n_mapped / self.n_input if self.inputs else 0.0

    @property
    def unmapped(self) -> list[str]:
        """Inputs that did not map (in input order)."""
        return [i for i, m in zip(self.inputs, self.mapped, strict=True) if m is None]

    @property
    def renamed(self) -> dict[str, str]:
        """Input -> new name, for mapped inputs whose name changed."""
        return {
            i: m for i, m in zip(self.inputs, self.mapped, strict=True) if m is not None and m != i
        }

    def rule_counts(self) -> dict[str, int]:
        """How many inputs each rule (or failure reason) accounts for."""
        return dict(pd.Series(self.rules, dtype=object).value_counts().sort_index())

    def to_frame(self) -> pd.DataFrame:
        """One row per input: input, mapped, new_name, rule."""
        return pd.DataFrame(
            {
                "input": self.inputs,
                "mapped": self.mapped,
                "new_name": self.new_names,
                "rule": self.rules,
            }
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary: counts, coverage, rule counts, renamed, ambiguous,
        collisions and the unmapped inputs."""
        return {
            "species": self.species,
            "to": self.to,
            "n_input": self.n_input,
            "n_mapped": self.n_mapped,
            "n_unmapped": self.n_unmapped,
            "coverage": self.coverage,
            "rules": {str(k): int(v) for k, v in self.rule_counts().items()},
            "renamed": self.renamed,
            "ambiguous": self.ambiguous,
            "collisions": self.collisions,
            "unmapped": self.unmapped,
        }

    def summary(self, *, max_list: int = 10) -> str:
        """Human-readable coverage report."""

        def show(items: list[str]) -> str:
            more = f" ... (+{len(items) - max_list})" if len(items) > max_list else ""
            return ", ".join(items[:max_list]) + more

        lines = [
            f"gene identifiers ({self.species} -> {self.to}): {self.n_mapped}/{self.n_input} "
            f"mapped ({100 * self.coverage:.1f}%), {self.n_unmapped} unmapped",
            "by rule: " + ", ".join(f"{k}={v}" for k, v in self.rule_counts().items()),
            f"renamed: {len(self.renamed)}"
            + (": " + show([f"{k}->{v}" for k, v in self.renamed.items()]) if self.renamed else ""),
            f"ambiguous: {len(self.ambiguous)}"
            + (
                ": " + show([f"{k}->{'|'.join(v)}" for k, v in self.ambiguous.items()])
                if self.ambiguous
                else ""
            ),
            f"collisions: {len(self.collisions)}"
            + (
                ": " + show([f"{'/'.join(v)}->{k}" for k, v in self.collisions.items()])
                if self.collisions
                else ""
            ),
            f"unmapped examples: {show(self.unmapped)}",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def harmonize_genes(
    genes: ad.AnnData | Sequence[str],
    *,
    species: Literal["human"] = "human",
    to: Literal["symbol", "ensembl", "entrez"] = "symbol",
    gene_key: str | None = None,
    inplace: bool = False,
) -> GeneMappingReport:
    """Map gene identifiers (symbols, aliases, Ensembl, Entrez) to current identifiers.

    Parameters
    ----------
    genes
        AnnData (its ``var_names``, or ``var[gene_key]``) or a list of identifiers.
    species
        Only ``"human"`` is supported so far.
    to
        Target: current HGNC ``symbol``, ``ensembl`` gene ID or ``entrez`` ID.
    gene_key
        For AnnData: a ``var`` column to read the identifiers from instead of
        ``var_names`` (e.g. ``"gene_ids"``).
    inplace
        For AnnData: set ``var_names`` to the new names, keep the previous names in
        ``var["gene_input"]`` (and in ``var["gene_id"]`` if that column did not exist)
        and store the coverage numbers in ``uns["vc"]["gene_mapping"]``.

    Returns
    -------
    GeneMappingReport
        Per-input mapping and the coverage report (``print(report)``).

    Raises
    ------
    ValidationError
        Unsupported species or target, missing ``gene_key`` column, or ``inplace`` with a
        list.
    """
    if to not in {"symbol", "ensembl", "entrez"}:
        raise ValidationError(f"to={to!r}: choose 'symbol', 'ensembl' or 'entrez'")
    idx = _index(species)
    is_adata = isinstance(genes, ad.AnnData)
    if is_adata:
        if gene_key is not None and gene_key not in genes.var.columns:
            raise ValidationError(
                f"var has no column {gene_key!r}; columns: {list(genes.var.columns)}"
            )
        inputs = [str(g) for g in (genes.var[gene_key] if gene_key else genes.var_names)]
    else:
        if inplace:
            raise ValidationError("inplace=True needs an AnnData, not a list of identifiers")
        inputs = [str(g) for g in genes]

    symbols: list[str | None] = []
    rules: list[str] = []
    ambiguous: dict[str, list[str]] = {}
    for raw in inputs:
        sym, rule, candidates = _lookup(raw, idx)
        if sym is None and candidates:
            ambiguous[raw] = candidates
            rule = "ambiguous"
        symbols.append(sym)
        rules.append(rule)

    groups: dict[str, list[int]] = defaultdict(list)
    for i, sym in enumerate(symbols):
        if sym is not None:
            groups[sym].append(i)
    collisions: dict[str, list[str]] = {}
    for sym, members in groups.items():
        if len(members) < 2:
            continue
        exact = [i for i in members if rules[i] == "symbol"]
        keep = exact[0] if exact else members[0]
        ordered = [keep, *(i for i in members if i != keep)]
        collisions[sym] = [inputs[i] for i in ordered]
        for i in ordered[1:]:
            symbols[i] = None
            rules[i] = "collision"

    def target(sym: str) -> str | None:
        if to == "symbol":
            return sym
        return (idx.to_ensembl if to == "ensembl" else idx.to_entrez).get(sym)

    mapped = [target(s) if s is not None else None for s in symbols]
    new_names = [m if m is not None else i for i, m in zip(inputs, mapped, strict=True)]
    report = GeneMappingReport(
        species=species,
        to=to,
        inputs=inputs,
        mapped=mapped,
        new_names=new_names,
        rules=rules,
        ambiguous=ambiguous,
        collisions=collisions,
    )
    if is_adata and inplace:
        adata = genes
        previous = adata.var_names.astype(str).to_numpy()
        adata.var["gene_input"] = previous
        if "gene_id" not in adata.var.columns:
            adata.var["gene_id"] = previous
        adata.var_names = pd.Index(new_names)
        if not adata.var_names.is_unique:
            adata.var_names_make_unique()
        adata.uns.setdefault(UNS_KEY, {})["gene_mapping"] = {
            "species": species,
            "to": to,
            "key": gene_key or "var_names",
            "n_input": report.n_input,
            "n_mapped": report.n_mapped,
            "n_unmapped": report.n_unmapped,
            "n_renamed": len(report.renamed),
            "n_ambiguous": len(ambiguous),
            "n_collisions": len(collisions),
        }
    return report
