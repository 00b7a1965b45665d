"""``kb helpdesk ...``: desks, FAQ import, asking, calibration, the agents' queue and the desk report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Helpdesk: FAQ bot, human queue, calibration, reports.", no_args_is_help=True)
desk_app = typer.Typer(help="Desks.", no_args_is_help=True)
faq_app = typer.Typer(help="FAQ entries.", no_args_is_help=True)
ticket_app = typer.Typer(help="Tickets (the human queue).", no_args_is_help=True)
app.add_typer(desk_app, name="desk")
app.add_typer(faq_app, name="faq")
app.add_typer(ticket_app, name="ticket")

AsUser = Annotated[str | None, typer.Option("--as", help="Act as this user (their token's groups).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _services() -> Any:
    from kb.settings import Settings
    from search_api.app import build_services

    s = build_services(Settings())
    if s.helpdesk is None:
        from kb.errors import NotFound

        raise NotFound("the helpdesk feature is not installed")
    return s


def _principal(services: Any, as_user: str | None) -> Any:
    """The local operator (sees everything, may do anything) unless ``--as`` names a user."""
    from kb.models import Principal

    if as_user:
        return services.kb.tokens.principal_for_user(as_user)
    return Principal("operator", admin=True, superuser=True)


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


# --- desks and FAQs -----------------------------------------------------------------------------------
@app.command("import-faq")
def import_faq(
    file: Annotated[Path, typer.Argument(help="CSV or JSONL file of FAQ records.")],
    desk: Annotated[str, typer.Option("--desk", "-d", help="Desk id (created if missing).")],
    as_json: AsJson = False,
) -> None:
    """Import FAQs; each bad row is reported and skipped, good rows are kept."""
    from helpdesk.importer import parse_file
    from kb.errors import NotFound

    if not file.is_file():
        raise NotFound(f"no such file: {file}")
    report = _services().helpdesk.import_faqs(desk, parse_file(file.read_bytes(), file.name))
    if as_json:
        _echo_json(report)
        return
    for e in report["errors"]:
        typer.echo(f"row {e['row']}: {e['error']}" + (f" (id {e['id']})" if e["id"] else ""), err=True)
    typer.echo(
        f"desk={desk} created={report['created']} updated={report['updated']} errors={len(report['errors'])}"
    )


@desk_app.command("set")
def desk_set(
    desk: Annotated[str, typer.Argument()],
    threshold: Annotated[float | None, typer.Option("--threshold", help="Confidence threshold 0..1.")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    library: Annotated[
        list[str] | None, typer.Option("--library", "-l", help="Linked library (repeat).")
    ] = None,
    agent_group: Annotated[str | None, typer.Option("--agent-group")] = None,
) -> None:
    """Create or change a desk."""
    hd = _services().helpdesk
    hd.ensure_desk(desk)
    _echo_json(
        hd.update_desk(desk, threshold=threshold, name=name, libraries=library, agent_group=agent_group)
    )


@desk_app.command("list")
def desk_list() -> None:
    """All desks."""
    _echo_json(_services().helpdesk.list_desks())


@desk_app.command("show")
def desk_show(desk: Annotated[str, typer.Argument()]) -> None:
    """One desk."""
    _echo_json(_services().helpdesk.get_desk(desk))


@faq_app.command("list")
def faq_list(desk: Annotated[str, typer.Option("--desk", "-d")]) -> None:
    """FAQs of a desk: id, status and question."""
    for f in _services().helpdesk.list_faqs(desk):
        typer.echo(f"{f['faq_id']}\t{f['status']}\t{f['question']}")


@faq_app.command("show")
def faq_show(
    desk: Annotated[str, typer.Option("--desk", "-d")], faq_id: Annotated[str, typer.Argument()]
) -> None:
    """One FAQ as JSON."""
    _echo_json(_services().helpdesk.get_faq(desk, faq_id))


@faq_app.command("delete")
def faq_delete(
    desk: Annotated[str, typer.Option("--desk", "-d")], faq_id: Annotated[str, typer.Argument()]
) -> None:
    """Delete an FAQ."""
    _services().helpdesk.delete_faq(desk, faq_id)
    typer.echo(f"deleted {desk}/{faq_id}")


# --- asking and calibration ---------------------------------------------------------------------------
@app.command()
def ask(
    question: Annotated[str, typer.Argument()],
    desk: Annotated[str, typer.Option("--desk", "-d")],
    as_user: AsUser = None,
    as_json: AsJson = False,
) -> None:
    """Ask a desk (as the operator, or as a user with --as)."""
    s = _services()
    res = s.helpdesk.ask(desk, question, _principal(s, as_user))
    if as_json:
        _echo_json(res)
        return
    typer.echo(f"{res['status']}  confidence={res['confidence']:.3f}" + _ids(res))
    if res.get("answer"):
        typer.echo(res["answer"])
    if res.get("source"):
        src = res["source"]
        typer.echo(f"source: [{src['library']}] {src['title']} {src.get('url') or ''}".rstrip())


def _ids(res: dict) -> str:
    parts = [f"faq={res['faq_id']}"] if res.get("faq_id") else []
    if res.get("ticket_id"):
        parts.append(f"ticket={res['ticket_id']}")
    return ("  " + " ".join(parts)) if parts else ""


@app.command()
def calibrate(
    desk: Annotated[str, typer.Option("--desk", "-d")],
    dev: Annotated[Path, typer.Option("--dev", help='JSONL of {"question", "faq_id"|null}.')],
    target_precision: Annotated[float, typer.Option("--target-precision")] = 0.9,
    as_json: AsJson = False,
) -> None:
    """Fit the desk's confidence model on labelled questions, set the threshold, print the curve."""
    from helpdesk.importer import RowError, parse_jsonl
    from kb.errors import BadRequest, NotFound

    if not dev.is_file():
        raise NotFound(f"no such file: {dev}")
    rows = parse_jsonl(dev.read_text(encoding="utf-8-sig"))
    bad = [r for _, r in rows if isinstance(r, RowError)]
    if bad:
        raise BadRequest(f"line {bad[0].row}: {bad[0].error}")
    out = _services().helpdesk.calibrate(desk, [r for _, r in rows], target_precision)
    if as_json:
        _echo_json(out)
        return
    typer.echo(f"{'threshold':>10} {'precision':>10} {'coverage':>9} {'answered':>9}")
    for p in _thin(out["curve"]):
        typer.echo(f"{p['threshold']:10.4f} {p['precision']:10.3f} {p['coverage']:9.3f} {p['answered']:9d}")
    verdict = "reached" if out["reached"] else "NOT reached (most precise threshold chosen)"
    typer.echo(
        f"desk={desk} n={out['n']} top1_correct={out['top1_correct']} threshold={out['threshold']:.4f} "
        f"target_precision={out['target_precision']} {verdict}"
    )


