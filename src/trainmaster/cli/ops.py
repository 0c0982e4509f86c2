"""``cancel``, ``gc`` and ``init``: operating a train."""

from __future__ import annotations

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option


def register(cli: click.Group) -> None:
    for command in (cancel, gc, init):
        cli.add_command(command)


@click.command()
@click.argument("deployment", type=int)
@click.option("--timeout", default=60.0, show_default=True, metavar="SECONDS",
              help="How long to wait for the deploying process to record the cancellation.")
@click.option("--by", help="Your name (refused inside CI, where the CI says who).")
@json_option
@click.pass_context
def cancel(ctx: click.Context, deployment: int, timeout: float, by: str | None, as_json: bool) -> None:
    """Stop running deployment N (from another shell or job); its environment's failure policy follows.

    The deploying process is found through its environment's lock file and asked to stop
    (SIGUSR1): it stops the command's process group, records the deployment ``cancelled``
    and, with ``on_failure: rollback``, rolls the environment back.
    """
    import os
    import signal
    import time

    from trainmaster.errors import InvalidInput, Unavailable
    from trainmaster.locks import EnvironmentLock

    app = get_app(ctx)
    dep = app.ledger.get_deployment(deployment)
    if dep is None:
        raise InvalidInput(f"there is no deployment #{deployment}")
    if dep.status != "in_progress":
        raise InvalidInput(f"deployment #{deployment} is not running: it is {dep.status}")
    if not hasattr(signal, "SIGUSR1"):  # pragma: no cover - Windows
        raise InvalidInput("`trainmaster cancel` needs POSIX signals; stop the deploying job instead")
    holder = EnvironmentLock(app.lock_dir, dep.environment).holder()
    if holder is None or deployment not in holder[1]:
        raise InvalidInput(f"deployment #{deployment} is not running: no live process holds it "
                           f"(`trainmaster status` records it interrupted)")
    actor = app.actor(by)
    with app.ledger.transaction() as conn:
        app.ledger._audit(conn, "deployment_cancel_requested", actor, dep.environment,
                          {"deployment": deployment, "pid": holder[0]})
    try:
        os.kill(holder[0], signal.SIGUSR1)
    except ProcessLookupError:
        raise InvalidInput(f"deployment #{deployment} is not running: its process has just ended") from None
    deadline = time.monotonic() + timeout
    while (found := app.ledger.get_deployment(deployment)) is not None and found.status == "in_progress":
        if time.monotonic() >= deadline:
            raise Unavailable(f"deployment #{deployment} was asked to stop (pid {holder[0]}) but has not recorded "
                              f"it within {timeout:g}s")
        time.sleep(0.05)
    status = found.status if found else "unknown"
    if status != "cancelled":
        raise InvalidInput(f"deployment #{deployment} finished ({status}) before it could be cancelled")
    if as_json:
        emit_json({"deployment": found.to_json() if found else None, "cancelled": True})
        return
    policy = app.environment(dep.environment).on_failure
    then = "; it rolls back to the previous good release" if policy == "rollback" else ""
    echo(f"cancelled deployment #{deployment} of {dep.version} in {dep.environment}{then}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what would go and how many bytes, change nothing.")
@click.option("--by", help="Your name (refused inside CI, where the CI says who).")
@json_option
@click.pass_context
def gc(ctx: click.Context, dry_run: bool, by: str | None, as_json: bool) -> None:
    """Delete releases outside the retention policy and the store files no kept release needs.

    Kept: the newest ``retention: {keep: N}`` releases (default 20), every release deployed
    anywhere and each environment's rollback target. Ledger rows stay, as tombstones.
    A quarantined copy goes once no kept release needs its digest, or once its digest is
    back intact in the store and the copy is over 7 days old (audited).
    """
    from trainmaster.cli.release import report_plan
    from trainmaster.retention import apply, plan_gc

    app = get_app(ctx)
    plan = plan_gc(app)
    if not dry_run:
        apply(app, plan, app.actor(by), f"gc (retention: keep {app.config.retention_keep})")
    report_plan(plan, dry_run, as_json)


@click.command()
@click.option("--project", metavar="NAME", help="The project name (default: the folder's name).")
@click.pass_context
def init(ctx: click.Context, project: str | None) -> None:
    """Write a commented starter trainmaster.yaml (dev -> test -> prod) and its JSON Schema beside it.

    Refuses (exit 2, nothing written) when either file exists. The config path is
    ``--config`` (default ./trainmaster.yaml).
    """
    from pathlib import Path

    from trainmaster.config import config_schema
    from trainmaster.starter import write_starter

    app = get_app(ctx)
    config, schema = write_starter(Path(app.config_arg), project, config_schema(app.registry.config_schemas))
    echo(f"wrote {config} and {schema}")
    echo("next: build build/app.bin, then `trainmaster validate`, `trainmaster release create 1.0.0` and "
         "`trainmaster deploy 1.0.0 --to dev`")
