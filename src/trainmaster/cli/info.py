"""``validate``, ``schema``, ``status``, ``history`` and ``plugins``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment
    from trainmaster.model import Release


def register(cli: click.Group) -> None:
    for command in (validate, schema, status, history, plugins):
        cli.add_command(command)


@click.command()
@json_option
@click.pass_context
def validate(ctx: click.Context, as_json: bool) -> None:
    """Check the config, and with remote targets that the train fits them."""
    from trainmaster.publish import publishers

    app = get_app(ctx)
    config = app.config
    publishers(app, config.publish)
    if config.ledger not in app.registry.ledgers:
        app.view  # noqa: B018 - raises the "unknown ledger" error without creating a local ledger
    for env in config.environments:
        app.target(env).validate()
    if as_json:
        emit_json({"valid": True, "project": config.project,
                   "stages": [{"name": s.name, "environments": [e.name for e in s.environments],
                               "require": s.require} for s in config.stages]})
        return
    echo(f"{app.config_arg}: valid")
    for stage in config.stages:
        envs = ", ".join(f"{e.name} ({e.target})" for e in stage.environments)
        echo(f"  stage {stage.index + 1} {stage.name}: {envs}"
                   f"{' (any one)' if stage.require == 'any' and len(stage.environments) > 1 else ''}")


@click.command()
@json_option
@click.pass_context
def schema(ctx: click.Context, as_json: bool) -> None:
    """Print the JSON Schema of trainmaster.yaml (plugin settings blocks included; always JSON)."""
    from trainmaster.config import config_schema

    emit_json(config_schema(get_app(ctx).registry.config_schemas))


def _candidate(app: App, env: Environment, releases: list[Release]) -> Release | None:
    """The newest release that could go to ``env`` next: never tried there, and past the previous stage."""
    from trainmaster.train import previous_stage_passed_at

    for rel in reversed(releases):
        if app.ledger.attempted(rel.id, env.name):
            return None
        if env.stage_index == 0 or previous_stage_passed_at(app.config, env, rel, app.view)[0]:
            return rel
    return None


def environment_status(app: App) -> list[dict[str, Any]]:
    from trainmaster.train import pending_gates

    app.reap_interrupted()
    releases = app.ledger.recent_releases(app.config.project, 20)
    rows = []
    for env in app.config.environments:
        current = app.view.current(env.name)
        candidate = _candidate(app, env, releases)
        pending = pending_gates(app.config, env, candidate, app.view, app.ledger, app.clock()) if candidate else []
        rows.append({
            "name": env.name,
            "stage": env.stage,
            "version": current.version if current else None,
            "release_id": current.release_id if current else None,
            "status": current.status if current else "none",
            "pending": pending,
            "next": candidate.version if candidate else None,
            "deployment": current.id if current else None,
            "actor": current.actor if current else None,
            "finished_at": current.finished_at if current else None,
        })
    return rows


@click.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Every environment: its release, its state and the gates pending for the next one."""
    app = get_app(ctx)
    rows = environment_status(app)
    if as_json:
        emit_json({"environments": rows})
        return
    from trainmaster.summary import render

    stages = [(st.name, [e.name for e in st.environments]) for st in app.config.stages]
    app.ci.summary(render(app.config.project, stages, rows))
    width = max([len(r["name"]) for r in rows] + [11])
    echo(f"{'ENVIRONMENT':<{width}}  {'STAGE':<10} {'VERSION':<16} {'STATUS':<12} PENDING")
    for r in rows:
        pending = "; ".join(r["pending"]) if r["pending"] else ("" if not r["next"] else f"ready: {r['next']}")
        if r["pending"] and r["next"]:
            pending = f"{r['next']}: {pending}"
        echo(f"{r['name']:<{width}}  {r['stage']:<10} {r['version'] or '-':<16} {r['status']:<12} {pending}")


@click.command()
@click.option("--env", "env", metavar="ENV", help="Only this environment.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N deployments (still printed oldest first).")
@json_option
@click.pass_context
def history(ctx: click.Context, env: str | None, limit: int | None, as_json: bool) -> None:
    """Deployments, oldest first, with actor and times."""
    app = get_app(ctx)
    if env:
        app.environment(env)
    app.reap_interrupted()
    deployments = app.view.history(env, limit)
    if as_json:
        emit_json({"deployments": [dict(d.to_json(), remote=d.remote) for d in deployments]})
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
