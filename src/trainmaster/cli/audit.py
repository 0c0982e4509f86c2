"""``audit verify``."""

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
