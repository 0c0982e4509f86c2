"""The content-addressed artefact store under ``.trainmaster/store``.

Files live at ``sha256/<first two hex digits>/<digest hex>``, read-only once
stored. Hashing and copying happen in one streaming pass: the caller reads a
chunk into one of a few reused buffers and hashes it while it is still in the
CPU's cache, and writer threads write it out while the next chunks are read,
so memory stays constant whatever the artefact's size and the costs overlap.
Where the filesystem allows it the copy bypasses the page cache (``O_DIRECT``):
the disk reads the buffer itself, which saves the CPU a copy of every byte and
leaves the final ``fsync`` nothing to write back. A file is fsynced before it
is renamed into place, and the directory is fsynced after.

Ingestion is two-phase so that a bad input changes nothing: :meth:`Store.stage`
copies into ``tmp/`` and returns the digest; :meth:`Store.commit` moves the
staged file into place only once the caller has decided to keep it.
"""

from __future__ import annotations

import errno
import hashlib
import io
import mmap
import os
import queue
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trainmaster.errors import DigestMismatch, InvalidInput, from_os_error, machine_refused
from trainmaster.model import check_digest

CHUNK = 1 << 20  # 1 MiB: reading a file only to hash it
COPY_CHUNK = 2 << 20  # 2 MiB: read, hashed while still in the CPU's cache, then written
BUFFERS = 6  # reused copy buffers: at most 12 MiB in flight
WRITERS = 2  # writes in flight at once, so the disk always has the next one
ALIGN = 4096  # direct I/O: offsets, lengths and buffer addresses a multiple of any disk's block size
FLUSH_EVERY = 128 << 20  # through the page cache: wait for write-back every 128 MiB

Progress = Callable[[int], None]


@dataclass
class Staged:
    """A file copied into the store's staging area, not yet visible."""

    digest: str
    size: int
    tmp_path: Path
    lock_fd: int = -1  # held open (and flock-ed) until commit or discard, so no sweep takes it


