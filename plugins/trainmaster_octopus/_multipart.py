"""A streaming ``multipart/form-data`` body for one file, in constant memory.

``requests`` sends an object that has ``__iter__`` and ``__len__`` with a
``Content-Length`` of ``len(obj)`` and without chunked encoding, reading it
chunk by chunk; nothing but one chunk is ever held. The file's SHA-1 (what
Octopus reports as a package's ``Hash``) and SHA-256 (the pinned digest) are
computed in the same pass as the upload. Every iteration starts over, so the
same body can be sent again after a failed attempt (``complete`` tells whether
the last one handed over every byte).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MultipartFile", "file_hashes"]

CHUNK = 1 << 20
QUEUE = 4


def file_hashes(path: Path) -> tuple[str, str]:
    """``(sha1 hex, "sha256:" hex)`` of a file, streamed once (the core's hasher)."""
    from trainmaster.store import file_digests

    digests, _ = file_digests(path, ("sha1", "sha256"))
    return digests["sha1"], "sha256:" + digests["sha256"]


class MultipartFile:
    """One file part (``fileToUpload`` by default) as a re-iterable, sized body.

    :param path: the file to send.
    :param filename: the file name Octopus parses (``<Id>.<Version>.<ext>``).
    :param field: the form field name.
    :param sha256: also hash with SHA-256 while streaming (to prove the pinned bytes were sent).
    """

    def __init__(
        self,
        path: Path,
        filename: str,
        *,
        field: str = "fileToUpload",
        chunk: int = CHUNK,
        sha256: bool = True,
    ) -> None:
        if any(c in filename for c in '"\r\n'):
            raise ValueError(f"unsafe multipart file name {filename!r}")
        self.path = Path(path)
        self.filename = filename
        self.size = os.path.getsize(self.path)
        self.chunk = chunk
        self.boundary = "trainmaster-" + uuid.uuid4().hex
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._want_sha256 = sha256
        self.sha1: str | None = None
        self.sha256: str | None = None
        self.sent = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self.size + len(self._tail)

    @property
    def complete(self) -> bool:
        """True once every byte of the file was handed to the connection (the server may hold it)."""
        return self.sha1 is not None

    def _rewind(self) -> None:
        """Forget a partial send; the next iteration starts over."""
        self.sha1 = self.sha256 = None
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        """Yield the body; a reader thread reads and hashes the next chunks while this one is sent.

        At most ``QUEUE`` chunks are in flight, so memory stays constant; hashlib and socket
        writes release the GIL, so hashing overlaps the upload.
        """
        self._rewind()
        sha1 = hashlib.sha1(usedforsecurity=False)
        sha256 = hashlib.sha256() if self._want_sha256 else None
        chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=QUEUE)
        stop = threading.Event()

        def put(item: bytes | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    chunks.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        # SHA-256 runs in its own thread, beside SHA-1 in the reader's: hashlib releases the GIL, so
        # the two hashes and the send use separate cores and the upload is one pass at send speed.
        second: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE)

        def hash256() -> None:
            while (block := second.get()) is not None:
                if sha256 is not None:
                    sha256.update(block)

        def produce() -> None:
            try:
                with open(self.path, "rb", buffering=0) as fh:
                    while not stop.is_set():
                        block = fh.read(self.chunk)
                        if not block:
                            break
                        if sha256 is not None:
                            second.put(block)
                        sha1.update(block)
                        if not put(block):
                            return
                put(None)
            except BaseException as exc:  # handed to the consumer
                put(exc)
            finally:
                second.put(None)

        hasher = threading.Thread(target=hash256, name="trainmaster-upload-sha256", daemon=True)
        hasher.start()
        reader = threading.Thread(target=produce, name="trainmaster-upload-reader", daemon=True)
        reader.start()
        try:
            yield self._head
            while True:
                item = chunks.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                self.sent += len(item)
                yield item
        finally:
            stop.set()
            reader.join()
            hasher.join()
        if self.sent != self.size:
            raise OSError(f"{self.path} changed size while it was being uploaded")
        self.sha1 = sha1.hexdigest()
        self.sha256 = "sha256:" + sha256.hexdigest() if sha256 is not None else None
        yield self._tail
