"""``audit verify`` and ``audit log``."""

from __future__ import annotations

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option


def register(cli: click.Group) -> None:
    cli.add_command(audit)


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--expect-head", metavar="HASH", help="The head hash recorded earlier; catches removed newest events.")
@json_option
@click.pass_context
def verify(ctx: click.Context, expect_head: str | None, as_json: bool) -> None:
    """Check the hash chain of the audit log (exit 4 if any event was edited or removed)."""
    from trainmaster.audit import verify_chain

    app = get_app(ctx)
    report = verify_chain(app.ledger.audit_events(), expect_head)
    if as_json:
        emit_json({"events": report.count, "head": report.head})
        return
    echo(f"audit log intact: {report.count} events, head {report.head}")


@audit.command("log")
@click.option("--since", "since", metavar="TIME|SEQ",
              help="Only events after sequence number SEQ, or at or after TIME (ISO 8601, e.g. 2026-03-01 or "
                   "2026-03-01T09:30:00Z).")
@click.option("--kind", "kind", metavar="KIND", help="Only events of this kind (deployment_finished, …).")
@json_option
@click.pass_context
def log(ctx: click.Context, since: str | None, kind: str | None, as_json: bool) -> None:
    """Print the audit log's events, oldest first, each with its hash."""
    from trainmaster.ledger_queries import audit_events

    app = get_app(ctx)
    since_seq, since_time = parse_since(since)
    events = audit_events(app.ledger, since_seq=since_seq, since_time=since_time, kind=kind)
    if as_json:
        emit_json({"events": [e.to_json() for e in events]})
        return
    import json

    shown = 0
    for e in events:
        shown += 1
        echo(f"#{e.seq:<5} {e.at}  {e.kind:<20} {e.actor:<12} {e.subject}  {e.hash}")
        echo(f"       {json.dumps(e.data, sort_keys=True, ensure_ascii=False)}")
    if not shown:
        echo("no audit events" + (" match" if since or kind else " yet"))


def parse_since(value: str | None) -> tuple[int, str | None]:
    """``--since``: a sequence number (events after it) or a time (events at or after it)."""
    if not value:
        return 0, None
    if value.isdigit():
        return int(value), None
    from trainmaster.errors import InvalidInput
    from trainmaster.model import timestamp

    try:
        return 0, timestamp(value)
    except ValueError:
        raise InvalidInput(f"--since {value!r} is neither a sequence number nor an ISO 8601 time "
                           "(for example 2026-03-01T09:30:00Z)") from None
