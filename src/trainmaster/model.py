"""The core model: packages, releases and their content-derived identity.

A release's **id** is ``sha256:`` of the canonical JSON (sorted keys, no
insignificant whitespace, UTF-8) of *only* the project, the version and each
package's name, file name, size, digest and media type. Metadata (source,
notes, creator, time) is recorded but never hashed, so a CI re-run and every
remote copy of a release get the same id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from trainmaster.errors import IntegrityError, InvalidInput

# SemVer 2.0.0, from semver.org's suggested expression (no leading "v").
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# Deterministic media types: never the machine's mimetypes database, because the
# media type is part of the release id and must not differ between runners.
_MEDIA_TYPES = (
    (".tar.gz", "application/gzip"),
    (".tgz", "application/gzip"),
    (".tar.bz2", "application/x-bzip2"),
    (".tar.xz", "application/x-xz"),
    (".tar", "application/x-tar"),
    (".zip", "application/zip"),
    (".nupkg", "application/zip"),
    (".jar", "application/java-archive"),
    (".war", "application/java-archive"),
    (".whl", "application/zip"),
    (".json", "application/json"),
    (".yaml", "application/yaml"),
    (".yml", "application/yaml"),
    (".txt", "text/plain"),
    (".sh", "text/x-shellscript"),
    (".gz", "application/gzip"),
)


def timestamp(moment: dt.datetime | str | None = None) -> str:
    """The one timestamp format of trainmaster: ISO 8601 in UTC with milliseconds and ``Z``.

    ``2026-03-01T09:30:00.000Z``: the ledger, release metadata, events and every remote
    ledger's deployment times use it, so times compare as strings and sort in time order.

    :param moment: ``None`` for now; a datetime (naive means UTC); or an ISO 8601 string
        from a remote system (any offset, with or without fraction, ``Z`` allowed).
    :raises ValueError: when ``moment`` is a string that is not ISO 8601.
    """
    if moment is None:
        moment = dt.datetime.now(dt.UTC)
    elif isinstance(moment, str):
        moment = parse_time(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def remote_timestamp(value: Any, where: str) -> str | None:
    """A time read from a remote system (a string or a datetime), in :func:`timestamp`'s format.

    ``None`` when the remote gave none. Remote answers are data: a value that is not ISO 8601
    is an :class:`~trainmaster.errors.IntegrityError` naming ``where`` (exit 4), not a traceback.
    """
    if value is None or value == "":
        return None
    try:
        return timestamp(value if isinstance(value, dt.datetime) else str(value))
    except (ValueError, OverflowError):
        raise IntegrityError(f"{where} has a time that is not ISO 8601: {str(value)[:40]!r}") from None


def parse_time(text: str) -> dt.datetime:
    """A datetime from an ISO 8601 string (``Z`` allowed); naive when the string has no offset."""
    return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))


def check_version(version: str) -> str:
    """Return ``version`` if it is SemVer 2.0, else raise :class:`InvalidInput`."""
    if not _SEMVER.fullmatch(version or ""):
        raise InvalidInput(
            f"version {version!r} is not a SemVer 2.0 version (expected MAJOR.MINOR.PATCH, "
            "optionally with -prerelease and +build, for example 1.4.2 or 2.0.0-rc.1)"
        )
    return version


def semver_key(version: str) -> tuple[Any, ...]:
    """A sort key ordering versions by SemVer precedence (build metadata ignored)."""
    m = _SEMVER.fullmatch(version)
    if not m:
        return (0, 0, 0, 0, ())
    major, minor, patch, pre = int(m[1]), int(m[2]), int(m[3]), m[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, ids)


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is ``sha256:`` + 64 lower-case hex digits."""
    if not _DIGEST.fullmatch(digest or ""):
        raise InvalidInput(f"digest {digest!r} is not of the form sha256:<64 lower-case hex digits>")
    return digest


def check_name(name: str, what: str = "package name") -> str:
    if not _NAME.fullmatch(name or ""):
        raise InvalidInput(f"{what} {name!r} must start with a letter or digit and hold only letters, digits, "
                           "'.', '_', '-'")
    return name


def guess_media_type(file_name: str) -> str:
    lower = file_name.lower()
    for suffix, media_type in _MEDIA_TYPES:
        if lower.endswith(suffix):
            return media_type
    return "application/octet-stream"


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Package:
    """One built artefact, pinned by digest.

    A package names no command: a package's own ``deploy``/``smoke`` live in the
    config's ``packages:`` block, which is trusted, never in the release record, which
    is data (see :mod:`trainmaster.record`).
    """

    name: str
    file_name: str
    size: int
    digest: str
    media_type: str = "application/octet-stream"

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file_name": self.file_name,
            "size": self.size,
            "digest": self.digest,
            "media_type": self.media_type,
        }

    def to_dict(self) -> dict[str, Any]:
        return self.identity()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Package:
        """A package of a record already checked by :func:`trainmaster.record.check_record`."""
        return cls(
            name=data["name"],
            file_name=data["file_name"],
            size=data["size"],
            digest=data["digest"],
            media_type=data.get("media_type", "application/octet-stream"),
        )


def compute_release_id(project: str, version: str, packages: list[Package] | tuple[Package, ...]) -> str:
    body = {"project": project, "version": version, "packages": [p.identity() for p in packages]}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class Release:
    """An immutable release: project, version, packages, and unhashed metadata.

    ``metadata`` holds ``source`` (commit, branch, build id/url, CI system),
    ``notes``, ``created_by`` and ``created_at``. It never holds a secret.
    """

    project: str
    version: str
    packages: tuple[Package, ...]
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        return compute_release_id(self.project, self.version, self.packages)

    @property
    def created_by(self) -> str | None:
        return self.metadata.get("created_by")

    def package(self, name: str) -> Package | None:
        for pkg in self.packages:
            if pkg.name == name:
                return pkg
        return None

    def to_record(self) -> dict[str, Any]:
        """The canonical release record (``release.json``): id, identity and metadata."""
        return {
            "schema": "trainmaster/release@1",
            "id": self.id,
            "project": self.project,
            "version": self.version,
            "packages": [p.to_dict() for p in self.packages],
            "metadata": self.metadata,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_record(), sort_keys=True, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"

    @classmethod
    def from_record(cls, record: Any, source: str = "the ledger") -> Release:
        """Rebuild a release from its record, read from ``source`` (named in errors).

        The record is data: it is checked against the release schema first, and its
        recorded id against its content.

        :raises IntegrityError: when the record is malformed or its id does not match (exit 4).
        """
        from trainmaster.errors import IntegrityError
        from trainmaster.record import check_record

        record = check_record(record, source)
        release = cls(
            project=record["project"],
            version=record["version"],
            packages=tuple(Package.from_dict(p) for p in record["packages"]),
            metadata=dict(record.get("metadata") or {}),
        )
        recorded = record.get("id")
        if recorded and recorded != release.id:
            raise IntegrityError(
                f"the release record from {source} for {release.project} {release.version} claims id {recorded} "
                f"but its content hashes to {release.id}"
            )
        return release
