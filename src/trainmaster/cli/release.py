"""``release create|show|list|verify|fetch`` and ``sync``."""

from __future__ import annotations

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option


def register(cli: click.Group) -> None:
    cli.add_command(release)
    cli.add_command(sync)


@click.group()
def release() -> None:
    """Create and inspect immutable releases."""


@release.command("create")
@click.argument("version")
@click.option("--package", "packages", multiple=True, metavar="NAME=PATH|NAME=sha256:DIGEST",
              help="A package to pin (overrides the config's entry of that name). Repeatable.")
@click.option("--allow-undeclared", is_flag=True,
              help="Allow --package names that the config's packages: block does not declare.")
@click.option("--notes", help="Release notes (metadata; not part of the release id).")
@click.option("--by", help="The creator's name (refused inside CI, where the CI says who).")
@json_option
@click.pass_context
def create(ctx: click.Context, version: str, packages: tuple[str, ...], allow_undeclared: bool,
           notes: str | None, by: str | None, as_json: bool) -> None:
    """Create release VERSION from the configured packages; a no-op if it exists with the same content."""
    from trainmaster.model import check_version
    from trainmaster.publish import create_release

    check_version(version)
    app = get_app(ctx)
    rel, created = create_release(app, version, packages, notes, by, out=_quiet if as_json else _echo,
                                  allow_undeclared=allow_undeclared)
    if as_json:
        emit_json({"release": rel.to_record(), "created": created})
        return
    verb = "created" if created else "exists (same content, nothing to do)"
    echo(f"release {rel.project} {rel.version} {verb}")
    echo(f"  id {rel.id}")
    for pkg in rel.packages:
        echo(f"  {pkg.name}: {pkg.file_name} {pkg.size} bytes {pkg.digest}")


def _echo(text: str) -> None:
    echo(text, nl=False)


def _quiet(text: str) -> None:
    echo(text, nl=False, err=True)


def _load(ctx: click.Context, version: str):  # type: ignore[no-untyped-def]
    from trainmaster.deploy import find_release

    app = get_app(ctx)
    return app, find_release(app, version)


@release.command("show")
@click.argument("version")
@json_option
@click.pass_context
def show(ctx: click.Context, version: str, as_json: bool) -> None:
    """Show a release: id, packages and metadata."""
    app, rel = _load(ctx, version)
    publications = app.ledger.publications(rel.id)
    if as_json:
        emit_json(dict(rel.to_record(), publications=publications))
        return
    echo(f"{rel.project} {rel.version}\n  id {rel.id}")
    meta = rel.metadata
    echo(f"  created by {meta.get('created_by', '?')} at {meta.get('created_at', '?')}")
    if meta.get("notes"):
        echo(f"  notes: {meta['notes']}")
    for key, value in sorted((meta.get("source") or {}).items()):
        echo(f"  {key}: {value}")
    for pkg in rel.packages:
        echo(f"  package {pkg.name}: {pkg.file_name} ({pkg.media_type}, {pkg.size} bytes) {pkg.digest}")
    for system, pub in publications.items():
        echo(f"  published to {system}: {pub['state']}{' ' + pub['url'] if pub['url'] else ''} ({pub['at']})")


@release.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the releases in the ledger, oldest first."""
    app = get_app(ctx)
    releases = app.ledger.list_releases(app.config.project)
    if as_json:
        emit_json({"releases": [{"version": r.version, "id": r.id, "created_by": r.metadata.get("created_by"),
                                 "created_at": r.metadata.get("created_at")} for r in releases]})
        return
    if not releases:
        echo("no releases yet")
    for r in releases:
        echo(f"{r.version:<20} {r.id}  {r.metadata.get('created_at', '')}  {r.metadata.get('created_by', '')}")


@release.command("verify")
@click.argument("version")
@json_option
@click.pass_context
def verify(ctx: click.Context, version: str, as_json: bool) -> None:
    """Re-hash every stored package of VERSION (exit 4 on a mismatch)."""
    from trainmaster.deploy import verify_release

    app, rel = _load(ctx, version)
    verify_release(app, rel)
    if as_json:
        emit_json({"version": rel.version, "release_id": rel.id, "verified": [p.name for p in rel.packages]})
        return
    for pkg in rel.packages:
        echo(f"ok {pkg.name} {pkg.digest}")
    echo(f"release {rel.version} verified: {rel.id}")


@release.command("fetch")
@click.argument("version")
@click.option("--from", "source", help="The publisher to fetch from (default: those in `publish:`).")
@click.pass_context
def fetch(ctx: click.Context, version: str, source: str | None) -> None:
    """Bring a published release and its digest-verified artefacts to this runner."""
    from trainmaster.errors import InvalidInput
    from trainmaster.model import check_version
    from trainmaster.publish import fetch_release

    check_version(version)
    app = get_app(ctx)
    existing = app.ledger.get_release(app.config.project, version)
    if existing is not None and all(app.store.intact(p.digest) for p in existing.packages):
        echo(f"release {version} is already here: {existing.id}")
        return
    names = (source,) if source else None
    if not (names or app.config.publish):
        raise InvalidInput("nothing to fetch from: add a system to `publish:` or pass --from NAME")
    rel = fetch_release(app, version, names)
    if rel is None:
        raise InvalidInput(f"release {version} was not found in {', '.join(names or app.config.publish)}")
    echo(f"fetched {rel.project} {rel.version}: {rel.id}")


@click.command()
@click.option("--to", "system", required=True, help="The publisher to mirror into (github, azure-devops, octopus).")
@click.argument("versions", nargs=-1)
@click.option("--check", is_flag=True, help="Only report drift (exit 4 when any release differs remotely).")
@json_option
@click.pass_context
def sync(ctx: click.Context, system: str, versions: tuple[str, ...], check: bool, as_json: bool) -> None:
    """Mirror releases from the ledger into a remote system; idempotent."""
    from trainmaster.errors import IntegrityError, InvalidInput
    from trainmaster.model import check_version
    from trainmaster.publish import publishers

    for v in versions:
        check_version(v)
    app = get_app(ctx)
    ((name, publisher),) = publishers(app, [system])
    releases = app.ledger.list_releases(app.config.project)
    if versions:
        by_version = {r.version: r for r in releases}
        missing = [v for v in versions if v not in by_version]
        if missing:
            raise InvalidInput(f"not in the ledger: {', '.join(missing)}")
        releases = [by_version[v] for v in versions]
    report = []
    drift = []
    for rel in releases:
        if check:
            result = publisher.check(rel, app.config)
        else:
            from trainmaster.deploy import files_to_publish

            result = publisher.ensure(rel, files_to_publish(app, rel, publisher), app.config)
        state = "missing" if check and result.state == "created" else result.state
        report.append({"version": rel.version, "release_id": rel.id, "state": state,
                       "detail": result.detail, "url": result.url})
        if not check and state != "conflict":
            app.ledger.record_publications(rel.id, app.actor(), [(name, state, result.url, result.remote)])
        if state == "conflict":
            drift.append(f"{rel.version}: {result.detail}")
        if not as_json:
            echo(f"{rel.version:<16} {state:<9} {result.detail or result.url or ''}")
    if as_json:
        emit_json({"system": name, "releases": report})
    if drift:
        raise IntegrityError(f"{name} differs from the ledger for {len(drift)} release(s): " + "; ".join(drift))
