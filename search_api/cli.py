"""The ``kb`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from kb.errors import KBError

app = typer.Typer(
    help="On-premises knowledge base: ingest, search, serve.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _services():  # noqa: ANN202 - built lazily so `kb --help` stays fast
    from kb.settings import Settings
    from search_api.app import build_services

    return build_services(Settings())


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="File or folder to ingest.")],
    library: Annotated[str, typer.Option("--library", "-l", help="Library (space) name.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="markdown|html|jsonl|csv|mediawiki (default: by extension)"),
    ] = None,
    acl: Annotated[
        list[str] | None, typer.Option("--acl", help="ACL for documents without one (repeatable).")
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents no longer in the source.")] = False,
    id_col: Annotated[str | None, typer.Option("--id-col")] = None,
    title_col: Annotated[str | None, typer.Option("--title-col")] = None,
    text_col: Annotated[str | None, typer.Option("--text-col")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest a source into a library (incremental: unchanged documents are skipped)."""
    from indexer.pipeline import ingest_path

    s = _services()
    opts = {k: v for k, v in {"id_col": id_col, "title_col": title_col, "text_col": text_col}.items() if v}
    report = ingest_path(s.kb, path, library, fmt=fmt, acl=acl, prune=prune, progress=not as_json, **opts)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    for sk in report.skipped:
        typer.echo(f"skipped: {sk.path}: {sk.reason}", err=True)
    typer.echo(report.summary())


@app.command()
def search(
    query: Annotated[str, typer.Argument()],
    library: Annotated[list[str] | None, typer.Option("--library", "-l")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 10,
    mode: Annotated[str, typer.Option("--mode", "-m", help="bm25|vector|hybrid")] = "hybrid",
    as_user: Annotated[
        str | None, typer.Option("--as", help="Search as this user (their token's groups).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search (as the local operator, or as a user with --as)."""
    from kb.models import Principal
    from kb.search import SearchRequest

    s = _services()
    principal = s.kb.tokens.principal_for_user(as_user) if as_user else Principal("operator", superuser=True)
    res = s.search.search(SearchRequest(query=query, libraries=library, top_k=top_k, mode=mode), principal)
    if as_json:
        hits = [{k: v for k, v in h.__dict__.items() if k not in ("explain",)} for h in res.hits]
        out = {"hits": hits, "total": res.total, "took_ms": res.took_ms}
        typer.echo(json.dumps(out, ensure_ascii=False, default=str, indent=2))
        return
    typer.echo(f"{res.total} documents, {res.took_ms:.1f} ms")
    for i, h in enumerate(res.hits, 1):
        typer.echo(f"{i:2}. [{h.library}] {h.title}  ({h.doc_id})  score={h.score:.4f}")
        typer.echo(f"    {h.snippet.replace('<mark>', '[').replace('</mark>', ']')}")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs, widget at /widget/)."""
    import uvicorn

    from kb.settings import Settings
    from search_api.app import create_app

    settings = Settings()
    if settings.auth == "off":
        typer.secho(
            "WARNING: KB_AUTH=off - no authentication, every caller is an admin. Demo only!",
            fg=typer.colors.RED,
            err=True,
            bold=True,
        )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command()
def reindex(
    embeddings: Annotated[
        bool, typer.Option("--embeddings", help="Also (re)compute missing embeddings.")
    ] = False,
) -> None:
    """Rebuild derived indexes from the store (and embeddings for the current model with --embeddings)."""
    import time

    s = _services()
    t0 = time.perf_counter()
    if embeddings:
        n = _reembed(s.kb)
        typer.echo(f"embedded {n} chunks with {s.kb.model_name}")
    chunks = s.kb.rebuild_bm25()
    typer.echo(f"reindexed {chunks} chunks in {time.perf_counter() - t0:.1f}s")


def _reembed(kb) -> int:  # noqa: ANN001
    emb = kb.embedder
    if emb is None:
        return 0
    items = kb.store.all_content_hashes()
    cached = kb.store.cached_embeddings(emb.name, [h for h, _ in items])
    todo = [(h, t) for h, t in items if h not in cached]
    for i in range(0, len(todo), 256):
        part = todo[i : i + 256]
        vecs = emb.embed_passages([t for _, t in part])
        kb.store.put_embeddings(emb.name, {h: v for (h, _), v in zip(part, vecs, strict=True)})
    kb.store.set_meta("embed_model", emb.name)
    kb.reset_vectors()
    return len(todo)


@app.command()
def delete(
    library: Annotated[str, typer.Argument()],
    doc_id: Annotated[str, typer.Argument()],
) -> None:
    """Delete one document."""
    s = _services()
    s.kb.store.delete_document(library, doc_id)
    s.kb.sync(force=True)
    typer.echo(f"deleted {library}/{doc_id}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user")],
    groups: Annotated[str, typer.Option("--groups", help="Comma-separated groups.")] = "",
    admin: Annotated[bool, typer.Option("--admin")] = False,
) -> None:
    """Create an API token; the token is the last word printed."""
    from kb.auth import TokenStore
    from kb.db import Database
    from kb.settings import Settings

    settings = Settings()
    settings.ensure_home()
    db = Database(settings.resolved_database_url())
    db.create_all()
    tok = TokenStore(db).create(user, [g for g in groups.split(",") if g.strip()], admin=admin)
    role = "admin" if admin else "reader"
    typer.echo(f"token for {user} ({role}, groups: {groups or '-'}): {tok}")


def _add_feature_clis() -> None:
    from search_api import cli_glossary, cli_helpdesk

    app.add_typer(cli_glossary.app, name="glossary", help="Glossary terms: add, import, highlight, suggest.")
    app.add_typer(
        cli_helpdesk.app, name="helpdesk", help="Helpdesk desks, FAQs, asking, calibration, tickets."
    )


_add_feature_clis()


def main() -> None:
    """Console entry point: errors the caller can fix print a message and exit 2, no traceback."""
    try:
        app()
    except KBError as e:
        typer.secho(f"error: {e.message}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