def _thin(points: list[dict], most: int = 25) -> list[dict]:
    """At most ``most`` evenly spaced curve points (always keeping the last)."""
    if len(points) <= most:
        return points
    step = len(points) / most
    picked = [points[int(i * step)] for i in range(most)]
    return picked if picked[-1] is points[-1] else [*picked, points[-1]]


# --- the queue ----------------------------------------------------------------------------------------
@app.command()
def queue(
    desk: Annotated[str, typer.Option("--desk", "-d")],
    state: Annotated[str | None, typer.Option("--state")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee")] = None,
    as_json: AsJson = False,
) -> None:
    """List a desk's tickets, newest first."""
    rows = _services().helpdesk.list_tickets(desk_id=desk, state=state, assignee=assignee)
    if as_json:
        _echo_json(rows)
        return
    for t in rows:
        typer.echo(f"#{t['id']}\t{t['state']}\t{t['assignee'] or '-'}\t{t['asker']}\t{t['question']}")


@ticket_app.command("show")
def ticket_show(ticket_id: Annotated[int, typer.Argument()], as_user: AsUser = None) -> None:
    """A ticket with its messages."""
    s = _services()
    _echo_json(s.helpdesk.get_ticket(ticket_id, _principal(s, as_user)))


def _action(action: str) -> None:
    def run(
        ticket_id: Annotated[int, typer.Argument()],
        message: Annotated[str | None, typer.Option("--message", "-m")] = None,
        as_user: AsUser = None,
    ) -> None:
        s = _services()
        t = s.helpdesk.act(ticket_id, action, _principal(s, as_user), message)
        typer.echo(f"#{t['id']} {t['state']} (assignee: {t['assignee'] or '-'})")

    run.__doc__ = f"{action.capitalize()} a ticket."
    ticket_app.command(action)(run)


for _name in ("claim", "reply", "resolve", "close", "reopen"):
    _action(_name)


@ticket_app.command("publish")
def ticket_publish(
    ticket_id: Annotated[int, typer.Argument()],
    mode: Annotated[str, typer.Option("--mode", help="new | variant")] = "new",
    faq_id: Annotated[str | None, typer.Option("--faq-id")] = None,
    answer: Annotated[str | None, typer.Option("--answer")] = None,
    as_user: AsUser = None,
) -> None:
    """Publish a ticket's answer as a new FAQ, or its question as a variant of --faq-id."""
    s = _services()
    p = _principal(s, as_user)
    if mode == "variant" and not faq_id:
        # No FAQ named: take the near-duplicate check's pick.
        sug = s.helpdesk.suggest_publication(ticket_id, p)
        typer.echo(f"suggestion: {json.dumps(sug, ensure_ascii=False)}")
        faq_id = sug.get("faq_id") or sug.get("nearest_faq_id")
    out = s.helpdesk.publish(ticket_id, p, {"mode": mode, "faq_id": faq_id, "answer": answer})
    typer.echo(f"published {out['mode']}: {out['faq']['faq_id']}")


@app.command()
def report(
    desk: Annotated[str, typer.Option("--desk", "-d")],
    days: Annotated[int | None, typer.Option("--days")] = None,
) -> None:
    """The desk report (JSON)."""
    _echo_json(_services().helpdesk.report(desk, days))
