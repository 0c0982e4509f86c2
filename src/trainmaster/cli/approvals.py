"""``approvals``, ``reject`` and ``revoke`` (``approve`` is with ``deploy``); the rule: :mod:`trainmaster.rounds`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from trainmaster._output import echo
from trainmaster.cli.common import F, command_with, emit_json, get_app, json_option

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment
    from trainmaster.model import Release

RECENT_RELEASES = 50  # pending approvals are looked for among the newest releases


def register(cli: click.Group) -> None:
    for command in (approvals, reject, revoke):
        cli.add_command(command)


def _pending(app: App, env: Environment, rel: Release) -> dict[str, Any] | None:
    """The approvals ``rel`` still waits for in ``env`` (past the previous stage, not yet deployed there)."""
    from trainmaster.rounds import counted, current_round, may_still_approve, required
    from trainmaster.train import check_order

    if check_order(app.config, env, rel, app.view):
        return None
    rnd = current_round(app.ledger, rel.id, env.name)
    need, have = required(env, rnd), counted(env, rel, rnd)
    if have >= need:
        return None
    rejection = rnd.rejection
    return {"environment": env.name, "version": rel.version, "release_id": rel.id, "required": need,
            "counted": have, "may_approve": may_still_approve(env, rel, rnd),
            "rejected": None if rejection is None else
            {"actor": rejection.actor, "at": rejection.at, "comment": rejection.comment}}


def _waiting(app: App, env: Environment, releases: list[Release]) -> list[Release]:
    """The releases newer than the last one tried in ``env``, newest first (older ones were passed over)."""
    waiting = []
    for rel in reversed(releases):
        if app.ledger.attempted(rel.id, env.name):
            break
        waiting.append(rel)
    return waiting


def _given(app: App, env: Environment, rel: Release) -> list[dict[str, Any]]:
    from trainmaster.rounds import approval_counts, current_round

    rnd = current_round(app.ledger, rel.id, env.name)
    withdrawn = {id(a): why for a, why in rnd.withdrawn}
    rows = []
    for action in rnd.timeline:
        counts, why = (False, "") if action.kind != "approved" else approval_counts(env, rel, action.actor)
        if action.kind == "approved" and id(action) in withdrawn:
            counts, why = False, withdrawn[id(action)]
        rows.append({"environment": env.name, "version": rel.version, "release_id": rel.id, "kind": action.kind,
                     "actor": action.actor, "at": action.at, "comment": action.comment,
                     "counts": counts, "reason": why or None})
    return rows


@click.command()
@click.option("--env", "env", metavar="ENV", help="Only this environment.")
@json_option
@click.pass_context
def approvals(ctx: click.Context, env: str | None, as_json: bool) -> None:
    """List pending approvals (with who may still approve) and those given (counted, or why not)."""
    from trainmaster.rounds import rounds_in

    app = get_app(ctx)
    envs = [app.environment(env)] if env else list(app.config.environments)
    releases = app.ledger.recent_releases(app.config.project, RECENT_RELEASES)
    pending = [p for e in envs for r in _waiting(app, e, releases) if (p := _pending(app, e, r)) is not None]
    by_name = {e.name: e for e in envs}
    given: list[dict[str, Any]] = []
    for release_id, _version, env_name in rounds_in(app.ledger, app.config.project, env):
        rel = app.ledger.get_release_by_id(release_id)
        if rel is not None and env_name in by_name:
            given += _given(app, by_name[env_name], rel)
    if as_json:
        emit_json({"pending": pending, "given": given})
        return
    echo("pending" if pending else "pending: none")
    for p in pending:
        who = "anyone but its creator" if p["may_approve"] is None else (", ".join(p["may_approve"]) or "nobody")
        line = (f"  {p['environment']:<10} {p['version']:<14} {p['counted']}/{p['required']} approvals  "
                f"may approve: {who}")
        if p["rejected"]:
            r = p["rejected"]
            line += f"  (rejected by {r['actor']} at {r['at']}{': ' + r['comment'] if r['comment'] else ''})"
        echo(line)
    echo("given" if given else "given: none")
    for g in given:
        state = ("counted" if g["counts"] else f"not counted: {g['reason']}") if g["kind"] == "approved" else g["kind"]
        comment = f"  \"{g['comment']}\"" if g["comment"] else ""
        echo(f"  {g['environment']:<10} {g['version']:<14} {g['actor']:<12} {g['at']}  {state}{comment}")


def on_release(env_help: str, comment_help: str,
               by_help: str = "Your name (refused inside CI, where the CI says who).") -> Callable[[F], click.Command]:
    """The command ``approve``, ``reject`` and ``revoke`` each are: VERSION, --env, --comment, --by, --json."""
    return command_with(click.argument("version"),
                        click.option("--env", "env", required=True, metavar="ENV", help=env_help),
                        click.option("--comment", default="", help=comment_help),
                        click.option("--by", help=by_help), json_option, click.pass_context)


def target(ctx: click.Context, version: str, env: str, by: str | None) -> tuple[App, Environment, Release, str]:
    """The app, the environment, the release and the actor an ``on_release`` command names (exit 2 if unknown)."""
    from trainmaster.deploy import find_release
    from trainmaster.model import check_version

    check_version(version)
    app = get_app(ctx)
    environment = app.environment(env)
    return app, environment, find_release(app, version), app.actor(by)


@on_release("The environment the rejection is for.", "Why you reject.")
def reject(ctx: click.Context, version: str, env: str, comment: str, by: str | None, as_json: bool) -> None:
    """Reject release VERSION for ENV: it is blocked there until a new round of approvals."""
    from trainmaster.errors import Refused
    from trainmaster.ledger import now
    from trainmaster.rounds import reject as run_reject

    app, environment, rel, actor = target(ctx, version, env, by)
    allowed = environment.approvals.from_ if environment.approvals else ()
    if allowed and actor not in allowed:
        raise Refused(f"{actor} may not reject {version} in {env}: {env} takes approvals from "
                      f"{', '.join(allowed)} only")
    before = run_reject(app.ledger, rel, environment.name, actor, now(), comment)
    withdrawn = sorted(a.actor for a in before.current)
    if as_json:
        emit_json({"rejected": True, "version": rel.version, "environment": environment.name, "actor": actor,
                   "comment": comment, "withdrawn": withdrawn})
        return
    echo(f"rejected {version} for {env} by {actor}: blocked there until a new round of approvals")
    if withdrawn:
        echo(f"approvals that no longer count: {', '.join(withdrawn)}")


@on_release("The environment of the approval.", "Why you withdraw it.")
def revoke(ctx: click.Context, version: str, env: str, comment: str, by: str | None, as_json: bool) -> None:
    """Withdraw your own approval of VERSION for ENV; it no longer counts."""
    from trainmaster.errors import InvalidInput
    from trainmaster.ledger import now
    from trainmaster.rounds import counted, current_round, required
    from trainmaster.rounds import revoke as run_revoke

    app, environment, rel, actor = target(ctx, version, env, by)
    if not run_revoke(app.ledger, rel, environment.name, actor, now(), comment):
        raise InvalidInput(f"{actor} has no approval of {version} for {env} to revoke")
    rnd = current_round(app.ledger, rel.id, environment.name)
    have, need = counted(environment, rel, rnd), required(environment, rnd)
    if as_json:
        emit_json({"revoked": True, "version": rel.version, "environment": environment.name, "actor": actor,
                   "approvals": have, "required": need})
        return
    echo(f"revoked {actor}'s approval of {version} for {env}")
    echo(f"approvals for {version} in {env}: {have}/{need}")
