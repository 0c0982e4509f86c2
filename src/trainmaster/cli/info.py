"""``validate``, ``schema``, ``status``, ``history`` and ``plugins``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option
from trainmaster.cli.style import Painter, color_option, table, use_color

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config import Config
    from trainmaster.errors import ConfigError
    from trainmaster.status import EnvironmentStatus


def register(cli: click.Group) -> None:
    for command in (validate, schema, status, history, plugins):
        cli.add_command(command)


@click.command()
@click.option("--remote", is_flag=True,
              help="Also run the checks that need the network (targets with a `validate_remote` method).")
@json_option
@click.pass_context
def validate(ctx: click.Context, remote: bool, as_json: bool) -> None:
    """Check the config (every problem, up to 20), that each package matches one file, and the targets.

    With ``--json``: ``{"valid": true, "errors": [], "more": 0, "project", "stages"}``, or on exit 2
    ``{"valid": false, "errors": [{message, file, line, column, key, suggestion}, …], "more": N}``.
    """
    from trainmaster.errors import TrainmasterError, problems

    app = get_app(ctx)
    try:
        config = _validated(app, remote)
    except TrainmasterError as exc:
        if as_json and exc.exit_code == 2:
            found, more = problems(exc)
            emit_json({"valid": False, "errors": found, "more": more})
        raise
    if as_json:
        emit_json({"valid": True, "errors": [], "more": 0, "project": config.project,
                   "stages": [{"name": s.name, "environments": [e.name for e in s.environments],
                               "require": s.require} for s in config.stages]})
        return
    echo(f"{app.config_arg}: valid")
    for stage in config.stages:
        envs = ", ".join(f"{e.name} ({e.target})" for e in stage.environments)
        echo(f"  stage {stage.index + 1} {stage.name}: {envs}"
                   f"{' (any one)' if stage.require == 'any' and len(stage.environments) > 1 else ''}")


def _validated(app: App, remote: bool) -> Config:
    """The config once every local check passed: problems of the packages and targets come together."""
    from trainmaster.errors import ConfigError, config_errors
    from trainmaster.publish import publishers

    config = app.config
    found = package_problems(config)
    targets = []
    for env in config.environments:
        target = app.target(env)
        try:
            target.validate()
        except ConfigError as exc:  # the next environment's problems are worth knowing too
            found.append(exc)
        targets.append(target)
    if found:
        raise config_errors(found)
    publishers(app, config.publish)
    if config.ledger not in app.registry.ledgers:
        app.view  # noqa: B018 - raises the "unknown ledger" error without creating a local ledger
    for target in targets:
        if remote and hasattr(target, "validate_remote"):  # optional Target method: checks over the network
            target.validate_remote()
    from trainmaster.runbooks import check_remote

    check_remote(app)  # a `remote` runbook needs targets with `run_runbook`
    return config


def package_problems(config: Config) -> list[ConfigError]:
    """A problem for each package whose path or glob does not match exactly one file (at its key)."""
    from trainmaster.errors import ConfigError, InvalidInput
    from trainmaster.publish import match_one

    found = []
    for spec in config.packages:
        if spec.path.startswith("sha256:"):
            continue
        try:
            match_one(spec.path, config.root, f"package '{spec.name}'")
        except InvalidInput as exc:  # one line: the matches listed after the count
            message = str(exc).replace(":\n  ", ": ", 1).replace("\n  ", ", ")
            where = spec.location
            found.append(ConfigError(message, file=where.file if where else None, line=where.line if where else None,
                                     column=where.column if where else None, key=spec.name))
    return found


@click.command()
@click.option("--release", "release_record", is_flag=True,
              help="The schema of a release record (release.json) instead of the config's.")
@json_option
@click.pass_context
def schema(ctx: click.Context, release_record: bool, as_json: bool) -> None:
    """Print the JSON Schema of trainmaster.yaml (plugin settings blocks included; always JSON)."""
    if release_record:
        from trainmaster.record import release_schema

        emit_json(release_schema())
        return
    from trainmaster.config import config_schema

    emit_json(config_schema(get_app(ctx).registry.config_schemas))


@click.command()
@json_option
@color_option
@click.pass_context
def status(ctx: click.Context, as_json: bool, color: str | None) -> None:
    """Every environment: what is there and since when, the last failure, what runs, what waits."""
    from trainmaster.status import environment_status

    app = get_app(ctx)
    app.reap_interrupted(wait=False)
    rows = environment_status(app)
    if as_json:
        emit_json({"environments": [row.to_json() for row in rows]})
        return
    from trainmaster.summary import render

    app.ci.summary(render(rows, project=app.config.project))
    for line in status_lines(rows, Painter(use_color(ctx, color))):
        echo(line)


def _next(row: EnvironmentStatus) -> str:
    """``ready: 1.2.0``, ``1.2.0: soak 25m left; 0/1 approval(s); may approve: alice``, or ``-``."""
    if not row.next:
        return "; ".join(row.pending) or "-"
    if not row.pending:
        return f"ready: {row.next}"
    return f"{row.next}: " + "; ".join(g["detail"] for g in row.gates) if row.gates else row.waiting()


def status_lines(rows: list[EnvironmentStatus], paint: Painter) -> list[str]:
    """The ``status`` table, then one indented line per fact worth a look (bytes, failures, queue, gates)."""
    from trainmaster.status import ago

    table_rows, notes = [], []
    for r in rows:
        cur = r.current or {}
        version = cur.get("version") or r.version  # the remote ledger's answer when this runner has no record
        table_rows.append([r.name, r.stage, paint(version or "-", "bold" if version else None),
                           ago(cur.get("since")),
                           paint.status(r.status) + (f" (verify {r.verification})" if r.verification else ""),
                           f"#{r.deployment} {ago(r.finished_at)}" if r.deployment else "-",
                           paint(_next(r), "yellow" if r.pending else "green" if r.next else None)])
        for pkg in r.packages:
            if pkg.get("deployment") != cur.get("deployment"):
                notes.append(f"  {r.name}: {pkg['name']}: bytes of {pkg.get('version')}, "
                             f"deployment #{pkg.get('deployment')}")
        failure = r.last_failure
        if failure:
            back = f"; rolled back by #{failure['rolled_back_by']}" if failure.get("rolled_back_by") else ""
            notes.append(f"  {r.name}: " + paint(f"{failure['version']} {failure['status']}", "red")
                         + f" (deployment #{failure['deployment']}, {ago(failure.get('at'))}): "
                         f"{failure.get('reason') or 'no reason recorded'}{back}")
        for act in r.active:
            dep = f"#{act['deployment']} " if act.get("deployment") else ""
            notes.append(f"  {r.name}: {paint.status(act['state'])} {dep}{act.get('version')} by {act.get('actor')} "
                         f"since {ago(act.get('since'))}")
        if r.rollout:
            notes.append(f"  {r.name}: {r.rollout['text']}")
    lines = table(["ENVIRONMENT", "STAGE", "RELEASE", "SINCE", "STATUS", "LATEST", "NEXT"], table_rows, paint)
    return lines + notes


@click.command()
@click.option("--env", "env", metavar="ENV", help="Only this environment.")
@click.option("--limit", type=click.IntRange(min=1, max=1_000_000),
              help="Only the newest N deployments (still printed oldest first).")
@json_option
@click.pass_context
def history(ctx: click.Context, env: str | None, limit: int | None, as_json: bool) -> None:
    """Deployments, oldest first, with actor and times."""
    app = get_app(ctx)
    if env:
        app.environment(env)
    app.reap_interrupted(wait=False)
    deployments = app.view.history(env, limit)
    if as_json:
        emit_json({"deployments": [d.to_json() for d in deployments]})
        return
    if not deployments:
        echo("no deployments yet")
    for d in deployments:
        pkgs = " ".join(f"{k}={v}" for k, v in d.packages.items())
        echo(f"#{d.id:<5} {d.started_at}  {d.environment:<10} {d.kind:<8} {d.version:<14} "
                   f"{d.status:<11} {d.actor:<12} {pkgs}")


@click.command()
@json_option
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """Installed plugins, targets, ledgers, publishers, secret schemes and settings blocks."""
    from trainmaster.plugins import load_errors, plugin_sources

    app = get_app(ctx)
    reg = app.registry
    data: dict[str, Any] = {
        "plugins": [{"name": n, "source": s} for n, s in plugin_sources.items()],
        "failed": [{"name": n, "error": e} for n, e in load_errors],
        "targets": sorted(reg.targets), "ledgers": sorted(reg.ledgers), "publishers": sorted(reg.publishers),
        "secret_schemes": sorted(reg.secret_resolvers), "settings_blocks": sorted(reg.config_schemas),
    }
    if as_json:
        emit_json(data)
        return
    for p in data["plugins"]:
        echo(f"plugin {p['name']} ({p['source']})")
    for f in data["failed"]:
        echo(f"plugin {f['name']} FAILED TO LOAD: {f['error']}")
    for key in ("targets", "ledgers", "publishers", "secret_schemes", "settings_blocks"):
        echo(f"{key.replace('_', ' ')}: {', '.join(data[key]) or '-'}")
