"""A file sent as an HTTP request body in one pass: read and hashed ahead of the socket, in constant memory.

``requests`` sends an object that has ``__iter__`` and ``__len__`` (and no ``read``) with a
``Content-Length`` of ``len(obj)``, never chunked, and hands each chunk it yields to one
``sendall``. Given a file-like object instead, urllib3 would read it in 16 KiB blocks (its
``blocksize``): 65,536 reads, hash updates and ``sendall`` calls per GiB, one after the other.
Here a reader thread reads the file in :data:`CHUNK` blocks and hashes them (unbuffered reads
and hashlib release the GIL for big buffers), every further hash runs in its own thread, and
the caller's thread sends the previous block meanwhile: reading, hashing and sending overlap,
with at most :data:`QUEUE` blocks in flight.

Every iteration starts over, so one body serves every attempt of
:meth:`trainmaster.http.HttpClient.send` (pass ``data=lambda: body``); :attr:`FileBody.complete`
says whether the last attempt handed over every byte of the file (``sent_in_full``).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["CHUNK", "QUEUE", "FileBody"]

CHUNK = 1 << 20
QUEUE = 4


class FileBody:
    """``head`` + the file + ``tail`` as a re-iterable, sized request body, hashed while it is sent.

    :param path: the file to send; its size is taken now and must not change.
    :param hashes: hashlib names computed over the file's bytes (not ``head``/``tail``).
    :param head: bytes sent before the file (a multipart part's headers).
    :param tail: bytes sent after it.
    :param chunk: the block size of reads and writes.
    """

    def __init__(self, path: Path, *, hashes: Sequence[str] = ("sha256",), head: bytes = b"", tail: bytes = b"",
                 chunk: int = CHUNK) -> None:
        self.path = Path(path)
        self.size = os.path.getsize(self.path)
        self.hashes = tuple(hashes)
        self.head, self.tail, self.chunk = head, tail, chunk
        self.digests: dict[str, str] | None = None
        """Hex digest per name once the whole file was handed over, else None."""
        self.sent = 0

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    @property
    def complete(self) -> bool:
        """True once every byte of the file was handed to the connection (the server may hold it)."""
        return self.digests is not None

    def __iter__(self) -> Iterator[bytes]:
        self.digests, self.sent = None, 0
        hashers = [hashlib.new(name, usedforsecurity=False) for name in self.hashes]
        chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=QUEUE)
        others = [queue.Queue[bytes | None](maxsize=QUEUE) for _ in hashers[1:]]
        stop = threading.Event()

        def put(item: bytes | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    chunks.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def hash_more(h: hashlib._Hash, blocks: queue.Queue[bytes | None]) -> None:
            while (block := blocks.get()) is not None:
                h.update(block)

        def produce() -> None:
            try:
                with open(self.path, "rb", buffering=0) as fh:
                    left = self.size
                    while left > 0 and not stop.is_set():
                        block = fh.read(min(self.chunk, left))
                        if not block:
                            raise OSError(f"{self.path} shrank while it was being uploaded")
                        left -= len(block)
                        for q in others:
                            q.put(block)
                        if hashers:
                            hashers[0].update(block)
                        if not put(block):
                            return
                put(None)
            except BaseException as exc:  # handed to the sending thread
                put(exc)
            finally:
                for q in others:
                    q.put(None)

        threads = [threading.Thread(target=hash_more, args=(h, q), name=f"trainmaster-upload-{h.name}",
                                    daemon=True) for h, q in zip(hashers[1:], others, strict=True)]
        threads.append(threading.Thread(target=produce, name="trainmaster-upload-reader", daemon=True))
        for t in threads:
            t.start()
        try:
            if self.head:
                yield self.head
            while (item := chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                self.sent += len(item)
                yield item
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.digests = {name: h.hexdigest() for name, h in zip(self.hashes, hashers, strict=True)}
        if self.tail:
            yield self.tail
