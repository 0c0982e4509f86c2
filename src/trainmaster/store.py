"""The content-addressed artefact store under ``.trainmaster/store``.

Files live at ``sha256/<first two hex digits>/<digest hex>``, read-only once
stored. Hashing and copying happen in one streaming pass (:mod:`trainmaster._ingest`), with
memory bounded whatever the artefact's size; where the filesystem allows it the
copy bypasses the page cache (``O_DIRECT``), which saves the CPU a copy of every
byte and the final ``fsync`` any write-back. A file is fsynced before it is
renamed into place, and the directory is fsynced after.

Ingestion is two-phase so that a bad input changes nothing: :meth:`Store.stage`
copies into ``tmp/`` and returns the digest; :meth:`Store.commit` moves the
staged file into place only once the caller has decided to keep it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trainmaster._ingest import COPY_CHUNK, FLUSH_EVERY, Relay, Sink
from trainmaster.errors import DigestMismatch, InvalidInput, from_os_error, machine_refused
from trainmaster.model import check_digest

__all__ = ["COPY_CHUNK", "FLUSH_EVERY", "Staged", "StagingCancelled", "StagingThread", "Store", "file_digests",
           "hash_file", "record_digest", "recorded_digest", "sweep"]

CHUNK = 1 << 20  # 1 MiB: reading a file only to hash it

Progress = Callable[[int], None]


class StagingCancelled(Exception):
    """:meth:`Store.stage` was told to stop (the caller is failing or exiting)."""


@dataclass
class Staged:
    """A file copied into the store's staging area, not yet visible."""

    digest: str
    size: int
    tmp_path: Path
    lock_fd: int = -1  # held open (and flock-ed) until commit or discard, so no sweep takes it
    further: dict[str, str] = field(default_factory=dict)  # hex digest per further algorithm, same pass


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


FURTHER = ("md5", "sha1", "sha224", "sha384", "sha512")
"""Digests a plugin may ask the store to compute beside the pin (:func:`check_further`)."""


