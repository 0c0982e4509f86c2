"""The ``octopus`` publisher: packages, build information and releases, idempotently.

For each Octopus project of the release (one, or one per component with
``octopus.projects``), every package is pushed to the built-in feed (skipped
when an identical one is there; a different one is a conflict, and nothing is
overwritten), its build information is attached, and a release pinning every
package version is created. The core decides what a conflict means.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainmaster.interfaces import PublishResult
from trainmaster.model import Release
from trainmaster_octopus._resources import RELEASE_ID_LINE, Octopus, PackageState
from trainmaster_octopus._settings import Settings, client_for
from trainmaster_octopus._wrap import FeedFile, check_package_id, feed_extension, plan_feed_file

if TYPE_CHECKING:
    from trainmaster.config.model import Config

__all__ = ["OctopusPublisher", "groups", "release_notes"]


def groups(release: Release, settings: Settings) -> dict[str, list[str]]:
    """Octopus project → the release's package names deployed by it, in declared order."""
    out: dict[str, list[str]] = {}
    for pkg in release.packages:
        out.setdefault(settings.project_for(pkg.name), []).append(pkg.name)
    return out


def release_notes(release: Release, states: list[PackageState]) -> str:
    """Markdown notes carrying the trainmaster id and, per package, pinned and wrapper digests."""
    lines = [
        str(release.metadata.get("notes") or "").strip(),
        "",
        f"{RELEASE_ID_LINE}{release.id}",
        "",
        "| package | Octopus package | pinned digest | pushed as |",
        "|---|---|---|---|",
    ]
    for s in states:
        pushed = f"wrapper {s.digest}" if s.feed.wrapped else "as is"
        lines.append(f"| {s.feed.name} | {s.feed.package_id} {s.feed.version} | {s.feed.pinned} | {pushed} |")
    return "\n".join(lines).strip() + "\n"


def verify_file(path: Path, digest: str, name: str) -> None:
    """Exit 4 unless ``path`` hashes to ``digest`` (an artefact about to be wrapped)."""
    from trainmaster.errors import DigestMismatch
    from trainmaster.store import hash_file

    actual = hash_file(path)[0]
    if actual != digest:
        raise DigestMismatch(
            f"package {name!r}: {path} hashes to {actual}, not the pinned {digest}; nothing was pushed"
        )


def feed_files_unwrapped(release: Release, settings: Settings, names: list[str]) -> list[FeedFile]:
    """The feed files of ``names`` without touching any bytes (for checks)."""
    out = []
    for name in names:
        pkg = release.package(name)
        assert pkg is not None
        pid = check_package_id(settings.package_id(name))
        ext = feed_extension(pkg.file_name)
        out.append(
            FeedFile(
                name,
                pid,
                release.version,
                f"{pid}.{release.version}{ext or '.zip'}",
                Path(),
                ext is None,
                pkg.digest,
            )
        )
    return out


def download_url(octo: Octopus, state: PackageState) -> str:
    """The built-in feed's download address of a package pushed as it is (its bytes are the pinned
    ones; a wrapped package's are not, so it has none): ``/api/{space}/packages/packages-{id}.{version}/raw``,
    read with the same API key."""
    from urllib.parse import quote

    package = quote(f"packages-{state.feed.package_id}.{state.feed.version}", safe="")
    return f"{octo.client.server}/api/{octo.client.space_id}/packages/{package}/raw"


class OctopusPublisher:
    """Mirrors releases into Octopus (registered as publisher ``octopus``).

    ``verifies_uploads``: an artefact pushed as it is is hashed while it is sent (and deleted from
    the feed again on a mismatch, exit 4); one that must be wrapped is hashed before it is wrapped.
    So ``sync`` hands over the store's files without re-hashing them first.
    """

    verifies_uploads = True

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ

    def ensure(self, release: Release, files: Mapping[str, Path], config: Config) -> PublishResult:
        """Push packages, build information and the release(s); report created, exists or conflict."""
        settings = Settings.resolve(config)
        octo = Octopus(client_for(settings, self.environ))
        source = dict(release.metadata.get("source") or {})
        states: dict[str, list[PackageState]] = {}
        conflicts: list[str] = []
        created = False
        releases: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="trainmaster-octopus-") as tmp:
            for project, names in groups(release, settings).items():
                octo.project(project)  # an unknown project fails here, before anything is pushed
                feeds = []
                for name in names:
                    pkg = release.package(name)
                    if pkg is None or name not in files:
                        conflicts.append(f"package {name!r} has no verified file to push")
                        continue
                    if feed_extension(pkg.file_name) is None:  # wrapped: the wrapper's hash proves nothing
                        verify_file(Path(files[name]), pkg.digest, name)
                    feeds.append(
                        plan_feed_file(release, pkg, Path(files[name]), settings.package_id(name), Path(tmp))
                    )
                project_states = []
                for feed in feeds:
                    state = octo.ensure_package(feed)
                    project_states.append(state)
                    if state.state == "conflict":
                        conflicts.append(state.detail)
                    created = created or state.state == "created"
                    if (
                        state.state != "conflict"
                        and settings.get("build_information", True)
                        and (source.get("commit") or source.get("build_url"))
                    ):
                        octo.push_build_information(feed, source)
                states[project] = project_states
                if conflicts:
                    break
                result = octo.ensure_release(
                    project,
                    release,
                    feeds,
                    channel=settings.get("channel"),
                    notes=release_notes(release, project_states),
                    custom_field=settings.get("release_id_field"),
                )
                if result.state == "conflict":
                    conflicts.append(result.detail)
                created = created or result.state == "created"
                rid = result.release.get("Id")
                releases[project] = {"id": rid, "url": octo.client.web_link(f"releases/{rid}") if rid else None}
        remote = {
            "space": octo.client.space_id,
            "releases": releases,
            "packages": {s.feed.name: s.record() for ss in states.values() for s in ss},
            "package_urls": {s.feed.name: download_url(octo, s) for ss in states.values() for s in ss
                             if s.state != "conflict" and not s.feed.wrapped},
        }
        url = next((r["url"] for r in releases.values() if r.get("url")), None)
        if conflicts:
            return PublishResult("conflict", "; ".join(conflicts), url, remote)
        return PublishResult("created" if created else "exists", "", url, remote)

    def check(self, release: Release, config: Config) -> PublishResult:
        """Drift: an Octopus release whose package versions (or trainmaster id) differ from the pins."""
        settings = Settings.resolve(config)
        octo = Octopus(client_for(settings, self.environ))
        problems, missing, releases = [], [], {}
        for project, names in groups(release, settings).items():
            project_id = octo.project(project)["Id"]
            remote = octo.release_by_version(project_id, release.version)
            if remote is None:
                missing.append(f"{project} has no release {release.version}")
                continue
            releases[project] = remote.get("Id")
            diff = octo.compare_release(remote, release, feed_files_unwrapped(release, settings, names))
            if diff:
                problems.append(f"{project}: {diff}")
        remote_info: dict[str, Any] = {"releases": releases, "missing": missing}
        if problems:
            return PublishResult("conflict", "; ".join(problems), None, remote_info)
        if missing:
            return PublishResult("created", "not in Octopus yet: " + "; ".join(missing), None, remote_info)
        return PublishResult("exists", "", None, remote_info)

    def fetch(self, version: str, dest: Path, config: Config) -> tuple[Release, dict[str, Path]] | None:
        """Octopus is not a source of releases for trainmaster (the ledger or GitHub is)."""
        return None
