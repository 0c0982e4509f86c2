"""A streaming ``multipart/form-data`` body for one file, in constant memory.

The file part is a :class:`trainmaster.http_body.FileBody` with the part's headers before it and
the closing boundary after it: ``requests`` sends it with a ``Content-Length`` of ``len(body)``,
never chunked, in 1 MiB blocks that a reader thread reads ahead while the previous one is sent.
The file's SHA-256 (the pinned digest) is computed in the same pass, and its SHA-1 (what Octopus
answers a push with as the package's ``Hash``) on another thread, unless the store recorded the
SHA-1 when the file came in (``ensure_package``): the push reads the file once. Every iteration
starts over, so the same body can be sent again after a failed attempt (``complete`` tells
whether the last one handed over every byte).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from trainmaster.http_body import CHUNK, FileBody

__all__ = ["MultipartFile", "file_hashes"]


def file_hashes(path: Path) -> tuple[str, str]:
    """``(sha1 hex, "sha256:" hex)`` of a file, streamed once (the core's hasher)."""
    from trainmaster.store import file_digests

    digests, _ = file_digests(path, ("sha1", "sha256"))
    return digests["sha1"], "sha256:" + digests["sha256"]


class MultipartFile(FileBody):
    """One file part (``fileToUpload`` by default) as a re-iterable, sized body, SHA-256 (and SHA-1) hashed as it goes.

    :param path: the file to send.
    :param filename: the file name Octopus parses (``<Id>.<Version>.<ext>``).
    :param field: the form field name.
    :param sha1: whether to compute the SHA-1 too (not needed when the store recorded it).
    """

    def __init__(self, path: Path, filename: str, *, field: str = "fileToUpload", chunk: int = CHUNK,
                 sha1: bool = True) -> None:
        if any(c in filename for c in '"\r\n'):
            raise ValueError(f"unsafe multipart file name {filename!r}")
        self.filename = filename
        self.boundary = "trainmaster-" + uuid.uuid4().hex
        head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        super().__init__(path, hashes=("sha256", "sha1") if sha1 else ("sha256",), head=head,
                         tail=f"\r\n--{self.boundary}--\r\n".encode(),
                         chunk=chunk)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def sha256(self) -> str | None:
        """``sha256:…`` of the file once every byte of it was handed over, else None."""
        return "sha256:" + self.digests["sha256"] if self.digests else None

    @property
    def sha1(self) -> str | None:
        """SHA-1 hex of the file once every byte of it was handed over (what Octopus's ``Hash`` must be), else None.

        None too when the body was made with ``sha1=False`` (the store recorded the file's SHA-1).
        """
        return self.digests.get("sha1") if self.digests else None
