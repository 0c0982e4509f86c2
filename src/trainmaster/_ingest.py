"""The streaming copy behind :meth:`trainmaster.store.Store.stage`: read, hash and write overlapped.

Reading, hashing and writing run on their own threads through a few reused
page-aligned buffers, so memory stays bounded whatever the artefact's size and
the hash (the one part that cannot be split) is the only serial cost. Where the
filesystem allows it the copy bypasses the page cache (``O_DIRECT``): the disk
reads the buffer itself, which saves the CPU a copy of every byte and leaves
the final ``fsync`` nothing to write back.
"""

from __future__ import annotations

import errno
import io
import mmap
import os
import queue
import sys
import threading
from collections.abc import Callable

COPY_CHUNK = 2 << 20  # 2 MiB: read, hashed while still in the CPU's cache, then written
BUFFERS = 6  # reused copy buffers: at most 12 MiB in flight
WRITERS = 2  # direct writes in flight at once, so the disk always has the next one
ALIGN = 4096  # direct I/O: offsets, lengths and buffer addresses a multiple of any disk's block size
FLUSH_EVERY = 128 << 20  # through the page cache: wait for write-back every 128 MiB


class Sink:
    """Copies ``source`` to ``fd`` through :data:`BUFFERS` reused buffers while the caller hashes them.

    A reader thread fills free buffers in order (each one full but the last); the
    caller takes each (:meth:`next`), hashes it while it is still in the CPU's cache
    and hands it on (:meth:`put`); writer threads write it and give it back. The file
    is preallocated. With direct I/O (:func:`_direct`) each write reaches the disk
    before it returns; the short last chunk is written as whole blocks, the excess cut
    off by :meth:`close`; an ``EINVAL`` sends the rest through the page cache. There,
    on Linux, each chunk's write-back starts as soon as it is written
    (``sync_file_range``) and a thread waits for it every :data:`FLUSH_EVERY` bytes
    (``fdatasync``, whose error is kept), so the final ``fsync`` has little left to do.
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
        # through the page cache, concurrent writers to one file only contend for its lock
        self.writers = WRITERS if self.direct else 1
        self.threads = [threading.Thread(target=self._write, name=f"store-writer-{n}", daemon=True)
                        for n in range(self.writers)]
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
        for _ in range(self.writers):
            self.chunks.put(None)
        for thread in self.threads[:self.writers]:
            thread.join()
        self.done.set()  # only now: the flusher's last look must see every write
        for thread in self.threads[self.writers:]:
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


class Relay:
    """Further digests of each chunk, on a thread of their own, before the chunk goes on to the sink.

    :meth:`Store.stage` computes the pin (SHA-256) of a chunk on its own thread and hands the chunk
    here (:meth:`put`): this thread updates every further hasher (``names``, hashlib's) and only then
    passes the chunk to :meth:`Sink.put`, so no buffer is reused while a hasher still reads it. On a
    second core the further digests cost the copy no time; the pin stays the one serial hash.
    """

    def __init__(self, sink: Sink, names: tuple[str, ...]) -> None:
        import hashlib

        self.sink = sink
        self.hashers = {name: hashlib.new(name, usedforsecurity=False) for name in names}
        self.queue: queue.Queue[tuple[int, int, int] | None] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="store-digests", daemon=True)
        self.thread.start()

    def put(self, index: int, offset: int, length: int) -> None:
        self.queue.put((index, offset, length))

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            index, offset, length = item
            try:
                if self.error is None:
                    with self.sink.views[index][:length] as view:
                        for hasher in self.hashers.values():
                            hasher.update(view)
            except BaseException as exc:  # raised by close(): the copy must not be kept
                self.error = exc
            finally:
                self.sink.put(index, offset, length)  # the buffer goes on (and comes back) whatever happened

    def close(self) -> dict[str, str]:
        """Wait until every chunk was hashed and handed on; the hex digest per name (raises what hashing raised)."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return {name: hasher.hexdigest() for name, hasher in self.hashers.items()}


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
