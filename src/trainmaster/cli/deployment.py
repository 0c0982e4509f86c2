"""``deployment show N`` and ``logs N [--follow]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option
from trainmaster.cli.style import Painter, color_option, use_color

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.interfaces import Deployment


def register(cli: click.Group) -> None:
    cli.add_command(deployment)
    cli.add_command(logs)


def _find(app: App, number: int) -> Deployment:
    from trainmaster.errors import InvalidInput

    dep = app.ledger.get_deployment(number)
    if dep is None:
        raise InvalidInput(f"no deployment #{number} in the ledger (see `trainmaster history`)")
    return dep


def detail(app: App, dep: Deployment) -> dict[str, Any]:
    """``deployment show --json``: the history shape plus gates met, reason, rollback links and the log."""
    from trainmaster.ledger_queries import rolled_back, rolled_back_by

    by = rolled_back_by(app.ledger, dep)
    undid = rolled_back(app.ledger, dep)
    return dict(dep.to_json(), remote=dep.remote, reason=dep.reason, gates_met=list(dep.gates),
                rolled_back_by=by.id if by else None, rolled_back=undid.id if undid else None,
                log=dep.log or None)


@click.group()
def deployment() -> None:
    """One deployment in detail."""


@deployment.command("show")
@click.argument("number", type=click.IntRange(min=1))
@json_option
@color_option
@click.pass_context
def show(ctx: click.Context, number: int, as_json: bool, color: str | None) -> None:
    """Deployment NUMBER: packages with outcome, actor, times, gates met, rollback links."""
    from trainmaster.status import ago

    app = get_app(ctx)
    app.reap_interrupted(wait=False)
    dep = _find(app, number)
    data = detail(app, dep)
    if as_json:
        emit_json({"deployment": data})
        return
    paint = Painter(use_color(ctx, color))
    echo(f"deployment #{dep.id}: {dep.kind} {dep.version} to {dep.environment}: {paint.status(dep.status)}")
    echo(f"  release   {dep.release_id}")
    echo(f"  actor     {dep.actor}")
    echo(f"  started   {dep.started_at} ({ago(dep.started_at)})")
    echo(f"  finished  {dep.finished_at or '-'}" + (f" ({ago(dep.finished_at)})" if dep.finished_at else ""))
    if dep.reason:
        echo(f"  reason    {dep.reason}")
    for name, outcome in (dep.packages or dict.fromkeys(dep.state, "-")).items():
        echo(f"  package   {name}: {paint.status(outcome) if outcome != 'deployed' else paint(outcome, 'green')}")
    for gate in dep.gates:
        echo(f"  gate met  {gate}")
    if dep.kind == "deploy" and not dep.gates:
        echo("  gate met  - (no gate configured, or recorded before trainmaster kept them)")
    if data["rolled_back_by"]:
        echo(f"  rolled back by deployment #{data['rolled_back_by']}")
    if data["rolled_back"]:
        echo(f"  rolls back deployment #{data['rolled_back']}")
    for key, value in dep.remote.items():
        echo(f"  remote    {key}: {value}")
    running = f"growing: trainmaster logs {dep.id} --follow" if dep.status == "in_progress" else "-"
    echo(f"  log       {dep.log or running}")


@click.command()
@click.argument("number", type=click.IntRange(min=1))
@click.option("--follow", "-f", is_flag=True, help="Keep printing a running deployment's output until it finishes.")
@json_option
@click.pass_context
def logs(ctx: click.Context, number: int, follow: bool, as_json: bool) -> None:
    """The masked output of deployment NUMBER, as it was printed (kept in the store)."""
    from trainmaster._output import write
    from trainmaster.deploylog import follow as follow_log
    from trainmaster.deploylog import read_log
    from trainmaster.errors import InvalidInput

    app = get_app(ctx)
    dep = _find(app, number)
    if follow and dep.status == "in_progress" and not as_json:
        final = follow_log(app, number, lambda data: write(data.decode("utf-8", errors="replace")))
        if final.status != "succeeded":
            echo(f"deployment #{final.id} {final.status}", err=True)
        return
    if follow and as_json:
        follow_log(app, number, lambda data: None)
        dep = _find(app, number)
    data = read_log(app, dep)
    if data is None:
        raise InvalidInput(f"deployment #{number} has no log here (it ran on another runner, or before "
                           "trainmaster kept logs)")
    text = data.decode("utf-8", errors="replace")
    if as_json:
        emit_json({"deployment": dep.id, "status": dep.status, "log": dep.log or None, "text": text})
        return
    write(text)
