"""Octopus operations: packages, build information, releases, deployments.

Every object is created idempotently: a package by its content (the SHA-1 that
Octopus reports as ``Hash``), a release by project and version (then compared),
a deployment by release and environment. Lost responses are settled by looking
the object up, never by sending the POST again blindly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from trainmaster.errors import DigestMismatch, IntegrityError, InvalidInput
from trainmaster.model import Release
from trainmaster.store import record_digest, recorded_digest
from trainmaster_octopus._multipart import MultipartFile, file_hashes
from trainmaster_octopus._wrap import FeedFile
from trainmaster_octopus.client import UNKNOWN, OctopusApiError, OctopusClient

__all__ = ["Octopus", "PackageState", "ReleaseState"]

RELEASE_ID_LINE = "trainmaster release id: "
SHA1_HEX = re.compile(r"[0-9a-f]{40}")
RELEASE_ID_PATTERN = re.compile(r"trainmaster release id: (sha256:[0-9a-f]{64})")


@dataclass
class PackageState:
    """The outcome of pushing one feed file."""

    feed: FeedFile
    state: str  # created | exists | conflict
    sha1: str
    digest: str  # sha256 of the bytes pushed (the wrapper's when wrapped)
    detail: str = ""

    def record(self) -> dict[str, Any]:
        data = {
            "package_id": self.feed.package_id,
            "version": self.feed.version,
            "file_name": self.feed.file_name,
            "sha1": self.sha1,
            "pinned": self.feed.pinned,
        }
        if self.feed.wrapped:
            data["wrapper"] = self.digest
        return data


@dataclass
class ReleaseState:
    state: str  # created | exists | conflict
    release: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


class Octopus:
    """Operations in one space; lookups are cached on the client (shared per process)."""

    def __init__(self, client: OctopusClient) -> None:
        self.client = client
        self.cache = client.cache

    # -- lookups -------------------------------------------------------------------------
    def _named(self, kind: str, name: str, setting: str) -> dict[str, Any]:
        key = f"{kind}:{name}"
        if key not in self.cache:
            page = self.client.get(self.client.space_path(kind), {"name": name, "skip": 0, "take": 100})
            items = [i for i in (page or {}).get("Items") or [] if i.get("Name") == name]
            if not items:
                what = kind[:-1]
                raise InvalidInput(
                    f"Octopus space {self.client.space_id} has no {what} named {name!r}: "
                    f"fix {setting} (or create the {what} in Octopus)"
                )
            self.cache[key] = items[0]
        return dict(self.cache[key])

    def project(self, name: str) -> dict[str, Any]:
        return self._named("projects", name, "octopus.project")

    def environment(self, name: str) -> dict[str, Any]:
        return self._named("environments", name, "octopus.environment / octopus.environments")

    def package(self, feed_id: str) -> dict[str, Any] | None:
        return self.client.get(self.client.space_path(f"packages/{feed_id}"), missing_ok=True)

    def release_by_version(self, project_id: str, version: str) -> dict[str, Any] | None:
        found = self.client.get(
            self.client.space_path(f"projects/{project_id}/releases/{version}"), missing_ok=True
        )
        self._keep(found)
        return found

    def _keep(self, resource: Any) -> None:
        """Keep a release read in this command for the audit anchor's PUT (:mod:`trainmaster_octopus._anchor`)."""
        from trainmaster_octopus._anchor import remember_release

        remember_release(self, resource)

    # -- packages ------------------------------------------------------------------------
    def ensure_package(self, feed: FeedFile) -> PackageState:
        """Push ``feed`` unless an identical package is there; a different one is a conflict.

        One pass over the file: it is hashed with SHA-256 (for the pin) while it is sent, and the
        ``Hash`` Octopus answers the push with (its SHA-1 of what it received) must be the SHA-1 of
        the pinned bytes: other bytes are deleted from the feed again (:class:`DigestMismatch`, exit 4).
        That SHA-1 is the one the store recorded when the file came in (``package_digests``), or,
        without a record, computed in the same pass on another thread. A record only saves the push a
        hash: when Octopus's answer differs from it, the file is hashed before anything is decided, and
        every deploy compares the feed with the file itself (``OctopusTarget._verify_feed``), so a
        record cannot make a foreign package pass.
        A push settled by a lookup (its answer was lost) hashes the file instead. The core hands the
        store's file without re-hashing it first (the publisher's ``verifies_uploads``), so an artefact
        pushed as it is that does not hash to its pin is deleted from the feed again and
        :class:`DigestMismatch` (exit 4) is raised; one already in the feed is hashed before it is
        compared (nothing is sent then; a record is not used there).
        """
        existing = self.package(feed.feed_id)
        if existing:
            sha1, digest = file_hashes(feed.path)  # never a record: it would be trusted to say what Octopus holds
            self._check_pin(feed, digest)
            return self._compare_package(feed, existing, sha1, digest)
        recorded = None if feed.wrapped else recorded_digest(feed.path, feed.pinned, "sha1")
        body = MultipartFile(feed.path, feed.file_name, sha1=recorded is None)
        looked_up: list[bool] = []

        def recover() -> dict[str, Any] | None:
            looked_up.append(True)
            return self.package(feed.feed_id)

        try:
            created = self.client.request(
                "POST",
                self.client.space_path("packages/raw"),
                params={"overwriteMode": "FailIfExists"},
                data=lambda: body,  # re-iterable: every attempt streams the file again
                headers={"Content-Type": body.content_type},
                # FailIfExists: a second push cannot replace the first, so a push the lookup does not
                # find is sent again
                recover=recover,
            )
        except OctopusApiError as exc:
            if exc.status_code not in (400, 409):
                raise
            found = self.package(feed.feed_id)
            if not found:
                raise
            sha1, digest = file_hashes(feed.path)
            self._check_pin(feed, digest)  # someone else's push: never deleted here
            return self._compare_package(feed, found, sha1, digest)
        answered = str((created or {}).get("Hash") or "").lower()
        sent = body.sha1 or recorded
        from_record = False  # ``sha1`` is the store's record, not a hash of the bytes
        if body.sha256 is None or sent is None or looked_up or not SHA1_HEX.fullmatch(answered):
            sha1, digest = file_hashes(feed.path)  # settled by a lookup, or no hash in the answer
        else:
            sha1, digest = sent, body.sha256
            from_record = body.sha1 is None
            if from_record and digest == feed.pinned and answered != sha1:
                sha1, digest = file_hashes(feed.path)  # the record may be what is wrong: the file decides
                from_record = False
            # other bytes sent than the pinned ones, with a record: the pin check below deletes the package
            if answered != sha1 and (body.sha1 is not None or digest == feed.pinned):  # Octopus holds other bytes
                self.client.request("DELETE", self.client.space_path(f"packages/{feed.feed_id}"), missing_ok=True)
                raise DigestMismatch(
                    f"package {feed.name!r}: Octopus received {feed.file_name} with SHA-1 {answered}, but the bytes "
                    f"sent hash to {sha1}; the package was deleted from the feed again (re-run to push it again)")
        if not feed.wrapped and digest != feed.pinned:
            self.client.request("DELETE", self.client.space_path(f"packages/{feed.feed_id}"), missing_ok=True)
            self._check_pin(feed, digest, "; the package pushed from it was deleted from the feed again")
        if not feed.wrapped and sha1 != recorded:  # found in a pass that also found the pin: keep it
            record_digest(feed.path, feed.pinned, {"sha1": sha1})
        state = self._compare_package(feed, created or {}, sha1, digest)
        if state.state == "exists":
            state.state = "created"
        if from_record:  # a deploy in this process hashes the file itself rather than trust the record
            self.cache.pop(f"sha1:{feed.feed_id}", None)
        return state

    @staticmethod
    def _check_pin(feed: FeedFile, digest: str, done: str = "; nothing was pushed") -> None:
        """Exit 4 when an artefact pushed as it is does not hash to its pin (a wrapper is checked before)."""
        if not feed.wrapped and digest != feed.pinned:
            raise DigestMismatch(
                f"package {feed.name!r}: {feed.path} hashes to {digest}, not the pinned {feed.pinned}: the "
                f"stored artefact was altered; restore it from a trusted copy (`trainmaster release fetch`){done}"
            )

    def _compare_package(
        self, feed: FeedFile, remote: dict[str, Any], sha1: str, digest: str
    ) -> PackageState:
        remote_hash = str(remote.get("Hash") or "").lower()
        self.cache[f"sha1:{feed.feed_id}"] = sha1
        if remote_hash and remote_hash != sha1:
            return PackageState(
                feed,
                "conflict",
                sha1,
                digest,
                f"Octopus already holds {feed.package_id} {feed.version} with SHA-1 {remote_hash}, "
                f"not {sha1}; nothing was overwritten (publish under a new version)",
            )
        return PackageState(feed, "exists", sha1, digest)

    def verify_feed(self, feed_id: str, sha1: str) -> None:
        """Before a deploy: the feed must still hold the bytes trainmaster pushed (exit 4 otherwise)."""
        remote = self.package(feed_id)
        if not remote:
            raise IntegrityError(
                f"Octopus's built-in feed no longer holds {feed_id}: re-publish with "
                "`trainmaster sync --to octopus` before deploying"
            )
        remote_hash = str(remote.get("Hash") or "").lower()
        if remote_hash != sha1:
            raise IntegrityError(
                f"the package {feed_id} in Octopus changed behind trainmaster's back "
                f"(SHA-1 {remote_hash}, pinned bytes hash to {sha1}): refusing to deploy"
            )

    def push_build_information(self, feed: FeedFile, source: dict[str, Any]) -> None:
        """Attach commits, build URL and branch to ``feed`` (first push wins; never overwritten)."""
        commit = source.get("commit") or source.get("sha")
        info: dict[str, Any] = {
            "BuildEnvironment": str(source.get("ci") or source.get("system") or "trainmaster"),
            "BuildNumber": str(source.get("build_id") or source.get("build") or ""),
            "BuildUrl": str(source.get("build_url") or source.get("url") or ""),
            "Branch": str(source.get("branch") or ""),
            "VcsType": "Git",
            "VcsRoot": str(source.get("repository_url") or source.get("repository") or ""),
            "VcsCommitNumber": str(commit or ""),
            "Commits": [
                {
                    "Id": str(c.get("id") or c.get("Id")),
                    "Comment": str(c.get("message") or c.get("Comment") or ""),
                }
                for c in source.get("commits") or []
                if isinstance(c, dict)
            ]
            or ([{"Id": str(commit), "Comment": str(source.get("message") or "")}] if commit else []),
        }
        body = {
            "SpaceId": self.client.space_id,
            "PackageId": feed.package_id,
            "Version": feed.version,
            "OverwriteMode": "IgnoreIfExists",
            "OctopusBuildInformation": info,
        }
        self.client.request(
            "POST",
            self.client.space_path("build-information"),
            json=body,
            params={"overwriteMode": "IgnoreIfExists"},
            idempotent=True,
        )

    # -- releases ------------------------------------------------------------------------
    def ensure_release(
        self,
        project_name: str,
        release: Release,
        feeds: list[FeedFile],
        *,
        channel: str | None,
        notes: str,
        custom_field: str | None = None,
    ) -> ReleaseState:
        """Create the release with every package pinned; an existing one is compared."""
        body: dict[str, Any] = {
            "SpaceId": self.client.space_id,
            "SpaceIdOrName": self.client.space_id,
            "ProjectName": project_name,
            "ReleaseVersion": release.version,
            "Packages": [f"{f.package_id}:{f.version}" for f in feeds],
            "ReleaseNotes": notes,
        }
        if channel:
            body["ChannelName"] = channel
        if custom_field:
            body["CustomFields"] = {custom_field: release.id}

        def lookup() -> dict[str, Any] | None:
            return self.release_by_version(self.project(project_name)["Id"], release.version)

        try:  # a version is unique per project: a release the lookup does not find is sent again
            resp = self.client.post(self.client.space_path("releases/create/v1"), body, recover=lookup)
        except OctopusApiError as exc:
            if exc.status_code not in (400, 409) or exc.status_code == 404:
                raise
            found = lookup()
            if not found:
                raise
            resp = found
        if resp and resp.get("ReleaseId"):
            created = {"Id": resp["ReleaseId"], "Version": resp.get("ReleaseVersion") or release.version}
            self.cache[f"release:{project_name}:{release.version}"] = {**created, "new": True}
            # Octopus resolves each step's package itself: a step whose package no entry names gets
            # the feed's latest. Check what it pinned before reporting the release as made.
            made = self.client.get(self.client.space_path(f"releases/{resp['ReleaseId']}")) or {}
            self._keep(made)
            diff = self.compare_release({**created, **made}, release, feeds, process="when-needed")
            if diff:
                return ReleaseState("conflict", created, diff)
            return ReleaseState("created", created)
        found = resp or {}
        diff = self.compare_release(found, release, feeds)
        self.cache[f"release:{project_name}:{release.version}"] = {
            "Id": found.get("Id"),
            "Version": release.version,
        }
        return ReleaseState("conflict" if diff else "exists", found, diff)

    def find_release(self, project_name: str, version: str) -> dict[str, Any] | None:
        key = f"release:{project_name}:{version}"
        if key not in self.cache:
            found = self.release_by_version(self.project(project_name)["Id"], version)
            if not found:
                return None
            self.cache[key] = {"Id": found.get("Id"), "Version": version}
        return dict(self.cache[key])

    def compare_release(
        self, remote: dict[str, Any], release: Release, feeds: list[FeedFile], *, process: str = "always"
    ) -> str:
        """Describe how an Octopus release differs from the pins ('' when it matches).

        :param process: ``always`` reads the deployment process snapshot to map steps to package
            IDs; ``when-needed`` only when a selected step is not named after one of the packages.
        """
        problems = []
        m = RELEASE_ID_PATTERN.search(str(remote.get("ReleaseNotes") or ""))
        if m and m.group(1) != release.id:
            problems.append(f"it was made for trainmaster release {m.group(1)}, not {release.id}")
        ids = {f.package_id: f.version for f in feeds}
        selected = remote.get("SelectedPackages") or []
        needed = process == "always" or any(sp.get("ActionName") not in ids for sp in selected) or not selected
        mapping = self._package_ids(remote) if needed else {}
        if not mapping:  # no process snapshot: a selection named after the package ID is that package
            mapping = {(str(sp.get("ActionName") or ""), str(sp.get("PackageReferenceName") or "")): pid
                       for sp in remote.get("SelectedPackages") or [] for pid in ids
                       if sp.get("ActionName") == pid}
        seen = set()
        for sp in remote.get("SelectedPackages") or []:
            version = str(sp.get("Version") or "")
            pid = mapping.get((str(sp.get("ActionName") or ""), str(sp.get("PackageReferenceName") or "")))
            if mapping and pid is None:
                continue
            if pid is not None and pid not in ids:
                continue
            seen.add(pid)
            if version != (ids.get(pid) if pid else release.version):
                problems.append(
                    f"{pid or sp.get('ActionName')} is pinned at {version}, not "
                    f"{ids.get(pid) if pid else release.version}"
                )
        if mapping:
            for pid in sorted(set(ids) - seen):
                problems.append(f"{pid} is not part of it")
        if not problems:
            return ""
        return (
            f"Octopus release {remote.get('Version')} ({remote.get('Id')}) differs from the pins: "
            + "; ".join(problems)
        )

    def _package_ids(self, remote: dict[str, Any]) -> dict[tuple[str, str], str]:
        snapshot = remote.get("ProjectDeploymentProcessSnapshotId")
        if not snapshot:
            return {}
        try:
            process = self.client.get(
                self.client.space_path(f"deploymentprocesses/{snapshot}"), missing_ok=True
            )
        except OctopusApiError:
            return {}
        mapping: dict[tuple[str, str], str] = {}
        for step in (process or {}).get("Steps") or []:
            for action in step.get("Actions") or []:
                for pkg in action.get("Packages") or []:
                    if pkg.get("PackageId"):
                        mapping[(str(action.get("Name") or ""), str(pkg.get("Name") or ""))] = str(
                            pkg["PackageId"]
                        )
        return mapping

    # -- deployments ---------------------------------------------------------------------
    def deployments(self, release_id: str, environment: str) -> tuple[str | None, list[dict[str, Any]]]:
        """``(environment id, this release's deployments there, newest first)``.

        The environment's id is looked up only when the release has deployments at all: a release
        never deployed needs no lookup to know it has none there (``None`` then).
        """
        page = self.client.get(
            self.client.space_path(f"releases/{release_id}/deployments"), {"skip": 0, "take": 100}
        )
        items = (page or {}).get("Items") or []
        if not items:
            return None, []
        environment_id = str(self.environment(environment)["Id"])
        items = [d for d in items if d.get("EnvironmentId") == environment_id]
        return environment_id, sorted(items, key=lambda d: str(d.get("Created") or ""), reverse=True)

    def create_deployment(
        self,
        project_name: str,
        version: str,
        environment: str,
        *,
        release_id: str,
        before: set[str] | None,
        variables: dict[str, str],
        guided_failure: bool | None = None,
    ) -> dict[str, str]:
        """Create an untenanted deployment; a lost response is settled by listing deployments."""
        body: dict[str, Any] = {
            "SpaceId": self.client.space_id,
            "SpaceIdOrName": self.client.space_id,
            "ProjectName": project_name,
            "ReleaseVersion": version,
            "EnvironmentNames": [environment],
        }
        if variables:
            body["Variables"] = dict(variables)
        if guided_failure is not None:
            body["UseGuidedFailure"] = guided_failure
        known = set(before or ())

        def lookup() -> dict[str, Any] | None:
            fresh = [d for d in self.deployments(release_id, environment)[1] if d.get("Id") not in known]
            if not fresh:  # Octopus may still be creating it: never sent again, asked again later
                return UNKNOWN
            return {
                "DeploymentServerTasks": [
                    {"DeploymentId": fresh[0]["Id"], "ServerTaskId": fresh[0]["TaskId"]}
                ]
            }

        resp = self.client.post(
            self.client.space_path("deployments/create/untenanted/v1"), body, recover=lookup
        )
        tasks = (resp or {}).get("DeploymentServerTasks") or []
        if not tasks:
            raise IntegrityError(
                f"Octopus created no deployment of {project_name} {version} to {environment}"
            )
        return {"deployment_id": str(tasks[0]["DeploymentId"]), "task_id": str(tasks[0]["ServerTaskId"])}
