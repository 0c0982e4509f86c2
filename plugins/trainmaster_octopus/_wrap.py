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

import hashlib
import json
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from trainmaster.errors import InvalidInput
from trainmaster.model import Package, Release

__all__ = [
    "FeedFile",
    "SUPPORTED_EXTENSIONS",
    "feed_extension",
    "check_package_id",
    "plan_feed_file",
    "wrapper_sha1",
]

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


class _Preset(zipfile.ZipInfo):
    """An entry whose CRC and size are known before it is written.

    ``zipfile`` writes a local header with CRC 0 and size 0, then seeks back and rewrites it once
    the data is through. With the values preset the first header already has its final bytes, so
    the archive can be streamed into a hasher (:class:`_HashSink`) with the very same bytes.
    """

    __slots__ = ("_crc", "_csize")

    def __init__(self, name: str, crc: int, size: int) -> None:
        self._crc, self._csize = crc, size
        super().__init__(name, date_time=_FIXED_TIME)

    @property  # type: ignore[override]
    def CRC(self) -> int:  # noqa: N802 - zipfile's name
        return self._crc

    @CRC.setter
    def CRC(self, value: int) -> None:  # noqa: N802
        if value and value != self._crc:
            raise OSError(f"{self.filename} changed while its Octopus wrapper was being hashed")

    @property  # type: ignore[override]
    def compress_size(self) -> int:
        return self._csize

    @compress_size.setter
    def compress_size(self, value: int) -> None:
        if value and value != self._csize:
            raise OSError(f"{self.filename} changed size while its Octopus wrapper was being hashed")


class _HashSink:
    """A write-only, seekable "file" that SHA-1-hashes what is written, in order, and keeps nothing
    but the small writes (headers), so that ``zipfile``'s rewrite of a header can be checked."""

    def __init__(self) -> None:
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.pos = self.end = 0
        self.small: dict[int, bytes] = {}

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        if self.pos == self.end:
            self.sha1.update(chunk)
            if len(chunk) <= 4096:
                self.small[self.pos] = chunk
            self.end += len(chunk)
        elif self.small.get(self.pos) != chunk:  # only an identical header may be written again
            raise OSError("the Octopus wrapper is not deterministic: a header changed on rewrite")
        self.pos += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.end + offset)
        return self.pos

    def flush(self) -> None:
        pass


def _entry(name: str, preset: tuple[int, int] | None = None) -> zipfile.ZipInfo:
    info = _Preset(name, *preset) if preset else zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # unix, so that external_attr is read as a mode
    info.external_attr = (0o100644 & 0xFFFF) << 16
    return info


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb", buffering=0) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc


def _write(zf: zipfile.ZipFile, release: Release, package: Package, source: Path, preset: bool) -> None:
    if package.file_name == "release.json":
        raise InvalidInput("a package file named release.json cannot be wrapped for Octopus: rename it")
    for name in sorted({package.file_name, "release.json"}):
        if name == "release.json":
            record = identity_record(release)
            zf.writestr(_entry(name, (zlib.crc32(record), len(record)) if preset else None), record)
            continue
        size = source.stat().st_size
        info = _entry(name, (_crc32(source), size) if preset else None)
        info.file_size = size
        with open(source, "rb") as src, zf.open(info, "w", force_zip64=size > 0x7FFFFFFF) as out:
            shutil.copyfileobj(src, out, 1 << 20)


def wrap(release: Release, package: Package, source: Path, dest: Path) -> None:
    """Write the deterministic wrapper of ``source`` to ``dest`` (streamed, constant memory)."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        _write(zf, release, package, source, preset=False)


def wrapper_sha1(release: Release, package: Package, source: Path) -> str:
    """The SHA-1 of ``wrap(...)``'s bytes, streamed into the hasher: no file is written.

    Reads ``source`` twice (its CRC-32 first, then its bytes), in constant memory.
    """
    sink = _HashSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:  # type: ignore[call-overload]
        _write(zf, release, package, source, preset=True)
    return sink.sha1.hexdigest()


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
