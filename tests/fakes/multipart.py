"""Streaming reader for the single file part of a multipart/form-data body (Octopus package upload).

The body is never held in memory: the file part's bytes are yielded chunk by chunk, keeping only a
boundary-sized tail between chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .server import Body


class MultipartError(ValueError):
    pass


def boundary_of(content_type: str) -> bytes:
    m = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not m or not content_type.lower().startswith("multipart/form-data"):
        raise MultipartError("Content-Type must be multipart/form-data with a boundary")
    return m.group(1).encode()


def file_parts(body: Body, content_type: str) -> Iterator[tuple[dict[str, str], Iterator[bytes]]]:
    """Yield (part headers, chunk iterator) for each part; the caller must consume each iterator."""
    boundary = boundary_of(content_type)
    delim = b"\r\n--" + boundary
    buf = b"\r\n"  # so that the first boundary also matches ``delim``
    chunks = iter(body)

    def fill(min_len: int) -> bool:
        nonlocal buf
        while len(buf) < min_len:
            data = next(chunks, b"")
            if not data:
                return False
            buf += data
        return True

    # skip the preamble up to the first boundary
    while True:
        i = buf.find(delim)
        if i >= 0:
            buf = buf[i + len(delim) :]
            break
        buf = buf[-(len(delim) - 1) :]
        data = next(chunks, b"")
        if not data:
            raise MultipartError("no multipart boundary found in the body")
        buf += data
    while True:
        fill(2)
        if buf.startswith(b"--"):
            return  # closing boundary
        while b"\r\n\r\n" not in buf:
            if not fill(len(buf) + 1):
                raise MultipartError("truncated part headers")
        head, buf = buf.split(b"\r\n\r\n", 1)
        headers = {}
        for line in head.split(b"\r\n"):
            if b":" in line:
                k, v = line.split(b":", 1)
                headers[k.strip().decode().lower()] = v.strip().decode()
        finished = False

        def content() -> Iterator[bytes]:
            nonlocal buf, finished
            while True:
                i = buf.find(delim)
                if i >= 0:
                    if i:
                        yield buf[:i]
                    buf = buf[i + len(delim) :]
                    finished = True
                    return
                safe = len(buf) - (len(delim) - 1)
                if safe > 0:
                    yield buf[:safe]
                    buf = buf[safe:]
                data = next(chunks, b"")
                if not data:
                    raise MultipartError("truncated multipart body")
                buf += data

        it = content()
        yield headers, it
        for _ in it:  # drain anything the caller did not read
            pass
        if not finished:
            return


def disposition(headers: dict[str, str]) -> dict[str, str]:
    """Parameters of a part's Content-Disposition (name, filename)."""
    return {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', headers.get("content-disposition", ""))}
