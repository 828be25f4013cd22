"""``vcell kb``: build, search, inspect and verify with the gene knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import typer

from .._cli_types import (
    choice_list,
    input_path,
    json_option,
    output_path,
    overwrite_option,
    positive_int,
)

__all__ = ["register"]

kb_app = typer.Typer(
    help="Gene knowledge base: build, search, gene records, claim checks.",
    no_args_is_help=True,
)

Mode = Literal["hybrid", "lexical", "dense"]


def _default(method, name: str):
    """A default of the library method (read, not retyped)."""
    import inspect

    return inspect.signature(method).parameters[name].default


def _kb_method(name: str):
    from ._kb import KnowledgeBase

    return getattr(KnowledgeBase, name)


Kind = Literal["gene", "go_term", "gene_set"]

_STORE = input_path(
    None,
    "--kb",
    help="Knowledge store file (default: the cache).",
    missing_hint="; build one with `vcell kb build --out FILE`",
)


@kb_app.command("build")
def build_cmd(
    source: Path | None = input_path(
        None,
        "--source",
        help="Folder of knowledge files (GO extract, gene_info, GMT, ...).",
        file_okay=False,
    ),
    out: Path | None = output_path(
        None, "--out", help="Output store file (default: the cache).", suffixes=(".sqlite",)
    ),
    no_defaults: bool = typer.Option(
        False, "--no-defaults", help="Do not add sources from installed packages."
    ),
    dense: bool = typer.Option(
        False,
        "--dense",
        help="Also build the dense (embedding) index now instead of on first use "
        "(minutes on a CPU; needs the [text] extra).",
    ),
    overwrite: bool = overwrite_option(
        "Replace the store at --out (or the cache's) if one exists."
    ),
    as_json: bool = json_option("Print the build summary as JSON on stdout."),
) -> None:
    """Build the knowledge store from installed packages and/or --source DIR."""
    from .._utils import emit_json, log
    from ._store import build, default_path

    if out is None and default_path().exists() and not overwrite:  # the output rule
        from .._errors import ValidationError

        raise ValidationError(
            f"a knowledge store exists at {default_path()}; pass --overwrite to replace it "
            "(or --out FILE for another store)"
        )
    log("building the knowledge base (reading sources) ...")
    stats = build(source, out=out, include_defaults=not no_defaults, overwrite=overwrite)
    if dense:
        from . import load

        with load(stats.path) as kb:
            kb.build_dense_index()
    if as_json:
        emit_json(stats.to_dict())
        return
    typer.echo(f"knowledge base: {stats.path}")
    typer.echo(
        f"built in {stats.seconds:.1f} s, {stats.bytes / 1e6:.1f} MB, format v{stats.format_version}"
    )
    for name, n in stats.counts.items():
        typer.echo(f"  {name:<12} {n:>9,}")
    typer.echo("sources:")
    for s in stats.sources:
        typer.echo(f"  {s['version']}  ({Path(s['path']).name}, sha256 {s['sha256'][:12]})")
    for note in stats.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW)


@kb_app.command("search")
def search_cmd(
    query: str = typer.Argument(..., help="Free-text query."),
    k: int = positive_int(_default(_kb_method("search"), "k"), "-k", help="Number of hits."),
    mode: Mode = typer.Option(
        _default(_kb_method("search"), "mode"),
        "--mode",
        help="lexical (BM25, default), hybrid (BM25 + dense) or dense.",
    ),
    kind: list[str] | None = choice_list(
        "--kind", choices=get_args(Kind), help="Passage kind (repeatable)"
    ),
    as_json: bool = json_option(),
    store: Path | None = _STORE,
) -> None:
    """Ranked passages (genes, GO terms, gene sets) with citations."""
    from .._utils import emit_json
    from ._kb import KnowledgeBase
    from ._passages import KINDS

    with KnowledgeBase(store) as kb:
        hits = kb.search(query, k=k, kinds=tuple(kind) if kind else KINDS, mode=mode)
    if as_json:
        emit_json([h.to_dict() for h in hits])
        return
    for i, h in enumerate(hits, 1):
        typer.secho(f"{i:>2}. [{h.kind}] {h.title}", bold=True)
        typer.echo(f"    {h.text[:200]}{'...' if len(h.text) > 200 else ''}")
        typer.echo(f"    cite: {' | '.join(h.citations)}")


@kb_app.command("gene")
def gene_cmd(
    symbol: str = typer.Argument(..., help="Gene symbol or alias."),
    as_json: bool = json_option(),
    store: Path | None = _STORE,
) -> None:
    """A gene's record: IDs, description, GO annotations, TF edges."""
    from .._utils import emit_json
    from ._kb import KnowledgeBase

    with KnowledgeBase(store) as kb:
        g = kb.gene(symbol)
        src = kb.source_of("genes")
    if as_json:
        emit_json(g.to_dict())
        return
    typer.secho(f"{g.symbol}: {g.name}", bold=True)
    typer.echo(
        f"  NCBI Gene {g.entrez}; Ensembl {', '.join(g.ensembl) or '-'}; type {g.type or '-'}"
    )
    typer.echo(
        f"  aliases: {', '.join(g.aliases) or '-'}; TF: {'yes' if g.is_tf else 'no'}; source: {src}"
    )
    if g.description:
        typer.echo(f"  {g.description[:300]}")
    typer.echo(f"  GO annotations ({len(g.go)}):")
    for a in g.go.head(25).itertuples():
        typer.echo(f"    {a.go_id} [{a.namespace}] {a.name} ({a.evidence or 'no code'})")
    if len(g.go) > 25:
        typer.echo(f"    ... {len(g.go) - 25} more (--json for all)")
    typer.echo(f"  targets: {len(g.targets)} edges; regulators: {len(g.regulators)} edges")


@kb_app.command("verify")
def verify_cmd(
    claim: str = typer.Argument(..., help='E.g. "KLF1 regulates erythroid differentiation".'),
    mode: Mode = typer.Option(
        _default(_kb_method("verify"), "mode"),
        "--mode",
        help="Term matching: hybrid (default; builds the dense index on first use, minutes "
        "on a CPU), lexical (no index to build) or dense.",
    ),
    as_json: bool = json_option(),
    store: Path | None = _STORE,
) -> None:
    """Label a claim supported / contradicted / unknown, with cited evidence."""
    from .._utils import emit_json
    from ._kb import KnowledgeBase

    with KnowledgeBase(store) as kb:
        v = kb.verify(claim, mode=mode)
    if as_json:
        emit_json(v.to_dict())
        return
    color = {"supported": "green", "contradicted": "red"}.get(v.label, "yellow")
    typer.secho(f"{v.label} (score {v.score:.2f}): {v.reason}", fg=color, bold=True)
    typer.echo(f"  genes: {', '.join(v.genes) or '-'}")
    if v.terms:
        typer.echo("  matched GO terms: " + "; ".join(f"{i} {n}" for i, n in v.terms[:6]))
    for e in v.evidence[:10]:
        typer.echo(f"  - {e.text}  [{' | '.join(e.citations)}]")


def register(app: typer.Typer) -> None:
    """Add ``vcell kb ...`` to the root app."""
    app.add_typer(kb_app, name="kb")
