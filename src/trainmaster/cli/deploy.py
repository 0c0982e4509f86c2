"""``deploy``, ``promote``, ``approve`` and ``rollback``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from trainmaster._output import echo
from trainmaster.cli.approvals import on_release, target
from trainmaster.cli.common import F, command_with, emit_json, get_app, json_option

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment
    from trainmaster.deploy import Result
    from trainmaster.interfaces import Approval, Deployment
    from trainmaster.model import Release


def register(cli: click.Group) -> None:
    for command in (deploy, promote, approve, rollback):
        cli.add_command(command)


def _report(ctx: click.Context, run: Callable[[], Result], as_json: bool) -> None:
    """Run a deployment; print its JSON (on failure too) and hand the train's summary to the CI."""
    from trainmaster.errors import DeploymentFailed
    from trainmaster.summary import publish_summary

    try:
        result = run()
    except DeploymentFailed as exc:
        if as_json and exc.deployment is not None:
            emit_json({"deployment": _json(ctx, exc.deployment),
                       "rollback": _json(ctx, exc.rollback) if exc.rollback is not None else None,
                       "verification": _verification(ctx, exc.deployment)})
        publish_summary(get_app(ctx), focus=exc.deployment.version if exc.deployment else None)
        raise
    if as_json:
        emit_json({"deployment": _json(ctx, result.deployment), "rollback": None,
                   "verification": _verification(ctx, result.deployment)})
    publish_summary(get_app(ctx), focus=result.deployment.version)


def _json(ctx: click.Context, dep: Deployment) -> dict[str, Any]:
    """A deployment's JSON; with instances, its ``steps`` (:class:`trainmaster.rollout_log.Step`) too."""
    from trainmaster.strategies import uses_strategy

    data = dep.to_json()
    app = get_app(ctx)
    env = app.config.environment(dep.environment)
    if env is not None and uses_strategy(env):
        from trainmaster.rollout_log import RolloutLog

        data["steps"] = [step.to_json() for step in RolloutLog(app.ledger).of_deployment(dep.id)]
    return data


def _deploying(*where: Callable[[Any], Any]) -> Callable[[F], click.Command]:
    """A command that deploys a release: ``where`` (which release, to where), then --force, --wait and --json."""
    return command_with(
        *where,
        click.option("--force", is_flag=True,
                     help="Deploy every package, even those already in their desired state."),
        click.option("--wait", is_flag=True,
                     help="Sample the environment's quality gates until they pass or time out."),
        json_option, click.pass_context)


@_deploying(click.argument("version"),
            click.option("--to", "env", required=True, metavar="ENV", help="The environment to deploy to."))
def deploy(ctx: click.Context, version: str, env: str, force: bool, wait: bool, as_json: bool) -> None:
    """Deploy release VERSION to ENV; the train decides whether it may."""
    from trainmaster.deploy import deploy as run_deploy
    from trainmaster.model import check_version

    check_version(version)
    _report(ctx, lambda: run_deploy(get_app(ctx), version, env, force=force, out=_out(as_json), wait=wait), as_json)


@_deploying(click.option("--from", "source", required=True, metavar="ENV",
                         help="Take the release that succeeded here…"),
            click.option("--to", "env", required=True, metavar="ENV", help="…and deploy it here."))
def promote(ctx: click.Context, source: str, env: str, force: bool, wait: bool, as_json: bool) -> None:
    """Deploy what last succeeded in one environment to another."""
    from trainmaster.deploy import deploy as run_deploy
    from trainmaster.deploy import last_good
    from trainmaster.errors import Refused

    app = get_app(ctx)
    app.environment(source)
    app.environment(env)
    app.reap_interrupted()
    last = last_good(app, source)
    if last is None:
        raise Refused(f"nothing has succeeded in {source} yet: there is nothing to promote")
    echo(f"promoting {last.version} from {source} (deployment #{last.id}) to {env}", err=as_json)
    _report(ctx, lambda: run_deploy(app, last.version, env, force=force, out=_out(as_json), wait=wait), as_json)


@on_release("The environment the approval is for.", "Why you approve.",
            "The approver's name (refused inside CI, where the CI says who).")
