"""The content-addressed artefact store under ``.trainmaster/store``.

Files live at ``sha256/<first two hex digits>/<digest hex>``, read-only once
stored. Hashing and copying happen in one streaming pass: one thread reads and
hashes while another writes, through a small bounded queue, so memory stays
constant whatever the artefact's size and the two costs overlap; the disk's
write-back starts as the data arrives. A file is fsynced before it is
renamed into place, and the directory is fsynced after.

Ingestion is two-phase so that a bad input changes nothing: :meth:`Store.stage`
copies into ``tmp/`` and returns the digest; :meth:`Store.commit` moves the
staged file into place only once the caller has decided to keep it.
"""

from __future__ import annotations

import hashlib
import os
import queue
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trainmaster.errors import DigestMismatch, InvalidInput
from trainmaster.model import check_digest

CHUNK = 1 << 20  # 1 MiB
QUEUE_DEPTH = 8  # at most ~8 MiB in flight
FLUSH_EVERY = 128 << 20  # start write-back every 128 MiB

Progress = Callable[[int], None]


@dataclass
class Staged:
    """A file copied into the store's staging area, not yet visible."""

    digest: str
    size: int
    tmp_path: Path


class _Sink:
    """Writes chunks to ``fd`` in a thread while the caller hashes the next ones.

    The file is preallocated; on Linux each chunk's write-back starts as soon as
    it is written (``sync_file_range``, which neither waits nor flushes the disk's
    cache), and a second thread waits for it every :data:`FLUSH_EVERY` bytes
    (``fdatasync``, whose error is kept), so the disk works while the rest is
    still being hashed and the final ``fsync`` has little left to do.
    Memory stays bounded by the queue (:data:`QUEUE_DEPTH` chunks).
    """

    def __init__(self, fd: int, expected_size: int) -> None:
        self.fd = fd
        self.written = 0
        self.errors: list[BaseException] = []
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_DEPTH)
        self.done = threading.Event()
        self.start_write_back = _write_back_starter()
        if expected_size and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(fd, 0, expected_size)
            except OSError:
                pass  # not supported by this filesystem: plain writes work too
        self.writer = threading.Thread(target=self._write, name="store-writer", daemon=True)
        self.flusher = threading.Thread(target=self._flush, name="store-flusher", daemon=True)
        self.writer.start()
        self.flusher.start()

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def put(self, chunk: bytes) -> None:
        self.chunks.put(chunk)

    def _write(self) -> None:
        try:
            while True:
                chunk = self.chunks.get()
                if chunk is None:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self.fd, view):]
                if self.start_write_back is not None:
                    self.start_write_back(self.fd, self.written, len(chunk))
                self.written += len(chunk)
        except BaseException as exc:  # reported to the reading thread
            self.errors.append(exc)
            while self.chunks.get() is not None:
                pass

    def _flush(self) -> None:
        flushed = 0
        while True:
            finished = self.done.wait(0.02)
            if self.written - flushed >= FLUSH_EVERY:
                flushed = self.written
                try:
                    os.fdatasync(self.fd) if hasattr(os, "fdatasync") else os.fsync(self.fd)
                except OSError as exc:  # reported once by the kernel: keep it, or the final fsync hides it
                    self.errors.append(exc)
                    return
            if finished:
                return

    def close(self, size: int) -> BaseException | None:
        """Finish writing, trim the preallocation to ``size``, fsync; return the first error."""
        self.chunks.put(None)
        self.writer.join()
        self.done.set()
        self.flusher.join()
        if not self.errors:
            try:
                os.ftruncate(self.fd, size)
                os.fsync(self.fd)
            except OSError as exc:
                self.errors.append(exc)
        return self.errors[0] if self.errors else None


def _write_back_starter() -> Callable[[int, int, int], None] | None:
    """``start(fd, offset, length)``: begin writing that range to disk, without waiting (Linux only, else None).

    ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` from libc through :mod:`ctypes`. It
    gives no guarantee: the final ``fsync`` still does, and reports any write error
    (the call does not consume it), so a failure here is ignored.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    call.restype = ctypes.c_int

    def start(fd: int, offset: int, length: int) -> None:
        call(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE

    return start


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256",),
                 progress: Progress | None = None) -> tuple[dict[str, str], int]:
    """Stream ``path`` once through every hashlib algorithm named; return hex digests and the size."""
    hashers = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
    size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            for hasher in hashers.values():
                hasher.update(view[:n])
            size += n
            if progress:
                progress(n)
    return {name: h.hexdigest() for name, h in hashers.items()}, size


def hash_file(path: Path, progress: Progress | None = None) -> tuple[str, int]:
    """Stream ``path`` through sha256; return (``sha256:…``, size)."""
    digests, size = file_digests(path, ("sha256",), progress)
    return "sha256:" + digests["sha256"], size


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
        try:
            expected = os.stat(source).st_size
        except OSError:
            expected = 0
        sink = _Sink(fd, expected)
        problem: BaseException | None = None
        try:
            with open(source, "rb", buffering=0) as fh:
                while not sink.failed:
                    try:
                        chunk = fh.read(CHUNK)
                    except OSError as exc:
                        raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
                    if not chunk:
                        break
                    sink.put(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if progress:
                        progress(len(chunk))
        except OSError as exc:  # opening the source
            raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
        finally:  # whatever happened, stop both threads, close the file, and drop it on failure
            problem = sink.close(size)
            os.close(fd)
            if problem is not None or sys.exc_info()[0] is not None:
                tmp_path.unlink(missing_ok=True)
        if problem is not None:
            raise InvalidInput(f"cannot write to the store at {self.root}: {problem}")
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
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(final.parent.parent)  # the new shard folder itself must survive a crash
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
