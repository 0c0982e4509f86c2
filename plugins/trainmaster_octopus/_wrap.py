"""Built-in feed naming rules and the deterministic wrapper for other artefacts.

Octopus's built-in feed takes only ``<Id>.<Version>.<ext>`` files whose extension
is a supported package format (octopus.com/docs/packaging-applications/supported-packages):
``.nupkg``, ``.zip``, ``.tar``, ``.tar.gz``/``.tgz``/``.tar.Z``, ``.tar.bz2``/``.tar.bz``/``.tbz``,
``.jar``/``.war``/``.ear``/``.rar``. An artefact already in one of these formats is pushed
byte for byte under that name. Anything else is wrapped into a ``.zip`` whose bytes
depend only on the artefact and the release id: entries stored (no compression,
whose output could differ between zlib builds), in a fixed order, with a fixed
timestamp (1980-01-01) and fixed permissions (0644), and a ``release.json`` holding
the release's identity. The wrapper's digest is recorded beside the pinned one.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from trainmaster.errors import InvalidInput
from trainmaster.model import Package, Release

__all__ = ["FeedFile", "SUPPORTED_EXTENSIONS", "feed_extension", "check_package_id", "plan_feed_file"]

# Longest first, so that ".tar.gz" wins over ".gz"-less ".tar" checks.
SUPPORTED_EXTENSIONS = (
    ".tar.bz2",
    ".tar.gz",
    ".tar.bz",
    ".tar.Z",
    ".nupkg",
    ".tgz",
    ".tbz",
    ".tar",
    ".zip",
    ".jar",
    ".war",
    ".ear",
    ".rar",
)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SEGMENT = re.compile(r"^[A-Za-z0-9]+$")


def feed_extension(file_name: str) -> str | None:
    """The supported package extension ``file_name`` ends with, or None."""
    for ext in SUPPORTED_EXTENSIONS:
        if file_name.endswith(ext) or (ext != ".tar.Z" and file_name.lower().endswith(ext)):
            return ext
    return None


def check_package_id(package_id: str) -> str:
    """Octopus package IDs: alphanumeric segments separated by ``-``, ``.`` or ``_``.

    A segment after a ``.`` must not start with a digit, or Octopus would read it as
    the start of the version.
    """
    parts = re.split(r"[-._]", package_id)
    if not package_id or not all(_SEGMENT.match(p) for p in parts):
        raise InvalidInput(
            f"Octopus package ID {package_id!r} must be alphanumeric segments separated by "
            "'-', '.' or '_': set octopus.packages.<name> to a valid ID"
        )
    if re.search(r"\.\d", package_id):
        raise InvalidInput(
            f"Octopus package ID {package_id!r} has a '.<digit>' segment that Octopus would "
            "parse as the version: rename it in octopus.packages.<name>"
        )
    return package_id


@dataclass(frozen=True)
class FeedFile:
    """What is pushed to the built-in feed for one pinned package."""

    name: str  # trainmaster package name
    package_id: str
    version: str
    file_name: str  # <Id>.<Version><ext>
    path: Path  # the bytes to push
    wrapped: bool
    pinned: str  # the release's sha256 digest of the artefact

    @property
    def feed_id(self) -> str:
        """The built-in feed's package resource id (``packages-<Id>.<Version>``)."""
        return f"packages-{self.package_id}.{self.version}"


def identity_record(release: Release) -> bytes:
    """``release.json`` for a wrapper: the identity only, so re-runs produce the same bytes."""
    record = {
        "schema": "trainmaster/release@1",
        "id": release.id,
        "project": release.project,
        "version": release.version,
        "packages": [p.identity() for p in release.packages],
    }
    return json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # unix, so that external_attr is read as a mode
    info.external_attr = (0o100644 & 0xFFFF) << 16
    return info


def wrap(release: Release, package: Package, source: Path, dest: Path) -> None:
    """Write the deterministic wrapper of ``source`` to ``dest`` (streamed, constant memory)."""
    names = sorted({package.file_name, "release.json"})
    if package.file_name == "release.json":
        raise InvalidInput("a package file named release.json cannot be wrapped for Octopus: rename it")
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in names:
            info = _entry(name)
            if name == "release.json":
                zf.writestr(info, identity_record(release))
                continue
            info.file_size = source.stat().st_size
            with (
                open(source, "rb") as src,
                zf.open(info, "w", force_zip64=info.file_size > 0x7FFFFFFF) as out,
            ):
                shutil.copyfileobj(src, out, 1 << 20)


def plan_feed_file(
    release: Release, package: Package, source: Path, package_id: str, workdir: Path
) -> FeedFile:
    """Decide how ``package`` reaches the built-in feed; wrap it into ``workdir`` when needed."""
    check_package_id(package_id)
    ext = feed_extension(package.file_name)
    if ext is not None:
        return FeedFile(
            package.name,
            package_id,
            release.version,
            f"{package_id}.{release.version}{ext}",
            source,
            False,
            package.digest,
        )
    dest = workdir / f"{package_id}.{release.version}.zip"
    wrap(release, package, source, dest)
    return FeedFile(package.name, package_id, release.version, dest.name, dest, True, package.digest)