def check_further(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple, once each; ValueError for one not in :data:`FURTHER`."""
    for name in names:
        if name not in FURTHER:
            raise ValueError(f"unknown further digest {name!r} (one of {', '.join(FURTHER)})")
    return tuple(dict.fromkeys(names))


def _well_formed(name: str, value: str) -> bool:
    """Whether ``value`` is a lowercase hex ``name`` digest."""
    return len(value) == hashlib.new(name, usedforsecurity=False).digest_size * 2 and not value.strip(
        "0123456789abcdef")


def recorded_digest(path: Path, digest: str, name: str) -> str | None:
    """The ``name`` digest recorded for ``path`` when it is the store's file pinned as ``digest``, else None.

    For plugins, which are handed store paths: see :meth:`Store.recorded`.
    """
    store = Store.holding(path, digest)
    return store.recorded(digest, name) if store is not None else None


def record_digest(path: Path, digest: str, values: dict[str, str]) -> None:
    """Record further digests for ``path`` when it is the store's file pinned as ``digest`` (else nothing).

    Call it only with digests computed in the same pass that found ``digest``.
    """
    store = Store.holding(path, digest)
    if store is not None:
        store.record(digest, values)


class Store:
    """A content-addressed store rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, digest: str) -> Path:
        hexd = check_digest(digest).split(":", 1)[1]
        return self.root / "sha256" / hexd[:2] / hexd

    @classmethod
    def holding(cls, path: Path, digest: str) -> Store | None:
        """The store whose file for ``digest`` is ``path``, going by the layout; None for any other path.

        A file ``release create`` staged (``tmp/ingest-…``, handed to publishers before it is committed)
        counts as its store's: the same pass that found ``digest`` staged it.
        """
        hexd = check_digest(digest).split(":", 1)[1]
        path = Path(path)
        if path.parent.name == "tmp" and path.name.startswith("ingest-"):
            return cls(path.parent.parent)
        if path.name != hexd or path.parent.name != hexd[:2] or path.parent.parent.name != "sha256":
            return None
        return cls(path.parent.parent.parent)

    def has(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def stage(self, source: Path, progress: Progress | None = None, cancel: threading.Event | None = None,
              further: Sequence[str] = ()) -> Staged:
        """Copy ``source`` into the staging area while hashing it, in one pass.

        Setting ``cancel`` (from another thread) stops the copy within a chunk: the
        staged file is removed and :class:`StagingCancelled` raised. ``further`` names
        digests (hashlib's, see :data:`FURTHER`) computed in the same pass on a
        thread of their own; :meth:`commit` records them beside the file.
        """
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
        sink: Sink | None = None
        relay: Relay | None = None
        computed: dict[str, str] = {}
        fh: io.FileIO | None = None
        problem: BaseException | None = None
        try:
            try:
                fh = open(source, "rb", buffering=0)
            except OSError as exc:
                raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
            sink = Sink(fd, expected, fh)
            relay = Relay(sink, check_further(further)) if further else None
            while not sink.failed:
                try:
                    item = sink.next()
                except OSError as exc:
                    raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
                if item is None:
                    break
                if cancel is not None and cancel.is_set():
                    raise StagingCancelled(str(source))
                index, offset, n = item
                if n:
                    digest.update(sink.views[index][:n])
                    (relay or sink).put(index, offset, n)
                    size += n
                    if progress:
                        progress(n)
        finally:  # whatever happened, stop the threads (before the source closes), drop the file on failure
            try:
                computed = relay.close() if relay is not None else {}
            except BaseException as exc:  # a further digest failed: the copy is not kept
                problem = exc
            problem = (sink.close(size) if sink is not None else None) or problem
            if fh is not None:
                fh.close()
            if problem is not None or sys.exc_info()[0] is not None:
                tmp_path.unlink(missing_ok=True)
                os.close(fd)
        if isinstance(problem, OSError) and machine_refused(problem):  # full or read-only: exit 5
            raise from_os_error(problem, self.root)
        if problem is not None:
            raise InvalidInput(f"cannot write to the store at {self.root}: {problem}")
        return Staged("sha256:" + digest.hexdigest(), size, tmp_path, fd, computed)

    def commit(self, staged: Staged) -> Path:
        """Move a staged file into place (read-only).

        A file already there is kept when it is intact, and replaced when it no longer
        hashes to its digest: re-creating or fetching a release repairs the store.
        """
        final = self.path_for(staged.digest)
        if final.is_file():
            if hash_file(final)[0] == staged.digest:
                self.discard(staged)
                self.record(staged.digest, staged.further)
                return final
            os.chmod(final, stat.S_IRUSR | stat.S_IWUSR)
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            _fsync_dir(final.parent.parent)  # the new shard folder itself must survive a crash
        os.chmod(staged.tmp_path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(staged.tmp_path, final)
        _release(staged)
        _fsync_dir(final.parent)
        self.record(staged.digest, staged.further)
        return final

    # -- further digests: what other systems call these bytes, computed once ------------------
    def _recorded_path(self, digest: str, name: str) -> Path:
        hexd = check_digest(digest).split(":", 1)[1]
        return self.root / "digests" / check_further((name,))[0] / hexd[:2] / hexd

    def recorded(self, digest: str, name: str) -> str | None:
        """The ``name`` digest (hex) recorded for the stored file of ``digest``, or None.

        Recorded by :meth:`commit` from the pass that computed ``digest`` itself, or by
        :meth:`record`. Read back from disk, so it is data: anything but a regular file
        holding one well-formed hex digest of ``name``'s length is taken as no record.
        A record is a cache that saves a pass over the file; a caller whose comparison
        fails with it hashes the file before it decides anything.
        """
        path = self._recorded_path(digest, name)
        if self._linked_folders(path):
            return None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            text = os.read(fd, 257).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        return text if _well_formed(name, text) else None

    def record(self, digest: str, values: dict[str, str]) -> None:
        """Record further digests (hex, by hashlib name) of the bytes pinned as ``digest``.

        Only from a pass over the bytes that also found ``digest``. Best effort: a store that
        cannot take the record just has none (it is a cache).
        """
        for name, value in values.items():
            if not _well_formed(check_further((name,))[0], value):
                raise ValueError(f"not a {name} hex digest: {value!r}")
            path = self._recorded_path(digest, name)
            tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if self._linked_folders(path):
                    continue
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o444)
                try:
                    os.write(fd, (value + "\n").encode("ascii"))
                finally:
                    os.close(fd)
                os.replace(tmp, path)  # replaces a link at ``path`` itself, never writes through it
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)

    def _linked_folders(self, path: Path) -> bool:
        """Whether a folder between ``digests/`` and the record at ``path`` is a symbolic link (never followed)."""
        return any(os.path.islink(folder) for folder in (path.parent, path.parent.parent, path.parent.parent.parent))

    def forget(self, digest: str) -> None:
        """Remove every further digest recorded for ``digest`` (its file is being removed)."""
        hexd = check_digest(digest).split(":", 1)[1]
        folder = self.root / "digests"
        for name in FURTHER:
            with contextlib.suppress(OSError):  # a folder or a link there is no record: nothing to take back
                (folder / name / hexd[:2] / hexd).unlink(missing_ok=True)

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


class StagingThread:
    """Stage files one after the other on a thread, while the caller does other work.

    ``release create`` starts the copy as soon as it knows the files, and opens the
    ledger and loads the plugins meanwhile. :meth:`result` waits and returns the
    staged files in order (or raises what staging raised); :meth:`cancel` stops the
    copy within a chunk and discards whatever was staged. Nothing is visible until
    the caller commits.
    """

    def __init__(self, store: Store, files: Sequence[tuple[Path, Progress | None]], further: Sequence[str] = ()
                 ) -> None:
        self.store = store
        self.files = list(files)
        self.further = tuple(further)
        self.staged: list[Staged] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="store-stage", daemon=True)
        self.switch = sys.getswitchinterval()
        if self.files:
            # hand the lock back within 0.5 ms, so the copy is not kept waiting by the caller's Python work
            sys.setswitchinterval(min(self.switch, 0.0005))
            self.thread.start()

    def _run(self) -> None:
        try:
            for path, progress in self.files:
                self.staged.append(self.store.stage(path, progress, self.stop, self.further))
        except BaseException as exc:  # re-raised by result()
            self.error = exc

    def _join(self) -> None:
        if self.thread.is_alive() or self.thread.ident is not None:
            self.thread.join()
        sys.setswitchinterval(self.switch)

    def result(self) -> list[Staged]:
        """The staged files, in order; raises what staging raised (everything staged is discarded then)."""
        self._join()
        if self.error is not None:
            self._discard()
            raise self.error
        return self.staged

    def cancel(self) -> None:
        """Stop staging and discard every staged file."""
        self.stop.set()
        self._join()
        self._discard()

    def _discard(self) -> None:
        for item in self.staged:
            self.store.discard(item)
        self.staged = []
