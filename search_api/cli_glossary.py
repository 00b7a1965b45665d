"""``kb glossary ...``: manage entries, import/export files, highlight stdin, suggest terms."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Glossary: terms, definitions, highlighting.", no_args_is_help=True)


def _glossary() -> Any:
    """Database + GlossaryService only (no search engine, no embedder: fast start)."""
    import kb.auth  # noqa: F401 - registers the core's tables before create_all
    import kb.store  # noqa: F401
    from glossary.service import GlossaryService
    from kb.db import Database
    from kb.settings import Settings

    settings = Settings()
    settings.ensure_home()
    db = Database(settings.resolved_database_url())
    return GlossaryService(db, settings)


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


@app.command()
def add(
    term: Annotated[str, typer.Argument(help="The main term.")],
    definition: Annotated[str, typer.Option("--definition", "-d", help="Definition (Markdown).")] = "",
    alias: Annotated[list[str] | None, typer.Option("--alias", "-a", help="Alias (repeatable).")] = None,
    category: Annotated[str | None, typer.Option("--category")] = None,
    language: Annotated[str | None, typer.Option("--language")] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Library (repeatable); none = global.")
    ] = None,
    link: Annotated[
        list[str] | None, typer.Option("--link", help="URL or library/doc_id (repeatable).")
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    status: Annotated[str, typer.Option("--status", help="approved|draft")] = "approved",
) -> None:
    """Add an entry; prints its id."""
    data = {
        "term": term,
        "definition": definition,
        "aliases": alias or [],
        "category": category,
        "language": language,
        "scope": scope or [],
        "links": link or [],
        "owner": owner,
        "status": status,
    }
    rec = _glossary().create(data, owner="operator")
    typer.echo(f"added {rec['id']}: {rec['term']} ({rec['status']})")


@app.command()
def get(term: Annotated[str, typer.Argument(help="Entry id or term.")]) -> None:
    """Show an entry (by id, or by term)."""
    g = _glossary()
    recs = [g.get(term)] if term.isdigit() else g.find_by_term(term)
    if not recs:  # an alias, or a variant spelling: the best exact lookup hit
        recs = [g.get(r["term_id"]) for r in g.lookup(term, limit=1) if r["match"] == "exact"]
    if not recs:
        from kb.errors import NotFound

        raise NotFound(f"unknown glossary term: {term}")
    _echo_json(recs[0] if len(recs) == 1 else recs)


@app.command()
def rm(term_id: Annotated[str, typer.Argument(help="Entry id.")]) -> None:
    """Delete an entry."""
    _glossary().delete(term_id)
    typer.echo(f"deleted {term_id}")


@app.command("list")
def list_(
    q: Annotated[str | None, typer.Option("--q", help="Substring of term or alias.")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List entries."""
    res = _glossary().list_terms(q=q, status=status, limit=limit)
    if as_json:
        _echo_json(res)
        return
    for t in res["terms"]:
        aliases = ", ".join(a["text"] for a in t["aliases"])
        typer.echo(f"{t['id']:>6}  {t['status']:<8} {t['term']}" + (f"  ({aliases})" if aliases else ""))
    typer.echo(f"{res['total']} entries")


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="CSV, TSV or JSONL file (may be .gz).", exists=True, dir_okay=False)
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="csv|tsv|jsonl (default: by name)")
    ] = None,
    status: Annotated[
        str, typer.Option("--status", help="Status of rows without a status column.")
    ] = "approved",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import entries; bad rows and duplicates are reported with their line numbers."""
    rep = _glossary().import_data(
        file.read_bytes(), fmt=fmt, filename=file.name, status=status, owner="operator"
    )
    if as_json:
        _echo_json(rep)
        return
    for e in rep["errors"]:
        typer.echo(f"line {e['line']}: {e['error']}", err=True)
    for d in rep["duplicates"]:
        typer.echo(f"line {d['line']}: duplicate {d['term']!r} (of {d['duplicate_of']})", err=True)
    if rep["ignored_columns"]:
        typer.echo(f"ignored columns: {', '.join(rep['ignored_columns'])}", err=True)
    typer.echo(
        f"imported {rep['imported']}, duplicates {len(rep['duplicates'])}, errors {len(rep['errors'])}"
    )


@app.command()
def export(
    file: Annotated[Path | None, typer.Argument(help="Output file (default: stdout).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv|tsv|jsonl")] = "jsonl",
) -> None:
    """Export every entry."""
    out = _glossary().export(fmt)
    if file is None:
        sys.stdout.write(out)
    else:
        file.write_text(out, encoding="utf-8")
        typer.echo(f"wrote {file}", err=True)


@app.command()
def highlight(
    fmt: Annotated[str, typer.Option("--format", "-f", help="text|html|markdown")] = "text",
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Library (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print matches and rendered text as JSON.")] = False,
) -> None:
    """Highlight stdin: html/markdown print the rewritten text; text prints one match per line."""
    res = _glossary().highlight(sys.stdin.read(), fmt, scope)
    if as_json:
        _echo_json(res)
    elif fmt == "text":
        for m in res["matches"]:
            typer.echo(f"{m['start']}\t{m['end']}\t{m['term_id']}\t{m['term']}\t{m['surface']}")
    else:
        sys.stdout.write(res["rendered"])


@app.command()
def suggest(
    library: Annotated[str | None, typer.Option("--library", "-l")] = None,
    top: Annotated[int, typer.Option("--top", "-n")] = 20,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do not create drafts.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Propose frequent undefined terms from the indexed corpus (saved as drafts unless --dry-run)."""
    found = _glossary().suggest(library, top=top, create=not dry_run)
    if as_json:
        _echo_json(found)
        return
    for f in found:
        ex = f["examples"][0] if f["examples"] else ""
        typer.echo(f"{f['term']}\t{f['count']}x in {f['documents']} docs\t{f.get('term_id', '-')}\t{ex[:80]}")
