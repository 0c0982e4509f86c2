"""Creating releases, mirroring them into other systems (publishers), and fetching them back.

``release create``: stage the files (on a thread, while the plugins load and
the ledger opens) and compute the release → check the ledger (a conflict exits 4)
→ ask every publisher in ``publish:`` to make sure it exists remotely (any
conflict exits 4 before anything is committed) → move the artefacts into the
store and commit the ledger. Until that last step, nothing is visible: staged
files are discarded on any error.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainmaster.errors import ConfigError, IntegrityError, InvalidInput, ReleaseConflict
from trainmaster.model import Package, Release, check_digest, check_name, check_version, guess_media_type, timestamp

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Config
    from trainmaster.interfaces import Publisher, PublishResult
    from trainmaster.ledger import Publication, SqliteLedger
    from trainmaster.store import Staged


def _write(text: str) -> None:
    from trainmaster._output import write

    write(text)


def match_one(pattern: str, base: Path, what: str) -> Path:
    """The single file ``pattern`` (a path or glob, relative to ``base``) matches; else exit 2."""
    full = pattern if Path(pattern).is_absolute() else str(base / pattern)
    if Path(full).is_file():  # a literal path, even one with glob characters such as [1]
        return Path(full)
    matches = sorted(p for p in bounded_glob(full, what) if Path(p).is_file())
    if len(matches) == 1:
        return Path(matches[0])
    if not matches:
        raise InvalidInput(f"{what}: {pattern!r} matches no file (looked in {base})")
    listed = "\n  ".join(matches[:20]) + ("\n  …" if len(matches) > 20 else "")
    raise InvalidInput(f"{what}: {pattern!r} must match exactly one file but matches {len(matches)}:\n  {listed}")


GLOB_MAX_ENTRIES = 100_000
"""How many folder entries a package glob may look at before it is refused (exit 2)."""


def bounded_glob(pattern: str, what: str) -> set[str]:
    """The paths ``pattern`` matches (``*``, ``?``, ``[…]``, ``**``), like :func:`glob.glob` but safe.

    ``**`` never descends into a symlinked folder (a loop would never end), and after
    :data:`GLOB_MAX_ENTRIES` folder entries the search stops with exit 2.
    """
    import fnmatch
    import os

    seen = 0

    def scan(folder: str) -> list[os.DirEntry[str]]:
        nonlocal seen
        try:
            with os.scandir(folder or ".") as it:
                entries = []
                for entry in it:
                    seen += 1
                    if seen > GLOB_MAX_ENTRIES:
                        raise InvalidInput(f"{what}: {pattern!r} looked at more than {GLOB_MAX_ENTRIES:,} "
                                           "entries; narrow the pattern")
                    entries.append(entry)
                return entries
        except OSError:
            return []

    def walk(folder: str, parts: list[str]) -> Iterator[str]:
        if not parts:
            yield folder
            return
        head, tail = parts[0], parts[1:]
        if head == "**":
            yield from walk(folder, tail)
            for entry in scan(folder):
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                    yield from walk(entry.path, parts)
        elif glob.has_magic(head):
            for entry in scan(folder):
                if (head.startswith(".") or not entry.name.startswith(".")) and fnmatch.fnmatch(entry.name, head):
                    yield from walk(entry.path, tail)
        else:
            yield from walk(os.path.join(folder, head), tail)

    anchor, *parts = Path(pattern).parts if Path(pattern).is_absolute() else ("", *Path(pattern).parts)
    return set(walk(anchor, parts))


def publishers(app: App, names: tuple[str, ...] | list[str]) -> list[tuple[str, Publisher]]:
    found = []
    for name in names:
        factory = app.registry.publishers.get(name)
        if factory is None:
            known = ", ".join(sorted(app.registry.publishers)) or "none installed"
            raise ConfigError(f"unknown publisher {name!r} (available: {known}); see `trainmaster plugins`",
                              file=app.config_arg, key="publish")
        found.append((name, factory(app.config)))
    return found


class _Progress:
    """A progress bar on stderr when it is a terminal and the file is large."""

    def __init__(self, label: str, total: int) -> None:
        self.enabled = sys.stderr.isatty() and total >= 64 << 20
        self.label, self.total, self.done, self.shown = label, total, 0, -1

    def __call__(self, n: int) -> None:
        if not self.enabled:
            return
        self.done += n
        pct = int(self.done * 100 / self.total) if self.total else 100
        if pct != self.shown:
            self.shown = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\rhashing {self.label} [{bar:<25}] {pct:3d}%")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _parse_package_args(args: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name or not value:
            raise InvalidInput(f"--package {arg!r}: expected NAME=PATH or NAME=sha256:DIGEST")
        check_name(name)
        if name in parsed:
            raise InvalidInput(f"--package {name!r} is given twice")
        parsed[name] = value
    return parsed


def _known_package(app: App, digest: str, name: str) -> tuple[str, str]:
    for release in app.ledger.list_releases(app.config.project):
        for pkg in release.packages:
            if pkg.digest == digest:
                return pkg.file_name, pkg.media_type
    return name, "application/octet-stream"


def _check_declared(config: Config, cli: dict[str, str], allow_undeclared: bool) -> None:
    """A ``--package`` name the config does not declare is a typo unless adding one is asked for."""
    from trainmaster.errors import did_you_mean

    declared = [spec.name for spec in config.packages]
    for name in cli:
        if not declared or name in declared or allow_undeclared:
            continue
        hint = did_you_mean(name, declared, "declared")
        raise InvalidInput(f"--package {name}=…: the config declares no package {name!r}{hint}. "
                           "To add a package the config does not declare, pass --allow-undeclared")


def package_sources(app: App, version: str, package_args: tuple[str, ...], *,
                    allow_undeclared: bool = False) -> list[tuple[str, dict[str, Any], Path | None]]:
    """Check the version and the packages; each package's name, entry and file (None: already stored).

    Nothing is written: a package given as ``sha256:`` must be in the store and intact.
    """
    config = app.config
    check_version(version)
    cli = _parse_package_args(package_args)
    _check_declared(config, cli, allow_undeclared)
    specs: dict[str, dict[str, Any]] = {}
    for spec in config.packages:
        specs[spec.name] = {"source": spec.path, "base": config.root, "media_type": spec.media_type}
    for name, value in cli.items():
        entry = specs.setdefault(name, {"media_type": None})
        entry.update(source=value, base=Path.cwd())
    if not specs:
        raise InvalidInput("the release has no packages: list them under `packages:` or pass --package NAME=PATH")
    from trainmaster.config import package_env_name

    variables: dict[str, str] = {}
    for name in specs:
        other = variables.setdefault(package_env_name(name), name)
        if other != name:
            raise InvalidInput(f"packages {other!r} and {name!r} would both be {package_env_name(name)} in the "
                               "commands' environment: rename one")
    sources: list[tuple[str, dict[str, Any], Path | None]] = []
    for name, entry in specs.items():
        source = entry["source"]
        if source.startswith("sha256:"):
            check_digest(source)
            if not app.store.has(source):
                raise InvalidInput(f"package {name!r}: {source} is not in the store at {app.store.root}")
            app.store.verify(source, name=name)  # a corrupt blob must not be pinned (exit 4)
            sources.append((name, entry, None))
        else:
            sources.append((name, entry, match_one(source, entry["base"], f"package {name!r}")))
    return sources


def further_digests(app: App) -> tuple[str, ...]:
    """The digests besides the pin that the plugins want of every package (hook ``package_digests``).

    A name outside :data:`trainmaster.store.FURTHER` is a warning naming the plugin, and is ignored.
    """
    from trainmaster.plugins import each_plugin
    from trainmaster.store import FURTHER

    wanted: dict[str, None] = {}
    for plugin, call in each_plugin(app.pm, "package_digests"):
        for answer in call(config=app.config):
            for name in [answer] if isinstance(answer, str) else answer or ():
                if name in FURTHER:
                    wanted[name] = None
                else:
                    print(f"warning: plugin {plugin!r} asks for a package digest {name!r} the store does not "
                          f"compute (one of {', '.join(FURTHER)}); ignored", file=sys.stderr)
    return tuple(wanted)


def _assemble(app: App, version: str, sources: list[tuple[str, dict[str, Any], Path | None]],
              staged: list[Staged], notes: str | None, actor: str) -> Release:
    """The release of ``sources``, whose files (in order) were staged as ``staged``."""
    files = iter(staged)
    packages: list[Package] = []
    for name, entry, path in sources:
        if path is None:
            digest = entry["source"]
            file_name, media_type = _known_package(app, digest, name)
            size = app.store.path_for(digest).stat().st_size
        else:
            item = next(files)
            digest, size, file_name = item.digest, item.size, path.name
            media_type = guess_media_type(file_name)
        packages.append(Package(name, file_name, size, digest, entry["media_type"] or media_type))
    metadata: dict[str, Any] = {
        "created_by": actor,
        "created_at": timestamp(),
        "source": app.ci.source(),
    }
    if notes:
        metadata["notes"] = notes
    return Release(app.config.project, version, tuple(packages), metadata)


def create_release(app: App, version: str, package_args: tuple[str, ...] = (), notes: str | None = None,
                   by: str | None = None, out: Callable[[str], None] = _write, *,
                   allow_undeclared: bool = False) -> tuple[Release, bool]:
    """``release create``: returns the release and whether it was new.

    The files are copied into the store's staging area on a thread that starts as
    soon as they are known, while the plugins load and the ledger opens.
    """
    from trainmaster.store import StagingThread

    sources = package_sources(app, version, package_args, allow_undeclared=allow_undeclared)
    staging = StagingThread(app.store, [(path, _Progress(path.name, path.stat().st_size))
                                        for _, _, path in sources if path is not None], further_digests(app))
    try:
        actor = app.actor(by)
        targets = publishers(app, app.config.publish)
        existing = app.ledger.get_release(app.config.project, version)  # the ledger opens while the files copy
        staged = staging.result()
        release = _assemble(app, version, sources, staged, notes, actor)
    except BaseException:
        staging.cancel()
        raise
    try:
        if existing is not None and existing.id != release.id:
            raise ReleaseConflict(f"{release.project} {version} already exists as {existing.id}; this content is "
                                  f"{release.id}. A version is immutable: use a new version")
        if existing is not None:
            from trainmaster.retention import refuse_deleted

            refuse_deleted(app.ledger, existing)  # a deleted version is never created again
            release = existing
        files = {p.name: (app.store.path_for(p.digest) if app.store.has(p.digest) else None)
                 for p in release.packages}
        for item in staged:
            for pkg in release.packages:
                if pkg.digest == item.digest and files.get(pkg.name) is None:
                    files[pkg.name] = item.tmp_path
                    if targets:  # a publisher handed the staged file finds its further digests already
                        app.store.record(item.digest, item.further)
        pubs = _ensure_remote(targets, release, {k: v for k, v in files.items() if v is not None}, app, out)
        from trainmaster import store_guard

        for item in staged:
            pkg = next(p for p in release.packages if p.digest == item.digest)
            store_guard.commit(app.store, item, pkg.name, f"the build's {pkg.file_name}", out)
        staged = []
        created = app.ledger.insert_release(release, actor, pubs)
    finally:
        for item in staged:
            app.store.discard(item)
            if not app.store.has(item.digest):
                app.store.forget(item.digest)
    if existing is None and not created:  # another process won the race
        winner = app.ledger.get_release(release.project, version)
        if winner is not None and winner.id != release.id:
            raise ReleaseConflict(f"{release.project} {version} was just created as {winner.id}; this content is "
                                  f"{release.id}")
    if created:
        app.emit("release_created", release=release)
    app.ci.set_output("release-id", release.id)
    app.ci.set_output("version", release.version)
    for url in [url for _, _, url, _ in pubs if url][:1]:
        app.ci.set_output("release-url", url)
    return release, created


def _ensure_remote(targets: list[tuple[str, Publisher]], release: Release, files: dict[str, Path], app: App,
                   out: Callable[[str], None]) -> list[Publication]:
    """Ask every publisher to make sure ``release`` exists; any conflict exits 4 before anything is committed."""
    pubs: list[Publication] = []
    for name, publisher in targets:
        result: PublishResult = publisher.ensure(release, files, app.config)
        if result.state == "conflict":
            raise IntegrityError(f"{name}: {result.detail or 'a different release exists for ' + release.version}")
        detail = f" ({result.detail})" if result.detail and result.state == "deferred" else ""
        out(f"{name}: {result.state}{' ' + result.url if result.url else ''}{detail}\n")
        pubs.append((name, result.state, result.url, result.remote))
    return pubs


DOWNLOAD_URL_MAX = 2048


def download_urls(ledger: SqliteLedger, release: Release, order: Sequence[str] = ()) -> dict[str, str]:
    """Package name -> the download URL a publisher reported for ``release`` (the manifest's ``url``).

    Read from the publications recorded with the release (``remote.package_urls`` of a ``created`` or
    ``exists`` publication), in ``order`` (``publish:``) and then by system name; the first URL per
    package wins. Recorded values are data: only an absolute ``https``/``http`` URL without spaces or
    control characters (and at most :data:`DOWNLOAD_URL_MAX` characters) of a package of this release
    is taken, anything else is ignored.
    """
    pubs = ledger.publications(release.id)
    names = {p.name for p in release.packages}
    found: dict[str, str] = {}
    for system in dict.fromkeys([*order, *sorted(pubs)]):
        pub = pubs.get(system) or {}
        remote = pub.get("remote")
        urls = remote.get("package_urls") if isinstance(remote, dict) else None
        if pub.get("state") not in ("created", "exists") or not isinstance(urls, dict):
            continue
        for name, url in urls.items():
            if name in names and name not in found and is_download_url(url):
                found[name] = url
    return found


def is_download_url(value: object) -> bool:
    """``value`` is an absolute http(s) URL with a host, printable and without whitespace."""
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not 0 < len(value) <= DOWNLOAD_URL_MAX or not value.isprintable() \
            or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("https", "http") and bool(parts.hostname)
    except ValueError:
        return False


def fetch_release(app: App, version: str, names: tuple[str, ...] | None = None) -> Release | None:
    """Bring a published release and its digest-verified files into this runner's ledger and store."""
    import tempfile

    from trainmaster.errors import DigestMismatch
    from trainmaster.interfaces import PublishResult

    further = further_digests(app)
    for _name, publisher in publishers(app, names or app.config.publish):
        with tempfile.TemporaryDirectory(dir=app.state_dir if app.state_dir.exists() else None) as tmp:
            fetched = publisher.fetch(version, Path(tmp), app.config)
            if fetched is None:
                continue
            release, files = fetched
            if release.project != app.config.project or release.version != version:
                raise IntegrityError(f"{_name} returned {release.project} {release.version} for {version}")
            existing = app.ledger.get_release(release.project, version)
            if existing is not None and existing.id != release.id:
                raise ReleaseConflict(f"{_name} holds {version} as {release.id} but the ledger has {existing.id}")
            for pkg in release.packages:
                if app.store.intact(pkg.digest):
                    continue
                item = app.store.stage(files[pkg.name], further=further)
                if item.digest != pkg.digest:
                    app.store.discard(item)
                    raise DigestMismatch(f"{_name}: package {pkg.name!r} downloaded as {item.digest}, "
                                         f"pinned {pkg.digest}")
                from trainmaster import store_guard

                store_guard.commit(app.store, item, pkg.name, _name, sys.stderr.write)
            seen = getattr(publisher, "fetched", None)  # optional: where the release was found
            pubs: list[Publication] = ([(_name, str(seen.state), seen.url, seen.remote)]
                                       if isinstance(seen, PublishResult) else [])
            if existing is None:
                app.ledger.insert_release(release, release.created_by or "unknown", pubs)
            elif pubs:
                app.ledger.record_publications(release.id, release.created_by or "unknown", pubs)
            return release
    return None
