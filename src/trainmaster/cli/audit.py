"""``audit verify``, ``audit key`` and ``audit log``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option

if TYPE_CHECKING:
    from trainmaster.anchors import AnchorReport
    from trainmaster.app import App
    from trainmaster.audit import ChainReport


def register(cli: click.Group) -> None:
    cli.add_command(audit)


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--expect-head", metavar="HASH", help="The head hash recorded earlier; catches removed newest events.")
@click.option("--against", "against", metavar="SYSTEM",
              help="Also compare the chain with the audit anchors the deployments left on SYSTEM "
                   "(github, azure-devops, octopus): exit 4 if the local chain was rewritten after one or lost events.")
@json_option
@click.pass_context
def verify(ctx: click.Context, expect_head: str | None, against: str | None, as_json: bool) -> None:
    """Check the hash chain of the audit log and every ledger row against it (exit 4 if any event or row
    was edited, inserted or removed)."""
    app = get_app(ctx)
    report, rows = _verify(app, expect_head, app.audit_key)
    anchored = _against(app, against) if against else None
    keyed = f"keyed (HMAC-SHA256) from event #{report.keyed_from}" if report.keyed_from else "not keyed"
    if as_json:
        emit_json({"events": report.count, "head": report.head, "rows": rows, "keyed_from": report.keyed_from,
                   **({"anchors": anchored.to_json()} if anchored else {})})
        return
    echo(f"audit log intact: {report.count} events, {rows} ledger rows bound, head {report.head}; {keyed}")
    if anchored:
        echo(anchored.line())


def _against(app: App, system: str) -> AnchorReport:
    """The anchors on ``system`` (its registered ledger's optional ``anchors``) against the local chain."""
    from trainmaster.anchors import check
    from trainmaster.errors import InvalidInput

    factory = app.registry.ledgers.get(system)
    remote = factory(app.config, app.ledger) if factory is not None else None
    read = getattr(remote, "anchors", None)
    if read is None:
        known = sorted(app.registry.ledgers)
        raise InvalidInput(f"--against {system}: no loaded plugin keeps audit anchors under that name "
                           f"(try one of: {', '.join(known) or 'none loaded'})")
    environments = [e.name for e in app.config.environments if e.target == system]
    if not environments:
        raise InvalidInput(f"--against {system}: no environment of the train deploys with target {system}")
    return check(app.ledger.conn, system, read(environments), record=app.config.ledger == "sqlite")


def _verify(app: App, expect_head: str | None, key: bytes | None) -> tuple[ChainReport, int]:
    """The chain (with ``key``) and every row against it, in one read snapshot; exit 4 on a break."""
    from trainmaster.audit import Keying, verify_chain, verify_rows

    conn = app.ledger.conn
    keying = Keying(key)
    bindings: dict[tuple[str, object], str] = {}
    conn.execute("BEGIN")
    try:
        keying.load(conn)
        report = verify_chain(app.ledger.audit_events(), expect_head, keying, bindings)
        return report, verify_rows(conn, bindings)
    finally:
        conn.execute("ROLLBACK")


@audit.command("key")
@click.pass_context
def key(ctx: click.Context) -> None:
    """Key an existing audit log with the configured audit key (once, after adding `audit: key:`)."""
    from trainmaster.errors import InvalidInput

    app = get_app(ctx)
    if app.audit_key is None:
        raise InvalidInput("no audit key is configured: add `audit: {key: {secret: env:NAME}}` to the config")
    if app.ledger.keying.load(app.ledger.conn) is None:
        _verify(app, None, None)  # key only a sound chain
    seq = app.ledger.key_chain()
    if seq is None:
        echo(f"the audit log is already keyed from event #{app.ledger.keying.keyed_from}")
        return
    echo(f"the audit log is keyed from event #{seq} on")


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
