"""``run`` (runbooks), ``runs`` and ``signoff``: the release duties beside deploying."""

from __future__ import annotations

from collections.abc import Callable

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option


def register(cli: click.Group) -> None:
    for command in (run, runs, signoff):
        cli.add_command(command)


def _out(as_json: bool) -> Callable[[str], None]:
    from trainmaster._output import write

    return lambda text: write(text, err=as_json)


@click.command()
@click.argument("name")
@click.option("--env", "env", required=True, metavar="ENV",
              help="The environment whose deployed release it runs against.")
@click.option("--approve", "approve_run", is_flag=True,
              help="Record your approval for this run (runbook, release deployed in ENV, ENV) instead of running it.")
@click.option("--comment", default="", help="With --approve: why you approve.")
@click.option("--by", help="With --approve: the approver's name (refused inside CI, where the CI says who).")
@json_option
@click.pass_context
def run(ctx: click.Context, name: str, env: str, approve_run: bool, comment: str, by: str | None,
        as_json: bool) -> None:
    """Run runbook NAME in ENV against the release deployed there."""
    from trainmaster.errors import InvalidInput, Refused
    from trainmaster.runbooks import RunbookFailed, approve
    from trainmaster.runbooks import run as run_book

    app = get_app(ctx)
    if not approve_run and (comment or by):
        raise InvalidInput("--comment and --by go with --approve")
    if approve_run:
        result = approve(app, name, env, by=by, comment=comment)
        if as_json:
            emit_json(result)
        elif result["required"] == 0:
            echo(f"{result['reason']}: nothing recorded")
        elif not result["recorded"]:
            echo(f"{result['actor']} has already approved runbook {name} for {result['version']} in {env}")
        elif result["reason"]:
            echo(f"recorded, but it does not count: {result['reason']}")
        else:
            echo(f"approved runbook {name} against {result['version']} in {env} by {result['actor']}")
        if not as_json and result["required"]:
            echo(f"approvals for runbook {name} ({result['version']} in {env}): "
                 f"{result['approvals']}/{result['required']}")
        if result["required"] and result["reason"]:
            raise Refused(f"the approval of runbook {name} by {result['actor']} does not count: {result['reason']}")
        return
    try:
        record = run_book(app, name, env, out=_out(as_json))
    except RunbookFailed as exc:
        if as_json:
            emit_json({"run": exc.run})
        raise
    if as_json:
        emit_json({"run": record})


@click.command()
@click.option("--env", "env", metavar="ENV", help="Only this environment.")
@click.option("--runbook", "name", metavar="NAME", help="Only this runbook.")
@json_option
@click.pass_context
def runs(ctx: click.Context, env: str | None, name: str | None, as_json: bool) -> None:
    """Runbook runs, oldest first: runbook, release, actor, outcome."""
    from trainmaster.duty_records import runs as list_runs

    app = get_app(ctx)
    if env:
        app.environment(env)
    found = list_runs(app.ledger, env, name)
    if as_json:
        emit_json({"runs": found})
        return
    if not found:
        echo("no runbook runs yet")
    for r in found:
        echo(f"#{r['id']:<5} {r['started_at']}  {r['environment']:<10} {r['runbook']:<16} {r['version']:<14} "
             f"{r['status']:<11} {r['actor']}")


@click.command()
@click.argument("version")
@click.option("--env", "env", required=True, metavar="ENV", help="The environment where VERSION was accepted.")
@click.option("--comment", default="", help="What was accepted.")
@click.option("--revoke", is_flag=True, help="Withdraw your sign-off.")
@click.option("--by", help="Who signs off (refused inside CI, where the CI says who).")
@json_option
@click.pass_context
def signoff(ctx: click.Context, version: str, env: str, comment: str, revoke: bool, by: str | None,
            as_json: bool) -> None:
    """Sign off release VERSION in ENV (user acceptance), or --revoke your sign-off."""
    from trainmaster.deploy import find_release
    from trainmaster.duty_records import record_signoff, revoke_signoff, signoffs
    from trainmaster.errors import Refused
    from trainmaster.model import check_version
    from trainmaster.signoff import count_signoffs, signoff_counts

    check_version(version)
    app = get_app(ctx)
    environment = app.environment(env)
    rel = find_release(app, version)
    actor = app.actor(by)
    rule = environment.signoff
    if rule is None:
        raise Refused(f"{env} needs no sign-off (add signoff: {{count: 1}} to it): nothing recorded")
    reason = None
    if revoke:
        changed = revoke_signoff(app.ledger, rel.id, rel.version, environment.name, actor)
        if not changed:
            raise Refused(f"{actor} has no sign-off of {version} in {env} to revoke")
        message = f"revoked the sign-off of {version} in {env} by {actor}"
    else:
        if not app.ledger.succeeded_at(rel.id, environment.name) and not app.view.succeeded(rel, environment.name):
            raise Refused(f"{version} has not succeeded in {env}: sign it off once it is deployed there")
        counts = signoff_counts(rule, rel.created_by, actor)
        changed = record_signoff(app.ledger, rel.id, rel.version, environment.name, actor, comment, counts)
        if not counts and actor == rel.created_by and not rule.allow_self:
            reason = f"{actor} created {version} (set signoff: {{allow_self: true}} to allow this)"
        elif not counts:
            reason = f"{env} takes sign-offs from {', '.join(rule.from_)} only"
        message = (f"{actor} has already signed off {version} in {env}" if not changed else
                   f"recorded, but it does not count: {reason}" if reason else
                   f"signed off {version} in {env} by {actor}")
    found = signoffs(app.ledger, rel.id, environment.name)
    if changed:  # announce the sign-off just recorded or revoked (the newest of this actor's)
        mine = [s for s in found if s.actor == actor]
        app.emit("signoff_recorded", signoff=mine[-1].to_json(), release=rel, environment=environment)
    have = count_signoffs(rule, rel.created_by, found)
    if as_json:
        emit_json({"version": version, "environment": env, "actor": actor, "revoked": revoke, "changed": changed,
                   "counts": reason is None and not revoke, "signoffs": have, "required": rule.count,
                   "reason": reason})
    else:
        echo(message)
        echo(f"sign-offs for {version} in {env}: {have}/{rule.count}")
    if reason:
        raise Refused(f"the sign-off of {version} in {env} by {actor} does not count: {reason}")
