"""HTTP side of the fakes: the request handler, the streaming request body and the command line of
``python -m tests.fakes.<service>``."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .core import ADMIN_PREFIX, CHUNK, ApiError, Call, FakeService, Request, Response


class Body:
    """Streaming request body (Content-Length or chunked). Never buffered unless ``read_all``."""

    def __init__(self, rfile: Any, headers: Any):
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.remaining = int(headers.get("Content-Length") or 0)
        self.present = self.chunked or self.remaining > 0
        self._chunk_left = 0
        self._done = not self.present
        self.bytes_read = 0

    def read(self, n: int = CHUNK) -> bytes:
        if self._done:
            return b""
        if not self.chunked:
            data = self.rfile.read(min(n, self.remaining))
            self.remaining -= len(data)
            if not data or self.remaining == 0:
                self._done = True
        else:
            if self._chunk_left == 0:
                size_line = self.rfile.readline().split(b";")[0].strip()
                self._chunk_left = int(size_line or b"0", 16)
                if self._chunk_left == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    self._done = True
                    return b""
            data = self.rfile.read(min(n, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self.rfile.readline()
            if not data:
                self._done = True
        self.bytes_read += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.read()
            if not data:
                return
            yield data

    def read_all(self, limit: int = 64 << 20) -> bytes:
        parts = []
        for data in self:
            parts.append(data)
            if self.bytes_read > limit:
                raise ApiError(413, "request body too large for a JSON operation")
        return b"".join(parts)

    def drain(self) -> None:
        for _ in self:
            pass


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall
    fake: FakeService
    server_version = "trainmaster-fake"
    timeout = 30  # idle keep-alive connections are closed after 30 s, like real front ends do

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _dispatch(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = Body(self.rfile, self.headers)
        if parts.path.startswith(ADMIN_PREFIX):
            resp = fake.admin_download(parts.path) if parts.path.startswith(ADMIN_PREFIX + "download/") else None
            if resp is None:
                payload = json.loads(body.read_all() or b"null")
                resp = fake.admin(self.command, parts.path, payload)
            self._send(resp)
            return
        host, inner = fake.route(parts.path)
        req = Request(self.command, inner, parts.path, query, self.headers, body, host)
        call = Call(self.command, parts.path, None, query, None, time.time(), host=host)
        with fake.lock:
            fake.calls.append(call)
        try:
            result = fake.handle(req, call)
        except (ConnectionError, OSError):
            result = "drop"
        if result == "drop":
            self._drop()
            return
        assert isinstance(result, Response)
        call.status = result.status
        if req.body.present and not req.body._done:
            if req.body.chunked or req.body.remaining <= (16 << 20):
                try:
                    req.body.drain()  # small leftovers: read them so keep-alive stays in sync
                except OSError:
                    pass
            if not req.body._done:
                result.headers.setdefault("Connection", "close")
                self.close_connection = True
        self._send(result)

    def _send(self, resp: Response) -> None:
        headers = dict(resp.headers)
        if isinstance(resp.body, bytes | bytearray):
            data = bytes(resp.body)
            headers.setdefault("Content-Type", "application/octet-stream")
        elif resp.body is None:
            data = b""
        else:
            data = json.dumps(resp.body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self.send_response(resp.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        if headers.get("Connection") == "close":
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


def run_cli(
    factory: Callable[[argparse.Namespace], FakeService],
    argv: list[str] | None = None,
    extra_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Entry point of ``python -m tests.fakes.<service> --port N``: prints one ready line, serves forever."""
    parser = argparse.ArgumentParser(description="Run a contract-checking fake on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free port")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help='JSON fault spec, e.g. \'{"kind":"status","status":503,"operation_id":"x","count":2}\'',
    )
    if extra_args:
        extra_args(parser)
    args = parser.parse_args(argv)
    fake = factory(args)
    fake.start(args.port)
    for spec in args.fault:
        fake.inject(**json.loads(spec))
    print(f"READY {fake.name} {fake.url} port={fake.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        sys.exit(0)