class _Sink:
    """Writes the caller's chunks to ``fd`` from :data:`WRITERS` threads while it reads and hashes the next.

    The caller takes a free buffer (:meth:`take`), fills it completely (only the last
    chunk is short) and hands it over with its offset (:meth:`put`); a writer gives it
    back once written, so memory stays bounded by :data:`BUFFERS`. The file is
    preallocated. With direct I/O (:func:`_direct`) each write reaches the disk before
    it returns, and the short last chunk is written as whole blocks, the excess cut off
    by :meth:`close`; should the filesystem refuse an aligned direct write (``EINVAL``),
    the rest goes through the page cache. Through the page cache, on Linux, each
    chunk's write-back starts as soon as it is written (``sync_file_range``, which
    neither waits nor flushes the disk's cache), and a thread waits for it every
    :data:`FLUSH_EVERY` bytes (``fdatasync``, whose error is kept), so the final
    ``fsync`` has little left to do.
    """

    def __init__(self, fd: int, expected_size: int, source: io.FileIO) -> None:
        self.fd = fd
        self.stop = False
        self.read_error: BaseException | None = None
        self.written = 0
        self.errors: list[BaseException] = []
        if expected_size and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(fd, 0, expected_size)
            except OSError:
                pass  # not supported by this filesystem: plain writes work too
        self.direct = _direct(fd)
        self.maps = [mmap.mmap(-1, COPY_CHUNK) for _ in range(BUFFERS)]  # anonymous: page-aligned
        self.views = [memoryview(m) for m in self.maps]
        self.count = threading.Lock()
        self.free: queue.Queue[int] = queue.Queue()
        for index in range(BUFFERS):
            self.free.put(index)
        self.chunks: queue.Queue[tuple[int, int, int] | None] = queue.Queue()
        self.filled: queue.Queue[tuple[int, int, int] | None] = queue.Queue()
        self.done = threading.Event()
        self.start_write_back = None if self.direct else _write_back_starter()
        self.threads = [threading.Thread(target=self._write, name=f"store-writer-{n}", daemon=True)
                        for n in range(WRITERS)]
        if not self.direct:
            self.threads.append(threading.Thread(target=self._flush, name="store-flusher", daemon=True))
        self.reader = threading.Thread(target=self._read, args=(source,), name="store-reader", daemon=True)
        for thread in (*self.threads, self.reader):
            thread.start()

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def next(self) -> tuple[int, int, int] | None:
        """The next chunk read: (buffer index, offset, length), or None at the end of the file.

        Raises the reader's error (an :class:`OSError` when reading failed).
        """
        item = self.filled.get()
        if item is None and self.read_error is not None:
            raise self.read_error
        return item

    def _read(self, source: io.FileIO) -> None:
        """Fill free buffers from ``source`` in order; each one full, but the last."""
        offset = 0
        try:
            while not self.stop:
                index = self.free.get()
                if self.stop:
                    break
                n = _fill(source, self.views[index])
                self.filled.put((index, offset, n))
                offset += n
                if n < COPY_CHUNK:  # the end of the file: a later chunk would not be aligned
                    break
        except BaseException as exc:  # reported to the hashing thread
            self.read_error = exc
        finally:
            self.filled.put(None)

    def put(self, index: int, offset: int, length: int) -> None:
        """Write the first ``length`` bytes of buffer ``index`` at ``offset``; the buffer comes back when done."""
        self.chunks.put((index, offset, length))

    def _write(self) -> None:
        while (item := self.chunks.get()) is not None:
            index, offset, length = item
            try:
                if not self.errors:
                    self._write_at(self.views[index], offset, length)
            except BaseException as exc:  # reported to the reading thread
                self.errors.append(exc)
            finally:
                self.free.put(index)

    def _write_at(self, buffer: memoryview, offset: int, length: int) -> None:
        end = length
        if self.direct and length % ALIGN:  # the last chunk: whole blocks; close() trims the excess
            end = length + ALIGN - length % ALIGN
            buffer[length:end] = bytes(end - length)
        done = 0
        while done < end:
            try:
                done += os.pwrite(self.fd, buffer[done:end], offset + done)
            except OSError as exc:
                if not (self.direct and exc.errno == errno.EINVAL):
                    raise
                self._stop_direct()  # this filesystem wants other alignments: use the page cache
                end = length
        if self.start_write_back is not None:
            self.start_write_back(self.fd, offset, length)
        with self.count:
            self.written += length

    def _stop_direct(self) -> None:
        import fcntl

        self.direct = False
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~os.O_DIRECT)

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
        """Stop reading, finish writing, trim the file to ``size``, fsync; return the first write error."""
        self.stop = True
        self.free.put(0)  # wakes a reader waiting for a buffer, to see the stop
        self.reader.join()
        for _ in range(WRITERS):
            self.chunks.put(None)
        for thread in self.threads[:WRITERS]:
            thread.join()
        self.done.set()  # only now: the flusher's last look must see every write
        for thread in self.threads[WRITERS:]:
            thread.join()
        for view, buffer in zip(self.views, self.maps, strict=True):
            try:
                view.release()
                buffer.close()
            except BufferError:  # a slice is still referenced (a traceback): the collector frees it
                pass
        if not self.errors:
            try:
                os.ftruncate(self.fd, size)
                os.fsync(self.fd)
            except OSError as exc:
                self.errors.append(exc)
        return self.errors[0] if self.errors else None


