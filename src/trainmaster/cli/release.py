"""``release create|show|list|verify|fetch`` and ``sync``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from trainmaster._output import echo
from trainmaster.cli.common import emit_json, get_app, json_option

if TYPE_CHECKING:
    from trainmaster.retention import Plan


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
@click.option("--notes", help="Release notes (metadata; not part of the release id): UTF-8, at most 64 KiB.")
@click.option("--notes-file", metavar="PATH", help="Read the release notes (Markdown) from PATH instead.")
@click.option("--notes-from-git", "from_git", is_flag=True,
              help="Write the notes from the commit subjects since the previous release's source commit.")
@click.option("--by", help="The creator's name (refused inside CI, where the CI says who).")
@json_option
@click.pass_context
def create(ctx: click.Context, version: str, packages: tuple[str, ...], allow_undeclared: bool,
           notes: str | None, notes_file: str | None, from_git: bool, by: str | None, as_json: bool) -> None:
    """Create release VERSION from the configured packages; a no-op if it exists with the same content."""
    from trainmaster.errors import InvalidInput
    from trainmaster.model import check_version
    from trainmaster.publish import create_release

    check_version(version)
    if from_git and (notes is not None or notes_file is not None):
        raise InvalidInput("give the release notes with one of --notes, --notes-file and --notes-from-git")
    notes = _notes(notes, notes_file)
    app = get_app(ctx)
    if from_git:
        from trainmaster.notes_git import notes_from_git

        notes = _notes(notes_from_git(app, version, MAX_NOTES_BYTES), None)
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


MAX_NOTES_BYTES = 64 * 1024


def _notes(text: str | None, path: str | None) -> str | None:
    """The release notes from ``--notes`` or ``--notes-file``, checked before anything is written.

    UTF-8 text of at most 64 KiB; CRLF and CR become LF; tabs and newlines are the only control
    characters (the rule of ``metadata.notes`` in the release record's schema). Else exit 2.
    """
    import re

    from trainmaster.errors import InvalidInput
    from trainmaster.record import release_schema

    if text is not None and path is not None:
        raise InvalidInput("give the release notes with --notes or with --notes-file, not both")
    where = "--notes"
    if path is not None:
        where = f"--notes-file {path}"
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_NOTES_BYTES + 4)
        except OSError as exc:
            raise InvalidInput(f"{where}: cannot read it: {exc.strerror or exc}") from None
    elif text is not None:
        raw = text.encode("utf-8", "surrogateescape")  # bytes the shell passed that are not UTF-8 stay bytes
    else:
        return None
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if len(raw) > MAX_NOTES_BYTES:
        raise InvalidInput(f"{where}: release notes are limited to {MAX_NOTES_BYTES} bytes (64 KiB)")
    try:
        notes = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where}: release notes must be UTF-8 text (invalid byte at offset {exc.start})") from None
    notes = notes.replace("\r\n", "\n").replace("\r", "\n")
    rule = release_schema()["$defs"]["metadata"]["properties"]["notes"]["pattern"]
    if re.fullmatch(rule.strip("^$"), notes) is None:
        bad = next(c for c in notes if re.fullmatch(rule.strip("^$"), c) is None)
        line = notes[:notes.index(bad)].count("\n") + 1
        raise InvalidInput(f"{where}: release notes may not hold the control character U+{ord(bad):04X} "
                           f"(line {line}); tabs and newlines are allowed")
    return notes or None


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
        lines = str(meta["notes"]).splitlines() or [""]
        echo("  notes: " + lines[0] if len(lines) == 1 else "  notes:\n" + "\n".join(f"    {x}" for x in lines))
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
    from trainmaster.retention import deleted_ids

    app = get_app(ctx)
    releases = app.ledger.list_releases(app.config.project)
    deleted = deleted_ids(app.ledger)
    if as_json:
        emit_json({"releases": [{"version": r.version, "id": r.id, "created_by": r.metadata.get("created_by"),
                                 "created_at": r.metadata.get("created_at"), "deleted": r.id in deleted}
                                for r in releases]})
        return
    if not releases:
        echo("no releases yet")
    for r in releases:
        mark = "  (deleted)" if r.id in deleted else ""
        echo(f"{r.version:<20} {r.id}  {r.metadata.get('created_at', '')}  {r.metadata.get('created_by', '')}{mark}")


@release.command("delete")
@click.argument("version")
@click.option("--dry-run", is_flag=True, help="Say what would go, change nothing.")
@click.option("--by", help="Your name (refused inside CI, where the CI says who).")
@json_option
@click.pass_context
def delete(ctx: click.Context, version: str, dry_run: bool, by: str | None, as_json: bool) -> None:
    """Delete release VERSION, never deployed anywhere: its store files go, its ledger row stays as a tombstone."""
    from trainmaster.retention import apply, plan_delete

    app, rel = _load(ctx, version)
    plan = plan_delete(app, rel)
    if not dry_run:
        apply(app, plan, app.actor(by), "release delete")
    report_plan(plan, dry_run, as_json)


def report_plan(plan: Plan, dry_run: bool, as_json: bool) -> None:
    """Print what a ``release delete`` or ``gc`` removed (or would remove, with ``--dry-run``)."""
    if as_json:
        emit_json(dict(plan.to_json(), dry_run=dry_run))
        return
    verb = "would delete" if dry_run else "deleted"
    for rel in plan.releases:
        echo(f"{verb} release {rel.version} ({rel.id})")
    for version, why in plan.kept.items():
        echo(f"kept {version}: {why}")
    for copy in plan.quarantine or []:
        what = f"{'would remove' if dry_run else 'removed'}" if copy.action == "remove" else "kept"
        echo(f"{what} quarantined copy {copy.name} ({copy.bytes} bytes): {copy.why}")
    counts = [f"{len(plan.releases)} release(s)", f"{len(plan.blobs)} store file(s)"]
    if plan.doomed_copies:
        counts.append(f"{len(plan.doomed_copies)} quarantined copy(ies)")
    echo(f"{verb} {', '.join(counts[:-1])} and {counts[-1]}, {plan.bytes} bytes"
         f"{' (nothing changed)' if dry_run else ''}")


@release.command("diff")
@click.argument("old")
@click.argument("new")
@json_option
@click.pass_context
def diff(ctx: click.Context, old: str, new: str, as_json: bool) -> None:
    """What changed from release OLD to NEW: packages, metadata, and the source commits between them."""
    from trainmaster.diff import diff_releases

    app, a = _load(ctx, old)
    _, b = _load(ctx, new)
    found = diff_releases(a, b, app.config.root)
    if as_json:
        emit_json(found)
        return
    echo(f"{a.version} → {b.version}")
    pkgs = found["packages"]
    for pkg in pkgs["added"]:
        echo(f"  + package {pkg['name']}: {pkg['file_name']} {pkg['size']} bytes {pkg['digest']}")
    for pkg in pkgs["removed"]:
        echo(f"  - package {pkg['name']}: {pkg['file_name']} {pkg['size']} bytes {pkg['digest']}")
    for pkg in pkgs["changed"]:
        for key, change in pkg["changes"].items():
            echo(f"  ~ package {pkg['name']} {key}: {change['from']} → {change['to']}")
    if not (pkgs["added"] or pkgs["removed"] or pkgs["changed"]):
        echo("  packages: identical")
    for key, change in found["metadata"].items():
        echo(f"  ~ {key}: {change['from']} → {change['to']}")
    if found["commits"] is not None:
        echo(f"  commits ({len(found['commits'])}):")
        for line in found["commits"]:
            echo(f"    {line}")
        if found["commits_note"]:
            echo(f"    ({found['commits_note']})")
    else:
        echo(f"  commits: {found['commits_note']}")


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
    if versions:  # each looked up by its index: a sync of one version does not read the whole history
        found = {v: app.ledger.get_release(app.config.project, v) for v in dict.fromkeys(versions)}
        missing = [v for v, rel in found.items() if rel is None]
        if missing:
            raise InvalidInput(f"not in the ledger: {', '.join(missing)}")
        releases = [rel for rel in found.values() if rel is not None]
    else:
        releases = app.ledger.list_releases(app.config.project)
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