def approve(ctx: click.Context, version: str, env: str, comment: str, by: str | None, as_json: bool) -> None:
    """Approve release VERSION for ENV."""
    from trainmaster.errors import Refused
    from trainmaster.interfaces import Approval
    from trainmaster.ledger import now
    from trainmaster.train import approval_counts, counted_approvals

    app, environment, rel, actor = target(ctx, version, env, by)
    from trainmaster.rounds import current_round, record_approval

    need = environment.approvals.count if environment.approvals else 0
    if need == 0 and current_round(app.ledger, rel.id, environment.name).rejection is not None:
        need = 1  # a rejection holds the release there until a new round of at least one approval
    remote = _remote_approver(app, environment)
    if need == 0 and remote is None:
        if as_json:
            emit_json({"recorded": False, "counts": False, "approvals": 0, "required": 0,
                       "reason": f"{env} needs no approvals"})
        else:
            echo(f"{env} needs no approvals: {version} may be deployed there without one (nothing recorded)")
        return
    counts = approval_counts(environment, rel, actor)
    approval = Approval(rel.id, rel.version, environment.name, actor, now(), comment, counts)
    recorded = record_approval(app.ledger, approval, rel)
    if recorded:
        app.emit("approval_recorded", approval=approval, release=rel, environment=environment)
        if counts and remote is not None:
            _forward_approval(remote, environment, approval, rel)
    have = counted_approvals(environment, rel, app.ledger)
    reason = None
    if not counts and actor == rel.created_by and not environment.allow_self_approval:
        reason = f"{actor} created {version} (set allow_self_approval: true to allow this)"
    elif not counts:
        allowed = ", ".join(environment.approvals.from_) if environment.approvals else ""
        reason = f"{env} takes approvals from {allowed} only"
    if as_json:
        emit_json({"recorded": recorded, "counts": counts, "approvals": have, "required": need, "reason": reason})
    elif not recorded:
        echo(f"{actor} has already approved {version} for {env}")
    elif reason:
        echo(f"recorded, but it does not count: {reason}")
    else:
        echo(f"approved {version} for {env} by {actor}")
    if not as_json and need:
        echo(f"approvals for {version} in {env}: {have}/{need}")
    if reason:
        raise Refused(f"the approval of {version} for {env} by {actor} does not count: {reason}")


@click.command()
@click.option("--env", "env", required=True, metavar="ENV", help="The environment to roll back.")
@click.option("--to", "version", metavar="VERSION", help="The release to go back to (default: the previous good one).")
@json_option
@click.pass_context
def rollback(ctx: click.Context, env: str, version: str | None, as_json: bool) -> None:
    """Redeploy the previous good release of ENV (never skipping a package)."""
    from trainmaster.deploy import rollback as run_rollback
    from trainmaster.model import check_version

    if version:
        check_version(version)
    _report(ctx, lambda: run_rollback(get_app(ctx), env, version, out=_out(as_json)), as_json)


def _verification(ctx: click.Context, dep: Deployment) -> dict[str, Any] | None:
    """The deployment's performance verification (``verify:``), or None."""
    from trainmaster.duty_records import verification

    return verification(get_app(ctx).ledger, deployment_id=dep.id, environment=dep.environment)


def _out(as_json: bool) -> Callable[[str], None]:
    from trainmaster._output import write

    return lambda text: write(text, err=as_json)


def _remote_approver(app: App, environment: Environment) -> Callable[[Approval, Release], str] | None:
    """The environment's target's ``approve`` (``Target.approve``): approvals held by the remote system."""
    approve: Callable[[Approval, Release], str] | None = getattr(app.target(environment), "approve", None)
    return approve


def _forward_approval(approve: Callable[[Approval, Release], str], environment: Environment, approval: Approval,
                      release: Release) -> None:
    """Carry a counted approval into the environment's remote system; a failure is a warning."""
    from trainmaster.errors import TrainmasterError

    try:
        note = approve(approval, release)
    except TrainmasterError as err:
        note = f"{environment.target}: the approval was recorded here but not remotely: {err}"
    if note:
        echo(note, err=True)
