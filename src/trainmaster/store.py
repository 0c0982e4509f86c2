"""The content-addressed artefact store under ``.trainmaster/store``.

Files live at ``sha256/<first two hex digits>/<digest hex>``, read-only once
stored. Hashing and copying happen in one streaming pass: one thread reads and
hashes while another writes, through a small bounded queue, so memory stays
constant whatever the artefact's size and the two costs overlap. A file is
fsynced before it is renamed into place, and the directory is fsynced after.

Ingestion is two-phase so that a bad input changes nothing: :meth:`Store.stage`
copies into ``tmp/`` and returns the digest; :meth:`Store.commit` moves the
staged file into place only once the caller has decided to keep it.
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trainmaster.errors import DigestMismatch, InvalidInput
from trainmaster.model import check_digest

CHUNK = 1 << 20  # 1 MiB
QUEUE_DEPTH = 8  # at most ~8 MiB in flight

Progress = Callable[[int], None]


@dataclass
class Staged:
    """A file copied into the store's staging area, not yet visible."""

    digest: str
    size: int
    tmp_path: Path


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_file(path: Path, progress: Progress | None = None) -> tuple[str, int]:
    """Stream ``path`` through sha256; return (``sha256:…``, size)."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            size += n
            if progress:
                progress(n)
    return "sha256:" + digest.hexdigest(), size


class Store:
    """A content-addressed store rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, digest: str) -> Path:
        hexd = check_digest(digest).split(":", 1)[1]
        return self.root / "sha256" / hexd[:2] / hexd

    def has(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def stage(self, source: Path, progress: Progress | None = None) -> Staged:
        """Copy ``source`` into the staging area while hashing it, in one pass."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        _sweep(tmp_dir)
        fd, tmp_name = _mkstemp(tmp_dir)
        tmp_path = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_DEPTH)
        error: list[BaseException] = []

        def writer() -> None:
            try:
                while True:
                    chunk = chunks.get()
                    if chunk is None:
                        break
                    view = memoryview(chunk)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                os.fsync(fd)
            except BaseException as exc:  # reported to the reading thread
                error.append(exc)
                while chunks.get() is not None:
                    pass

        thread = threading.Thread(target=writer, name="store-writer", daemon=True)
        thread.start()
        try:
            with open(source, "rb", buffering=0) as fh:
                while not error:
                    chunk = fh.read(CHUNK)
                    if not chunk:
                        break
                    chunks.put(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if progress:
                        progress(len(chunk))
        except OSError as exc:
            chunks.put(None)
            thread.join()
            os.close(fd)
            tmp_path.unlink(missing_ok=True)
            raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
        chunks.put(None)
        thread.join()
        os.close(fd)
        if error:
            tmp_path.unlink(missing_ok=True)
            raise InvalidInput(f"cannot write to the store at {self.root}: {error[0]}")
        return Staged("sha256:" + digest.hexdigest(), size, tmp_path)

    def commit(self, staged: Staged) -> Path:
        """Move a staged file into place (read-only).

        A file already there is kept when it is intact, and replaced when it no longer
        hashes to its digest: re-creating or fetching a release repairs the store.
        """
        final = self.path_for(staged.digest)
        if final.is_file():
            if hash_file(final)[0] == staged.digest:
                staged.tmp_path.unlink(missing_ok=True)
                return final
            os.chmod(final, stat.S_IRUSR | stat.S_IWUSR)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged.tmp_path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(staged.tmp_path, final)
        _fsync_dir(final.parent)
        return final

    def intact(self, digest: str) -> bool:
        """Whether the stored file for ``digest`` exists and still hashes to it."""
        path = self.path_for(digest)
        return path.is_file() and hash_file(path)[0] == digest

    def discard(self, staged: Staged) -> None:
        staged.tmp_path.unlink(missing_ok=True)

    def verify(self, digest: str, *, name: str = "", progress: Progress | None = None) -> Path:
        """Re-hash a stored file; raise :class:`DigestMismatch` if it is missing or altered."""
        path = self.path_for(digest)
        label = f"package {name!r} " if name else ""
        if not path.is_file():
            raise DigestMismatch(f"{label}{digest} is missing from the store at {self.root}")
        actual, _ = hash_file(path, progress)
        if actual != digest:
            raise DigestMismatch(
                f"{label}stored file {path} hashes to {actual}, not the pinned {digest}: "
                "the store was altered; restore it from a trusted copy (`trainmaster release fetch`)"
            )
        return path


def _sweep(tmp_dir: Path, older_than: float = 86400.0) -> None:
    """Remove staging files a killed ``release create`` left behind (older than a day)."""
    import time

    limit = time.time() - older_than
    for path in tmp_dir.glob("ingest-*"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            pass


def _mkstemp(directory: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix="ingest-", dir=directory)
