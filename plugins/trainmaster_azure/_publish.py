"""The ``azure-devops`` publisher: a classic Release pinned to the build that made the release.

Azure DevOps creates a classic release only for a *completed* build (a request for a
build that is still running fails or leaves the release waiting), so inside the build
that produced it, ``release create`` uploads ``release.json`` as the build artifact
``trainmaster`` and defers the classic release; ``deploy`` or ``sync --to azure-devops``
creates it once the build has finished (docs/azure.md, "build, then release create").
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from trainmaster.errors import DigestMismatch, IntegrityError, InvalidInput
from trainmaster.interfaces import PublishResult
from trainmaster.record import copy_new, inside, read_json
from trainmaster.store import hash_file
from trainmaster_azure import _remote
from trainmaster_azure._remote import MARK_DIGESTS, MARK_ID, MARK_PROJECT, MARK_VERSION, Remote
from trainmaster_azure._settings import Settings

if TYPE_CHECKING:
    from trainmaster.config.model import Config
    from trainmaster.model import Release

ARTIFACT = "trainmaster"


def pin(release: Release, environ: Mapping[str, str]) -> tuple[str, str]:
    """The build a classic release pins: the one that produced ``release`` (``BUILD_BUILDID``)."""
    explicit = environ.get("TRAINMASTER_AZURE_BUILD_ID", "").strip()
    if explicit:
        return explicit, environ.get("TRAINMASTER_AZURE_BUILD_NUMBER", "").strip() or explicit
    source = release.metadata.get("source") or {}
    if source.get("ci") == "azure-pipelines" and source.get("build_id"):
        return str(source["build_id"]), str(source.get("build_number") or source["build_id"])
    build = environ.get("BUILD_BUILDID", "").strip()
    if build:
        return build, environ.get("BUILD_BUILDNUMBER", "").strip() or build
    raise InvalidInput(
        f"{release.version} was not built by Azure Pipelines, so there is no build to pin: run "
        "`release create` in the build, or set TRAINMASTER_AZURE_BUILD_ID (and _NUMBER)"
    )


def inside_pinned_build(build_id: str, environ: Mapping[str, str]) -> bool:
    """True when this process runs inside the very build it pins: that build has not completed yet."""
    return (
        environ.get("TF_BUILD", "").lower() == "true"
        and environ.get("BUILD_BUILDID", "").strip() == build_id
        and not environ.get("RELEASE_RELEASEID")
    )


def upload_record(release: Release, environ: Mapping[str, str]) -> Path | None:
    """Write ``release.json`` and attach it to the running build as artifact ``trainmaster``."""
    from trainmaster_azure.context import detect

    ctx = detect(environ)
    if ctx is None or ctx.in_release_stage or not environ.get("BUILD_BUILDID"):
        return None
    folder = (
        Path(
            environ.get("BUILD_ARTIFACTSTAGINGDIRECTORY") or environ.get("AGENT_TEMPDIRECTORY") or tempfile.gettempdir()
        )
        / ARTIFACT
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "release.json"
    path.write_bytes(release.to_json())
    ctx.vso.upload_artifact(ARTIFACT, ARTIFACT, str(path))
    return path


def create(remote: Remote, release: Release, build: tuple[str, str]) -> Any:
    """POST the classic release; a response lost in transit is recovered by lookup, never re-sent blindly.

    Azure may still be creating a release whose answer was lost, so a lookup that does not find it
    cannot tell (``UNKNOWN``): the core asks again with backoff, then stops with exit 5 (a re-run
    finds the release if Azure created it, and creates it otherwise).
    """
    from azure.devops.v7_1.release.models import ArtifactMetadata, BuildVersion, ReleaseStartMetadata

    from trainmaster.http import UNKNOWN

    definition, artifact = remote.definition(), remote.artifact()
    metadata = ReleaseStartMetadata(
        definition_id=definition.id,
        description=_remote.description(release),
        is_draft=False,
        reason="manual",
        artifacts=[ArtifactMetadata(alias=artifact.alias, instance_reference=BuildVersion(id=build[0], name=build[1]))],
        manual_environments=remote.stage_names(),
        properties={
            MARK_ID: release.id,
            MARK_VERSION: release.version,
            MARK_PROJECT: release.project,
            MARK_DIGESTS: json.dumps({p.name: p.digest for p in release.packages}, sort_keys=True),
        },
    )
    created = remote.client.call(
        lambda: remote.client.release.create_release(metadata, remote.s.project),
        recover=lambda: remote.find(release, build[0])[0] or UNKNOWN,
    )
    return mark(remote, created, release.version)


def mark(remote: Remote, classic: Any, version: str) -> Any:
    """``classic`` renamed to end in the version's :func:`~trainmaster_azure._remote.name_mark` (once).

    ``Releases_Create`` cannot choose a name (the definition's format makes it), so the name that
    :meth:`Remote.find` searches for (``searchText``) is set right after: one ``Releases_Update``
    (``ReleaseUpdateMetadata.name``). A lost answer is settled by reading the release back.
    """
    from azure.devops.v7_1.release.models import ReleaseUpdateMetadata

    wanted = _remote.marked_name(classic.name or "", version)
    if classic.name == wanted:
        return classic
    project, rm = remote.s.project, remote.client.release

    def recover() -> Any:
        now = rm.get_release(project, classic.id)
        return now if now.name == wanted else None  # not renamed: setting the name again is safe

    return remote.client.call(
        lambda: rm.update_release_resource(ReleaseUpdateMetadata(name=wanted), project, classic.id),
        recover=recover,
    )


def pinned_build(release: Release, environ: Mapping[str, str]) -> str | None:
    """The build id ``release`` pins, or None when it cannot be told (then every release is searched)."""
    try:
        return pin(release, environ)[0]
    except InvalidInput:
        return None


class AzurePublisher:
    """:class:`trainmaster.interfaces.Publisher` for classic releases."""

    def __init__(self, environ: Mapping[str, str] | None = None, http: Mapping[str, Any] | None = None) -> None:
        self._environ = environ
        self.http = http

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def _remote(self, config: Config) -> Remote:
        s = Settings.resolve(config, None, self.environ)
        return Remote.open(s, self.environ, self.http)

    def _result(self, state: Literal["created", "exists"], remote_release: Any, detail: str = "") -> PublishResult:
        return PublishResult(
            state,
            detail,
            _remote.web_url(remote_release),  # type: ignore[arg-type]
            {"system": "azure-devops", "release_id": remote_release.id, "release_name": remote_release.name},
        )

    def ensure(self, release: Release, files: Mapping[str, Path], config: Config) -> PublishResult:
        """Find or create the classic release for ``release``; another id for its version conflicts."""
        remote = self._remote(config)
        build = pin(release, self.environ)
        upload_record(release, self.environ)
        match, conflict = remote.find(release, build[0])
        if conflict is not None:
            rid = _remote.marks(conflict)[0]
            return PublishResult(
                "conflict",
                f"classic release {conflict.name} holds {release.version} as {rid}; this release is {release.id}",
                _remote.web_url(conflict),
            )
        if match is not None:  # a classic release created before names were marked gets its mark now
            return self._result("exists", mark(remote, match, release.version))
        if inside_pinned_build(build[0], self.environ):
            return PublishResult(
                "deferred",
                f"build {build[0]} is still running and Azure DevOps "
                "creates a classic release only for a completed build; `deploy` or "
                "`sync --to azure-devops` creates it after the build",
                None,
                {"system": "azure-devops", "deferred": True, "build_id": build[0]},
            )
        created = create(remote, release, build)
        remote.remember(release, created)
        return self._result("created", created)

    def check(self, release: Release, config: Config) -> PublishResult:
        """``exists`` when the classic release is there, ``conflict`` on drift, else ``created`` (missing)."""
        remote = self._remote(config)
        match, conflict = remote.find(release, pinned_build(release, self.environ))
        if conflict is not None:
            return PublishResult(
                "conflict",
                f"classic release {conflict.name} holds {release.version} as {_remote.marks(conflict)[0]}",
                _remote.web_url(conflict),
            )
        if match is None:
            return PublishResult("created", "missing: no classic release holds this release yet")
        return self._result("exists", match)

    def fetch(self, version: str, dest: Path, config: Config) -> tuple[Release, dict[str, Path]] | None:
        """The release among the artefacts the agent downloaded (release stage, PIPELINE_WORKSPACE)."""
        found = find_record(self.environ, version)
        if found is None:
            return None
        release, folder = found
        files: dict[str, Path] = {}
        for pkg in release.packages:
            source = locate(folder, pkg.file_name, self.environ)
            if source is None:
                raise IntegrityError(
                    f"package {pkg.name!r} ({pkg.file_name}) of {version} is not among the "
                    f"downloaded artefacts in {folder}: publish it with the build's artefacts"
                )
            digest = hash_file(source)[0]
            if digest != pkg.digest:
                raise DigestMismatch(
                    f"package {pkg.name!r}: {source} hashes to {digest}, release.json pins "
                    f"{pkg.digest}; nothing was deployed"
                )
            target = inside(dest, pkg.name, pkg.file_name)
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_new(source, target)
            files[pkg.name] = target
        return release, files


def artifact_roots(environ: Mapping[str, str]) -> list[Path]:
    names = ("SYSTEM_ARTIFACTSDIRECTORY", "AGENT_RELEASEDIRECTORY", "PIPELINE_WORKSPACE")
    roots = [Path(environ[n]) for n in names if environ.get(n)]
    return [r for r in dict.fromkeys(roots) if r.is_dir()]


def find_record(environ: Mapping[str, str], version: str | None = None) -> tuple[Release, Path] | None:
    """The ``release.json`` among the downloaded artefacts (for ``version`` when given) and its folder."""
    from trainmaster.model import Release

    seen: list[str] = []
    for root in artifact_roots(environ):
        for path in sorted(root.rglob("release.json")):
            try:
                record = read_json(path.read_bytes(), str(path))
            except (OSError, IntegrityError):
                continue  # not a record of ours (another tool's release.json)
            if not isinstance(record, dict) or record.get("schema") != "trainmaster/release@1":
                continue
            seen.append(str(record.get("version")))
            if version is None or record.get("version") == version:
                return Release.from_record(record, str(path)), path.parent
    return None


def locate(folder: Path, file_name: str, environ: Mapping[str, str]) -> Path | None:
    """A package file next to ``release.json`` first, else anywhere among the artefacts."""
    if (folder / file_name).is_file():
        return folder / file_name
    for root in [folder.parent, *artifact_roots(environ)]:
        for path in sorted(root.rglob(file_name)):
            if path.is_file():
                return path
    return None