def _direct(fd: int) -> bool:
    """Switch ``fd`` to direct I/O (``O_DIRECT``) if this system and the file's filesystem allow it."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    import fcntl

    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | flag)
    except OSError:  # EINVAL: the filesystem does not do direct I/O
        return False
    return True


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


def _fill(fh: io.FileIO, buffer: memoryview) -> int:
    """Read into ``buffer`` until it is full or the file ends; return how many bytes came."""
    got = 0
    while got < len(buffer):
        n = fh.readinto(buffer[got:])
        if not n:
            break
        got += n
    return got


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
        fd, tmp_path = _owned_temp(tmp_dir)
        digest = hashlib.sha256()
        size = 0
        try:
            expected = os.stat(source).st_size
        except OSError:
            expected = 0
        sink: _Sink | None = None
        fh: io.FileIO | None = None
        problem: BaseException | None = None
        try:
            try:
                fh = open(source, "rb", buffering=0)
            except OSError as exc:
                raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
            sink = _Sink(fd, expected, fh)
            while not sink.failed:
                try:
                    item = sink.next()
                except OSError as exc:
                    raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
                if item is None:
                    break
                index, offset, n = item
                if n:
                    digest.update(sink.views[index][:n])
                    sink.put(index, offset, n)
                    size += n
                    if progress:
                        progress(n)
        finally:  # whatever happened, stop the threads (before the source closes), drop the file on failure
            problem = sink.close(size) if sink is not None else None
            if fh is not None:
                fh.close()
            if problem is not None or sys.exc_info()[0] is not None:
                tmp_path.unlink(missing_ok=True)
                os.close(fd)
        if isinstance(problem, OSError) and machine_refused(problem):  # full or read-only: exit 5
            raise from_os_error(problem, self.root)
        if problem is not None:
            raise InvalidInput(f"cannot write to the store at {self.root}: {problem}")
        return Staged("sha256:" + digest.hexdigest(), size, tmp_path, fd)

    def commit(self, staged: Staged) -> Path:
        """Move a staged file into place (read-only).

        A file already there is kept when it is intact, and replaced when it no longer
        hashes to its digest: re-creating or fetching a release repairs the store.
        """
        final = self.path_for(staged.digest)
        if final.is_file():
            if hash_file(final)[0] == staged.digest:
                self.discard(staged)
                return final
            os.chmod(final, stat.S_IRUSR | stat.S_IWUSR)
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(final.parent.parent)  # the new shard folder itself must survive a crash
        os.chmod(staged.tmp_path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(staged.tmp_path, final)
        _release(staged)
        _fsync_dir(final.parent)
        return final

    def intact(self, digest: str) -> bool:
        """Whether the stored file for ``digest`` exists and still hashes to it."""
        path = self.path_for(digest)
        return path.is_file() and hash_file(path)[0] == digest

    def discard(self, staged: Staged) -> None:
        staged.tmp_path.unlink(missing_ok=True)
        _release(staged)

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


def _release(staged: Staged) -> None:
    if staged.lock_fd >= 0:
        os.close(staged.lock_fd)
        staged.lock_fd = -1


def _sweep(tmp_dir: Path, older_than: float = 86400.0) -> None:
    """Remove staging files a killed ``release create`` left behind.

    Each staging file is ``flock``-ed by the process writing it for as long as it lives, so a
    file whose lock can be taken belongs to a dead process and goes at once (elsewhere: after a day).
    """
    import time

    limit = time.time() - older_than
    for path in tmp_dir.glob("ingest-*"):
        try:
            if not _remove_if_unowned(path) and path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            pass


def _remove_if_unowned(path: Path) -> bool:
    """Unlink ``path`` while holding its lock, if no live process holds it."""
    if os.name != "posix":
        return False
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    try:  # unlinked under the lock: a stager that lost the race sees it and retries (_owned_temp)
        path.unlink()
    finally:
        os.close(fd)
    return True


def _owned_temp(directory: Path) -> tuple[int, Path]:
    """A new staging file (mode 0600, a random name), locked by this process (see :func:`_sweep`).

    Made as :func:`tempfile.mkstemp` makes one, without importing :mod:`tempfile` (and
    :mod:`shutil`) on the way to every ``release create``.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        path = directory / f"ingest-{os.urandom(6).hex()}"
        try:
            fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o600)
        except FileExistsError:
            continue
        if os.name != "posix":
            return fd, path
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd, path
        except FileNotFoundError:
            pass
        os.close(fd)  # a sweeper took it in the instant before the lock: take another


def sweep(root: Path) -> None:
    """Remove what dead ``release create`` processes left in the store at ``root``."""
    tmp_dir = root / "tmp"
    if tmp_dir.is_dir():
        _sweep(tmp_dir)
